/**
 * The log lines of a camera's outages, so a camera that stays down does not flood the log: the first failed
 * attempt warns, the retries are debug, a reminder warns again every `reminderMs` while it lasts (with how long
 * and how many attempts), the recovery is one info line saying how long the camera was down, and the end of a
 * session that played warns once. Sans-I/O: the time is passed in and the lines are returned, not written.
 * @module
 */

/** A log line to write. */
export interface LogLine {
  level: "debug" | "info" | "warn";
  msg: string;
  fields: Record<string, unknown>;
}

/** Fields every line about an attempt carries (no secrets: the URL is redacted by the caller). */
export interface AttemptFields {
  path: string;
  url: string;
  error: string;
  retryInMs: number;
}

/** The outage state of one camera: failed attempts in a row, since when, and the last warning. */
export class OutageLog {
  readonly #reminderMs: number;
  #failures = 0;
  #since = 0;
  #lastWarnAt = 0;

  /** @param reminderMs how often a lasting outage warns again */
  constructor(reminderMs: number) {
    this.#reminderMs = reminderMs;
  }

  /** Consecutive failed attempts since the camera last played. */
  get failures(): number {
    return this.#failures;
  }

  /** An attempt failed before playing, at `now`: warn when the outage begins and at each reminder, else debug. */
  failed(now: number, fields: AttemptFields): LogLine {
    this.#failures++;
    const rounded = { ...fields, retryInMs: Math.round(fields.retryInMs) };
    if (this.#failures === 1) {
      this.#since = now;
      this.#lastWarnAt = now;
      return { level: "warn", msg: "camera unreachable; retrying with backoff", fields: rounded };
    }
    if (now - this.#lastWarnAt >= this.#reminderMs) {
      this.#lastWarnAt = now;
      return {
        level: "warn",
        msg: "camera still unreachable; retrying with backoff",
        fields: { ...rounded, failingForS: Math.round((now - this.#since) / 1000), failures: this.#failures },
      };
    }
    return {
      level: "debug",
      msg: "camera still unreachable",
      fields: { ...rounded, failures: this.#failures },
    };
  }

  /**
   * The camera plays at `now`: the outage, if any, is over.
   * @returns the fields the "playing" line adds about it (`afterFailures`, `downS`), none without an outage
   */
  recovered(now: number): Record<string, number> {
    const failures = this.#failures;
    this.#failures = 0;
    if (failures === 0) return {};
    return { afterFailures: failures, downS: Math.round((now - this.#since) / 100) / 10 };
  }

  /** A session that played ended: warn once; the next failure begins a new outage. */
  sessionEnded(fields: AttemptFields): LogLine {
    this.#failures = 0;
    return {
      level: "warn",
      msg: "camera session ended; reconnecting",
      fields: { ...fields, retryInMs: Math.round(fields.retryInMs) },
    };
  }
}
