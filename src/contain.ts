/**
 * Containment of errors in callbacks that nobody awaits: timer ticks, per-packet fan-out to egresses, socket
 * handlers. An exception there would otherwise reach the event loop and end the process, taking every other
 * stream and reader with it; contained, it is counted, logged (at most one line per place every 10 s, with the
 * count of the lines skipped) and the callback's caller carries on.
 *
 * The sink is process-wide because the places it guards (a track's fan-out loop, the shared pacing timer) have no
 * logger of their own; `main.ts` points it at the relay's logger and installs the last-resort handlers.
 * @module
 */
import type { Logger } from "./log.ts";

/** Lines per place at most once per this many ms. */
const WINDOW_MS = 10_000;

let sink: Logger | null = null;
const counts = new Map<string, number>();
const lastLine = new Map<string, { at: number; skipped: number }>();

/** Sends contained errors to `logger` (null: to stderr). */
export function setContainmentLogger(logger: Logger | null): void {
  sink = logger;
}

/** Errors contained so far, per place. */
export function containedErrors(): ReadonlyMap<string, number> {
  return counts;
}

/**
 * Counts and logs (throttled) an error caught at `where` instead of letting it end the process.
 * @param where a short, fixed name of the place (a metric label: never built from input)
 * @param err what was thrown
 */
export function reportContained(where: string, err: unknown): void {
  counts.set(where, (counts.get(where) ?? 0) + 1);
  const now = performance.now();
  const last = lastLine.get(where);
  if (last && now - last.at < WINDOW_MS) {
    last.skipped++;
    return;
  }
  lastLine.set(where, { at: now, skipped: 0 });
  const fields = {
    where,
    error: err instanceof Error ? `${err.name}: ${err.message}` : String(err),
    ...(err instanceof Error && err.stack ? { stack: err.stack.split("\n").slice(1, 6).join(" | ") } : {}),
    ...(last && last.skipped > 0 ? { suppressed: last.skipped } : {}),
  };
  if (sink) sink.error("error contained", fields);
  else console.error(`msm-relay: error contained: ${JSON.stringify(fields)}`);
}

/**
 * Runs `fn`; what it throws is reported with {@linkcode reportContained} instead of propagating.
 * @example setInterval(() => contained("mesh heartbeat", () => mesh.heartbeat()), 150)
 */
export function contained(where: string, fn: () => void): void {
  try {
    fn();
  } catch (err) {
    reportContained(where, err);
  }
}
