/**
 * Turns RTSP messages and `$`-interleaved frames into wire bytes.
 * @module
 */

import { RTSP_MAX_FRAME_BYTES } from "./limits.ts";
import type { RtspHeaders, RtspMessage, RtspRequest, RtspResponse } from "./message.ts";

const encoder = new TextEncoder();
// deno-lint-ignore no-control-regex
const LINE_BREAKING = /[\r\n\x00]/;
const METHOD = /^[A-Z0-9_-]+$/;
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

function checkText(what: string, value: string): void {
  if (LINE_BREAKING.test(value)) {
    throw new TypeError(`${what} ${JSON.stringify(value)} contains CR, LF or NUL`);
  }
}

/** Start line + headers (Content-Length recomputed from the body) + blank line + body. */
function serialize(startLine: string, headers: RtspHeaders, body: Uint8Array): Uint8Array {
  let head = `${startLine}\r\n`;
  for (const [name, value] of headers.entries()) {
    if (name.toLowerCase() === "content-length") continue;
    if (!HEADER_NAME.test(name)) throw new TypeError(`Invalid header name ${JSON.stringify(name)}`);
    checkText(`Header ${name} value`, value);
    head += `${name}: ${value}\r\n`;
  }
  if (body.length > 0) head += `Content-Length: ${body.length}\r\n`;
  head += "\r\n";
  const headBytes = encoder.encode(head);
  if (body.length === 0) return headBytes;
  const out = new Uint8Array(headBytes.length + body.length);
  out.set(headBytes, 0);
  out.set(body, headBytes.length);
  return out;
}

/**
 * Serialises a request: `METHOD SP URL SP RTSP/1.0`, the headers in order with CRLF, a blank line, the body.
 * Any given Content-Length is dropped and, when the body is non-empty, replaced by the body's length
 * (written after the other headers), so that framing always matches the bytes sent.
 * @param req the request
 * @returns the wire bytes
 * @throws TypeError when the method is not a token, or the URL, a header name or a value could break
 *   the framing (CR, LF, NUL, or a space in the URL)
 * @example serializeRequest(request("OPTIONS", "*", { CSeq: "1" }))
 */
export function serializeRequest(req: RtspRequest): Uint8Array {
  if (!METHOD.test(req.method)) throw new TypeError(`Invalid method ${JSON.stringify(req.method)}`);
  if (req.url === "" || /\s/.test(req.url)) {
    throw new TypeError(`Invalid Request-URI ${JSON.stringify(req.url)}`);
  }
  checkText("Request-URI", req.url);
  return serialize(`${req.method} ${req.url} RTSP/1.0`, req.headers, req.body);
}

/**
 * Serialises a response: `RTSP/1.0 SP status SP reason`, the headers in order with CRLF, a blank line,
 * the body. Content-Length is handled as in {@linkcode serializeRequest}.
 * @param res the response
 * @returns the wire bytes
 * @throws TypeError when the status is not a 3-digit integer or a field could break the framing
 * @example serializeResponse(response(200, { CSeq: "1", Public: "OPTIONS, DESCRIBE" }))
 */
export function serializeResponse(res: RtspResponse): Uint8Array {
  if (!Number.isInteger(res.status) || res.status < 100 || res.status > 999) {
    throw new TypeError(`Invalid status ${res.status}`);
  }
  checkText("Reason phrase", res.reason);
  return serialize(`RTSP/1.0 ${res.status} ${res.reason}`, res.headers, res.body);
}

/**
 * Serialises a request or a response.
 * @param msg the message
 * @returns the wire bytes
 */
export function serializeMessage(msg: RtspMessage): Uint8Array {
  return msg.kind === "request" ? serializeRequest(msg) : serializeResponse(msg);
}

/**
 * Writes the 4-byte header of a `$`-interleaved frame (`$`, channel, 16-bit big-endian length) into
 * `into` at `offset`, so that a frame can be assembled in a caller's buffer without copying the payload.
 * @param channel interleaved channel, 0..255
 * @param length payload length, 0..65535
 * @param into destination buffer
 * @param offset where the 4 bytes go, default 0
 * @throws RangeError when channel or length are out of range or `into` has no room
 * @example
 * ```ts
 * const frame = new Uint8Array(4 + rtp.length);
 * encodeInterleavedHeader(0, rtp.length, frame);
 * frame.set(rtp, 4);
 * ```
 */
export function encodeInterleavedHeader(channel: number, length: number, into: Uint8Array, offset = 0): void {
  if (!Number.isInteger(channel) || channel < 0 || channel > 255) {
    throw new RangeError(`Interleaved channel ${channel} is not in 0..255`);
  }
  if (!Number.isInteger(length) || length < 0 || length > RTSP_MAX_FRAME_BYTES) {
    throw new RangeError(`Interleaved frame length ${length} is not in 0..${RTSP_MAX_FRAME_BYTES}`);
  }
  if (!Number.isInteger(offset) || offset < 0 || offset + 4 > into.length) {
    throw new RangeError(`No room for a 4-byte interleaved header at offset ${offset} of ${into.length}`);
  }
  into[offset] = 0x24;
  into[offset + 1] = channel;
  into[offset + 2] = length >>> 8;
  into[offset + 3] = length & 0xff;
}

/**
 * Builds a whole `$`-interleaved frame: 4-byte header followed by a copy of the payload.
 * @param channel interleaved channel, 0..255
 * @param payload RTP or RTCP packet, at most 65535 bytes
 * @returns the frame bytes
 * @throws RangeError when the channel or the payload size is out of range
 * @example encodeInterleavedFrame(1, rtcpPacket)
 */
export function encodeInterleavedFrame(channel: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + payload.length);
  encodeInterleavedHeader(channel, payload.length, out, 0);
  out.set(payload, 4);
  return out;
}
