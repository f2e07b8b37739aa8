/**
 * Measurement and exposition: the relay's Prometheus metrics (they read the RFC 3550 statistics the tracks keep,
 * src/rtp/receiver_stats.ts), sliding-window rates, event-loop lag, and a small typed Prometheus registry.
 * @module
 */

export * from "./rate_meter.ts";
export * from "./event_loop_lag.ts";
export * from "./registry.ts";
