/**
 * The vocabulary of {@linkcode PullMachine}: the events its shell feeds it (what happened, and when on the
 * monotonic clock) and the outputs it asks the shell to perform (connect, send a request, close, arm or cancel a
 * timer, route interleaved channels, send a receiver report, write a log line). Plain values, so a test can
 * script a camera session line by line.
 * @module
 */
import type { RtspResponse } from "../../rtsp/message.ts";
import type { ReportRoute } from "../receiver_reporter.ts";

/** The machine's timers; arming one again replaces its deadline. */
export type PullTimer =
  /** The backoff before the next attempt ended. */
  | "retry"
  /** No media since the last packet for `mediaTimeoutMs`? */
  | "media"
  /** No RTP over UDP since PLAY within `udpFallbackMs`? (auto) */
  | "fallback"
  /** Time for a GET_PARAMETER keepalive. */
  | "keepalive"
  /** Time for receiver reports to the camera. */
  | "report"
  /** The camera did not answer the TEARDOWN of a stop in time. */
  | "teardown";

/** Where the frames of one interleaved channel go. */
export interface ChannelRoute {
  channel: number;
  /** Track index. */
  track: number;
  /** True for the track's RTCP channel. */
  rtcp: boolean;
}

/** Something that happened, at `now` (monotonic milliseconds). */
export type PullEvent =
  & { now: number }
  & (
    /** Start pulling; again while running: a reader arrived (hurries a pending retry). */
    | { kind: "start" }
    /** Stop for good (the stream closes). */
    | { kind: "stop" }
    /** The connection asked for by `connect` `conn` is open; media over UDP comes from `host`. */
    | { kind: "connected"; conn: number; host: string }
    /** The connection `conn` could not be opened. */
    | { kind: "connectFailed"; conn: number; error: unknown }
    /** The camera answered request `id` (after the client answered any Digest challenge). */
    | { kind: "response"; id: number; response: RtspResponse }
    /** Request `id` got no answer: timeout, closed connection, or a challenge the client may not answer. */
    | { kind: "requestFailed"; id: number; error: unknown }
    /** Media arrived on track `track`, the latest at `at` (observed by the shell, at the latest when a timer fires). */
    | { kind: "media"; track: number; at: number }
    /** The connection `conn` ended (the camera closed it, or it broke). */
    | { kind: "closed"; conn: number }
    /** A timer armed with `setTimer` fired. */
    | { kind: "timer"; timer: PullTimer }
  );

/** What the machine asks its shell to do, in order. */
export type PullOutput =
  /** Open connection `conn` to the camera at `url` (its credentials answer challenges). */
  | { kind: "connect"; conn: number; url: string }
  /** Send a request on connection `conn`; its answer comes back as a `response` or `requestFailed` `id`. */
  | {
    kind: "request";
    conn: number;
    id: number;
    method: string;
    url: string;
    headers: Record<string, string>;
  }
  /** Close connection `conn` (or give up on opening it). */
  | { kind: "close"; conn: number }
  /** Fire `timer` at `at` (monotonic ms), replacing its previous deadline. */
  | { kind: "setTimer"; timer: PullTimer; at: number }
  /** Forget `timer`. */
  | { kind: "cancelTimer"; timer: PullTimer }
  /**
   * From now on, report media arrivals of the current session, and hand interleaved frames of these channels to
   * their tracks (none over UDP).
   */
  | { kind: "watchMedia"; channels: readonly ChannelRoute[] }
  /** Send a receiver report compound about track `track` to the camera. */
  | { kind: "sendRtcp"; track: number; route: ReportRoute; packet: Uint8Array }
  /** Write a log line. */
  | { kind: "log"; level: "debug" | "info" | "warn"; msg: string; fields: Record<string, unknown> }
  /** The machine has stopped: nothing more will be asked. */
  | { kind: "stopped" };
