/**
 * Measurement and exposition: RFC 3550 reception statistics per RTP source (loss, jitter,
 * duplicates, reordering, RR report blocks), readers' receiver reports, sliding-window rates,
 * event-loop lag, and a small typed Prometheus registry.
 * @module
 */

export * from "./rtp_receiver_stats.ts";
export * from "./reader_reports.ts";
export * from "./rate_meter.ts";
export * from "./event_loop_lag.ts";
export * from "./registry.ts";
