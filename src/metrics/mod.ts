/**
 * Measurement and exposition: RFC 3550 reception statistics per RTP source (loss, jitter,
 * duplicates, reordering, RR report blocks) and a small typed Prometheus registry.
 * @module
 */

export * from "./rtp_receiver_stats.ts";
export * from "./registry.ts";
