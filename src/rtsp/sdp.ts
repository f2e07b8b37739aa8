/**
 * SDP (RFC 4566) of RTSP presentations, parsed and written with `sdp-transform`: the fields the relay needs
 * (controls, payload types, codecs, clock rates) and the rewrite of a publisher's SDP for readers.
 * @module
 */

// @ts-types="@types/sdp-transform"
import * as sdpTransform from "sdp-transform";
import { RtspProtocolError } from "./errors.ts";
import { resolveControl } from "./url.ts";

/** A session as parsed by `sdp-transform`. */
export type RawSdpSession = sdpTransform.SessionDescription;
/** A media section (`m=` block) as parsed by `sdp-transform`. */
export type RawSdpMedia = sdpTransform.MediaDescription;

/** One `m=` section, reduced to what RTP handling needs. Describes the first payload type of the `m=` line. */
export interface MediaDescription {
  /** Media type of the `m=` line: `video`, `audio`, `application`, ... */
  type: string;
  /** The media-level `a=control`, verbatim; undefined when absent. */
  control: string | undefined;
  /** First payload type of the `m=` line. */
  payloadType: number;
  /** Encoding name from `a=rtpmap` (as written, e.g. `H264`, `MPEG4-GENERIC`), else from the static table. */
  encoding: string | undefined;
  /** RTP clock rate: `a=rtpmap`, else the static table of RFC 3551, else 90000 for video and 8000 otherwise. */
  clockRate: number;
  /** Audio channels from `a=rtpmap` or the static table; absent when unknown. */
  channels?: number;
  /** The `a=fmtp` parameters of the payload type, verbatim; undefined when absent. */
  fmtp: string | undefined;
  /** The full `sdp-transform` media object. */
  raw: RawSdpMedia;
}

/** A parsed SDP presentation. */
export interface SessionDescription {
  /** The session-level `a=control` (aggregate control URL or `*`), verbatim; undefined when absent. */
  control: string | undefined;
  /** The `m=` sections in order; never empty. */
  medias: MediaDescription[];
  /** The full `sdp-transform` session object. Treat as read-only: rewrites work on a clone. */
  raw: RawSdpSession;
}

/** Options of {@linkcode rewriteSdpForServing}. */
export interface ServingSdpOptions {
  /** `s=` of the served SDP; default the publisher's, or `Stream` when that is blank. */
  sessionName?: string;
  /** Unicast address of the `o=` line (IPv4 or IPv6); default `127.0.0.1`. */
  originAddress?: string;
}

/** A static RTP payload type of RFC 3551 §6. */
export interface StaticPayloadType {
  /** Encoding name. */
  encoding: string;
  /** Clock rate in Hz. */
  clockRate: number;
  /** Channels, for audio. */
  channels?: number;
}

/** The static payload types of RFC 3551 §6 (Tables 4 and 5), by payload type number. */
export const STATIC_PAYLOAD_TYPES: Readonly<Record<number, StaticPayloadType>> = {
  0: { encoding: "PCMU", clockRate: 8000, channels: 1 },
  3: { encoding: "GSM", clockRate: 8000, channels: 1 },
  4: { encoding: "G723", clockRate: 8000, channels: 1 },
  5: { encoding: "DVI4", clockRate: 8000, channels: 1 },
  6: { encoding: "DVI4", clockRate: 16000, channels: 1 },
  7: { encoding: "LPC", clockRate: 8000, channels: 1 },
  8: { encoding: "PCMA", clockRate: 8000, channels: 1 },
  9: { encoding: "G722", clockRate: 8000, channels: 1 },
  10: { encoding: "L16", clockRate: 44100, channels: 2 },
  11: { encoding: "L16", clockRate: 44100, channels: 1 },
  12: { encoding: "QCELP", clockRate: 8000, channels: 1 },
  13: { encoding: "CN", clockRate: 8000, channels: 1 },
  14: { encoding: "MPA", clockRate: 90000 },
  15: { encoding: "G728", clockRate: 8000, channels: 1 },
  16: { encoding: "DVI4", clockRate: 11025, channels: 1 },
  17: { encoding: "DVI4", clockRate: 22050, channels: 1 },
  18: { encoding: "G729", clockRate: 8000, channels: 1 },
  25: { encoding: "CelB", clockRate: 90000 },
  26: { encoding: "JPEG", clockRate: 90000 },
  28: { encoding: "nv", clockRate: 90000 },
  31: { encoding: "H261", clockRate: 90000 },
  32: { encoding: "MPV", clockRate: 90000 },
  33: { encoding: "MP2T", clockRate: 90000 },
  34: { encoding: "H263", clockRate: 90000 },
};

/** `sdp-transform` turns integer-looking values into numbers (`a=control:1`); this undoes it. */
function asText(value: unknown): string | undefined {
  return value === undefined || value === null ? undefined : String(value);
}

function positiveInt(value: unknown): number | undefined {
  const n = typeof value === "number" ? value : typeof value === "string" ? Number(value) : NaN;
  return Number.isSafeInteger(n) && n > 0 ? n : undefined;
}

function describeMedia(raw: RawSdpMedia, index: number): MediaDescription {
  const formats = String(raw.payloads ?? "").trim();
  const first = formats.split(/\s+/)[0] ?? "";
  if (!/^\d{1,3}$/.test(first) || Number(first) > 127) {
    throw new RtspProtocolError(
      `SDP media ${index} (${raw.type}) has no RTP payload type: ${JSON.stringify(formats)}`,
    );
  }
  const payloadType = Number(first);
  const rtpmap = raw.rtp.find((r) => Number(r.payload) === payloadType);
  const fixed = STATIC_PAYLOAD_TYPES[payloadType];
  const media: MediaDescription = {
    type: String(raw.type),
    control: asText(raw.control),
    payloadType,
    encoding: asText(rtpmap?.codec) ?? fixed?.encoding,
    clockRate: positiveInt(rtpmap?.rate) ?? fixed?.clockRate ?? (raw.type === "video" ? 90000 : 8000),
    fmtp: asText(raw.fmtp.find((f) => Number(f.payload) === payloadType)?.config),
    raw,
  };
  const channels = rtpmap ? positiveInt(rtpmap.encoding) : undefined;
  // An rtpmap without a channel count means one channel for audio (RFC 4566 §6); without an rtpmap the
  // static table says.
  const fallbackChannels = rtpmap ? (raw.type === "audio" ? 1 : undefined) : fixed?.channels;
  const resolved = channels ?? fallbackChannels;
  if (resolved !== undefined) media.channels = resolved;
  return media;
}

/**
 * Counts the media sections (`m=` lines) of an SDP without parsing it: a cheap look before a full parse, so a
 * description with more media than will ever be taken is refused in microseconds, not parsed for milliseconds.
 * @example countMediaSections("v=0\r\nm=video 0 RTP/AVP 96\r\n") // 1
 */
export function countMediaSections(text: string): number {
  // Lines end in CRLF, LF or a bare CR (as the parser splits them).
  let n = text.startsWith("m=") ? 1 : 0;
  for (let at = text.indexOf("\nm="); at >= 0; at = text.indexOf("\nm=", at + 3)) n++;
  for (let at = text.indexOf("\rm="); at >= 0; at = text.indexOf("\rm=", at + 3)) n++;
  return n;
}

/**
 * Parses an SDP presentation description.
 * @param text SDP as received in a DESCRIBE response or an ANNOUNCE body (CRLF or LF line ends)
 * @returns the session-level control, one {@linkcode MediaDescription} per `m=` line, and the raw objects
 * @throws RtspProtocolError 415 when the text is not SDP (its first line is not `v=0`), 400 when it has no
 *   `m=` line or a media has no RTP payload type
 * @example
 * ```ts
 * const desc = parseSdp(body);
 * for (const m of desc.medias) console.log(m.type, m.encoding, m.clockRate, m.control);
 * ```
 */
export function parseSdp(text: string): SessionDescription {
  const body = text.replace(/^\uFEFF/, "").replace(/^[\r\n\t ]+/, "");
  if (!/^v=0[ \t]*(?:\r?\n|$)/.test(body)) {
    throw new RtspProtocolError("Body is not an SDP description (no v=0 line)", 415);
  }
  let raw: RawSdpSession;
  try {
    raw = sdpTransform.parse(body);
  } catch (e) {
    throw new RtspProtocolError(`Malformed SDP: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (!Array.isArray(raw.media) || raw.media.length === 0) {
    throw new RtspProtocolError("SDP has no media (m=) line");
  }
  return { control: asText(raw.control), medias: raw.media.map(describeMedia), raw };
}

/**
 * Number of media sections.
 * @param desc parsed SDP
 * @returns how many `m=` lines it has
 */
export function mediaCount(desc: SessionDescription): number {
  return desc.medias.length;
}

/**
 * The aggregate control URL of a presentation (used for PLAY, PAUSE and TEARDOWN): the session-level
 * `a=control` resolved against the base; the base itself when there is none or it is `*`.
 * @param desc parsed SDP
 * @param base Content-Base (else Content-Location, else the DESCRIBE Request-URI)
 * @returns absolute URL
 * @example sessionControlUrl(parseSdp(sdp), "rtsp://cam/live/")
 */
export function sessionControlUrl(desc: SessionDescription, base: string): string {
  return resolveControl(base, desc.control ?? "*");
}

/**
 * The control URL of media `index` (used for its SETUP): the media-level `a=control` resolved against the
 * session control URL ({@linkcode sessionControlUrl}), as ffmpeg does when the session-level control is
 * absolute. A media without `a=control` is controlled by the session URL (valid for a single media only).
 * @param desc parsed SDP
 * @param index media index, 0-based
 * @param base Content-Base (else Content-Location, else the DESCRIBE Request-URI)
 * @returns absolute URL
 * @throws RangeError when there is no media `index`
 * @example mediaControlUrl(parseSdp(sdp), 0, "rtsp://cam/live/") // "rtsp://cam/live/trackID=0"
 */
export function mediaControlUrl(desc: SessionDescription, index: number, base: string): string {
  const media = desc.medias[index];
  if (!media) throw new RangeError(`No media ${index} in an SDP of ${desc.medias.length}`);
  return resolveControl(sessionControlUrl(desc, base), media.control ?? "*");
}

function hasRange(attrs: { invalid?: { value: string }[] }): boolean {
  return (attrs.invalid ?? []).some((a) => String(a.value).startsWith("range:"));
}

/**
 * Builds the SDP the relay serves to readers from a publisher's (camera's or ANNOUNCE) SDP. On a copy:
 * - `o=- <id> <version> IN IP4|IP6 <originAddress>` (the publisher's session id and version are kept);
 * - `s=` set to `sessionName`;
 * - session-level `c=IN IP4 0.0.0.0`, per-media `c=` and `a=rtcp` (the publisher's addresses) dropped,
 *   and `u=` dropped (it usually points at the publisher);
 * - `t=0 0` added when missing;
 * - session-level `a=control:*`, each media `a=control:trackID=<index>` (see `splitTrackUrl` in `url.ts`);
 * - every `m=` port 0 (ports are negotiated by SETUP);
 * - `a=range:npt=0-` added at session level only when no `a=range` exists;
 * - everything else (`b=`, rtpmap, fmtp, framerate, unknown attributes) kept.
 *
 * The input is not modified. The result is written by `sdp-transform` and ends with CRLF.
 * @param desc parsed SDP of the publisher
 * @param options `s=` name and `o=` address
 * @returns SDP text
 * @example rewriteSdpForServing(parseSdp(cameraSdp), { sessionName: "cam1", originAddress: "10.0.0.2" })
 */
export function rewriteSdpForServing(desc: SessionDescription, options: ServingSdpOptions = {}): string {
  const raw: RawSdpSession = structuredClone(desc.raw);
  const address = options.originAddress ?? "127.0.0.1";
  const originalId = asText(raw.origin?.sessionId) ?? "";
  const originalVersion = raw.origin?.sessionVersion;
  raw.version = 0;
  raw.origin = {
    username: "-",
    sessionId: /^\d{1,20}$/.test(originalId) ? originalId : "0",
    sessionVersion: Number.isSafeInteger(originalVersion) ? originalVersion : 0,
    netType: "IN",
    ipVer: address.includes(":") ? 6 : 4,
    address,
  };
  const name = options.sessionName ?? asText(raw.name)?.trim();
  raw.name = name ? name : "Stream";
  delete raw.uri;
  raw.connection = { version: 4, ip: "0.0.0.0" };
  if (!raw.timing) raw.timing = { start: 0, stop: 0 };
  raw.control = "*";
  if (!hasRange(raw) && !raw.media.some(hasRange)) {
    (raw.invalid ??= []).push({ value: "range:npt=0-" });
  }
  raw.media.forEach((media, index) => {
    media.port = 0;
    delete media.connection;
    delete media.rtcp;
    media.control = `trackID=${index}`;
  });
  return sdpTransform.write(raw);
}
