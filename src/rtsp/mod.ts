/**
 * The RTSP/1.0 wire layer of msm-relay: message types, errors, limits, the incremental parser, the
 * serializer, URL rules and SDP handling. Sans-I/O: nothing here opens sockets or sets timers.
 * @module
 */

export * from "./message.ts";
export * from "./errors.ts";
export * from "./limits.ts";
export * from "./parser.ts";
export * from "./serializer.ts";
export * from "./url.ts";
export * from "./digest_nonce.ts";
export * from "./sdp.ts";
