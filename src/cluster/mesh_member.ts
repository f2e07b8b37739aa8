/**
 * The member side of the mesh: the streams this relay reads from other relays, one {@linkcode MeshSource} each,
 * and what they ask of the mesh ({@linkcode MeshSourceHost}): the root of a path, joins, batched renewals (one
 * call per root per lease), subscriptions to parents, stream-id routes. It also keeps what the parents' signed
 * answers said (their incarnations, which heartbeats are sealed for) and hurries the sources whose root moved.
 * @module
 */
import type { Clock, Timers } from "../clock.ts";
import type { Logger } from "../log.ts";
import type { StreamHub } from "../relay/hub.ts";
import type { Stream } from "../relay/stream.ts";
import type { ChildTable } from "./child_table.ts";
import type { FailureDetector } from "./failure_detector.ts";
import { fromHex, incarnationBytes, toHex } from "./mesh_incarnation.ts";
import type { MeshPeerClient } from "./mesh_peer_client.ts";
import type { HopFigures, JoinResponse, PeerRef, RenewItem, RenewResult, SelfRef } from "./mesh_protocol.ts";
import type { MeshOpener, MeshSealer } from "./mesh_seal.ts";
import { MeshSource, type MeshSourceHost } from "./mesh_source.ts";
import type { PeerTrust } from "./peer_trust.ts";
import { RenewBatcher } from "./renew_batcher.ts";
import { locateConfigured, type RootFound, type RootLookup, type RootQuery } from "./root_lookup.ts";
import type { StreamRouter } from "./stream_router.ts";
import type { NackSettings } from "./mesh_options.ts";
import type { MeshPort } from "./mesh_io.ts";
import type { StandbyDeliver, StandbyFeed } from "./standby_feed.ts";

/** Options of {@linkcode MeshMember}: the mesh's parts it works with. */
export interface MeshMemberOptions {
  readonly self: SelfRef;
  readonly timers: Timers;
  readonly now: Clock;
  hub(): StreamHub | null;
  readonly client: MeshPeerClient;
  readonly trust: PeerTrust;
  readonly lookup: RootLookup;
  /** What this relay knows of `path` when it looks for its root. */
  query(path: string): RootQuery;
  readonly router: StreamRouter;
  readonly detector: FailureDetector;
  /** The children fed from here (they hold stream references that are not local readers). */
  readonly children: ChildTable;
  /** Sealing, once the mesh started with keys. */
  security(): { sealer: MeshSealer; opener: MeshOpener } | null;
  leaseMs: number;
  parentTimeoutMs: number;
  /** Wait of a root for its source; a join's timeout adds 2 s. */
  rootReadyMs: number;
  /** Per-hop retransmission, or null when off. */
  readonly nack: NackSettings | null;
  /** The mesh port, once open. */
  port(): MeshPort | null;
  /** A source forwards `path` in `epoch`'s numbering from now on (see {@linkcode MeshSourceHost.forwarding}). */
  onForwarding(path: string, epoch: string | null): void;
  /** See {@linkcode MeshSourceHost.standbyFor}. */
  standbyFor(path: string, root: string): boolean;
  /** See {@linkcode MeshSourceHost.openStandby}. */
  openStandby(stream: Stream, deliver: StandbyDeliver): StandbyFeed | null;
  logger: Logger;
}

/** This relay as a member of other relays' trees. */
export class MeshMember implements MeshSourceHost {
  readonly self: SelfRef;
  readonly timers: Timers;
  readonly #opts: MeshMemberOptions;
  readonly #batcher: RenewBatcher;
  /** One source per path read through the mesh. */
  readonly sources = new Map<string, MeshSource>();
  /** The incarnation of each parent, as its signed subscribe answer gave it: heartbeats are sealed for it. */
  readonly #parentIncarnations = new Map<string, Uint8Array>();

  /** @param options the mesh's parts and timings */
  constructor(options: MeshMemberOptions) {
    this.#opts = options;
    this.self = options.self;
    this.timers = options.timers;
    this.#batcher = new RenewBatcher({
      timers: options.timers,
      now: options.now,
      periodMs: options.leaseMs,
      send: (root, paths) => options.client.renew(root, { from: this.self, deaf: this.deaf(), paths }),
    });
  }

  standbyFor(path: string, root: string): boolean {
    return this.#opts.standbyFor(path, root);
  }

  openStandby(stream: Stream, deliver: StandbyDeliver): StandbyFeed | null {
    return this.#opts.openStandby(stream, deliver);
  }

  /** The source of a stream fed by a parent relay (the hub's resolver hands it out). */
  createSource(stream: Stream): MeshSource {
    const source = new MeshSource(stream, this, this.#opts.logger.child("mesh-source"), {
      leaseMs: this.#opts.leaseMs,
      parentTimeoutMs: this.#opts.parentTimeoutMs,
    });
    this.sources.set(stream.path, source);
    return source;
  }

  // ---- MeshSourceHost -------------------------------------------------------------------------------------

  now(): number {
    return this.#opts.now();
  }

  deaf(): boolean {
    return this.#opts.detector.deaf;
  }

  get nack(): NackSettings | null {
    return this.#opts.nack;
  }

  sendNack(parent: PeerRef, streamId: number, track: number, nack: Uint8Array): boolean {
    const p = this.#opts.trust.trustedRef(parent);
    const incarnation = p && this.#parentIncarnations.get(p.node);
    const port = this.#opts.port();
    if (!p || !incarnation || !port) return false;
    port.send(
      { transport: "udp", hostname: p.host, port: p.meshPort },
      incarnation,
      "nack",
      streamId,
      track,
      nack,
    );
    return true;
  }

  newStreamId(): number {
    return this.#opts.router.newStreamId();
  }

  route(streamId: number, source: MeshSource | null): void {
    this.#opts.router.route(streamId, source);
    if (source) this.#opts.detector.peerExpected(this.#opts.now());
  }

  forwarding(path: string, epoch: string | null): void {
    this.#opts.onForwarding(path, epoch);
  }

  readersOf(stream: Stream): number {
    return Math.max(0, stream.refs - this.#opts.children.count(stream.path));
  }

  async findRoot(path: string): Promise<RootFound> {
    const found = await this.#opts.lookup.find(this.#opts.query(path));
    if (!("rootedHere" in found)) return found;
    // The root moved here (the relay that had it left): pull the camera ourselves, readers stay.
    queueMicrotask(() => this.#opts.hub()?.rehome(path));
    return { missing: found.missing, status: found.status };
  }

  async join(
    root: PeerRef,
    path: string,
    readers: number,
    suspects: string[],
    standby = false,
    hop?: HopFigures,
  ): Promise<JoinResponse> {
    // A relay that hears nothing blames no one: its own port is the likelier fault.
    const deaf = this.deaf();
    const body = {
      path,
      from: this.self,
      readers,
      suspects: deaf ? [] : suspects,
      deaf,
      standby,
      ...(hop ? { hop } : {}),
    };
    return await this.#opts.client.join(root, body, this.#opts.rootReadyMs + 2000);
  }

  renew(root: PeerRef, item: RenewItem, signal: AbortSignal): Promise<RenewResult> {
    return this.#batcher.renew(root, item, signal);
  }

  async subscribe(
    parent: PeerRef,
    path: string,
    streamId: number,
    burst: boolean,
    epoch: string,
  ): Promise<void> {
    const security = this.#opts.security();
    const salt = security ? { salt: toHex(security.sealer.salt) } : {};
    const body = { path, from: this.self, streamId, burst, epoch, ...salt };
    const answer = await this.#opts.client.subscribe(parent, body);
    // Signed by the parent: its incarnation is what our heartbeats are sealed for, its salt what it seals under.
    this.#parentIncarnations.set(parent.node, incarnationBytes(answer.incarnation));
    if (answer.salt) security?.opener.announce(fromHex(answer.salt));
    if (answer.planeSalt) security?.opener.announce(fromHex(answer.planeSalt));
  }

  async unsubscribe(parent: PeerRef, path: string): Promise<void> {
    await this.#opts.client.call(parent, "unsubscribe", { path, node: this.self.node });
  }

  async leave(root: PeerRef, path: string): Promise<void> {
    if (this.sources.get(path)?.stream.closed) this.sources.delete(path);
    await this.#opts.client.call(root, "leave", { path, node: this.self.node });
  }

  // ---- for the mesh ---------------------------------------------------------------------------------------

  /** The epoch whose numbering the source of `path` forwards now, or null. */
  forwardingOf(path: string): string | null {
    return this.sources.get(path)?.forwarding ?? null;
  }

  /**
   * Waits up to `ms` for the source of `path` to forward `epoch`'s numbering (a child that joined a new root
   * subscribing before this relay re-joined it, or before its new parent's first packet): the source re-joins now.
   * @param wait resolves after the given ms on the mesh's timers
   * @returns the epoch forwarded then
   */
  async reachEpoch(
    path: string,
    epoch: string,
    ms: number,
    wait: (ms: number) => Promise<void>,
  ): Promise<string | null> {
    const source = this.sources.get(path);
    if (!source) return null;
    if (source.epoch !== epoch) source.renewNow();
    const deadline = this.#opts.now() + ms;
    while (source.forwarding !== epoch && this.#opts.now() < deadline && !source.stream.closed) {
      await wait(25);
    }
    return source.forwarding;
  }

  /** The view changed: a source whose root moved (or died) re-joins now, not at its next renewal. */
  viewChanged(): void {
    for (const source of this.sources.values()) if (this.#rootMoved(source)) source.renewNow();
  }

  /** A draining parent asks this relay to move: true when `node` feeds `path` here (the source re-joins now). */
  rejoin(path: string, node: string): boolean {
    const source = this.sources.get(path);
    if (!source || source.parent?.node !== node) return false;
    source.renewNow();
    return true;
  }

  /** A heartbeat of `node` arrived. */
  heard(node: string): void {
    for (const source of this.sources.values()) source.onHeartbeat(node);
  }

  /** The watchdog: sources whose parent fell silent re-parent. */
  checkParents(): void {
    for (const source of this.sources.values()) source.checkParent();
  }

  /** Draining: keep the parents, stop renewing. */
  freeze(): void {
    for (const source of this.sources.values()) source.freeze();
  }

  /** The parents feeding this relay now (each heartbeats it). */
  parents(): Set<string> {
    const out = new Set<string>();
    for (const source of this.sources.values()) {
      if (source.parent) out.add(source.parent.node);
      if (source.secondParent) out.add(source.secondParent.node);
    }
    return out;
  }

  /** Where to send heartbeats to parents: their mesh address and incarnation, for those whose answer said it. */
  heartbeatTargets(): Array<{ to: Deno.NetAddr; incarnation: Uint8Array }> {
    const out: Array<{ to: Deno.NetAddr; incarnation: Uint8Array }> = [];
    for (const source of this.sources.values()) {
      for (const parent of [source.parent, source.secondParent]) {
        const p = parent && this.#opts.trust.trustedRef(parent);
        const incarnation = p && this.#parentIncarnations.get(p.node);
        if (p && incarnation) {
          out.push({ to: { transport: "udp", hostname: p.host, port: p.meshPort }, incarnation });
        }
      }
    }
    return out;
  }

  /** Forgets sources of closed streams and incarnations of relays that feed nothing here any more. */
  sweep(): void {
    for (const [path, source] of this.sources) if (source.stream.closed) this.sources.delete(path);
    const parents = this.parents();
    for (const node of this.#parentIncarnations.keys()) {
      if (!parents.has(node)) this.#parentIncarnations.delete(node);
    }
  }

  /**
   * For each stream this relay forwards to children and does not root: tells the root (it leaves, when draining;
   * it is deaf, otherwise: the root plans around it), then asks the children to re-join elsewhere now.
   */
  async moveChildren(leaving: boolean): Promise<void> {
    const { children, client } = this.#opts;
    const self = this.self.node;
    await Promise.all(
      children.paths().map(async (path) => {
        const source = this.sources.get(path);
        const root = source?.root;
        if (!source || !root) return; // rooted here: there is no other way in for its children
        const told = leaving
          ? client.call(root, "leave", { path, node: self })
          : this.join(root, path, this.readersOf(source.stream), []);
        await told.catch(() => {});
        const asks = children.childrenOf(path).map((sub) =>
          client.call(sub.ref, "rejoin", { path, node: self })
        );
        await Promise.all(asks.map((ask) => ask.catch(() => {})));
      }),
    );
  }

  /** Fails the renewals waiting for their roots' next calls. */
  close(): void {
    this.#batcher.close();
  }

  /** True when the root `source` joined is no longer the one the view gives (or no longer live). */
  #rootMoved(source: MeshSource): boolean {
    const joined = source.root;
    if (!joined) return false;
    const query = this.#opts.query(source.stream.path);
    if (query.url === undefined) return !query.live.some((p) => p.node === joined.node);
    const loc = locateConfigured({ ...query, url: query.url });
    return loc.kind === "root" && loc.node !== joined.node;
  }
}
