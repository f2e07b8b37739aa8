/**
 * Refusals of the RTSP server: why a client was refused (the `reason` label of `msm_rtsp_refused_total`), and the
 * refusal log, which counts every refusal but writes at most one line per reason and client address every 10 s,
 * with the number of lines it skipped. A client hammering a limit (or bad credentials) cannot flood the log.
 *
 * Sans-I/O: the time is passed in; the logger and the counter are injected.
 * @module
 */
import type { Logger, LogLevel } from "../log.ts";

/** Every reason a client can be refused, as the metric's `reason` label spells it. */
export const REFUSAL_REASONS = [
  "max_connections",
  "max_connections_per_ip",
  "max_sessions_per_ip",
  "max_readers_per_path",
  "memory_budget",
  "slow_reader",
  "request_rate",
  "header_too_large",
  "body_too_large",
  "request_timeout",
  "idle_timeout",
  "auth_required",
  "unauthorized",
  "forbidden",
  "bad_request",
] as const;

/** Why a client was refused. */
export type RefusalReason = typeof REFUSAL_REASONS[number];

/** One refusal, as logged. Never holds credentials. */
export interface Refusal {
  reason: RefusalReason;
  /** Client address. */
  remote: string;
  /** Status answered, or null when the connection was closed without an answer. */
  status: number | null;
  /** The configured value of the limit that was hit, when the refusal is a limit. */
  limit?: number;
  /** Method of the refused request, when there was one. */
  method?: string;
  /** Stream path the request named, when known. */
  path?: string;
  /** What was wrong, in words (the text the client gets in the body). */
  detail?: string;
}

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

/** Options of {@linkcode RefusalLog}. */
export interface RefusalLogOptions {
  logger: Logger;
  /** Counts every refusal, logged or not (the metric). */
  onRefused?: (reason: RefusalReason) => void;
  /** At most one line per reason and client address in this many ms. @default 10000 */
  windowMs?: number;
  /**
   * Most (reason, address) pairs tracked; beyond it, new addresses share one line per reason, with address `*`.
   * @default 10000
   */
  maxKeys?: number;
}

/**
 * Level of each reason's lines: a first request without credentials is how every Digest handshake starts, and a
 * connection left idle is ordinary; the rest is worth a warning.
 */
const LEVEL: Partial<Record<RefusalReason, LogLevel>> = { auth_required: "debug", idle_timeout: "info" };

/**
 * Counts and logs refusals, throttled per (reason, client address).
 *
 * Lines: `rtsp request refused` (or `rtsp connection closed` for an idle connection) with the reason, client
 * address, status, limit and what was wrong, plus `suppressed`, the lines skipped since the previous one for that
 * reason and address; and `rtsp refusals suppressed` when a window ends with skipped lines and no new refusal.
 *
 * @example
 * ```ts
 * const refusals = new RefusalLog({ logger, onRefused: metrics.onRefused });
 * refusals.report({ reason: "request_rate", remote: "192.0.2.7", status: 503, limit: 50 }, Date.now());
 * setInterval(() => refusals.flush(Date.now()), 1000);
 * ```
 */
export class RefusalLog {
  readonly #log: Logger;
  readonly #onRefused: (reason: RefusalReason) => void;
  readonly #throttle: LogThrottle<Refusal>;
  readonly #maxKeys: number;

  /** @param options logger, counter, window and table bound */
  constructor(options: RefusalLogOptions) {
    this.#log = options.logger;
    this.#onRefused = options.onRefused ?? (() => {});
    this.#throttle = new LogThrottle({ windowMs: options.windowMs ?? 10_000 });
    this.#maxKeys = options.maxKeys ?? 10_000;
  }

  /** (reason, address) pairs tracked. */
  get size(): number {
    return this.#throttle.size;
  }

  /**
   * Counts one refusal and logs it unless its (reason, address) had a line within the window.
   * @param refusal what was refused and why
   * @param nowMs the time
   */
  report(refusal: Refusal, nowMs: number): void {
    this.#onRefused(refusal.reason);
    let key = `${refusal.reason} ${refusal.remote}`;
    let value = refusal;
    if (!this.#throttle.has(key) && this.#throttle.size >= this.#maxKeys) {
      key = `${refusal.reason} *`;
      value = { reason: refusal.reason, remote: "*", status: refusal.status };
      if (refusal.limit !== undefined) value.limit = refusal.limit;
    }
    const suppressed = this.#throttle.admit(key, nowMs, value);
    if (suppressed === null) return;
    const level = LEVEL[value.reason] ?? "warn";
    if (!this.#log.enabled(level)) return;
    const msg = value.reason === "idle_timeout" ? "rtsp connection closed" : "rtsp request refused";
    this.#log[level](msg, { ...value, suppressed });
  }

  /**
   * Writes a summary line for each (reason, address) whose window ended with lines skipped.
   * @param nowMs the time
   */
  flush(nowMs: number): void {
    for (const { last, suppressed } of this.#throttle.flush(nowMs)) {
      const level = LEVEL[last.reason] ?? "warn";
      if (!this.#log.enabled(level)) continue;
      this.#log[level]("rtsp refusals suppressed", {
        reason: last.reason,
        remote: last.remote,
        status: last.status,
        ...(last.limit !== undefined ? { limit: last.limit } : {}),
        suppressed,
      });
    }
  }
}
