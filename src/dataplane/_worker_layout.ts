/**
 * Constants and the memory layout of the fast plane's worker ({@link ./shared_udp_worker.ts}): batch sizes, the
 * receive slots, the mmsghdr/iovec arrays and the stage of records for the main thread, all in one buffer.
 * Private to src/dataplane.
 * @module
 */
import { IOVEC_SIZE, MMSGHDR_SIZE, SOCKADDR_IN_SIZE } from "./_libc.ts";
import { Route } from "./route.ts";
import type { DigestWriter } from "./_digest_writer.ts";

/** Datagrams per recvmmsg / sendmmsg. */
export const BATCH = 64;
/**
 * Datagrams per sendmmsg: one received batch times a reader fan-out (64 x 10) leaves in one call, as the C
 * reference's does (UIO_MAXIOV is 1024); each call is a kernel entry, and on a VM a costly one.
 */
export const SEND_BATCH = 1024;
/**
 * Bytes per receive slot: the largest UDP datagram (65,507 bytes over IPv4) fits whole. The slots are
 * BATCH x 64 KiB = 4 MiB of address space, but only the pages datagrams touch become resident (a slot of 1,200-byte
 * packets costs one page).
 */
export const SLOT = 65536;
/**
 * Distance between slots: a slot plus a few cache lines, so the heads of a batch's datagrams do not all fall in
 * the same cache sets (as they would 64 KiB apart).
 */
export const SLOT_STRIDE = SLOT + 4 * 64;
/**
 * Longest wait in epoll_wait() when nothing is staged: a safety net only, since every message, flush and stop of
 * the main thread writes the eventfd the wait watches. 50 ms before: an idle relay's Worker woke 20 times a
 * second for nothing.
 */
export const POLL_TIMEOUT_MS = 1000;
/** recvmmsg batches per readable socket per wait (fairness between sockets). */
export const ROUNDS_PER_SOCKET = 8;
/** How long the worker sleeps between checks while the main thread lags. */
export const BACKLOG_WAIT_MS = 1;
/** The epoll tag of the wake-up eventfd (socket ids start at 1). */
export const WAKE_TAG = 0;

export const OFF_SLOTS = 0;
export const OFF_RECV_HDR = OFF_SLOTS + BATCH * SLOT_STRIDE;
export const OFF_RECV_IOV = OFF_RECV_HDR + BATCH * MMSGHDR_SIZE;
export const OFF_RECV_NAME = OFF_RECV_IOV + BATCH * IOVEC_SIZE;
export const OFF_SEND_HDR = OFF_RECV_NAME + BATCH * SOCKADDR_IN_SIZE;
export const OFF_SEND_IOV = OFF_SEND_HDR + SEND_BATCH * MMSGHDR_SIZE;
/**
 * Received records of every socket waiting to be posted to the main thread, in arrival order, in the same buffer
 * as the receive slots so a datagram is staged with `copyWithin` (no view per packet). The main thread gets a copy
 * of the used bytes; this region is reused.
 */
export const OFF_STAGE = OFF_SEND_IOV + SEND_BATCH * IOVEC_SIZE;
export const STAGE_BYTES = 256 * 1024;
export const TOTAL_BYTES = OFF_STAGE + STAGE_BYTES;

/**
 * Most packets held back before posting (when no reader needs the main thread promptly). Each post costs both
 * threads a structured clone and an event-loop turn, so in the steady state (every reader served here) the worker
 * posts a few large batches rather than one per millisecond: 1,000 posts/s cost the main thread about as much as
 * the packets themselves.
 */
export const HOLD_PACKETS = 192;
/**
 * Longest a held packet waits before it is posted, in milliseconds: what the main thread's statistics and GOP
 * cache may lag; a route update posts what is held first (see {@linkcode Route}), so no reader sees it.
 */
export const HOLD_MS = 5;
/**
 * The hold while every staged record is a digest (every reader served here; a digest costs the main thread a
 * fraction of a packet, so the posts are what it pays for): at 20k packets/s, 50 posts/s instead of 200.
 */
export const DIGEST_HOLD_PACKETS = 1024;
export const DIGEST_HOLD_MS = 20;
/**
 * The hold while every staged record is a digest of a route that keeps no packets (no ring: no GOP cache, no
 * mesh child to repair): only the main thread's statistics and counters wait for those. Each post costs the main
 * thread a wake-up (about 250 µs on the development VM, more than 40 digests), and at a camera's rate (2,000
 * packets/s) the 50 posts a second of a 20 ms hold were most of its cost; 100 ms makes them 10.
 */
export const DIGEST_ONLY_HOLD_MS = 100;

/** One receiving socket. */
export interface Socket {
  readonly fd: number;
  /** The socket this one's datagrams leave from: its send twin on the same port, or `fd` itself (shared_udp.ts). */
  readonly sendFd: number;
  /** The main thread's id of the socket, in its receive records and as its epoll tag. */
  readonly id: number;
  readonly route: Route;
  /** Address of the route's destination sockaddrs (16 bytes each), taken when the route changes. */
  dests: number;
  /** Address of the route's mesh children (mesh_route.ts), taken when the route changes; 0: none. */
  meshDests: number;
  /** The relay's mesh port: sealed datagrams are opened here when their sender's key was handed over. */
  meshOpen: boolean;
  /** The relay's mesh port (mesh_ingress.ts): `sealed` when its mesh has a key, else open; null otherwise. */
  meshPort: { sealed: boolean } | null;
  /** Where forwarded packets go instead of the records while the route is not prompt (_digest_writer.ts). */
  digests: DigestWriter | null;
}

/** A socket just opened: no route yet. */
export function newSocket(fd: number, id: number, sendFd = -1): Socket {
  return {
    fd,
    sendFd: sendFd >= 0 ? sendFd : fd,
    id,
    route: new Route(),
    dests: 0,
    meshDests: 0,
    meshOpen: false,
    meshPort: null,
    digests: null,
  };
}
