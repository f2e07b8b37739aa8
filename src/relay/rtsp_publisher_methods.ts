/**
 * A publisher's methods besides SETUP (rtsp_setup.ts): ANNOUNCE (the SDP of the stream it will send, checked
 * and installed on the path), RECORD (the stream is ready for readers), and the RTCP receiver reports the relay
 * sends a recording publisher.
 * @module
 */
import { RtspProtocolError } from "../rtsp/errors.ts";
import { response, type RtspRequest, type RtspResponse } from "../rtsp/message.ts";
import type { RtspConnection } from "../rtsp/server.ts";
import type { SessionState } from "../rtsp/server_session.ts";
import { countMediaSections, parseSdp } from "../rtsp/sdp.ts";
import { streamPathOf } from "../rtsp/url.ts";
import { ReceiverReporter, type ReportRoute } from "./receiver_reporter.ts";
import { checkSessionUrl, type RelaySession, sessionHeader, transition } from "./relay_session.ts";
import type { RtspContext } from "./rtsp_context.ts";
import { type Stream, type StreamSource, TooManyTracks } from "./stream.ts";

/** Publisher-side source: it produces nothing itself, the publisher's packets arrive through the server. */
export class PublisherSource implements StreamSource {
  readonly kind = "publish" as const;
  readonly #remote: string;
  /** @param remote the publisher's address (shown in the admin API) */
  constructor(remote: string) {
    this.#remote = remote;
  }
  /** Nothing to start: media arrives with the publisher's RECORD. */
  start(): void {}
  /** Nothing to stop: the session's end unpublishes. */
  stop(): Promise<void> {
    return Promise.resolve();
  }
  /** What the admin API shows of the source. */
  info(): Record<string, unknown> {
    return { publisher: this.#remote };
  }
}

const decoder = new TextDecoder();

/** Answers an ANNOUNCE: installs the publisher's stream on the path, pending its SETUPs on this connection. */
export function announce(ctx: RtspContext, req: RtspRequest, conn: RtspConnection): RtspResponse {
  const path = streamPathOf(req.url);
  const user = ctx.access.authorize(req, conn, path, "publish");
  const type = req.headers.get("Content-Type");
  if (type !== undefined && !/^application\/sdp\b/i.test(type)) {
    throw new RtspProtocolError(`ANNOUNCE body must be application/sdp, got "${type}"`, 415);
  }
  const text = decoder.decode(req.body);
  const medias = countMediaSections(text);
  if (medias > ctx.hub.maxTracks) {
    throw new RtspProtocolError(new TooManyTracks(medias, ctx.hub.maxTracks).message, 400);
  }
  const desc = parseSdp(text);
  const cs = ctx.sessions.conn(conn);
  if (cs.announced) throw new RtspProtocolError("This connection already announced a stream", 455);
  const source = new PublisherSource(conn.remote.hostname);
  let stream: Stream | "not_allowed" | "busy";
  try {
    stream = ctx.hub.forPublisher(path, desc, source);
  } catch (err) {
    if (err instanceof TooManyTracks) throw new RtspProtocolError(err.message, 400);
    throw err;
  }
  if (stream === "not_allowed") throw new RtspProtocolError(`Publishing to "${path}" is not allowed`, 403);
  if (stream === "busy") throw new RtspProtocolError(`Path "${path}" already has a publisher`, 455);
  stream.setState("connecting");
  cs.announced = { path, stream, source, user };
  const fields = { path, remote: conn.remote.hostname, tracks: desc.medias.length };
  ctx.sessionLog.info(conn.remote.hostname, "publisher announced", fields, ctx.now());
  return response(200);
}

/** The RTCP receiver reports of recording publishers, one schedule each. */
export class PublisherReports {
  readonly #intervalMs: number;
  readonly #cname: string;
  readonly #reporters = new WeakMap<RelaySession, ReceiverReporter>();

  /**
   * @param intervalMs milliseconds between reports
   * @param cname CNAME of the SDES item
   */
  constructor(intervalMs: number, cname: string) {
    this.#intervalMs = intervalMs;
    this.#cname = cname;
  }

  /** Starts a publisher's schedule (at RECORD): the first report half an interval later. */
  start(s: RelaySession, now: number): void {
    const reporter = new ReceiverReporter({ intervalMs: this.#intervalMs, cname: this.#cname });
    reporter.start(now);
    this.#reporters.set(s, reporter);
  }

  /**
   * Sends a recording publisher its due reports (RR + SDES CNAME) per track: over UDP from the track's RTCP port
   * to the publisher's client RTCP port, over TCP on the track's RTCP channel.
   */
  tick(s: RelaySession, now: number): void {
    const reporter = this.#reporters.get(s);
    if (!reporter) return;
    const routes: ReportRoute[] = [];
    for (const t of s.tracks.values()) {
      routes[t.index] = t.transport === "tcp"
        ? { kind: "tcp", channel: t.ports[1] }
        : { kind: "udp", host: s.remote, port: t.ports[1] };
    }
    reporter.poll(now, s.stream.tracks, routes, {
      udp: (index, packet, hostname, port) => {
        const pair = s.stream.pairOf(index);
        pair?.sendRtcp(packet, { transport: "udp", hostname, port });
        return pair !== undefined;
      },
      tcp: (channel, packet) => s.conn.writer.enqueueFrame(channel, packet, true),
    });
  }
}

/** Answers a RECORD: every track is set up, the stream is ready for readers, receiver reports start. */
export function record(
  ctx: RtspContext,
  reports: PublisherReports,
  req: RtspRequest,
  conn: RtspConnection,
): RtspResponse {
  const s = ctx.sessions.required(req, conn);
  checkSessionUrl(req, s);
  const next = transition(s, "RECORD");
  if (s.tracks.size !== s.stream.tracks.length) {
    throw new RtspProtocolError(
      `RECORD before every track was set up (${s.tracks.size} of ${s.stream.tracks.length})`,
      455,
    );
  }
  s.state = next as SessionState;
  s.stream.setState("ready");
  reports.start(s, ctx.now());
  ctx.sessionLog.info(s.remote, "publisher recording", { session: s.id, path: s.path }, ctx.now());
  return response(200, { Session: sessionHeader(s, ctx.timeoutSeconds) });
}
