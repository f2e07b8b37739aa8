/**
 * A reader's methods besides SETUP (rtsp_setup.ts): DESCRIBE (the stream's SDP, rewritten for serving), PLAY
 * (an egress per set-up track, the cached GOP first, once the reply is on the wire) and PAUSE.
 * @module
 */
import { RtspProtocolError } from "../rtsp/errors.ts";
import { response, type RtspRequest, type RtspResponse } from "../rtsp/message.ts";
import type { RtspConnection } from "../rtsp/server.ts";
import type { SessionState } from "../rtsp/server_session.ts";
import { formatRtpInfo, type RtpInfoEntry } from "../rtsp/headers/rtp_info.ts";
import { rewriteSdpForServing } from "../rtsp/sdp.ts";
import { streamPathOf } from "../rtsp/url.ts";
import { type Egress, TcpEgress, UdpEgress } from "./egress.ts";
import {
  checkSessionUrl,
  type RelaySession,
  sessionHeader,
  type SessionTrack,
  transition,
} from "./relay_session.ts";
import { baseUrl, pairFor, readyStream, type RtspContext } from "./rtsp_context.ts";
import type { Stream } from "./stream.ts";
import type { Track } from "./track.ts";

/**
 * Answers a DESCRIBE: the stream's SDP once it is ready, with the relay's controls (at once when it is ready, else
 * a promise).
 */
export function describe(
  ctx: RtspContext,
  req: RtspRequest,
  conn: RtspConnection,
): RtspResponse | Promise<RtspResponse> {
  const path = streamPathOf(req.url);
  ctx.access.authorize(req, conn, path, "read");
  const ready = readyStream(ctx, path);
  return ready instanceof Promise
    ? ready.then((s) => describeReady(s, path, conn))
    : describeReady(ready, path, conn);
}

function describeReady(stream: Stream, path: string, conn: RtspConnection): RtspResponse {
  try {
    const sdp = rewriteSdpForServing(stream.description!, {
      sessionName: path,
      originAddress: conn.local.hostname,
    });
    return response(200, {
      "Content-Base": baseUrl(conn, path),
      "Content-Type": "application/sdp",
    }, new TextEncoder().encode(sdp));
  } finally {
    stream.release();
  }
}

/** Answers a PLAY: every set-up track starts sending to the reader once the reply is queued. */
export function play(ctx: RtspContext, req: RtspRequest, conn: RtspConnection): RtspResponse {
  const s = ctx.sessions.required(req, conn);
  checkSessionUrl(req, s);
  if (s.tracks.size === 0) throw new RtspProtocolError("PLAY before any SETUP", 455);
  const next = transition(s, "PLAY");
  if (s.state !== "playing") ctx.sessions.admitReader(req, s.remote, s.path, s);
  const url = baseUrl(s.conn, s.path);
  const info: RtpInfoEntry[] = [];
  for (const t of s.tracks.values()) {
    const track = s.stream.tracks[t.index];
    if (!track) continue;
    const position = t.egress ? track.nextRtpInfo : startEgress(ctx, s, t, track);
    info.push({
      url: `${url}trackID=${t.index}`,
      ...(position ? { seq: position.seq, rtptime: position.rtptime } : {}),
    });
  }
  s.state = next as SessionState;
  ctx.sessionLog.info(
    s.remote,
    "reader playing",
    { session: s.id, path: s.path, tracks: s.tracks.size },
    ctx.now(),
  );
  return response(200, {
    Session: sessionHeader(s, ctx.timeoutSeconds),
    Range: "npt=0.000-",
    "RTP-Info": formatRtpInfo(info),
  });
}

/**
 * Makes a track's egress, attached once the PLAY reply is on the wire (unless the session ended meanwhile).
 * Media starts with the cached GOP, unless this reader already had that GOP: a PAUSE/PLAY loop must not make
 * the relay replay it again and again.
 * @returns the RTP-Info position of the first packet the reader will get
 */
function startEgress(ctx: RtspContext, s: RelaySession, t: SessionTrack, track: Track) {
  const id = `${s.id}:${t.index}`;
  let egress: Egress;
  if (t.transport === "tcp") {
    const video = s.stream.description?.medias[t.index]?.type === "video";
    egress = new TcpEgress(id, s.conn.writer, t.ports, video);
  } else {
    const pair = pairFor(s.stream, t.index);
    egress = new UdpEgress(id, s.remote, t.ports, pair.sendRtp, pair.sendRtcp);
  }
  t.egress = egress;
  const burst = t.burstGeneration !== track.gopGeneration;
  ctx.sessions.afterResponse(s.conn, () => {
    if (t.egress !== egress || !ctx.sessions.isLive(s)) return;
    t.burstGeneration = track.gopGeneration;
    track.addEgress(egress, { burst });
  });
  return burst ? track.startRtpInfo : track.nextRtpInfo;
}

/** Answers a PAUSE: the reader's egresses stop; its session and ports stay. */
export function pause(ctx: RtspContext, req: RtspRequest, conn: RtspConnection): RtspResponse {
  const s = ctx.sessions.required(req, conn);
  checkSessionUrl(req, s);
  const next = transition(s, "PAUSE");
  ctx.sessions.detachEgresses(s);
  s.state = next as SessionState;
  return response(200, { Session: sessionHeader(s, ctx.timeoutSeconds) });
}
