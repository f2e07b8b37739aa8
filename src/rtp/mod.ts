/**
 * RTP and RTCP on the wire: zero-copy RTP header access and rewriting, RTCP compound parsing and
 * report marshalling, the H.264 packetizer and H.264/H.265 keyframe detection; and the protocol state of a
 * receiver: RFC 3550 reception statistics (loss, jitter, report blocks) and readers' receiver reports.
 * @module
 */

export * from "./packet.ts";
export * from "./rtcp.ts";
export * from "./h264.ts";
export * from "./h265.ts";
export * from "./receiver_stats.ts";
export * from "./reader_reports.ts";
