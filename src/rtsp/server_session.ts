/**
 * Sans-I/O state of one server-side RTSP session (RFC 2326 appendix A.2), as a table of transitions,
 * plus its timeout bookkeeping. The relay decides what a request does; this module decides whether it may.
 * @module
 */

/** Session states. `playing` is for readers, `recording` for publishers. */
export type SessionState = "init" | "ready" | "playing" | "recording";

/** Who the session is: a reader (PLAY) or a publisher (RECORD). */
export type SessionRole = "reader" | "publisher";

/** Methods that change session state. */
export type SessionMethod = "SETUP" | "PLAY" | "PAUSE" | "RECORD" | "TEARDOWN";

type Table = Record<
  SessionRole,
  Record<SessionMethod, Partial<Record<SessionState, SessionState | "closed">>>
>;

/** Allowed transitions; a missing entry answers 455 Method Not Valid in This State. */
const TRANSITIONS: Table = {
  reader: {
    SETUP: { init: "ready", ready: "ready" },
    PLAY: { ready: "playing", playing: "playing" },
    PAUSE: { ready: "ready", playing: "ready" },
    RECORD: {},
    TEARDOWN: { init: "closed", ready: "closed", playing: "closed" },
  },
  publisher: {
    SETUP: { init: "ready", ready: "ready" },
    PLAY: {},
    PAUSE: { ready: "ready", recording: "ready" },
    RECORD: { ready: "recording", recording: "recording" },
    TEARDOWN: { init: "closed", ready: "closed", recording: "closed" },
  },
};

/**
 * The state after `method`, or null when the method is not valid in `state` (answer 455).
 * @example nextSessionState("reader", "ready", "PLAY") // "playing"
 */
export function nextSessionState(
  role: SessionRole,
  state: SessionState,
  method: SessionMethod,
): SessionState | "closed" | null {
  return TRANSITIONS[role][method][state] ?? null;
}

/**
 * Timeout bookkeeping: a session lives while requests or RTCP keep arriving. It advertises `timeout` seconds and
 * enforces `timeout + grace`, so clients that refresh just in time are not cut.
 */
export class SessionTimer {
  readonly advertisedSeconds: number;
  readonly enforcedSeconds: number;
  #last: number;

  /**
   * @param nowMs creation time
   * @param advertisedSeconds the `timeout=` of the Session header
   * @param graceSeconds extra time before the session is reaped @default 10
   */
  constructor(nowMs: number, advertisedSeconds: number, graceSeconds = 10) {
    this.#last = nowMs;
    this.advertisedSeconds = advertisedSeconds;
    this.enforcedSeconds = advertisedSeconds + graceSeconds;
  }

  /** Records activity. */
  touch(nowMs: number): void {
    if (nowMs > this.#last) this.#last = nowMs;
  }

  /** Time of the last activity. */
  get lastActivity(): number {
    return this.#last;
  }

  /** True when the session has been silent longer than enforced. */
  expired(nowMs: number): boolean {
    return nowMs - this.#last > this.enforcedSeconds * 1000;
  }
}

/** A random session id: 16 hex digits (64 bits) from the CSPRNG. */
export function newSessionId(): string {
  const b = crypto.getRandomValues(new Uint8Array(8));
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}
