/**
 * Messages between {@linkcode FastUdpPlane} (main thread) and its Worker ({@link ./shared_udp_worker.ts}), and
 * the layouts of the batch buffers they exchange.
 *
 * Send batch (main -> worker), records 4-byte aligned: `u32 fd, u32 length, sockaddr_in (16), u32 payload offset,
 * payload`. The payload offset (from the start of the batch) points right after the header when the record carries
 * its payload, or at an earlier record's payload when the same packet goes to another destination (then the
 * record has no payload bytes): a packet is copied once per batch whatever its fan-out.
 * Receive batch (worker -> main), records of any of the plane's sockets, 4-byte aligned: `u32 length, u32 socket
 * id, u8[4] IPv4, u16 port (LE), u16 flags, payload`; flag {@linkcode RECV_FORWARDED}: the worker already sent the
 * packet to the route's destinations. The payload is the whole datagram as received (before the worker's
 * rewrite). The socket id is the one the main thread gave in `open`, never reused, so records still in flight
 * when a socket closes cannot reach a new socket that got the same fd number.
 * The shared buffer holds Float64 counters (the worker's {@linkcode PSTAT}) and, in slot 6, two Int32 counters
 * that both sides only compare modulo 2^32 (`(a - b) | 0`), so they may wrap: {@linkcode PSTAT_MESSAGES_I32} and
 * {@linkcode PSTAT_HANDLED_BYTES_I32}.
 * @module
 */
import type { RouteSpec } from "./route.ts";
import type { MeshSealSpec } from "./mesh_route.ts";
import type { MeshOpenKeySpec } from "./mesh_open.ts";

/** Main thread -> worker. */
export type PlaneCommand =
  /** `id`: the socket's id in receive records, unique over the plane's life. */
  | { type: "open"; fd: number; id: number; sendFd: number }
  | { type: "close"; fd: number }
  | { type: "send"; buf: ArrayBuffer; count: number }
  | { type: "stop"; shared?: undefined }
  /** Socket `fd` is the mesh port of the relay of `incarnation`: the worker opens what it can (mesh_open.ts). */
  | { type: "mesh-open"; fd: number; incarnation: Uint8Array }
  /** Socket `fd` is the relay's mesh port (`sealed`: its mesh has a key), whose frames may be bound below. */
  | { type: "mesh-port"; fd: number; sealed: boolean }
  /**
   * Frames of subscription `streamId`, track `track` go on to the readers of RTP socket `targetFd`'s route
   * (mesh_ingress.ts); a negative `targetFd` unbinds them.
   */
  | { type: "mesh-ingress"; streamId: number; track: number; targetFd: number; delivered: Int32Array | null }
  /** A sender's packet key the main thread authenticated a packet under (mesh_open.ts). */
  | { type: "mesh-open-key"; spec: MeshOpenKeySpec }
  /** The sealer of the worker's copies to mesh children (mesh_route.ts); null: they go in clear. */
  | { type: "mesh-sealer"; spec: MeshSealSpec | null }
  /**
   * `wakeFd`: an eventfd the main thread writes after each message, so the worker, blocked in epoll_wait(), wakes
   * up; `shared` holds the stats and the Int32 counters; `messagesStart`: the value the main thread started
   * {@linkcode PSTAT_MESSAGES_I32} at before posting this message (0, or near the wrap in tests).
   */
  | {
    type: "init";
    shared: SharedArrayBuffer;
    wakeFd: number;
    messagesStart: number;
    /** The ring of send batches (send_ring.ts). */
    sendRing: SharedArrayBuffer;
  }
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

/**
 * A command as posted: with the send ring's write position at the time, so the worker sends the batches written
 * before it first and those written after it only once it has handled it (send_ring.ts).
 */
export type PostedCommand = PlaneCommand & { ringAt: number };

/** Worker -> main thread. */
export type PlaneReply =
  | { type: "recv"; buf: ArrayBuffer; count: number }
  | { type: "route-ack"; fd: number; id: number; applied: boolean }
  | { type: "stopped" }
  | { type: "error"; message: string };

/** Bytes before the payload of a send record. */
export const SEND_HEADER = 28;
/** Offset of the payload-offset field in a send record. */
export const SEND_PAYLOAD_AT = 24;
/** Bytes before the payload of a receive record. */
export const RECV_HEADER = 16;
/** Offset of the socket id of a receive record. */
export const RECV_ID = 4;
/** Offset of the source IPv4 address (big-endian) of a receive record. */
export const RECV_IP = 8;
/** Offset of the source port (little-endian) of a receive record. */
export const RECV_PORT = 12;
/** Offset of the flags of a receive record. */
export const RECV_FLAGS = 14;
/** Receive flag: the worker forwarded the packet to the route's destinations itself. */
export const RECV_FORWARDED = 1;
/** Receive flag: a sealed mesh datagram the worker opened (its tag verified, its payload now in plaintext). */
export const RECV_OPENED = 2;
/**
 * Receive flag (with {@linkcode RECV_FORWARDED}): a digest record. The worker forwarded the packet and copied it to
 * the ring of the socket's route (see packet_ring.ts); instead of the payload the record carries, after the header:
 * `u32 ring position, u32 RTP timestamp, u32 SSRC, u16 sequence number, u16 digest flags, f64 arrival time`
 * (absolute milliseconds, `performance.timeOrigin + performance.now()` in the worker, once per recvmmsg batch).
 * The length field is the datagram's.
 */
export const RECV_DIGEST = 4;
/** Offsets in a digest record (from the record's start) and its size. */
export const DIGEST_POSITION = RECV_HEADER;
export const DIGEST_TIMESTAMP = RECV_HEADER + 4;
export const DIGEST_SSRC = RECV_HEADER + 8;
export const DIGEST_SEQ = RECV_HEADER + 12;
export const DIGEST_FLAGS = RECV_HEADER + 14;
export const DIGEST_ARRIVAL = RECV_HEADER + 16;
export const DIGEST_RECORD = RECV_HEADER + 24;
/** Digest flag: the packet starts a keyframe (by the route's codec). */
export const DIGEST_KEYFRAME = 1;
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
  /** Times the worker stopped reading its sockets because the main thread lagged too far behind. */
  backlogPauses: 8,
  /** Receive records posted with the datagram's bytes. */
  payloadRecords: 9,
  /** Receive records posted as digests (see {@linkcode RECV_DIGEST}). */
  digestRecords: 10,
} as const;
/** Int32 index (in the shared buffer seen as Int32Array) of the count of messages posted to the worker. */
export const PSTAT_MESSAGES_I32 = 12;
/** Int32 index of the bytes of receive batches the main thread has handled (modulo 2^32). */
export const PSTAT_HANDLED_BYTES_I32 = 13;
/** Float64 slots of the shared stats buffer. */
export const PSTAT_COUNT = 11;

/**
 * Bytes of receive batches posted to the main thread and not handled there yet past which the worker stops
 * reading its sockets until the main thread catches up (the kernel's socket buffers drop meanwhile, as they do
 * on the portable plane), so a flood the main thread cannot keep up with never queues without bound.
 */
export const MAX_BACKLOG_BYTES = 16 * 1024 * 1024;

/** Rounds up to a multiple of 4. */
export function align4(n: number): number {
  return (n + 3) & ~3;
}
