/**
 * The parent side of the mesh as the peer protocol reaches it: subscriptions of child relays to streams flowing
 * here. The {@linkcode ChildTable} keeps who subscribed with which stream id and when each was last heard; this
 * shell puts a mesh egress on each track of the stream for each child (media goes to the mesh address discovery
 * gives, never to one a body names), holds one stream reference per child and drops silent children.
 * @module
 */
import type { Clock } from "../clock.ts";
import type { Logger } from "../log.ts";
import type { StreamHub } from "../relay/hub.ts";
import type { Stream } from "../relay/stream.ts";
import { childEgressId, type ChildSub, ChildTable } from "./child_table.ts";
import { MeshEgress } from "./mesh_egress.ts";
import type { FailureDetector } from "./failure_detector.ts";
import { fromHex, incarnationBytes, toHex } from "./mesh_incarnation.ts";
import type { MeshPort } from "./mesh_io.ts";
import { PeerError } from "./mesh_peer_client.ts";
import type { SelfRef, SubscribeRequest, SubscribeResponse } from "./mesh_protocol.ts";
import type { MeshOpener, MeshSealer } from "./mesh_seal.ts";
import type { MeshPacket } from "./mesh_frame.ts";
import type { NackSettings } from "./mesh_options.ts";
import type { PeerTrust } from "./peer_trust.ts";
import { RetransmitBudget } from "./retransmit_budget.ts";
import { encodeGenericNack, parseGenericNack } from "../rtp/rtcp_nack.ts";

/** What the parent side needs from the mesh. */
export interface MeshParentHost {
  readonly self: SelfRef;
  hub(): StreamHub | null;
  /** True while this relay drains (it takes no new children). */
  draining(): boolean;
  /** Sealing, once the mesh started with keys. */
  security(): { sealer: MeshSealer; opener: MeshOpener } | null;
  readonly detector: FailureDetector;
  /** The mesh port, once open. */
  port(): MeshPort | null;
  /** The epoch whose numbering this relay forwards `path` in (as the root, or as fed by its parent), or null. */
  epochOf(path: string): string | null;
  /**
   * Waits up to `ms` for this relay to forward `path` in `epoch` (a child that joined a new root subscribing before
   * this relay re-joined it). @returns the epoch it forwards in then
   */
  reachEpoch(path: string, epoch: string, ms: number): Promise<string | null>;
  /** Asks a child let go to join `path` again now (it need not wait for its parent's silence). */
  askRejoin(child: SelfRef, path: string): void;
  readonly now: Clock;
  /** Who sent a datagram: a NACK counts only from the child its stream id was given by. */
  readonly trust: Pick<PeerTrust, "fromPeer">;
  /** Per-hop retransmission, or null when off (`--no-mesh-nack`). */
  readonly nack: NackSettings | null;
}

/** What became of the sequence numbers children asked for (`msm_mesh_retransmits_total{event}`). */
export interface RetransmitCounts {
  /** Numbers asked for in NACKs this relay accepted. */
  requested: number;
  /** Packets sent again. */
  sent: number;
  /** Numbers not kept here (never received, too old, another numbering). */
  unavailable: number;
  /** Numbers over the child's credit (`--mesh-nack-max-ratio`): not sent. */
  capped: number;
  /** NACKs refused: malformed, for a track the stream lacks, or with retransmission off. */
  refused: number;
  /** Numbers answered as gone: this relay moved past them without having them (the child stops waiting). */
  gone: number;
}

/** Most numbers one NACK may name (more are left out): a parent keeps 1,024 packets per track at most. */
export const MAX_NACK_SEQS = 1024;
/** Retransmissions a child may get at once, whatever it saved (the credit's burst). */
export const RETRANSMIT_BURST = 64;

/**
 * How long a subscribe naming an epoch this relay does not forward yet waits for it (this relay re-joining the new
 * root) before it is answered 409; under the caller's 2 s call timeout.
 */
export const EPOCH_WAIT_MS = 1000;

/** Child subscriptions and their egresses. */
export class MeshParent {
  readonly #host: MeshParentHost;
  readonly #log: Logger;
  /** Who subscribed to what. */
  readonly children: ChildTable = new ChildTable();
  /** What children asked for again, and what they got. */
  readonly retransmits: RetransmitCounts = {
    requested: 0,
    sent: 0,
    unavailable: 0,
    capped: 0,
    refused: 0,
    gone: 0,
  };
  /** Each child track's retransmission credit, by egress id. */
  readonly #budgets = new Map<string, RetransmitBudget>();

  /**
   * @param host the mesh
   * @param logger log
   */
  constructor(host: MeshParentHost, logger: Logger) {
    this.#host = host;
    this.#log = logger;
  }

  /**
   * Subscribes `req.from` (as discovery gives it) to `req.path`: its egresses are on every track when this returns.
   * @returns the answer: the tracks, this relay's incarnation and, with keys, its sealer's salt
   * @throws {PeerError} 404 for a path with no stream here, 503 while draining or not flowing, 409 for another epoch
   */
  async subscribe(req: SubscribeRequest): Promise<SubscribeResponse> {
    if (this.#host.draining()) throw new PeerError(503, "This relay is draining");
    const stream = this.#host.hub()?.get(req.path);
    if (!stream) throw new PeerError(404, `No stream at "${req.path}" here`);
    if (!stream.description || stream.tracks.length === 0) {
      throw new PeerError(503, `"${req.path}" is not flowing here yet`);
    }
    let epoch = this.#host.epochOf(req.path);
    if (epoch !== req.epoch) epoch = await this.#host.reachEpoch(req.path, req.epoch, EPOCH_WAIT_MS);
    if (epoch !== req.epoch) {
      // The child joined under another root (or another run of it) than this relay forwards: it re-joins.
      throw new PeerError(
        409,
        `"${req.path}" flows here in epoch ${epoch ?? "(none yet)"}, not ${req.epoch}: join the root again`,
      );
    }
    if (stream.closed) throw new PeerError(503, `"${req.path}" closed here`);
    this.#attach(stream, req.from, req.streamId, req.burst, epoch);
    this.#host.detector.heard(req.from.node);
    // Signed by a key holder: expect its sealer's packets, and tell it what to seal for and what we seal under.
    const security = this.#host.security();
    if (req.salt) security?.opener.announce(fromHex(req.salt));
    const salt = security ? { salt: toHex(security.sealer.salt) } : {};
    const worker = security?.sealer.workerSalt;
    const planeSalt = worker ? { planeSalt: toHex(worker) } : {};
    return { tracks: stream.tracks.length, incarnation: this.#host.self.incarnation, ...salt, ...planeSalt };
  }

  /**
   * Ends `node`'s subscription to `path`.
   * @returns false when it had none
   */
  unsubscribe(path: string, node: string): boolean {
    const sub = this.children.remove(path, node);
    if (!sub) return false;
    this.#detach(path, sub);
    this.#log.info("mesh child left", { path, child: node });
    return true;
  }

  /**
   * This relay forwards `path` in `epoch`'s numbering from now on (null: none from the mesh). The children
   * subscribed in another epoch must not get it (one numbering per epoch: their duplicate filters and re-bases
   * follow their epoch): they are let go and asked to join again.
   */
  keepEpoch(path: string, epoch: string | null): void {
    for (const sub of this.children.childrenOf(path)) {
      if (sub.epoch === epoch) continue;
      this.#log.info("mesh child of another epoch let go", {
        path,
        child: sub.node,
        epoch: sub.epoch,
        now: epoch,
      });
      this.unsubscribe(path, sub.node);
      this.#host.askRejoin(sub.ref, path);
    }
  }

  /**
   * A NACK frame from the mesh port: answered from the track's kept packets, up to the child's credit.
   * @returns false when no child subscribed here with its stream id from where it came (the router refuses it)
   */
  nack(packet: MeshPacket, from: Deno.NetAddr): boolean {
    const entry = this.children.byStreamId(packet.streamId).find((e) =>
      this.#host.trust.fromPeer(from, e.sub.node)
    );
    if (!entry) return false;
    const counts = this.retransmits;
    const settings = this.#host.nack;
    const egressId = entry.sub.egressIds[packet.track];
    const track = this.#host.hub()?.get(entry.path)?.tracks[packet.track];
    const parsed = parseGenericNack(packet.payload, MAX_NACK_SEQS);
    if (!settings || !egressId || !track || typeof parsed === "string") {
      counts.refused++;
      return true;
    }
    counts.requested += parsed.seqs.length;
    let budget = this.#budgets.get(egressId);
    if (!budget) {
      this.#budgets.set(egressId, budget = new RetransmitBudget(settings.maxRatio, RETRANSMIT_BURST));
    }
    const granted = budget.grant(parsed.seqs.length, track.counters.packetsIn);
    counts.capped += parsed.seqs.length - granted;
    if (granted === 0) return true;
    const { sent, unavailable, gone } = track.resend(
      egressId,
      granted < parsed.seqs.length ? parsed.seqs.slice(0, granted) : parsed.seqs,
    );
    counts.sent += sent;
    counts.unavailable += unavailable;
    if (gone.length > 0) {
      // Numbers this relay moved past without them (lost above, or given up here): the child stops waiting, so a
      // loss at the camera or high in the tree does not cost every hop below its latency budget.
      const notice = encodeGenericNack({ senderSsrc: 0, mediaSsrc: parsed.mediaSsrc, seqs: gone });
      this.#host.port()?.send(
        entry.sub.to,
        entry.sub.incarnation,
        "gone",
        packet.streamId,
        packet.track,
        notice,
      );
      counts.gone += gone.length;
    }
    return true;
  }

  /** A heartbeat of `node` arrived: its subscriptions are alive. */
  heard(node: string): void {
    this.children.heard(node, this.#host.now());
  }

  /** Drops the children silent for more than `timeoutMs`. */
  sweep(timeoutMs: number): void {
    for (const { path, sub } of this.children.silent(this.#host.now(), timeoutMs)) {
      this.#log.warn("mesh child silent, dropping it", { path, child: sub.node });
      this.unsubscribe(path, sub.node);
    }
  }

  /** Ends every subscription. */
  close(): void {
    for (const [path, sub] of [...this.children.entries()]) this.unsubscribe(path, sub.node);
  }

  #attach(stream: Stream, from: SelfRef, streamId: number, burst: boolean, epoch: string): void {
    const to: Deno.NetAddr = { transport: "udp", hostname: from.host, port: from.meshPort };
    const incarnation = incarnationBytes(from.incarnation);
    const egressIds = stream.tracks.map((t) => childEgressId(from.node, streamId, t.index));
    const sub: ChildSub = {
      node: from.node,
      ref: from,
      to,
      incarnation,
      streamId,
      epoch,
      egressIds,
      lastHeard: 0,
    };
    sub.lastHeard = this.#host.now();
    const previous = this.children.add(stream.path, sub);
    if (previous) this.#removeEgresses(stream, previous);
    else stream.retain();
    const port = this.#host.port()!;
    const nack = this.#host.nack;
    for (const track of stream.tracks) {
      const id = childEgressId(from.node, streamId, track.index);
      // Kept as long as the child may still ask: a repair given up there is not worth sending.
      if (nack) track.keepForRetransmit({ maxAgeMs: nack.budgetMs * 2.5, packets: 1024 });
      track.addEgress(new MeshEgress(id, port, to, incarnation, streamId, track.index), { burst });
    }
    this.#host.detector.peerExpected(this.#host.now());
    this.#log.info("mesh child subscribed", { path: stream.path, child: from.node, burst });
  }

  #detach(path: string, sub: ChildSub): void {
    const stream = this.#host.hub()?.get(path);
    if (!stream) return;
    this.#removeEgresses(stream, sub);
    stream.release();
  }

  #removeEgresses(stream: Stream, sub: ChildSub): void {
    for (const track of stream.tracks) for (const id of sub.egressIds) track.removeEgress(id);
    for (const id of sub.egressIds) this.#budgets.delete(id);
  }
}
