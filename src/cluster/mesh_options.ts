/**
 * What a {@linkcode Mesh} is built from (identity, discovery, timing, keys and its I/O, all but the first injectable
 * with real defaults) and what it reports of refused peers.
 * @module
 */
import type { Protection } from "./root_authority.ts";
import type { Clock, Timers } from "../clock.ts";
import type { Logger } from "../log.ts";
import type { Discovery, Peer } from "./discovery.ts";
import type { OpenMeshPort, PeerTransport } from "./mesh_io.ts";
import type { MeshKeyring } from "./mesh_keys.ts";
import type { MeshRejectReason } from "./mesh_seal.ts";

/** Options of `Mesh`. */
export interface MeshOptions {
  /** This relay as peers see it. */
  self: Peer;
  discovery: Discovery;
  /** Children per relay. */
  fanout: number;
  /** Bind address of the mesh UDP port. */
  bindHost: string;
  logger: Logger;
  /** Heartbeat period to parents and children. @default 150 */
  heartbeatMs?: number;
  /** Parent silence before re-parenting. @default 600 */
  parentTimeoutMs?: number;
  /** Child silence before the parent drops it. @default 3000 */
  childTimeoutMs?: number;
  /** Join lease; members renew at this period and expire after 4 of them. @default 1000 */
  leaseMs?: number;
  /** How long a reported suspect stays out of plans unless it speaks. @default 15000 */
  suspectHoldMs?: number;
  /** Wait for a root's source to be ready before answering a join. @default 8000 */
  rootReadyMs?: number;
  /** The cluster keys: with them every peer call and mesh packet is authenticated. @default null (open mesh) */
  keys?: MeshKeyring | null;
  /** Encrypt mesh packets when there are keys (else authenticate only). @default true */
  encrypt?: boolean;
  /**
   * Source address of peer calls (the `--listen` address when it is not a wildcard), so that peers see calls
   * come from the address discovery gives for this relay. @default the kernel's choice
   */
  localAddress?: string;
  /** This process's incarnation (16 hex characters). @default random (mesh_incarnation.ts) */
  incarnation?: string;
  /** Monotonic ms for leases, timeouts and suspicions. @default monotonicMs */
  clock?: Clock;
  /** Timers of heartbeats, watchdogs, sweeps and waits. @default the runtime's */
  timers?: Timers;
  /** Wall-clock ms (the nonce cache's). @default Date.now */
  wallClock?: () => number;
  /** How peer calls are made. @default HTTP to the peer's admin port, signed when there are keys (MeshHttp) */
  transport?: PeerTransport;
  /** How the mesh port is opened. @default a UDP socket (MeshSocket) */
  openPort?: OpenMeshPort;
  /** How the streams rooted here are protected (see root_authority.ts). @default none */
  protection?: Protection;
  /** Per path, over `protection`. @default none */
  pathProtection?: Readonly<Record<string, Protection>>;
  /** Per-hop retransmission (NACK), or null for none. @default {@linkcode DEFAULT_NACK_SETTINGS} */
  nack?: NackSettings | null;
}

/** Per-hop retransmission between relays (see nack_tracker.ts, retransmit_budget.ts). */
export interface NackSettings {
  /** How long a child waits for a repair before it gives the packet up (ms). */
  budgetMs: number;
  /** Retransmissions per packet of the stream a parent sends one child at most. */
  maxRatio: number;
}

/** The defaults of `--mesh-nack-budget-ms` and `--mesh-nack-max-ratio`. */
export const DEFAULT_NACK_SETTINGS: Readonly<NackSettings> = { budgetMs: 200, maxRatio: 0.25 };

/** The timings of a mesh, every one set. */
export type MeshTimings = Required<
  Pick<
    MeshOptions,
    "heartbeatMs" | "parentTimeoutMs" | "childTimeoutMs" | "leaseMs" | "suspectHoldMs" | "rootReadyMs"
  >
>;

/** The default timings. */
export const MESH_TIMINGS: Readonly<MeshTimings> = {
  heartbeatMs: 150,
  parentTimeoutMs: 600,
  childTimeoutMs: 3000,
  leaseMs: 1000,
  suspectHoldMs: 15000,
  rootReadyMs: 8000,
};

/** Refusals of peers (bad packets, unsigned calls), for metrics and logs. */
export interface MeshRejections {
  /**
   * Datagrams refused at the mesh port, per reason: the sealing's (see {@linkcode MeshRejectReason}) and
   * `unexpected_source` (a frame or heartbeat not from the relay it names, in an open mesh) and `unknown_stream`
   * (a frame for a stream id no source here subscribed with).
   */
  packets: Readonly<Record<MeshRejectReason | "unexpected_source" | "unknown_stream", number>>;
  /** Peer-protocol requests refused (unsigned, wrong key, stale, replayed), per reason. */
  requests: ReadonlyMap<string, number>;
}
