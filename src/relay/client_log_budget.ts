/**
 * A budget of log lines per client address for what each session does (started, playing, ended...). Those lines
 * are worth having, a recorder that opens 64 sessions at once included, but a client that opens and closes
 * sessions as fast as the request rate allows must not fill the node's disk: each address gets a burst, then a
 * steady rate, and what is held back is counted and summarised in one line per address.
 *
 * Sans-I/O apart from the logger: the time is passed in.
 * @module
 */
import type { Logger } from "../log.ts";
import { RateLimiter } from "../rtsp/rate_limiter.ts";

/** Options of {@linkcode ClientLogBudget}. */
export interface ClientLogBudgetOptions {
  /** Lines per second per address once the burst is spent. @default 2 */
  ratePerSecond?: number;
  /** Lines an address may have at once. @default 80 */
  burst?: number;
}

/** Info lines about clients' sessions, rationed per client address. */
export class ClientLogBudget {
  readonly #log: Logger;
  readonly #limiter: RateLimiter;
  readonly #held = new Map<string, number>();

  /** @param logger where the lines go; @param options rate and burst */
  constructor(logger: Logger, options: ClientLogBudgetOptions = {}) {
    this.#log = logger;
    this.#limiter = new RateLimiter({
      ratePerSecond: options.ratePerSecond ?? 2,
      burst: options.burst ?? 80,
    });
  }

  /**
   * Writes an info line about `remote`'s sessions, unless its budget is spent (then it is counted).
   * @param nowMs the time (monotonic ms)
   */
  info(remote: string, msg: string, fields: Record<string, unknown>, nowMs: number): void {
    if (!this.#log.enabled("info")) return;
    if (this.#limiter.take(remote, nowMs) > 0) {
      if (this.#held.size < 10_000 || this.#held.has(remote)) {
        this.#held.set(remote, (this.#held.get(remote) ?? 0) + 1);
      }
      return;
    }
    this.#log.info(msg, fields);
  }

  /** Writes one line per address whose lines were held back, and forgets quiet addresses. Call it periodically. */
  flush(nowMs: number): void {
    for (const [remote, suppressed] of this.#held) {
      this.#log.info("rtsp session lines suppressed", { remote, suppressed });
    }
    this.#held.clear();
    this.#limiter.prune(nowMs);
  }
}
