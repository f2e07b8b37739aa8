/**
 * Refusals of the admin API (wrong tokens, lockouts, foreign Host names, bodies that are not JSON): each one is
 * counted in `msm_admin_requests_refused_total{reason}` and logged, at most one line per reason every 10 s with
 * the number of lines skipped, so an outsider hammering the API cannot flood the log. The lines never hold a
 * token.
 *
 * Sans-I/O: the time is passed in; the logger is injected.
 * @module
 */
import type { Logger, LogLevel } from "../log.ts";
import { Registry } from "../metrics/registry.ts";
import { LogThrottle } from "../log_throttle.ts";

/** Every reason the admin API refuses a request, as the metric's `reason` label spells it. */
export const ADMIN_REFUSAL_REASONS = [
  "missing_token",
  "bad_token",
  "locked_out",
  "host",
  "content_type",
] as const;

/** Why the admin API refused a request. */
export type AdminRefusalReason = typeof ADMIN_REFUSAL_REASONS[number];

/** One refusal, as logged. */
export interface AdminRefusal {
  reason: AdminRefusalReason;
  /** Client address. */
  remote: string;
  /** `METHOD /path` of the request. */
  request: string;
  /** Status answered. */
  status: number;
  /** What was wrong, in words. */
  detail?: string;
}

/**
 * A request without a token is how the dashboard first learns that reads need one: not worth a warning. The
 * rest (a wrong token, a lockout, a Host of another site, a cross-site body) is.
 */
const LEVEL: Partial<Record<AdminRefusalReason, LogLevel>> = { missing_token: "debug" };

/** Options of {@linkcode AdminRefusals}. */
export interface AdminRefusalsOptions {
  /** Where the lines go; none: counted only. */
  logger?: Logger | undefined;
  /** At most one line per reason in this many ms. @default 10000 */
  windowMs?: number;
}

/**
 * Counts and logs the admin API's refusals.
 * @example
 * ```ts
 * const refusals = new AdminRefusals({ logger });
 * refusals.report({ reason: "host", remote: "192.0.2.7", request: "GET /", status: 421 }, monotonicMs());
 * const text = refusals.expose(); // appended to /metrics
 * ```
 */
export class AdminRefusals {
  readonly #registry = new Registry();
  readonly #counter = this.#registry.counter(
    "msm_admin_requests_refused_total",
    "Admin API requests refused: missing_token, bad_token (a wrong bearer token), locked_out (429 after too " +
      "many wrong tokens), host (a Host name the relay was not configured for), content_type (a body that is " +
      "not application/json).",
    ["reason"],
  );
  readonly #log: Logger | undefined;
  /** Keyed by reason only: at most five keys, whatever the number of clients. */
  readonly #throttle: LogThrottle<AdminRefusal>;

  /** @param options logger and log window */
  constructor(options: AdminRefusalsOptions = {}) {
    this.#log = options.logger;
    this.#throttle = new LogThrottle({ windowMs: options.windowMs ?? 10_000 });
    for (const reason of ADMIN_REFUSAL_REASONS) this.#counter.inc({ reason }, 0);
  }

  /**
   * Counts one refusal and logs it unless its reason had a line within the window.
   * @param refusal what was refused and why
   * @param nowMs the time (monotonic ms)
   */
  report(refusal: AdminRefusal, nowMs: number): void {
    this.#counter.inc({ reason: refusal.reason });
    const suppressed = this.#throttle.admit(refusal.reason, nowMs, refusal);
    if (suppressed !== null) {
      const level = LEVEL[refusal.reason] ?? "warn";
      if (this.#log?.enabled(level)) this.#log[level]("admin request refused", { ...refusal, suppressed });
    }
    this.#flush(nowMs);
  }

  /** Summaries of the other reasons' windows that ended with lines skipped (written at the next refusal). */
  #flush(nowMs: number): void {
    for (const { last, suppressed } of this.#throttle.flush(nowMs)) {
      const level = LEVEL[last.reason] ?? "warn";
      if (this.#log?.enabled(level)) {
        this.#log[level]("admin refusals suppressed", {
          reason: last.reason,
          remote: last.remote,
          suppressed,
        });
      }
    }
  }

  /**
   * The refusal counter in the Prometheus text format 0.0.4, to append to the relay's exposition.
   * @returns the text, ending with a newline
   */
  expose(): string {
    return this.#registry.expose();
  }
}
