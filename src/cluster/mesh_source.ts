/**
 * The child side of the mesh for one stream: a {@linkcode StreamSource} fed by a parent relay. It finds the root,
 * joins (the root answers the parent, the SDP and the output SSRCs), subscribes to the parent, renews the join
 * every lease and re-parents make-before-break when the root moves it, or at once when the parent falls silent.
 * Renewals go through the mesh's batcher (one call per root per lease for all paths): the source asks again as
 * soon as it has its answer and the batcher paces it; anything unusual (a refused renewal, a lost parent, a root
 * that moved, a hurry) is a full join.
 *
 * Numbering: the mesh carries one numbering per epoch, the root's (members forward what they get untouched; only
 * their own readers get their rewrite). Each subscription is made in an epoch and a parent feeds it that epoch's
 * numbering only (epoch_filter.ts): the first packet (or subscription) of the epoch joined last is the one place
 * where the numbering changes; there the tracks re-base (readers see a gap, not a jump), the GOP caches restart,
 * and this relay's own children of the old epoch are let go.
 * @module
 */
import type { Logger } from "../log.ts";
import { type Stream, type StreamSource, StreamUnavailable } from "../relay/stream.ts";
import type { StandbyFeed, StandbyFeedInfo } from "./standby_feed.ts";
import { StandbyRootSource } from "./standby_root.ts";
import { parseSdp } from "../rtsp/sdp.ts";
import type { MeshPacket } from "./mesh_frame.ts";
import type { HopFigures, JoinResponse, PeerRef } from "./mesh_protocol.ts";
import type { MeshSourceHost, MeshSourceTiming } from "./mesh_source_host.ts";
import { EpochFilter } from "./epoch_filter.ts";
import { NackRequester } from "./nack_requester.ts";
import { newDeliveredCell } from "../dataplane/mesh_ingress.ts";
import type { NackCounts } from "./nack_tracker.ts";
import { rtpSequence, rtpSsrc } from "../rtp/packet.ts";
import { parseGenericNack } from "../rtp/rtcp_nack.ts";

export type { MeshSourceHost, MeshSourceTiming } from "./mesh_source_host.ts";

interface Attachment {
  parent: PeerRef;
  streamId: number;
  /** The epoch the subscription was made in: the parent feeds it that epoch's numbering only. */
  epoch: string;
}

/**
 * How long a standby's own camera session may stay unaligned with the root's numbering (a camera that encodes each
 * session apart never aligns) before it is closed, and when it is tried again.
 */
const STANDBY_ALIGN_MS = 30_000;
const STANDBY_RETRY_MS = 300_000;

/** How long after a re-parent the fast plane's worker may take over sending the new parent's RTP to readers. */
const INGRESS_SETTLE_MS = 1000;

/** A place in the tree, as a join or a renewal answers it. */
type Placement = Pick<JoinResponse, "parent" | "depth" | "epoch" | "parents">;

/** A stream fed through the mesh. */
export class MeshSource implements StreamSource {
  readonly kind = "mesh" as const;
  readonly stream: Stream;
  readonly #host: MeshSourceHost;
  readonly #log: Logger;
  readonly #timing: MeshSourceTiming;
  #running = false;
  #stopped = false;
  #root: PeerRef | null = null;
  /** The epoch of the last join answer. */
  #epoch: string | null = null;
  /** What this relay takes of its parents' packets; at each change of numbering the tracks re-base. */
  readonly #filter = new EpochFilter((epoch) => {
    this.#nacks?.reset();
    this.#standby?.reset();
    for (const track of this.stream.tracks) track.newEpoch();
    this.#host.forwarding(this.stream.path, epoch);
  });
  #attached: Attachment | null = null;
  /** The last RTP packet delivered per track (with repairs on): its sequence number and SSRC. */
  readonly #lastSeq: number[] = [];
  readonly #lastSsrc: number[] = [];
  /** Repair requests to the current parent (per-hop retransmission), or null when off. */
  readonly #nacks: NackRequester | null;
  /** The attachment being subscribed (make before break), fed before it becomes the current one. */
  #pending: Attachment | null = null;
  /** The subscription whose RTP the fast plane's worker sends to the readers itself (see {@linkcode #bindIngress}). */
  #boundStreamId: number | null = null;
  #described = false;
  #receivedAny = false;
  #lastFromParent = 0;
  /**
   * With dual-path protection, the second parent's subscription: its packets merge with the first's by the root's
   * numbering (the duplicate filter keeps each once), so the death of either parent costs nothing.
   */
  #second: Attachment | null = null;
  /** A second parent being subscribed (the worker must not take the first's packets meanwhile either). */
  #secondPending: Attachment | null = null;
  #lastFromSecond = 0;
  /**
   * With dual-path protection, this relay's own pull of the camera while it is the stream's standby root: merged
   * as a third path once aligned with the root's numbering, and handed over when this relay becomes the root.
   */
  #standby: StandbyFeed | null = null;
  /** With two parents: which one (by stream id) said a number (track << 16 | seq) is gone, until the other does. */
  readonly #goneFrom = new Map<number, number>();
  /** The stream went on with the standby's session (this relay became the root): no re-base at the stop. */
  #handedOver = false;
  /** Since when the standby's session has been unaligned (or aligned: now), and when one may open again (ms). */
  #standbySince = 0;
  #standbyRetryAt = 0;
  #suspects: string[] = [];
  #wake: (() => void) | null = null;
  /** Parents left because they fell silent, by node, until each speaks again (then it is told to stop sending). */
  readonly #silentParents = new Map<string, PeerRef>();
  /** The renewal waiting for its root's next call, aborted to join at once or to stop. */
  #renewal: AbortController | null = null;
  /** Join at the next round, not renew (asked to move, or the root may have moved). */
  #hurry = false;
  /** Draining: keep the current parent, stop renewing the join (the root must not plan this relay in again). */
  #frozen = false;
  #loop: Promise<void> | null = null;
  /** Re-parents so far (for the admin API). */
  reparents = 0;
  /** Last time the parent changed (ms), for gap measurements. */
  lastReparentAt = 0;

  /**
   * @param stream the stream to feed
   * @param host the mesh
   * @param logger log
   * @param timing lease and timeouts
   */
  constructor(stream: Stream, host: MeshSourceHost, logger: Logger, timing: Partial<MeshSourceTiming> = {}) {
    this.stream = stream;
    this.#host = host;
    this.#log = logger;
    this.#timing = { leaseMs: 1000, parentTimeoutMs: 600, retryMs: 500, ...timing };
    this.#nacks = host.nack
      ? new NackRequester({
        settings: host.nack,
        timers: host.timers,
        now: () => host.now(),
        send: (track, nack) => {
          const attached = this.#attached;
          if (attached === null) return false;
          // With two parents both are asked: either may have it, and a number is given up early only when both
          // say they never will (see #onGone).
          const second = this.#second;
          if (second) host.sendNack(second.parent, second.streamId, track, nack);
          return host.sendNack(attached.parent, attached.streamId, track, nack);
        },
        release: (track, packets) => {
          for (const p of packets) this.#deliver(track, p.seq, p.packet, p.forwarded);
        },
      })
      : null;
  }

  /** What per-hop retransmission found and repaired here (null when off). */
  get nack(): NackCounts | null {
    return this.#nacks?.counts() ?? null;
  }

  repairs(): NackCounts | null {
    return this.nack;
  }

  /** The parent currently feeding this relay. */
  get parent(): PeerRef | null {
    return this.#attached?.parent ?? null;
  }

  /** The second parent (dual-path protection), or null. */
  get secondParent(): PeerRef | null {
    return this.#second?.parent ?? null;
  }

  /** The parent that frames with `streamId` must come from: the current or the pending attachment's. */
  parentOf(streamId: number): PeerRef | null {
    if (this.#attached?.streamId === streamId) return this.#attached.parent;
    if (this.#pending?.streamId === streamId) return this.#pending.parent;
    if (this.#second?.streamId === streamId) return this.#second.parent;
    if (this.#secondPending?.streamId === streamId) return this.#secondPending.parent;
    return null;
  }

  /** The numbering epoch of the root this relay joined (null before the first join answer). */
  get epoch(): string | null {
    return this.#epoch;
  }

  /**
   * The epoch whose numbering this relay forwards now: a child subscribed in another epoch must not be fed from here
   * (null: none yet, or stopped).
   */
  get forwarding(): string | null {
    return this.#filter.forwarding;
  }

  /** Repeated packets dropped (the overlap of a make-before-break re-parent). */
  get duplicates(): number {
    return this.#filter.duplicates;
  }

  /** Packets of an epoch this relay left, or far behind the numbering. */
  get stale(): number {
    return this.#filter.stale;
  }

  /** Numberings taken so far (the first epoch's included): each a re-base of the tracks. */
  get epochs(): number {
    return this.#filter.epochs;
  }

  /** The root this relay joined. */
  get root(): PeerRef | null {
    return this.#root;
  }

  start(): void {
    if (this.#running || this.#stopped) return;
    this.#running = true;
    this.stream.setState("connecting");
    this.#loop = this.#run().catch((err) => this.#log.error("mesh source failed", { error: String(err) }));
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#nacks?.stop();
    this.#unbindIngress();
    this.#interrupt();
    // Nothing is relayed from here on: what the stream gets next (a camera pulled here, the root having moved here)
    // re-bases, and the children fed this epoch's numbering from here are let go; unless the standby's session
    // carries the same numbering on.
    if (!this.#handedOver) this.#filter.cutOver(null);
    const standby = this.#standby;
    this.#standby = null;
    await standby?.close().catch(() => {});
    await this.#loop;
    const attached = this.#attached;
    this.#attached = null;
    if (this.#second) this.#dropSecond(this.#second, this.#second.parent.node !== attached?.parent.node);
    if (attached) {
      this.#host.route(attached.streamId, null);
      await this.#host.unsubscribe(attached.parent, this.stream.path).catch(() => {});
    }
    if (this.#root) await this.#host.leave(this.#root, this.stream.path).catch(() => {});
  }

  info(): Record<string, unknown> {
    return {
      root: this.#root?.node ?? null,
      parent: this.#attached?.parent.node ?? null,
      secondParent: this.#second?.parent.node ?? null,
      reparents: this.reparents,
      duplicates: this.duplicates,
      stale: this.stale,
      epochs: this.epochs,
      nack: this.nack,
      standby: this.#standby?.info() ?? null,
    };
  }

  /** This relay's own camera session while it is the stream's standby root, or null. */
  get standbyFeed(): StandbyFeedInfo | null {
    return this.#standby?.info() ?? null;
  }

  /**
   * This relay became the root: with an aligned standby session, the stream goes on with it in the same numbering
   * and epoch (no camera reconnect, no keyframe wait, no re-base at any member); else null (a new pull).
   */
  handOver(): StreamSource | null {
    const feed = this.#standby;
    const epoch = this.#epoch;
    if (!feed?.aligned || epoch === null || this.#filter.forwarding !== epoch || this.#stopped) return null;
    this.#standby = null;
    this.#handedOver = true;
    // What waits for a repair goes out first, in order; the new source's packets follow.
    this.#nacks?.resync();
    this.#log.info("standby root takes over with its own camera session", { path: this.stream.path, epoch });
    return new StandbyRootSource(this.stream, feed, epoch);
  }

  /** A frame routed here by its stream id. */
  onFrame(packet: MeshPacket, streamId: number, sender?: Deno.NetAddr, forwarded = false): void {
    if (this.#stopped) return;
    const from = this.#attached?.streamId === streamId
      ? this.#attached
      : this.#pending?.streamId === streamId
      ? this.#pending
      : this.#second?.streamId === streamId
      ? this.#second
      : this.#secondPending?.streamId === streamId
      ? this.#secondPending
      : null;
    if (!from) return;
    if (from === this.#attached) this.#lastFromParent = this.#host.now();
    else if (from === this.#second) this.#lastFromSecond = this.#host.now();
    const track = this.stream.tracks[packet.track];
    if (!track) return;
    if (packet.type === "rtp") {
      if (packet.payload.length < 12) return track.countDrop("invalid_rtp");
      if (!this.#filter.take(from.epoch, this.#epoch, packet.track, packet.payload, this.#host.now())) return;
      this.#receivedAny = true;
      const payload = packet.owned ? packet.payload : packet.payload.slice();
      // Before anything rewrites it: the standby learns the root's numbering from it.
      this.#standby?.noteMesh(packet.track, payload);
      this.#admit(packet.track, payload, forwarded);
      if (from === this.#attached && sender && this.#boundStreamId !== streamId) {
        this.#bindIngress(from, sender);
      }
    } else if (packet.type === "gone") {
      if (from !== this.#attached && from !== this.#second) return;
      const notice = parseGenericNack(packet.payload);
      if (typeof notice !== "string") this.#onGone(from, packet.track, notice.seqs);
    } else if (packet.type === "rtcp" && this.#filter.take(from.epoch, this.#epoch, packet.track, null, 0)) {
      track.relayRtcp(packet.owned ? packet.payload : packet.payload.slice());
    }
  }

  /** The hop into this relay as its first track measures it (since its numbering began), for the root's view. */
  #hopFigures(): { hop?: HopFigures } {
    const s = this.stream.tracks[0]?.receiverStats.snapshot();
    if (!s?.valid || s.expected <= 0) return {};
    const lost = Math.min(1, Math.max(0, s.missing / s.expected));
    return { hop: { lost, jitterMs: Math.min(1e6, s.jitterSeconds * 1000) } };
  }

  /**
   * A parent says it moved past `seqs` without having them. With one parent they are given up at once; with two,
   * only the numbers both said so of: the other path may still bring them (a parent that lost its own parent
   * skips what its second path has not brought yet, and would otherwise make its children skip it too).
   */
  #onGone(from: Attachment, track: number, seqs: readonly number[]): void {
    if (this.#second === null) {
      this.#nacks?.gone(track, seqs);
      return;
    }
    const both: number[] = [];
    for (const seq of seqs) {
      const key = track * 0x10000 + (seq & 0xffff);
      const said = this.#goneFrom.get(key);
      if (said !== undefined && said !== from.streamId) {
        this.#goneFrom.delete(key);
        both.push(seq);
      } else {
        if (this.#goneFrom.size >= 4096) this.#goneFrom.delete(this.#goneFrom.keys().next().value!);
        this.#goneFrom.set(key, from.streamId);
      }
    }
    if (both.length > 0) this.#nacks?.gone(track, both);
  }

  /** Takes one RTP packet the duplicate filter let through: in order behind repairs when they are on. */
  #admit(index: number, payload: Uint8Array, forwarded: boolean): void {
    const nacks = this.#nacks;
    if (nacks) {
      // Behind a gap the packets wait for the repair (readers get the stream in order); one that comes after the
      // relay moved on is late, and dropped.
      const seq = rtpSequence(payload);
      const out = nacks.receive(index, seq, payload, forwarded, rtpSsrc(payload));
      if (out === "now") this.#deliver(index, seq, payload, forwarded);
      else if (typeof out !== "string") {
        for (const q of out) this.#deliver(index, q.seq, q.packet, q.forwarded);
      }
    } else {
      this.stream.tracks[index]?.relayRtp(payload, forwarded ? this.stream.planeServed(index) : undefined);
    }
  }

  /** A packet of this relay's own camera session (the standby's), in the root's numbering: merged as a third path. */
  #fromStandby(index: number, packet: Uint8Array): void {
    const epoch = this.#epoch;
    if (this.#stopped || epoch === null || this.#filter.forwarding !== epoch || !this.stream.tracks[index]) {
      return;
    }
    if (!this.#filter.take(epoch, epoch, index, packet, this.#host.now())) return;
    this.#admit(index, packet, false);
  }

  /** Opens or closes this relay's own camera session as the root names it the standby or not (dual protection). */
  #followStandby(root: string): void {
    const wanted = !this.#stopped && this.#host.standbyFor(this.stream.path, root);
    const now = this.#host.now();
    const feed = this.#standby;
    if (feed?.aligned) this.#standbySince = now;
    if (wanted && feed && !feed.aligned && now - this.#standbySince > STANDBY_ALIGN_MS) {
      // A second session that never matches the root's costs the camera a client for nothing.
      this.#log.warn(
        "standby root: its camera session never aligned with the root's, closing it for a while",
        {
          path: this.stream.path,
          root,
          ...feed.info(),
          retryInSeconds: STANDBY_RETRY_MS / 1000,
        },
      );
      this.#standby = null;
      this.#standbyRetryAt = now + STANDBY_RETRY_MS;
      void feed.close().catch(() => {});
      return;
    }
    if (wanted && this.#standby === null && now >= this.#standbyRetryAt) {
      const opened = this.#host.openStandby(this.stream, (track, packet) => this.#fromStandby(track, packet));
      if (!opened) return;
      this.#standby = opened;
      this.#standbySince = now;
      // This thread merges the paths (see #bindIngress).
      this.#unbindIngress();
      opened.start();
      this.#log.info("standby root: pulling the camera too", { path: this.stream.path, root });
    } else if (!wanted && feed !== null) {
      this.#standby = null;
      void feed.close().catch(() => {});
      this.#log.info("no longer the standby root", { path: this.stream.path, root });
    }
  }

  /** Sends one packet of track `index` on (to the fast plane's served readers only when it did not send it). */
  #deliver(index: number, seq: number, packet: Uint8Array, forwarded: boolean): void {
    const track = this.stream.tracks[index];
    if (!track || this.#stopped) return;
    track.relayRtp(packet, forwarded ? this.stream.planeServed(index) : undefined);
    const ssrc = rtpSsrc(packet);
    this.#lastSeq[index] = seq;
    this.#lastSsrc[index] = ssrc;
    // The worker forwards in order after what this thread sent (an in-order binding).
    if (!forwarded && this.#boundStreamId !== null) this.stream.noteDelivered(index, seq, ssrc);
  }

  /**
   * Lets the fast plane's worker send the attached parent's RTP to this relay's readers itself, in a steady state
   * only: nothing pending, and the last re-parent a second behind (the old parent's last packets, which this
   * thread may already have sent, are in; the worker would send them again).
   */
  #bindIngress(attached: Attachment, sender: Deno.NetAddr): void {
    if (this.#pending !== null || this.#host.now() - this.lastReparentAt < INGRESS_SETTLE_MS) return;
    // Two parents: the worker could send a packet while this thread delivers the other path's copy of it; this
    // thread merges both paths alone (see mesh_ingress.ts).
    if (this.#second !== null || this.#secondPending !== null || this.#standby !== null) return;
    this.#boundStreamId = attached.streamId;
    // With repairs this thread delivers in order, and the worker forwards in order after it (mesh_ingress.ts).
    const cells = this.#nacks ? this.stream.tracks.map(() => newDeliveredCell()) : null;
    this.stream.bindMeshIngress(attached.streamId, sender, cells);
    if (!cells) return;
    this.#lastSeq.forEach((seq, index) => this.stream.noteDelivered(index, seq, this.#lastSsrc[index]!));
  }

  /** Takes the parent's RTP back to this thread (before any change of parent or subscription). */
  #unbindIngress(): void {
    if (this.#boundStreamId === null) return;
    this.#boundStreamId = null;
    this.stream.bindMeshIngress(null, null);
  }

  /** A heartbeat from `node` arrived. */
  onHeartbeat(node: string): void {
    if (this.#attached?.parent.node === node) this.#lastFromParent = this.#host.now();
    if (this.#second?.parent.node === node) this.#lastFromSecond = this.#host.now();
    const left = this.#silentParents.get(node);
    if (!left) return;
    // A parent left for silent is back (a partition healed) and may still feed this relay: tell it to stop.
    this.#silentParents.delete(node);
    const current = [this.#attached, this.#pending, this.#second].some((a) => a?.parent.node === node);
    if (!current) void this.#host.unsubscribe(left, this.stream.path).catch(() => {});
  }

  /** Stops renewing the join while keeping the stream flowing (this relay is draining). */
  freeze(): void {
    this.#frozen = true;
  }

  /** Renews the join now (the parent is draining and asked its children to move). */
  renewNow(): void {
    this.#hurry = true;
    this.#interrupt();
  }

  /** Ends the current wait: a sleep, or a renewal waiting for its root's next call. */
  #interrupt(): void {
    this.#renewal?.abort(new Error("renewal interrupted"));
    this.#wake?.();
  }

  /** Called by the mesh's watchdog: re-parent now when the parent has been silent too long. */
  checkParent(): void {
    const attached = this.#attached;
    if (!attached || this.#stopped || this.#frozen || this.#host.deaf()) return;
    const now = this.#host.now();
    const second = this.#second;
    if (second && now - this.#lastFromSecond > this.#timing.parentTimeoutMs) {
      this.#log.warn("mesh second parent silent, joining again", {
        path: this.stream.path,
        parent: second.parent.node,
      });
      this.#dropSecond(second, false);
      this.#silentParents.set(second.parent.node, second.parent);
      this.#suspects = [...this.#suspects, second.parent.node];
      this.#interrupt();
    }
    if (now - this.#lastFromParent <= this.#timing.parentTimeoutMs) return;
    if (this.#second) {
      // The second path feeds this relay already: it becomes the first, without a gap; the root re-plans.
      const promoted = this.#second;
      this.#log.warn("mesh parent silent, the second parent takes over", {
        path: this.stream.path,
        parent: attached.parent.node,
        second: promoted.parent.node,
      });
      this.#suspects = [attached.parent.node];
      this.#silentParents.set(attached.parent.node, attached.parent);
      this.#detach(attached);
      this.#second = null;
      this.#attached = promoted;
      this.#lastFromParent = this.#lastFromSecond;
      this.reparents++;
      this.lastReparentAt = now;
      this.#interrupt();
      return;
    }
    this.#log.warn("mesh parent silent, re-parenting", {
      path: this.stream.path,
      parent: attached.parent.node,
      silentMs: this.#host.now() - this.#lastFromParent,
    });
    this.#suspects = [attached.parent.node];
    this.#silentParents.set(attached.parent.node, attached.parent);
    this.#detach(attached);
    // What is missing now is an outage: readers get what is held, and the next parent's stream as it comes.
    this.#nacks?.resync();
    this.#interrupt();
  }

  #detach(attached: Attachment): void {
    if (this.#attached !== attached) return;
    this.#unbindIngress();
    this.#attached = null;
    this.#host.route(attached.streamId, null);
  }

  /**
   * Ends the second subscription: its frames are no longer taken, and the parent is told unless `unsubscribe` is
   * false (it is silent, or it is now the first parent: a subscription to it replaced this one there).
   */
  #dropSecond(second: Attachment, unsubscribe: boolean): void {
    if (this.#second !== second) return;
    this.#second = null;
    this.#host.route(second.streamId, null);
    if (unsubscribe) void this.#host.unsubscribe(second.parent, this.stream.path).catch(() => {});
  }

  /**
   * Follows the root's choice of a second parent (dual-path protection): subscribes to it (no GOP burst: the first
   * path gave it), or drops the one no longer wanted.
   */
  async #followSecond(join: Placement): Promise<void> {
    const wanted = join.parents?.[1] ?? null;
    const current = this.#second;
    const first = this.#attached;
    if (current && (!wanted || current.parent.node !== wanted.node || current.epoch !== join.epoch)) {
      this.#dropSecond(current, current.parent.node !== first?.parent.node);
    }
    if (!wanted || !first || wanted.node === first.parent.node || this.#second !== null || this.#stopped) {
      return;
    }
    const next: Attachment = { parent: wanted, streamId: this.#host.newStreamId(), epoch: join.epoch };
    this.#host.route(next.streamId, this);
    // Before the second path's first packet: the worker stops sending the first's (see #bindIngress).
    this.#secondPending = next;
    this.#unbindIngress();
    try {
      await this.#host.subscribe(next.parent, this.stream.path, next.streamId, false, join.epoch);
    } catch (err) {
      this.#host.route(next.streamId, null);
      if ((err as { status?: number }).status !== 409) this.#suspects = [...this.#suspects, next.parent.node];
      throw err;
    } finally {
      this.#secondPending = null;
    }
    if (this.#stopped || this.#attached !== first) {
      this.#host.route(next.streamId, null);
      if (next.parent.node !== this.#attached?.parent.node) {
        await this.#host.unsubscribe(next.parent, this.stream.path).catch(() => {});
      }
      return;
    }
    this.#second = next;
    this.#lastFromSecond = this.#host.now();
    this.#log.info("mesh second parent", { path: this.stream.path, parent: next.parent.node });
  }

  async #sleep(ms: number): Promise<void> {
    if (this.#stopped) return;
    await new Promise<void>((resolve) => {
      const timers = this.#host.timers;
      const timer = timers.setTimeout(done, ms);
      function done() {
        timers.clearTimeout(timer);
        resolve();
      }
      this.#wake = done;
    });
    this.#wake = null;
  }

  async #run(): Promise<void> {
    while (!this.#stopped) {
      try {
        if (this.#frozen) {
          await this.#sleep(this.#timing.leaseMs);
          continue;
        }
        // After a renewal, ask again at once: the batcher holds it until the root's next call.
        if (await this.#step() !== "joined") continue;
        await this.#sleep(this.#attached ? this.#timing.leaseMs : this.#timing.retryMs);
      } catch (err) {
        if (this.#stopped) return;
        this.#log.debug("mesh join attempt failed", { path: this.stream.path, error: String(err) });
        if (!this.#described) this.stream.setState("error", String((err as Error).message ?? err));
        await this.#sleep(this.#timing.retryMs);
      }
    }
  }

  /**
   * One round: locate the root, renew the join (or join), follow the root's choice of parent.
   * @returns `renewed` through the batcher; `again` when the renewal gave no place (refused, interrupted, the
   * parent lost meanwhile): the next round, at once, locates the root afresh and joins; else `joined`
   */
  async #step(): Promise<"renewed" | "again" | "joined"> {
    const found = await this.#host.findRoot(this.stream.path);
    // The root moved here and the stream went on without this source (a standby's hand-over).
    if (this.#stopped) return "joined";
    if ("missing" in found) {
      this.stream.setState("error", found.missing);
      // Nothing serves the path: say so now. A root that is not ready yet: readers wait (DESCRIBE's timeout).
      if (!this.#described && found.status === 404) {
        this.stream.failWaiters(new StreamUnavailable(found.missing, found.status));
      }
      return "joined";
    }
    if (this.#stopped) return "joined";
    const renew = !this.#hurry && this.#attached !== null && this.#epoch !== null &&
      this.#suspects.length === 0 && this.#root?.node === found.root.node;
    this.#hurry = false;
    this.#root = found.root;
    this.#followStandby(found.root.node);
    if (renew) {
      const renewed = await this.#renew(found.root, this.#epoch!);
      if (this.#stopped) return "joined";
      // Refused, interrupted (asked to move, the root may have moved), or the parent was lost while it waited.
      if (!renewed || this.#suspects.length > 0 || this.#attached === null) {
        if (this.#suspects.length === 0) this.#hurry = true;
        return "again";
      }
      await this.#follow(renewed);
      await this.#followSecond(renewed);
      return "renewed";
    }
    const place = await this.#join(found.root);
    if (!this.#stopped) {
      await this.#follow(place);
      await this.#followSecond(place);
    }
    return "joined";
  }

  /**
   * Renews through the batcher. @returns the place, or null to join (refused, or interrupted)
   * @throws when the root did not answer
   */
  async #renew(root: PeerRef, epoch: string): Promise<Placement | null> {
    const ac = new AbortController();
    this.#renewal = ac;
    const item = {
      path: this.stream.path,
      readers: this.#host.readersOf(this.stream),
      epoch,
      ...(this.#standby?.aligned ? { standby: true } : {}),
      ...this.#hopFigures(),
    };
    try {
      const r = await this.#host.renew(root, item, ac.signal);
      if ("parent" in r) return r;
      this.#log.debug("mesh renewal refused, joining again", { path: this.stream.path, error: r.error });
      return null;
    } catch (err) {
      if (ac.signal.aborted) return null;
      if (!this.#suspects.includes(root.node)) this.#suspects = [...this.#suspects, root.node];
      throw err;
    } finally {
      this.#renewal = null;
    }
  }

  /** Joins `root` (naming the suspects), takes its numbering and, the first time, its SDP. */
  async #join(root: PeerRef): Promise<Placement> {
    let join: JoinResponse;
    try {
      join = await this.#host.join(
        root,
        this.stream.path,
        this.#host.readersOf(this.stream),
        this.#suspects,
        this.#standby?.aligned ?? false,
        this.#hopFigures().hop,
      );
    } catch (err) {
      // Tell the next root we try that this one did not answer (it may be the dead root of a hashed camera).
      if (!this.#suspects.includes(root.node)) this.#suspects = [...this.#suspects, root.node];
      throw err;
    }
    if (this.#stopped) return join;
    if (this.#epoch !== null && join.epoch !== this.#epoch) {
      this.#log.info("mesh root epoch changed", {
        path: this.stream.path,
        from: this.#epoch,
        to: join.epoch,
      });
    }
    this.#epoch = join.epoch;
    if (!this.#described) {
      // A stream that already has tracks (re-homed from a camera pull) keeps them and its readers: the tracks
      // re-base onto the root's numbering as after a camera restart.
      const keep = this.stream.tracks.length > 0;
      this.stream.setDescription(parseSdp(join.sdp), keep ? {} : { outputSsrcs: join.outputSsrcs });
      this.#described = true;
    }
    return join;
  }

  /** Follows the root's choice of parent: make before break when it changed. */
  async #follow(join: Placement): Promise<void> {
    const suspects = this.#suspects;
    this.#suspects = [];
    const current = this.#attached;
    if (current && current.parent.node === join.parent.node && current.epoch === join.epoch) {
      if (this.stream.state !== "ready") this.stream.setState("ready");
      if (this.#host.deaf() && this.#host.now() - this.#lastFromParent > this.#timing.parentTimeoutMs) {
        // Deaf, this relay keeps its parent, which may have dropped it as silent: then nobody would feed it again.
        await this.#host.subscribe(current.parent, this.stream.path, current.streamId, false, join.epoch);
      }
      return;
    }
    // Make before break: subscribe to the new parent, then drop the old one; duplicates are filtered.
    const next: Attachment = { parent: join.parent, streamId: this.#host.newStreamId(), epoch: join.epoch };
    // The second parent becomes the first: the new subscription replaces the second's there.
    if (this.#second && this.#second.parent.node === next.parent.node) this.#dropSecond(this.#second, false);
    this.#host.route(next.streamId, this);
    this.#unbindIngress();
    this.#pending = next;
    try {
      // Another epoch's numbering cannot be told apart from this one's: it starts at a keyframe (the GOP burst).
      const burst = !this.#receivedAny || next.epoch !== this.#filter.forwarding;
      await this.#host.subscribe(next.parent, this.stream.path, next.streamId, burst, join.epoch);
    } catch (err) {
      this.#host.route(next.streamId, null);
      // A parent in another epoch is alive, just not there yet: re-join without blaming it.
      if ((err as { status?: number }).status !== 409) this.#suspects = [next.parent.node];
      throw err;
    } finally {
      this.#pending = null;
    }
    if (this.#stopped) {
      this.#host.route(next.streamId, null);
      await this.#host.unsubscribe(next.parent, this.stream.path).catch(() => {});
      return;
    }
    this.#attached = next;
    this.#lastFromParent = this.#host.now();
    // The old parent's numbering ends here at the latest (the new one's burst may have started it already).
    this.#filter.cutOver(next.epoch);
    if (current || suspects.length) {
      this.reparents++;
      this.lastReparentAt = this.#host.now();
    }
    this.#log.info("mesh parent", {
      path: this.stream.path,
      parent: next.parent.node,
      previous: current?.parent.node ?? suspects[0] ?? null,
      depth: join.depth,
    });
    this.stream.setState("ready");
    if (current) {
      this.#host.route(current.streamId, null);
      // The same parent in a new epoch replaced the old subscription with the new one: nothing to end.
      if (current.parent.node !== next.parent.node && current.parent.node !== this.#second?.parent.node) {
        await this.#host.unsubscribe(current.parent, this.stream.path).catch(() => {});
      }
    }
  }
}
