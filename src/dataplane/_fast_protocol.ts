/**
 * Messages between {@linkcode FastForwarder} (main thread) and its Worker, and the shared counter layout.
 * @module
 */

/** Main thread -> worker. Every command carries an id the worker acknowledges. */
export type FastCommand =
  | { type: "start"; id: number; hostname: string; port: number; shared: SharedArrayBuffer }
  | { type: "add"; id: number; hostname: string; port: number }
  | { type: "remove"; id: number; hostname: string; port: number }
  | { type: "stop"; id: number };

/** Worker -> main thread. */
export type FastReply =
  | { type: "ack"; id: number; port?: number }
  | { type: "error"; id: number; message: string; code?: string };

/** Int32 slot of the shared buffer: commands posted but not yet applied (the doorbell). */
export const CTRL_PENDING = 0;
/** Bytes of the control area (Int32 slots) at the start of the shared buffer. */
export const CTRL_BYTES = 16;
/** Float64 slots after the control area, written by the worker after each batch. */
export const STAT_RECEIVED = 0;
export const STAT_RECEIVED_BYTES = 1;
export const STAT_SENT = 2;
export const STAT_SEND_ERRORS = 3;
export const STAT_BATCHES = 4;
export const STAT_TRUNCATED = 5;
export const STAT_DESTINATIONS = 6;
export const STAT_COUNT = 8;
/** Size of the shared buffer. */
export const SHARED_BYTES = CTRL_BYTES + STAT_COUNT * 8;
