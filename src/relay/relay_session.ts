/**
 * An RTSP session of the relay (RFC 2326 §3): a reader playing a stream or a publisher recording one, the
 * tracks it set up, and the rules every method applies to it: the state machine (src/rtsp/server_session.ts),
 * the URL an aggregate request must name, and the receiver reports a reader sends about what it got.
 * @module
 */
import type { RtspConnection } from "../rtsp/server.ts";
import { RtspProtocolError } from "../rtsp/errors.ts";
import type { RtspRequest } from "../rtsp/message.ts";
import {
  nextSessionState,
  type SessionMethod,
  type SessionRole,
  type SessionState,
} from "../rtsp/server_session.ts";
import type { SessionTimer } from "../rtsp/server_session.ts";
import { streamPathOf } from "../rtsp/url.ts";
import { type ReaderReport, readerReportsOf } from "../rtp/reader_reports.ts";
import type { Egress } from "./egress.ts";
import type { Stream, StreamSource } from "./stream.ts";

/** One set-up track of a session. */
export interface SessionTrack {
  index: number;
  transport: "udp" | "tcp";
  /** Client ports (UDP) or interleaved channels (TCP). */
  ports: [number, number];
  egress: Egress | null;
  /** The GOP this reader was last sent from the cache: a PLAY after PAUSE does not get it again. */
  burstGeneration: number;
}

/** A reader or publisher session. */
export interface RelaySession {
  readonly id: string;
  readonly role: SessionRole;
  readonly path: string;
  readonly stream: Stream;
  readonly conn: RtspConnection;
  readonly remote: string;
  /** The user that set the session up (null without users): only that user may act on it elsewhere. */
  readonly user: string | null;
  /** When the session was created: wall-clock ms since the Unix epoch (shown in the admin API). */
  readonly createdAt: number;
  state: SessionState;
  timer: SessionTimer;
  tracks: Map<number, SessionTrack>;
  /** Unregisters this UDP reader's ports from the stream (its RTCP listener, its hole-punch source), per track. */
  udpReaderPorts: Array<() => void>;
  /** Publisher source handle (publishers). */
  source: StreamSource | null;
  /**
   * Readers: the latest RTCP receiver report block per set-up track index (what the reader says it lost and
   * its jitter, in seconds); empty until the reader reports. Publishers: always empty.
   */
  reports: Map<number, ReaderReport>;
}

/** True when a track of the session is interleaved: the session lives and dies with its connection. */
export function isInterleaved(s: RelaySession): boolean {
  for (const t of s.tracks.values()) if (t.transport === "tcp") return true;
  return false;
}

/**
 * The state `method` moves the session to.
 * @throws 455 Method Not Valid in This State
 */
export function transition(s: RelaySession, method: SessionMethod): SessionState | "closed" {
  const next = nextSessionState(s.role, s.state, method);
  if (next === null) {
    throw new RtspProtocolError(`${method} is not valid for a ${s.role} session in state "${s.state}"`, 455);
  }
  return next;
}

/**
 * Checks that an aggregate request's URL (PLAY, PAUSE, RECORD, TEARDOWN) names the session's path.
 * @throws 400 for a URL that is no RTSP URL, 459 for another path
 */
export function checkSessionUrl(req: RtspRequest, s: RelaySession): void {
  if (req.url === "*") return;
  const path = streamPathOf(req.url);
  if (path !== s.path && !path.startsWith(s.path + "/")) {
    throw new RtspProtocolError(`Session "${s.id}" belongs to "${s.path}", not "${path}"`, 459);
  }
}

/**
 * Keeps the report blocks of a reader's RTCP compound (received on track `index`) on its session and on the
 * tracks they describe; blocks about tracks the reader did not set up are ignored.
 */
export function noteReaderRtcp(s: RelaySession, packet: Uint8Array, index: number, wallNow: number): void {
  const reports = readerReportsOf(packet, s.stream.tracks, index, wallNow);
  if (!reports) return;
  for (const [i, report] of reports) {
    if (!s.tracks.has(i)) continue;
    s.reports.set(i, report);
    s.stream.tracks[i]?.setReaderReport(s.id, report);
  }
}

/** `Session` header value of a reply. */
export function sessionHeader(s: RelaySession, timeoutSeconds: number): string {
  return `${s.id};timeout=${timeoutSeconds}`;
}
