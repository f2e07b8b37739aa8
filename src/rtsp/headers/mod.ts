/**
 * Parsers and formatters of the structured RTSP headers: `Transport`, `Session`, `RTP-Info`, `Range`, and
 * the authentication headers `WWW-Authenticate` and `Authorization` with Digest/Basic computation and
 * checks (nonces are made and counted in `../digest_nonce.ts`). Everything here is pure: no sockets, no timers,
 * no clock or randomness of its own.
 *
 * Parse errors throw `RtspProtocolError` from `../errors.ts` (status 400, or 461 for `Transport`); formatters throw
 * `RangeError` on values that cannot be put on the wire.
 *
 * @example
 * ```ts
 * import { formatTransport, parseTransports } from "./mod.ts";
 * const [first] = parseTransports("RTP/AVP/TCP;unicast;interleaved=0-1");
 * formatTransport({ ...first!, ssrc: 0x0a1b2c3d }); // "RTP/AVP/TCP;unicast;interleaved=0-1;ssrc=0A1B2C3D"
 * ```
 * @module
 */

export * from "./transport.ts";
export * from "./session.ts";
export * from "./rtp_info.ts";
export * from "./range.ts";
export * from "./auth.ts";
