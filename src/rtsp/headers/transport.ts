/**
 * The RTSP `Transport` header (RFC 2326 §12.39): parsing a client's list of alternatives and formatting the
 * one a server picks.
 * @module
 */

import { RtspProtocolError } from "../errors.ts";

/** The transport/profile part of a Transport spec, kept as sent (`RTP/AVP`, `RTP/SAVPF`, ...). */
export type TransportProtocol =
  | "RTP/AVP"
  | "RTP/AVPF"
  | "RTP/SAVP"
  | "RTP/SAVPF"
  | (string & Record<never, never>);

/** Lower-layer transport: `RTP/AVP` and `RTP/AVP/UDP` mean UDP, `RTP/AVP/TCP` means interleaved TCP. */
export type LowerTransport = "UDP" | "TCP";

/** Direction of a session: `PLAY` (server sends) or `RECORD` (client sends). */
export type TransportMode = "PLAY" | "RECORD";

/** One transport spec of a `Transport` header. */
export interface Transport {
  /** Transport and profile, as sent, without the lower transport (`RTP/AVP`). */
  protocol: TransportProtocol;
  /** `UDP` unless the spec says `/TCP`. */
  lowerTransport: LowerTransport;
  /** `unicast`, `multicast`, or undefined when the spec names neither. */
  delivery: "unicast" | "multicast" | undefined;
  /** RTP and RTCP ports of the client (`client_port`). */
  clientPort?: [number, number];
  /** RTP and RTCP ports of the server (`server_port`). */
  serverPort?: [number, number];
  /** RTP and RTCP channels of `$`-interleaved frames (`interleaved`). */
  interleaved?: [number, number];
  /** Multicast group or unicast destination address. */
  destination?: string;
  /** Source address of the stream. */
  source?: string;
  /** Multicast RTP and RTCP ports (`port`). */
  port?: [number, number];
  /** Multicast time-to-live, 0..255. */
  ttl?: number;
  /** Synchronisation source, an unsigned 32-bit integer (8 hex digits on the wire). */
  ssrc?: number;
  /** `PLAY` or `RECORD`. */
  mode?: TransportMode;
  /** Parameters this module does not interpret, in order, with their names and raw values as sent. */
  other: Array<[string, string | undefined]>;
}

/** Status of every Transport parse error: 461 Unsupported Transport. */
const TRANSPORT_ERROR_STATUS = 461;

function fail(message: string): never {
  throw new RtspProtocolError(message, TRANSPORT_ERROR_STATUS);
}

/** Splits `value` on `sep` outside double quotes. Quotes are kept in the pieces. */
function splitOutsideQuotes(value: string, sep: string): string[] {
  const pieces: string[] = [];
  let start = 0;
  let quoted = false;
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (c === "\\" && quoted) i++;
    else if (c === '"') quoted = !quoted;
    else if (c === sep && !quoted) {
      pieces.push(value.slice(start, i));
      start = i + 1;
    }
  }
  pieces.push(value.slice(start));
  return pieces;
}

function unquote(value: string): string {
  return value.length >= 2 && value.startsWith('"') && value.endsWith('"') ? value.slice(1, -1) : value;
}

/** Parses `a` or `a-b` within `0..max`; a single number `a` means `a` and `a+1`. */
function parsePair(name: string, raw: string, max: number, spec: string): [number, number] {
  const m = /^(\d{1,6})(?:-(\d{1,6}))?$/.exec(raw);
  const first = m?.[1] === undefined ? NaN : Number(m[1]);
  const second = m?.[2] === undefined ? first + 1 : Number(m[2]);
  if (!(first <= max && second <= max)) {
    fail(`Invalid ${name} "${raw}" in Transport "${spec}": expected numbers in 0..${max}`);
  }
  return [first, second];
}

/** Parameters parsed into fields of {@linkcode Transport}; the rest go to `other`. */
const KNOWN_PARAMS = new Set([
  "client_port",
  "server_port",
  "port",
  "interleaved",
  "destination",
  "source",
  "ttl",
  "ssrc",
  "mode",
]);

function parseSpec(spec: string): Transport {
  const parts = splitOutsideQuotes(spec, ";").map((p) => p.trim());
  const head = parts[0] ?? "";
  const m = /^([A-Za-z0-9.+-]+\/[A-Za-z0-9.+-]+)(?:\/([A-Za-z0-9.+-]+))?$/.exec(head);
  if (!m || m[1] === undefined) fail(`Transport "${spec}" does not start with a transport/profile`);
  const lower = (m[2] ?? "UDP").toUpperCase();
  if (lower !== "UDP" && lower !== "TCP") {
    fail(`Unsupported lower transport "${m[2]}" in Transport "${spec}"`);
  }
  const t: Transport = { protocol: m[1], lowerTransport: lower, delivery: undefined, other: [] };
  for (const part of parts.slice(1)) {
    if (part === "") continue;
    const eq = part.indexOf("=");
    const name = (eq < 0 ? part : part.slice(0, eq)).trim();
    const raw = eq < 0 ? undefined : part.slice(eq + 1).trim();
    const value = raw === undefined ? undefined : unquote(raw);
    const key = name.toLowerCase();
    if (key === "unicast" || key === "multicast") {
      if (value !== undefined) fail(`Parameter "${part}" takes no value in Transport "${spec}"`);
      t.delivery = key;
      continue;
    }
    if (!KNOWN_PARAMS.has(key)) {
      t.other.push([name, raw]);
      continue;
    }
    if (value === undefined || value === "") fail(`Parameter "${name}" needs a value in Transport "${spec}"`);
    switch (key) {
      case "client_port":
        t.clientPort = parsePair(name, value, 65535, spec);
        break;
      case "server_port":
        t.serverPort = parsePair(name, value, 65535, spec);
        break;
      case "port":
        t.port = parsePair(name, value, 65535, spec);
        break;
      case "interleaved":
        t.interleaved = parsePair(name, value, 255, spec);
        break;
      case "destination":
        t.destination = value;
        break;
      case "source":
        t.source = value;
        break;
      case "ttl": {
        if (!/^\d{1,3}$/.test(value) || Number(value) > 255) {
          fail(`Invalid ttl "${value}" in Transport "${spec}": expected 0..255`);
        }
        t.ttl = Number(value);
        break;
      }
      case "ssrc": {
        if (!/^[0-9A-Fa-f]{1,8}$/.test(value)) {
          fail(`Invalid ssrc "${value}" in Transport "${spec}": expected up to 8 hex digits`);
        }
        t.ssrc = Number.parseInt(value, 16);
        break;
      }
      case "mode": {
        const mode = value.toUpperCase();
        // "receive" is an old spelling of RECORD some clients still send.
        if (mode === "PLAY") t.mode = "PLAY";
        else if (mode === "RECORD" || mode === "RECEIVE") t.mode = "RECORD";
        else fail(`Unsupported mode "${value}" in Transport "${spec}"`);
        break;
      }
    }
  }
  return t;
}

/**
 * Parses a `Transport` header value: one or more transport specs separated by commas, in the client's order
 * of preference. Unknown parameters are kept in {@linkcode Transport.other}.
 * @throws {RtspProtocolError} status 461 when any spec cannot be understood
 * @example parseTransports("RTP/AVP/TCP;unicast;interleaved=0-1, RTP/AVP;unicast;client_port=5000-5001")
 */
export function parseTransports(value: string): Transport[] {
  const specs = splitOutsideQuotes(value, ",").map((s) => s.trim()).filter((s) => s !== "");
  if (specs.length === 0) fail(`Transport "${value}" is empty`);
  return specs.map(parseSpec);
}

/**
 * Parses a `Transport` header value that holds exactly one spec, as in a SETUP reply.
 * @throws {RtspProtocolError} status 461 when the spec cannot be understood or there is not exactly one
 * @example parseTransport("RTP/AVP;unicast;client_port=5000-5001;server_port=6000-6001;ssrc=0A1B2C3D")
 */
export function parseTransport(value: string): Transport {
  const list = parseTransports(value);
  if (list.length !== 1 || list[0] === undefined) {
    fail(`Transport "${value}" holds ${list.length} specs where one was expected`);
  }
  return list[0];
}

function formatPair(name: string, pair: [number, number], max: number): string {
  for (const n of pair) {
    if (!Number.isInteger(n) || n < 0 || n > max) throw new RangeError(`Invalid ${name} ${pair.join("-")}`);
  }
  return `${name}=${pair[0]}-${pair[1]}`;
}

/**
 * Formats one transport spec. Parameters come in a fixed order (delivery, destination, source, ttl, port,
 * client_port, server_port, interleaved, ssrc, mode) followed by {@linkcode Transport.other} as given.
 * UDP is written as the bare profile (`RTP/AVP`), TCP as `RTP/AVP/TCP`; ssrc as 8 upper-case hex digits.
 * @throws {RangeError} when a port, channel, ttl or ssrc is out of range
 * @example formatTransport({ protocol: "RTP/AVP", lowerTransport: "TCP", delivery: "unicast",
 *   interleaved: [0, 1], other: [] }) // "RTP/AVP/TCP;unicast;interleaved=0-1"
 */
export function formatTransport(t: Transport): string {
  const out = [t.lowerTransport === "TCP" ? `${t.protocol}/TCP` : t.protocol];
  if (t.delivery !== undefined) out.push(t.delivery);
  if (t.destination !== undefined) out.push(`destination=${t.destination}`);
  if (t.source !== undefined) out.push(`source=${t.source}`);
  if (t.ttl !== undefined) {
    if (!Number.isInteger(t.ttl) || t.ttl < 0 || t.ttl > 255) throw new RangeError(`Invalid ttl ${t.ttl}`);
    out.push(`ttl=${t.ttl}`);
  }
  if (t.port !== undefined) out.push(formatPair("port", t.port, 65535));
  if (t.clientPort !== undefined) out.push(formatPair("client_port", t.clientPort, 65535));
  if (t.serverPort !== undefined) out.push(formatPair("server_port", t.serverPort, 65535));
  if (t.interleaved !== undefined) out.push(formatPair("interleaved", t.interleaved, 255));
  if (t.ssrc !== undefined) {
    if (!Number.isInteger(t.ssrc) || t.ssrc < 0 || t.ssrc > 0xffffffff) {
      throw new RangeError(`Invalid ssrc ${t.ssrc}`);
    }
    out.push(`ssrc=${t.ssrc.toString(16).toUpperCase().padStart(8, "0")}`);
  }
  if (t.mode !== undefined) out.push(`mode=${t.mode}`);
  for (const [name, value] of t.other) out.push(value === undefined ? name : `${name}=${value}`);
  return out.join(";");
}

/** Formats a list of transport specs as one `Transport` header value, separated by commas. */
export function formatTransports(list: readonly Transport[]): string {
  return list.map(formatTransport).join(",");
}
