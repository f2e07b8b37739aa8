/**
 * Throttled log lines: at most one line per key per window, with the count of the lines skipped. Used wherever an
 * outsider can make the relay log (refused requests, refused packets), so that no client can flood the log.
 * Sans-I/O: the time is passed in.
 * @module
 */

/** Options of {@linkcode LogThrottle}. */
export interface LogThrottleOptions {
  /** At most one line per key in this many ms. @default 10000 */
  windowMs?: number;
}

/** What {@linkcode LogThrottle.flush} reports for a key whose lines were skipped. */
export interface ThrottleSummary<T> {
  key: string;
  /** Lines skipped since the key's last line. */
  suppressed: number;
  /** The value passed with the last skipped event. */
  last: T;
}

interface ThrottleEntry<T> {
  /** When the key's last line was written. */
  since: number;
  suppressed: number;
  last: T;
}

/**
 * Lets one log line per key through per window and counts the rest.
 *
 * Invariant: for each key, lines (admitted events and flush summaries) are at least `windowMs` apart, and every
 * event is either a line or counted in the `suppressed` of a later line (or still pending).
 *
 * @example
 * ```ts
 * const throttle = new LogThrottle<string>({ windowMs: 10_000 });
 * const suppressed = throttle.admit("request_rate 192.0.2.7", now, "detail");
 * if (suppressed !== null) log.warn("refused", { suppressed });
 * ```
 */
export class LogThrottle<T> {
  readonly #windowMs: number;
  readonly #entries = new Map<string, ThrottleEntry<T>>();

  /** @param options the window */
  constructor(options: LogThrottleOptions = {}) {
    this.#windowMs = options.windowMs ?? 10_000;
  }

  /** Keys tracked (each for at least one window after its last line). */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * @param key the key
   * @returns whether `key` is tracked
   */
  has(key: string): boolean {
    return this.#entries.has(key);
  }

  /**
   * One event of `key`.
   * @param key what the line is about (reason and client address)
   * @param nowMs the time of the event
   * @param value kept as the key's last value, for a later summary
   * @returns null: skip the line; else write it, with this count of lines skipped before it
   */
  admit(key: string, nowMs: number, value: T): number | null {
    const e = this.#entries.get(key);
    if (e && nowMs - e.since < this.#windowMs) {
      e.suppressed++;
      e.last = value;
      return null;
    }
    const suppressed = e?.suppressed ?? 0;
    this.#entries.set(key, { since: nowMs, suppressed: 0, last: value });
    return suppressed;
  }

  /**
   * Ends the windows that are over: a key with skipped lines gets a summary (and a new window), a key without
   * is forgotten. Call it periodically, or the last skipped count of a client that stopped is never written.
   * @param nowMs the time
   * @returns the summaries to write
   */
  flush(nowMs: number): ThrottleSummary<T>[] {
    const out: ThrottleSummary<T>[] = [];
    for (const [key, e] of this.#entries) {
      if (nowMs - e.since < this.#windowMs) continue;
      if (e.suppressed === 0) {
        this.#entries.delete(key);
        continue;
      }
      out.push({ key, suppressed: e.suppressed, last: e.last });
      e.since = nowMs;
      e.suppressed = 0;
    }
    return out;
  }
}
