/**
 * What the mesh refused of its peers: peer-protocol requests counted per reason (for metrics), and throttled log
 * lines for refused requests and packets: one per reason and peer address per 10 s with the count it stands for,
 * and beyond 64 addresses at once (made-up sources) one per reason, so no outsider can flood the log.
 * @module
 */
import type { Clock } from "../clock.ts";
import type { Logger } from "../log.ts";
import { LogThrottle } from "../log_throttle.ts";

/** Refusal counts and their log. */
export class MeshRefusals {
  readonly #log: Logger;
  readonly #now: Clock;
  readonly #throttle = new LogThrottle<null>();
  readonly #requests = new Map<string, number>();

  /**
   * @param logger where the lines go
   * @param now monotonic clock
   */
  constructor(logger: Logger, now: Clock) {
    this.#log = logger;
    this.#now = now;
  }

  /** Peer-protocol requests refused so far, per reason. */
  get requests(): ReadonlyMap<string, number> {
    return this.#requests;
  }

  /** Counts a refused request (no log line: see {@linkcode log}). */
  countRequest(reason: string): void {
    this.#requests.set(reason, (this.#requests.get(reason) ?? 0) + 1);
  }

  /** Logs a refusal of `what` (throttled per reason and address). */
  log(what: string, reason: string, from: string, message: string): void {
    const key = `${what}|${reason}|${from}`;
    const many = this.#throttle.size >= 64 && !this.#throttle.has(key);
    const suppressed = this.#throttle.admit(many ? `${what}|${reason}|(many)` : key, this.#now(), null);
    if (suppressed === null) return;
    this.#log.warn(what, { reason, from, message, ...(suppressed > 0 ? { suppressed } : {}) });
  }

  /** Writes the counts of lines held back whose window ended (call it every few hundred ms). */
  flush(): void {
    for (const { key, suppressed } of this.#throttle.flush(this.#now())) {
      const [what, reason, from] = key.split("|");
      this.#log.warn(`${what} (repeats)`, { reason, from, suppressed });
    }
  }
}
