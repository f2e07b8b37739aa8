/**
 * Capped exponential backoff, as every retry loop of the relay spaces its attempts (a camera it cannot reach,
 * the Kubernetes API): the delay doubles from a first one up to a cap. Pure functions.
 * @module
 */

/** Capped exponential backoff. */
export interface Backoff {
  /** First delay in ms. */
  readonly initialMs: number;
  /** Largest delay in ms. */
  readonly maxMs: number;
}

/**
 * Delay before retry number `attempt` (0-based): `min(maxMs, initialMs * 2^attempt)`.
 * @example backoffCeiling(2, { initialMs: 100, maxMs: 1000 }) // 400
 */
export function backoffCeiling(attempt: number, backoff: Backoff): number {
  return Math.min(backoff.maxMs, backoff.initialMs * 2 ** Math.min(Math.max(0, attempt), 30));
}

/**
 * {@linkcode backoffCeiling}, jittered down to between half and all of it, so that many clients that failed
 * together do not retry together.
 * @param random a number in [0, 1) @default Math.random()
 * @example backoffDelay(2, { initialMs: 100, maxMs: 1000 }, 1) // 400
 */
export function backoffDelay(attempt: number, backoff: Backoff, random: number = Math.random()): number {
  const ceiling = backoffCeiling(attempt, backoff);
  return ceiling / 2 + (ceiling / 2) * random;
}
