/**
 * STUN (RFC 8489) as far as an ICE-lite agent needs it (RFC 8445 section 2.5): read a Binding request, check its
 * short-term credentials (USERNAME, MESSAGE-INTEGRITY with the local password, FINGERPRINT), and write the success
 * response with the address the request came from. Sans-I/O: bytes in, bytes out.
 * @module
 */
import { createHmac } from "node:crypto";

const MAGIC_COOKIE = 0x2112a442;
const HEADER = 20;
const BINDING_REQUEST = 0x0001;
const BINDING_SUCCESS = 0x0101;
const ATTR_USERNAME = 0x0006;
const ATTR_MESSAGE_INTEGRITY = 0x0008;
const ATTR_XOR_MAPPED_ADDRESS = 0x0020;
const ATTR_USE_CANDIDATE = 0x0025;
const ATTR_FINGERPRINT = 0x8028;
const FINGERPRINT_XOR = 0x5354554e;
const INTEGRITY_BYTES = 20;

/** A STUN Binding request whose credentials were checked. */
export interface BindingRequest {
  /** The 12-byte transaction id, to answer with. */
  transactionId: Uint8Array;
  /** USERNAME: `local-ufrag:remote-ufrag` as the peer wrote it. */
  username: string;
  /** The peer nominated this pair (USE-CANDIDATE). */
  useCandidate: boolean;
}

/** True when `bytes` look like a STUN message (RFC 7983's demultiplexing: the first byte 0-3, the magic cookie). */
export function isStun(bytes: Uint8Array): boolean {
  return bytes.length >= HEADER && bytes[0]! < 4 &&
    new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(4) === MAGIC_COOKIE;
}

/** The USERNAME of a Binding request, before its integrity is checked (to find whose password checks it). */
export function stunUsername(bytes: Uint8Array): string | null {
  const parsed = walk(bytes);
  if (parsed === null || parsed.type !== BINDING_REQUEST) return null;
  const at = parsed.attrs.get(ATTR_USERNAME);
  return at ? new TextDecoder().decode(bytes.subarray(at.at, at.at + at.length)) : null;
}

/**
 * Reads a Binding request and checks it: the FINGERPRINT when present, the MESSAGE-INTEGRITY (required) against
 * `password`. @returns the request, or a reason it is refused
 */
export function readBindingRequest(bytes: Uint8Array, password: string): BindingRequest | string {
  const parsed = walk(bytes);
  if (parsed === null) return "not a well-formed STUN message";
  if (parsed.type !== BINDING_REQUEST) {
    return `STUN message type 0x${parsed.type.toString(16)} is not a Binding request`;
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const fp = parsed.attrs.get(ATTR_FINGERPRINT);
  if (fp) {
    if (fp.length !== 4) return "FINGERPRINT is not 4 bytes";
    const expected = (crc32(withLength(bytes, fp.at - 4, fp.at + 4)) ^ FINGERPRINT_XOR) >>> 0;
    if (view.getUint32(fp.at) !== expected) return "FINGERPRINT does not match";
  }
  const mi = parsed.attrs.get(ATTR_MESSAGE_INTEGRITY);
  if (!mi || mi.length !== INTEGRITY_BYTES) return "no MESSAGE-INTEGRITY";
  const mac = hmacSha1(password, withLength(bytes, mi.at - 4, mi.at + INTEGRITY_BYTES));
  if (!equalBytes(mac, bytes.subarray(mi.at, mi.at + INTEGRITY_BYTES))) {
    return "MESSAGE-INTEGRITY does not match";
  }
  const user = parsed.attrs.get(ATTR_USERNAME);
  if (!user) return "no USERNAME";
  return {
    transactionId: bytes.slice(8, HEADER),
    username: new TextDecoder().decode(bytes.subarray(user.at, user.at + user.length)),
    useCandidate: parsed.attrs.has(ATTR_USE_CANDIDATE),
  };
}

/**
 * A Binding success response to `transactionId`, telling the peer the address it was seen at (IPv4 `address`,
 * `port`), signed with `password` (the local one) and fingerprinted.
 */
export function bindingSuccess(
  transactionId: Uint8Array,
  address: string,
  port: number,
  password: string,
): Uint8Array {
  const ip = address.split(".").map(Number);
  if (ip.length !== 4 || ip.some((b) => !(b >= 0 && b <= 255))) {
    throw new Error(`Not an IPv4 address: ${address}`);
  }
  const out = new Uint8Array(HEADER + 12 + 24 + 8);
  const view = new DataView(out.buffer);
  view.setUint16(0, BINDING_SUCCESS);
  view.setUint32(4, MAGIC_COOKIE);
  out.set(transactionId, 8);
  let at = HEADER;
  view.setUint16(at, ATTR_XOR_MAPPED_ADDRESS);
  view.setUint16(at + 2, 8);
  view.setUint8(at + 5, 0x01); // IPv4
  view.setUint16(at + 6, port ^ (MAGIC_COOKIE >>> 16));
  view.setUint32(at + 8, ((ip[0]! << 24) | (ip[1]! << 16) | (ip[2]! << 8) | ip[3]!) ^ MAGIC_COOKIE);
  at += 12;
  view.setUint16(at, ATTR_MESSAGE_INTEGRITY);
  view.setUint16(at + 2, INTEGRITY_BYTES);
  out.set(hmacSha1(password, withLength(out, at, at + 4 + INTEGRITY_BYTES)), at + 4);
  at += 24;
  view.setUint16(at, ATTR_FINGERPRINT);
  view.setUint16(at + 2, 4);
  view.setUint32(at + 4, (crc32(withLength(out, at, at + 8)) ^ FINGERPRINT_XOR) >>> 0);
  view.setUint16(2, out.length - HEADER);
  return out;
}

interface Walked {
  type: number;
  /** Each attribute's value (offset and length); only those before MESSAGE-INTEGRITY count, and FINGERPRINT. */
  attrs: Map<number, { at: number; length: number }>;
}

/** The header and attributes of a STUN message, or null when it is not one or its lengths do not add up. */
function walk(bytes: Uint8Array): Walked | null {
  if (!isStun(bytes)) return null;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const length = view.getUint16(2);
  if ((length & 3) !== 0 || HEADER + length !== bytes.length) return null;
  const attrs = new Map<number, { at: number; length: number }>();
  let integrity = false;
  for (let at = HEADER; at < bytes.length;) {
    if (at + 4 > bytes.length) return null;
    const type = view.getUint16(at);
    const len = view.getUint16(at + 2);
    const end = at + 4 + len;
    if (end > bytes.length) return null;
    // After MESSAGE-INTEGRITY only FINGERPRINT may follow (RFC 8489 section 14.5): the rest is not covered.
    if (!integrity || type === ATTR_FINGERPRINT) {
      if (!attrs.has(type)) attrs.set(type, { at: at + 4, length: len });
    }
    if (type === ATTR_MESSAGE_INTEGRITY) integrity = true;
    at = end + ((4 - (len & 3)) & 3);
  }
  return { type: view.getUint16(0), attrs };
}

/** A copy of `bytes[0, end)` whose header length says the message ends at `lengthEnd` (what MI and FP cover). */
function withLength(bytes: Uint8Array, end: number, lengthEnd: number): Uint8Array {
  const copy = bytes.slice(0, end);
  new DataView(copy.buffer).setUint16(2, lengthEnd - HEADER);
  return copy;
}

function hmacSha1(key: string, data: Uint8Array): Uint8Array {
  return new Uint8Array(createHmac("sha1", key).update(data).digest());
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32 (ISO 3309, as STUN's FINGERPRINT uses it). */
export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
