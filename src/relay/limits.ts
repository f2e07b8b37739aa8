/**
 * Refusals of the RTSP server: why a client was refused (the `reason` label of `msm_rtsp_refused_total`), and the
 * refusal log, which counts every refusal but writes at most one line per reason and client address every 10 s,
 * with the number of lines it skipped. A client hammering a limit (or bad credentials) cannot flood the log.
 *
 * Sans-I/O: the time is passed in; the logger and the counter are injected.
 * @module
 */
import type { Logger, LogLevel } from "../log.ts";
import { LogThrottle } from "../log_throttle.ts";
import type { Refusal, RefusalReason } from "../rtsp/refusals.ts";

/** Where the mesh still looks for it (src/log_throttle.ts is its home). */
export { LogThrottle } from "../log_throttle.ts";
export { type Refusal, REFUSAL_REASONS, type RefusalReason } from "../rtsp/refusals.ts";

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
