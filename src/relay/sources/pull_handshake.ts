/**
 * The camera's side of a pull's RTSP handshake, as pure functions: the Transport a SETUP offers for a track (UDP
 * client ports, or interleaved channels 2i and 2i+1), what the SETUP answer settles (session id and timeout,
 * where UDP media comes from, which channels the camera really uses, where receiver reports go), and the
 * messages that say why an attempt failed, with any secret of the camera's URLs redacted.
 * @module
 */
import { type AuthSchemeName, UnusableChallengesError } from "../../rtsp/auth/mod.ts";
import { parseSession } from "../../rtsp/headers/session.ts";
import { formatTransport, parseTransport, type Transport } from "../../rtsp/headers/transport.ts";
import type { RtspResponse } from "../../rtsp/message.ts";
import { redactUrls } from "../../rtsp/url.ts";
import type { ReportRoute } from "../receiver_reporter.ts";
import type { UdpSourceAddress } from "../source_latch.ts";
import type { ChannelRoute } from "./pull_events.ts";

/** Session timeout assumed when the camera's SETUP answer names none (RFC 2326 §12.37). */
export const DEFAULT_SESSION_TIMEOUT_S = 60;

/**
 * The Transport header value a SETUP offers for track `index`.
 * @param index track index
 * @param udpPorts the track's local RTP and RTCP ports for UDP, or null for TCP interleaved channels 2i, 2i+1
 * @example setupOffer(1, null) // "RTP/AVP/TCP;unicast;interleaved=2-3"
 */
export function setupOffer(index: number, udpPorts: { rtpPort: number; rtcpPort: number } | null): string {
  const offer: Transport = udpPorts
    ? {
      protocol: "RTP/AVP",
      lowerTransport: "UDP",
      delivery: "unicast",
      clientPort: [udpPorts.rtpPort, udpPorts.rtcpPort],
      other: [],
    }
    : {
      protocol: "RTP/AVP",
      lowerTransport: "TCP",
      delivery: "unicast",
      interleaved: offeredChannels(index),
      other: [],
    };
  return formatTransport(offer);
}

/** The interleaved channels offered for track `index`: 2i and 2i+1. */
function offeredChannels(index: number): [number, number] {
  return [2 * index, 2 * index + 1];
}

/** What one SETUP answer settles for its track. */
export interface SetupResult {
  /** The session id, when the answer carries one. */
  sessionId: string | undefined;
  /** The session timeout in seconds, when the answer names one. */
  timeoutS: number | undefined;
  /** Where the track's UDP media is expected from; null over TCP. */
  udpSource: UdpSourceAddress | null;
  /** The track's interleaved channels (over TCP; the camera may answer others than offered). */
  channels: ChannelRoute[];
  /** Where the track's receiver reports go; null over UDP when the camera named no server ports. */
  reportRoute: ReportRoute | null;
}

/**
 * Reads a 200 answer to the SETUP of track `index`.
 * @param res the camera's answer
 * @param index track index
 * @param tcp whether interleaved channels were offered
 * @param host the camera's address (UDP media and reports)
 * @throws RtspProtocolError when the Session or Transport header is malformed
 */
export function readSetupAnswer(res: RtspResponse, index: number, tcp: boolean, host: string): SetupResult {
  const sessionHeader = res.headers.get("Session");
  const session = sessionHeader ? parseSession(sessionHeader) : undefined;
  const reply = res.headers.get("Transport");
  const t = reply ? parseTransport(reply) : undefined;
  const base = { sessionId: session?.id, timeoutS: session?.timeout };
  if (tcp) {
    const [rtp, rtcp] = t?.interleaved ?? offeredChannels(index);
    return {
      ...base,
      udpSource: null,
      channels: [{ channel: rtp, track: index, rtcp: false }, { channel: rtcp, track: index, rtcp: true }],
      reportRoute: { kind: "tcp", channel: rtcp },
    };
  }
  const ports = t?.serverPort;
  return {
    ...base,
    udpSource: { host, ...(ports ? { rtpPort: ports[0], rtcpPort: ports[1] } : {}) },
    channels: [],
    reportRoute: ports ? { kind: "udp", host, port: ports[1] } : null,
  };
}

/** Keepalive period for a session timeout: half of it, at least a second. */
export function keepaliveMs(timeoutS: number): number {
  return Math.max(1000, (timeoutS * 1000) / 2);
}

/**
 * Why a camera answer ends the attempt, or null for 200.
 * @example answerProblem(res, "DESCRIBE") // "Camera answered DESCRIBE with 404 Not Found"
 */
export function answerProblem(res: RtspResponse, method: string): string | null {
  return res.status === 200 ? null : `Camera answered ${method} with ${res.status} ${res.reason}`;
}

/**
 * The message an attempt's failure leaves on the stream and in the log: a refused challenge names the flag that
 * decides it; every URL in it (the camera URL, its Content-Base) is redacted.
 * @param err what ended the attempt
 * @param allowed the schemes the camera's credentials may be sent with
 */
export function failureMessage(err: unknown, allowed: readonly AuthSchemeName[]): string {
  const text = err instanceof UnusableChallengesError
    ? refusedAuthMessage(err, allowed)
    : err instanceof Error
    ? err.message
    : String(err);
  return redactUrls(text);
}

/** Why the camera's challenge was not answered, naming the flag that decides it. */
function refusedAuthMessage(err: UnusableChallengesError, allowed: readonly AuthSchemeName[]): string {
  if (err.offered.length === 0) return `Camera offers no supported authentication scheme`;
  const flag = `--pull-auth ${allowed.join(",")}`;
  if (err.offered.includes("Basic") && !allowed.includes("basic")) {
    return `Camera offers only Basic authentication, which would send its password in clear: refused by ${flag} ` +
      `(--pull-auth digest,basic allows it)`;
  }
  return `Camera offers only ${err.offered.join(" and ")} authentication, not allowed by ${flag}`;
}
