/**
 * Messages between {@linkcode FastUdpPlane} (main thread) and its Worker ({@link ./shared_udp_worker.ts}), and
 * the layouts of the batch buffers they exchange.
 *
 * Send batch (main -> worker), records 4-byte aligned: `u32 fd, u32 length, sockaddr_in (16), u32 payload offset,
 * payload`. The payload offset (from the start of the batch) points right after the header when the record carries
 * its payload, or at an earlier record's payload when the same packet goes to another destination (then the
 * record has no payload bytes): a packet is copied once per batch whatever its fan-out.
 * Receive batch (worker -> main), records 4-byte aligned: `u32 length, u8[4] IPv4, u16 port (LE), u16 flags,
 * payload`; flag {@linkcode RECV_FORWARDED}: the worker already sent the packet to the route's destinations.
 * The payload is the packet as received (before the worker's rewrite).
 * @module
 */
import type { RouteSpec } from "./route.ts";

/** Main thread -> worker. */
export type PlaneCommand =
  | { type: "open"; fd: number }
  | { type: "close"; fd: number }
  | { type: "send"; buf: ArrayBuffer; count: number }
  | { type: "stop"; shared?: undefined }
  /**
   * `wakeFd`: an eventfd the main thread writes after each message, so the worker, blocked in poll(), wakes up;
   * `shared` holds the stats and, at {@linkcode PSTAT_MESSAGES_I32}, the count of messages posted to the worker.
   */
  | { type: "init"; shared: SharedArrayBuffer; wakeFd: number }
  | {
    type: "route";
    fd: number;
    /** Update id, echoed by the ack. */
    id: number;
    /** Packets of this socket the main thread has handled so far. */
    processed: number;
    /** Apply even when the main thread lags (the update only narrows what the worker forwards). */
    force: boolean;
    spec: RouteSpec;
  };

/** Worker -> main thread. */
export type PlaneReply =
  | { type: "recv"; fd: number; buf: ArrayBuffer; count: number }
  | { type: "route-ack"; fd: number; id: number; applied: boolean }
  | { type: "stopped" }
  | { type: "error"; message: string };

/** Bytes before the payload of a send record. */
export const SEND_HEADER = 28;
/** Offset of the payload-offset field in a send record. */
export const SEND_PAYLOAD_AT = 24;
/** Bytes before the payload of a receive record. */
export const RECV_HEADER = 12;
/** Offset of the flags of a receive record. */
export const RECV_FLAGS = 10;
/** Receive flag: the worker forwarded the packet to the route's destinations itself. */
export const RECV_FORWARDED = 1;
/** Float64 slots of the shared stats buffer, by counter (slot 6 holds the Int32 message count). */
export const PSTAT = {
  received: 0,
  sent: 1,
  sendErrors: 2,
  recvBatches: 3,
  sendCalls: 4,
  truncated: 5,
  /** Datagrams the worker sent on its own (cut-through). */
  cutThrough: 7,
} as const;
/** Int32 index (in the shared buffer seen as Int32Array) of the count of messages posted to the worker. */
export const PSTAT_MESSAGES_I32 = 12;
/** Float64 slots of the shared stats buffer. */
export const PSTAT_COUNT = 8;

/** Rounds up to a multiple of 4. */
export function align4(n: number): number {
  return (n + 3) & ~3;
}
