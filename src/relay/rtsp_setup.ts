/**
 * SETUP, for readers and publishers (RFC 2326 §10.4): which track the URL names, which of the client's
 * transports the relay takes (unicast UDP with client ports, or TCP interleaved), and what the track then
 * holds: a reader's UDP RTCP listener and hole-punch key, a publisher's expected UDP source, or `$` channels.
 * A refused SETUP leaves nothing behind: no session, no bound ports, no started camera.
 * @module
 */
import { RtspProtocolError } from "../rtsp/errors.ts";
import { response, type RtspRequest, type RtspResponse } from "../rtsp/message.ts";
import type { RtspConnection } from "../rtsp/server.ts";
import type { SessionState } from "../rtsp/server_session.ts";
import { formatTransport, parseTransports, type Transport } from "../rtsp/headers/transport.ts";
import type { SessionDescription } from "../rtsp/sdp.ts";
import { resolveControl, splitTrackUrl, streamPathOf } from "../rtsp/url.ts";
import { type RelaySession, sessionHeader, transition } from "./relay_session.ts";
import { baseUrl, pairFor, readyStream, type RtspContext } from "./rtsp_context.ts";
import type { ConnState } from "./session_registry.ts";
import type { Stream } from "./stream.ts";
import type { PortPair } from "./port_pair.ts";

/** Where a reader's RTCP compounds go once its UDP track is set up. */
export type ReaderRtcpSink = (s: RelaySession, packet: Uint8Array, index: number) => void;

/** Answers a SETUP: at once, unless a new reader's stream is not ready yet (then a promise). */
export function setup(
  ctx: RtspContext,
  req: RtspRequest,
  conn: RtspConnection,
  onReaderRtcp: ReaderRtcpSink,
): RtspResponse | Promise<RtspResponse> {
  const header = req.headers.get("Transport");
  if (!header) throw new RtspProtocolError("SETUP needs a Transport header", 461);
  const offers = parseTransports(header);
  const cs = ctx.sessions.conn(conn);
  const session = ctx.sessions.named(req, conn);
  const urlPath = splitTrackUrl(req.url).path;
  const announced = cs.announced;
  const publishing = session?.role === "publisher" ||
    (!session && announced !== null &&
      (urlPath === announced.path || streamPathOf(req.url).startsWith(announced.path + "/")));
  if (!publishing && offers.some((o) => o.mode === "RECORD")) {
    throw new RtspProtocolError(
      "SETUP with mode=record needs an ANNOUNCE of the path on this connection",
      455,
    );
  }
  // The right the session will use, on the path it will serve; a session's own requests were checked when it
  // was set up, and an announced path when it was announced.
  const user = session
    ? session.user
    : publishing
    ? announced!.user
    : ctx.access.authorize(req, conn, urlPath, "read");
  // Before the stream is touched: a refused reader must not start a camera.
  if (!session) ctx.sessions.admit(req, conn.remote.hostname, publishing ? null : urlPath);

  const apply = (stream: Stream, path: string, created: boolean) =>
    setupOn(ctx, req, conn, onReaderRtcp, { offers, cs, session, publishing, user, stream, path, created });
  if (session) {
    const path = session.path;
    if (urlPath !== path && !streamPathOf(req.url).startsWith(path + "/")) {
      throw new RtspProtocolError(`Session "${session.id}" belongs to "${path}", not "${urlPath}"`, 459);
    }
    return apply(session.stream, path, false);
  }
  if (publishing) return apply(announced!.stream, announced!.path, false);
  const ready = readyStream(ctx, urlPath);
  return ready instanceof Promise ? ready.then((s) => apply(s, urlPath, true)) : apply(ready, urlPath, true);
}

/** What {@linkcode setup} found out before the stream was ready. */
interface SetupFacts {
  offers: Transport[];
  cs: ConnState;
  session: RelaySession | undefined;
  publishing: boolean;
  user: RelaySession["user"];
  stream: Stream;
  path: string;
  /** The stream was retained for this request: released unless a new session takes it over. */
  created: boolean;
}

/** The rest of a SETUP, on its stream. */
function setupOn(
  ctx: RtspContext,
  req: RtspRequest,
  conn: RtspConnection,
  onReaderRtcp: ReaderRtcpSink,
  facts: SetupFacts,
): RtspResponse {
  const { offers, cs, publishing, user, stream, path } = facts;
  const announced = cs.announced;
  let { session, created } = facts;
  try {
    const index = trackIndex(req.url, path, stream.description!, conn);
    if (index < 0 || index >= stream.tracks.length) {
      throw new RtspProtocolError(`Track ${index} does not exist in "${path}"`, 404);
    }
    if (session?.tracks.has(index)) throw new RtspProtocolError(`Track ${index} is already set up`, 455);
    const offer = pickTransport(offers, publishing);
    // Refuse before a session exists: a refused SETUP must not leave one behind.
    const channels = offer.lowerTransport === "TCP" ? cs.routes.channelsFor(offer, session) : null;
    // UDP ports are bound for a track only by the first UDP SETUP of it (a refused one holds none).
    const pair = channels ? null : pairFor(stream, index);
    if (!session) {
      session = ctx.sessions.create(publishing ? "publisher" : "reader", path, stream, conn, user);
      if (publishing) session.source = announced!.source;
      created = false; // the session now owns the stream reference (readers) or the announce (publishers)
    }
    const next = transition(session, "SETUP");
    const reply = channels
      ? applyInterleaved(session, index, channels, cs)
      : applyUdp(ctx, session, index, offer.clientPort!, pair!, onReaderRtcp);
    session.state = next as SessionState;
    return response(200, {
      Session: sessionHeader(session, ctx.timeoutSeconds),
      Transport: formatTransport(reply),
    });
  } finally {
    if (created) stream.release();
  }
}

/**
 * Finds which track a SETUP URL names: `trackID=N` as the relay's own SDP says, or a publisher's own control
 * (ffmpeg: `streamid=0`), or the stream itself when it has one track.
 * @throws 404 when it names none
 */
function trackIndex(url: string, path: string, desc: SessionDescription, conn: RtspConnection): number {
  const { trackId } = splitTrackUrl(url);
  if (trackId !== null) return trackId;
  const reqPath = streamPathOf(url);
  const base = baseUrl(conn, path);
  for (let i = 0; i < desc.medias.length; i++) {
    const control = desc.medias[i]!.control;
    if (control === undefined) continue;
    if (streamPathOf(resolveControl(base, control)) === reqPath) return i;
  }
  if (desc.medias.length === 1 && reqPath === path) return 0;
  throw new RtspProtocolError(`SETUP URL "${url}" names no track of "${path}"`, 404);
}

/**
 * The first offer the relay can serve: TCP interleaved, or unicast UDP with client ports (a publisher's UDP
 * offer without ports cannot be received).
 * @throws 461 Unsupported Transport when none
 */
function pickTransport(offers: Transport[], publishing: boolean): Transport {
  for (const t of offers) {
    if (t.delivery === "multicast") continue;
    if (t.lowerTransport === "TCP") return t;
    if (t.clientPort) return t;
    if (publishing && t.lowerTransport === "UDP") continue;
  }
  throw new RtspProtocolError(
    "No supported transport offered (unicast UDP with client_port, or TCP interleaved)",
    461,
  );
}

/** Sets up a track over `$` channels of the session's connection. @returns the reply's transport */
function applyInterleaved(
  s: RelaySession,
  index: number,
  channels: [number, number],
  cs: ConnState,
): Transport {
  cs.routes.assign(s, index, channels);
  s.tracks.set(index, { index, transport: "tcp", ports: channels, egress: null, burstGeneration: -2 });
  if (s.role === "publisher") s.stream.setUdpSource(index, null);
  return {
    protocol: "RTP/AVP",
    lowerTransport: "TCP",
    delivery: "unicast",
    interleaved: channels,
    ...roleFields(s, index),
    other: [],
  };
}

/**
 * Sets up a track over UDP: a publisher's packets are expected from its client ports; a reader's RTCP from its
 * RTCP port goes to `onReaderRtcp` (and refreshes its session), its RTP port is known for NAT hole punching.
 * @returns the reply's transport
 */
function applyUdp(
  ctx: RtspContext,
  s: RelaySession,
  index: number,
  clientPort: [number, number],
  pair: PortPair,
  onReaderRtcp: ReaderRtcpSink,
): Transport {
  s.tracks.set(index, { index, transport: "udp", ports: clientPort, egress: null, burstGeneration: -2 });
  if (s.role === "publisher") {
    s.stream.setUdpSource(index, { host: s.remote, rtpPort: clientPort[0], rtcpPort: clientPort[1] });
  } else {
    const unregister = s.stream.addUdpReader(s.remote, clientPort[0], clientPort[1], (packet, i) => {
      s.timer.touch(ctx.now());
      onReaderRtcp(s, packet, i);
    });
    s.udpReaderPorts.push(unregister);
  }
  return {
    protocol: "RTP/AVP",
    lowerTransport: "UDP",
    delivery: "unicast",
    clientPort,
    serverPort: [pair.rtpPort, pair.rtcpPort],
    ...roleFields(s, index),
    other: [],
  };
}

/** A reader learns the SSRC it will receive; a publisher's reply says RECORD. */
function roleFields(s: RelaySession, index: number): Partial<Transport> {
  return s.role === "reader" ? { ssrc: s.stream.tracks[index]!.outputSsrc } : { mode: "RECORD" };
}
