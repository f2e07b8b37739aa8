/**
 * The log lines of a camera's outages, so a camera that stays down does not flood the log: the first failed
 * attempt warns, the retries are debug, a reminder warns again every `reminderMs` while it lasts (with how long
 * and how many attempts), the recovery is one info line saying how long the camera was down, and the end of a
 * session that played warns once. Sans-I/O: the time is passed in and the lines are returned, not written.
 * @module
 */
import { OutageTracker } from "../../outage.ts";

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

/** The outage state of one camera: its books are an {@linkcode OutageTracker}, the lines are the camera's. */
export class OutageLog {
  readonly #tracker: OutageTracker;

  /** @param reminderMs how often a lasting outage warns again */
  constructor(reminderMs: number) {
    this.#tracker = new OutageTracker(reminderMs);
  }

  /** Consecutive failed attempts since the camera last played. */
  get failures(): number {
    return this.#tracker.failedAttempts;
  }

  /** An attempt failed before playing, at `now`: warn when the outage begins and at each reminder, else debug. */
  failed(now: number, fields: AttemptFields): LogLine {
    const report = this.#tracker.failed(now)!;
    const rounded = { ...fields, retryInMs: Math.round(fields.retryInMs) };
    switch (report.kind) {
      case "started":
        return { level: "warn", msg: "camera unreachable; retrying with backoff", fields: rounded };
      case "reminder":
        return {
          level: "warn",
          msg: "camera still unreachable; retrying with backoff",
          fields: {
            ...rounded,
            failingForS: Math.round(report.failingForMs / 1000),
            failures: report.failedAttempts,
          },
        };
      case "again":
        return {
          level: "debug",
          msg: "camera still unreachable",
          fields: { ...rounded, failures: this.#tracker.failedAttempts },
        };
    }
  }

  /**
   * The camera plays at `now`: the outage, if any, is over.
   * @returns the fields the "playing" line adds about it (`afterFailures`, `downS`), none without an outage
   */
  recovered(now: number): Record<string, number> {
    const end = this.#tracker.recovered(now);
    if (!end || end.failedAttempts === 0) return {};
    return { afterFailures: end.failedAttempts, downS: Math.round(end.outageMs / 100) / 10 };
  }

  /** A session that played ended: warn once; the next failure begins a new outage. */
  sessionEnded(fields: AttemptFields): LogLine {
    return {
      level: "warn",
      msg: "camera session ended; reconnecting",
      fields: { ...fields, retryInMs: Math.round(fields.retryInMs) },
    };
  }
}
