/**
 * What a {@linkcode MeshSource} needs from the mesh (implemented by `MeshMember`), and its timing: the seam that
 * lets the source be tested with a scripted mesh.
 * @module
 */
import type { Timers } from "../clock.ts";
import type { Stream } from "../relay/stream.ts";
import type { HopFigures, JoinResponse, PeerRef, RenewItem, RenewResult } from "./mesh_protocol.ts";
import type { MeshSource } from "./mesh_source.ts";
import type { NackSettings } from "./mesh_options.ts";
import type { StandbyDeliver, StandbyFeed } from "./standby_feed.ts";

/** What a mesh source needs from the mesh. */
export interface MeshSourceHost {
  readonly self: PeerRef;
  /** The root of `path`, or a reason there is none now. */
  findRoot(path: string): Promise<{ root: PeerRef } | { missing: string; status: 404 | 503 }>;
  /**
   * @param standby this relay pulls the camera as the standby root, aligned (the root may plan with it)
   * @param hop the hop into this relay as it measures it (for the root's view of the tree)
   */
  join(
    root: PeerRef,
    path: string,
    readers: number,
    suspects: string[],
    standby?: boolean,
    hop?: HopFigures,
  ): Promise<JoinResponse>;
  /**
   * Renews the join of `item.path` with `root` in the root's next batched call (at most a lease away).
   * @returns the root's answer for the path: the place, or why to join again
   * @throws when the root did not answer, or when `signal` aborted the wait
   */
  renew(root: PeerRef, item: RenewItem, signal: AbortSignal): Promise<RenewResult>;
  /** @throws an error with `status` 409 when the parent forwards another epoch than `epoch` (re-join, no blame) */
  subscribe(parent: PeerRef, path: string, streamId: number, burst: boolean, epoch: string): Promise<void>;
  unsubscribe(parent: PeerRef, path: string): Promise<void>;
  leave(root: PeerRef, path: string): Promise<void>;
  /** Routes frames with `streamId` to `source` (null removes the route). */
  route(streamId: number, source: MeshSource | null): void;
  /**
   * This relay forwards `path` in `epoch`'s numbering from now on (null: in none from the mesh): children subscribed
   * in another epoch must not be fed it (see {@linkcode MeshSource}).
   */
  forwarding(path: string, epoch: string | null): void;
  newStreamId(): number;
  /** Local RTSP readers of the stream (refs minus mesh children). */
  readersOf(stream: Stream): number;
  /** Monotonic clock in ms. */
  now(): number;
  /** Timers the source waits on (between renewals and retries). */
  readonly timers: Timers;
  /** True while this relay's mesh port hears nothing at all: another parent would not help. */
  deaf(): boolean;
  /** Per-hop retransmission, or null when off (`--no-mesh-nack`). */
  readonly nack: NackSettings | null;
  /**
   * Sends `parent` a NACK of `track` of the subscription `streamId` (sealed for it, as everything on the port).
   * @returns false when the parent's mesh address or incarnation is not known
   */
  sendNack(parent: PeerRef, streamId: number, track: number, nack: Uint8Array): boolean;
  /** True when this relay is the standby root of `path` rooted at `root` (dual protection, a camera it pulls). */
  standbyFor(path: string, root: string): boolean;
  /**
   * Opens this relay's own camera session for `stream` as its standby root (not started); null when it cannot.
   * @param deliver receives its packets once renumbered into the root's numbering
   */
  openStandby(stream: Stream, deliver: StandbyDeliver): StandbyFeed | null;
}

/** Timing of a mesh source. */
export interface MeshSourceTiming {
  /** Join renewal period. @default 1000 */
  leaseMs: number;
  /** Parent silence that triggers a re-parent. @default 600 */
  parentTimeoutMs: number;
  /** Wait between failed attempts. @default 500 */
  retryMs: number;
}
