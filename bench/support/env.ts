/**
 * Bench settings from the environment.
 * @module
 */

/**
 * An integer setting `name`, or `fallback` when it is unset or empty.
 * @throws Error when it is set to anything but an integer >= `min`
 */
export function envInt(name: string, fallback: number, min: number): number {
  const raw = Deno.env.get(name);
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new Error(`Invalid ${name}: "${raw}" (an integer >= ${min})`);
  return n;
}
