/**
 * How the reflector ({@link ./kube_reflector.ts}) retries a failing API: its backoff (jittered, `../backoff.ts`),
 * a sleep that a stop cuts short, and how often a lasting outage warns again (`../outage.ts` keeps its books).
 * @module
 */
import type { Backoff } from "../backoff.ts";

/** The default backoff of the reflectors. */
export const DEFAULT_BACKOFF: Backoff = { initialMs: 500, maxMs: 30_000 };

/** While requests keep failing, the outage is logged again (at warn) this often, with its duration. */
export const DEFAULT_OUTAGE_REMINDER_MS = 300_000;

/**
 * Sleeps `ms`, ending early (without error) when `signal` aborts. The timer never outlives the call.
 * @example await sleep(backoffDelay(attempt++, DEFAULT_BACKOFF), abort.signal);
 */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}
