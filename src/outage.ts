/**
 * The bookkeeping of an outage, shared by every retry loop that logs one (the Kubernetes API, a camera): a
 * warning when it starts, a reminder every so often while it lasts (how long, how many attempts), debug lines
 * between, and what the recovery line says. Sans-I/O: the caller passes the monotonic time and writes the lines.
 * @module
 */

/** How to report a failed attempt ({@linkcode OutageTracker.failed}). */
export type FailureReport =
  /** The first failure of an outage: warn. */
  | { readonly kind: "started" }
  /** A failure a reminder period after the last warning: warn again, with how long and how often. */
  | { readonly kind: "reminder"; readonly failingForMs: number; readonly failedAttempts: number }
  /** Any other failure: debug. */
  | { readonly kind: "again" };

/** The end of an outage ({@linkcode OutageTracker.recovered}). */
export interface OutageEnd {
  /** From the first failure to the recovery. */
  readonly outageMs: number;
  /** Failed attempts during the outage. */
  readonly failedAttempts: number;
}

/**
 * Counts failed attempts from the first failure of an outage to the next success, and says which failures are
 * worth a warning. Sans-I/O: the caller passes the monotonic time and logs.
 * @example
 * const outage = new OutageTracker(DEFAULT_OUTAGE_REMINDER_MS);
 * outage.failed(now); // { kind: "started" }: warn
 * outage.recovered(now + 1500); // { outageMs: 1500, failedAttempts: 1 }: info
 */
export class OutageTracker {
  readonly #reminderMs: number;
  /** Since when requests fail, or undefined while the API answers. */
  #since: number | undefined;
  #failures = 0;
  #lastWarnAt = 0;

  /** @param reminderMs period of the reminder warnings while failures go on */
  constructor(reminderMs: number) {
    this.#reminderMs = reminderMs;
  }

  /** Failed attempts since the outage began (0 while things work). */
  get failedAttempts(): number {
    return this.#failures;
  }

  /** True from the first failure until a success. */
  get failing(): boolean {
    return this.#since !== undefined;
  }

  /**
   * Records a failed attempt at `now`.
   * @param report false when the caller reported this failure itself: it counts, but starts no warning period
   * @returns how to report it, or undefined when `report` is false
   */
  failed(now: number, report = true): FailureReport | undefined {
    let out: FailureReport | undefined;
    if (!report) {
      this.#since ??= now;
    } else if (this.#since === undefined) {
      this.#since = now;
      this.#failures = 0;
      this.#lastWarnAt = now;
      out = { kind: "started" };
    } else if (now - this.#lastWarnAt >= this.#reminderMs) {
      this.#lastWarnAt = now;
      out = { kind: "reminder", failingForMs: now - this.#since, failedAttempts: this.#failures + 1 };
    } else {
      out = { kind: "again" };
    }
    this.#failures++;
    return out;
  }

  /**
   * Records a success at `now`.
   * @returns the outage it ends, or undefined when there was none
   */
  recovered(now: number): OutageEnd | undefined {
    const since = this.#since;
    const failedAttempts = this.#failures;
    this.#since = undefined;
    this.#failures = 0;
    return since === undefined ? undefined : { outageMs: now - since, failedAttempts };
  }
}
