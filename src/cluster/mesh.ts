/**
 * The mesh of relays: one relay's part, as orchestration of parts that each own one concern. It implements the
 * hub's {@linkcode RemoteResolver} (paths rooted elsewhere become {@linkcode MeshSource}s) and serves the peer
 * protocol under `/mesh/v1` (mesh_routes.ts, mesh_protocol.ts).
 *
 * Design: every relay can tell the root of a camera path from the shared view (root_lookup.ts); the root alone
 * plans each stream's tree (mesh_root.ts over root_authority.ts), so there is one authority per stream. Members
 * (mesh_member.ts, one mesh_source.ts per stream) renew their joins every lease, all paths to one root in one
 * call (renew_batcher.ts), and learn re-assignments
 * from the answer; a child whose parent falls silent for 600 ms re-joins at once naming the parent as suspect
 * (failure_detector.ts), and the root re-plans without it. Parents feed their children (mesh_parent.ts over
 * child_table.ts); packets go from the mesh port straight to the stream-id router (stream_router.ts).
 * @module
 */
import type { Hono } from "hono";
import { type Clock, monotonicMs, realTimers, type TimerHandle, type Timers } from "../clock.ts";
import { contained } from "../contain.ts";
import type { Logger } from "../log.ts";
import type { RemoteResolver, StreamHub } from "../relay/hub.ts";
import type { Stream } from "../relay/stream.ts";
import type { Discovery, Peer } from "./discovery.ts";
import { FailureDetector } from "./failure_detector.ts";
import { NonceCache } from "./mesh_auth.ts";
import { MeshHttp } from "./mesh_http.ts";
import { incarnationBytes, newIncarnation, toHex } from "./mesh_incarnation.ts";
import type { MeshPort, OpenMeshPort, PeerTransport } from "./mesh_io.ts";
import type { MeshKeyring } from "./mesh_keys.ts";
import { MeshMember } from "./mesh_member.ts";
import {
  DEFAULT_NACK_SETTINGS,
  MESH_TIMINGS,
  type MeshOptions,
  type MeshRejections,
  type MeshTimings,
} from "./mesh_options.ts";
import { MeshParent, type RetransmitCounts } from "./mesh_parent.ts";
import { MeshPeerClient } from "./mesh_peer_client.ts";
import type { SelfRef } from "./mesh_protocol.ts";
import { MeshRefusals } from "./mesh_refusals.ts";
import { MeshRoot } from "./mesh_root.ts";
import { meshRoutes } from "./mesh_routes.ts";
import { emptyRejectCounts, gcmBackendName, MeshOpener, MeshSealer } from "./mesh_seal.ts";
import { MeshSocket } from "./mesh_socket.ts";
import { PeerPaths } from "./peer_paths.ts";
import { PeerTrust } from "./peer_trust.ts";
import type { PlanView } from "./root_authority.ts";
import { directPullUrl, serviceOf } from "./root_locator.ts";
import {
  awaitServiceEndpoints,
  locateConfigured,
  locateStandby,
  refOf,
  RootLookup,
  type RootQuery,
} from "./root_lookup.ts";
import { StandbyFeed } from "./standby_feed.ts";
import { StreamRouter } from "./stream_router.ts";
import { SuspectProbes } from "./suspect_probes.ts";
import { peersView, type PeerView, treeView } from "./mesh_views.ts";

export type { MeshOptions, MeshRejections } from "./mesh_options.ts";

/** One relay's part of the mesh. */
export class Mesh {
  readonly self: SelfRef;
  /** Timers of this mesh (heartbeats, watchdogs, sweeps, renewals, waits). */
  readonly timers: Timers;
  readonly #opts: MeshOptions & MeshTimings;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #wallClock: () => number;
  readonly #discovery: Discovery;
  #ring: MeshKeyring | null;
  readonly #transport: PeerTransport;
  readonly #nonces = new NonceCache();
  #security: { sealer: MeshSealer; opener: MeshOpener } | null = null;
  readonly #trust: PeerTrust;
  readonly #detector: FailureDetector;
  readonly #refusals: MeshRefusals;
  readonly #client: MeshPeerClient;
  readonly #paths: PeerPaths;
  readonly #lookup: RootLookup;
  readonly #root: MeshRoot;
  readonly #parent: MeshParent;
  readonly #router: StreamRouter;
  readonly #member: MeshMember;
  #hub: StreamHub | null = null;
  #port: MeshPort | null = null;
  #repeating: TimerHandle[] = [];
  readonly #probes: SuspectProbes;
  #closed = false;
  #draining = false;
  /** The roots' views of whole trees, as members last asked for them (a dashboard polls every second). */
  readonly #wholeTrees = new Map<
    string,
    { root: string; at: number; tree: Record<string, unknown> | null }
  >();
  /** Streams held open here as their standby root (dual protection), whether or not a reader here wants them. */
  readonly #standbyHolds = new Map<string, Stream>();

  /** @param options identity, discovery, fan-out, timing and I/O */
  constructor(options: MeshOptions) {
    const opts = this.#opts = { ...MESH_TIMINGS, ...options };
    const node = options.self.node;
    this.self = { ...refOf(options.self), incarnation: options.incarnation ?? newIncarnation() };
    const log = this.#log = options.logger;
    this.#discovery = options.discovery;
    this.#ring = options.keys ?? null;
    const now = this.#clock = options.clock ?? monotonicMs;
    this.#wallClock = options.wallClock ?? Date.now;
    this.timers = options.timers ?? realTimers;
    this.#transport = options.transport ?? new MeshHttp(() => this.#ring, options.localAddress);
    const trust = this.#trust = new PeerTrust({
      self: node,
      discovery: options.discovery,
      keyed: () => !!this.#ring,
    });
    const detector = this.#detector = new FailureDetector({
      self: node,
      suspectHoldMs: opts.suspectHoldMs,
      silenceMs: opts.parentTimeoutMs,
      now: now(),
    });
    this.#refusals = new MeshRefusals(log, now);
    const client = this.#client = new MeshPeerClient({
      transport: this.#transport,
      trust,
      logger: log,
      onUnreachable: (n) => this.#suspect(n),
      onHeard: (n) => detector.heard(n),
    });
    this.#paths = new PeerPaths({ self: node, now, logger: log, fetch: (n) => client.paths(n) });
    this.#probes = new SuspectProbes({
      self: node,
      now,
      logger: log,
      detector,
      paths: this.#paths,
      askPaths: (n) => client.paths(n),
      peers: () => this.#discovery.peers().map((p) => p.node),
      pulls: () => this.#hub?.pulls() ?? null,
      query: (path) => this.#query(path),
      suspect: (n) => this.#suspect(n),
      rootsMayHaveMoved: () => this.#rootsMayHaveMoved(),
      closed: () => this.#closed,
    });
    this.#lookup = new RootLookup({ now, ask: (p, path) => client.servesRoot(p, path) });
    const hub = () => this.#hub;
    const nack = options.nack === undefined ? DEFAULT_NACK_SETTINGS : options.nack;
    this.#root = new MeshRoot({
      self: this.self,
      hub,
      detector,
      suspect: (n) => this.#suspect(n),
      planView: () => this.#planView(),
      draining: () => this.#draining,
      standbyOf: (path) => this.#standbyOf(path, this.self.node),
      now,
    }, {
      fanout: options.fanout,
      leaseMs: opts.leaseMs,
      rootReadyMs: opts.rootReadyMs,
      logger: log,
      protection: options.protection ?? "none",
      ...(options.pathProtection ? { pathProtection: options.pathProtection } : {}),
    });
    this.#parent = new MeshParent({
      self: this.self,
      hub,
      draining: () => this.#draining,
      security: () => this.#security,
      detector,
      port: () => this.#port,
      epochOf: (path) => this.#epochOf(path),
      reachEpoch: (path, epoch, ms) =>
        this.#root.authority.has(path)
          ? Promise.resolve(this.#epochOf(path))
          : this.#member.reachEpoch(path, epoch, ms, (w) => this.#wait(w)),
      askRejoin: (child, path) => void client.call(child, "rejoin", { path, node }).catch(() => {}),
      now,
      trust,
      nack,
    }, log);
    this.#router = new StreamRouter({
      trust,
      onNack: (packet, from) => this.#parent.nack(packet, from),
      onHeard: () => detector.packetArrived(now()),
      onHeartbeat: (n) => {
        detector.heard(n);
        this.#member.heard(n);
        this.#parent.heard(n);
      },
      onSpoofed: (from, message) =>
        this.#refusals.log("mesh packet refused", "unexpected_source", from.hostname, message),
    });
    this.#member = new MeshMember({
      ...opts,
      self: this.self,
      timers: this.timers,
      now,
      hub,
      client,
      trust,
      lookup: this.#lookup,
      query: (path) => this.#query(path),
      router: this.#router,
      detector,
      children: this.#parent.children,
      security: () => this.#security,
      onForwarding: (path, epoch) => this.#parent.keepEpoch(path, epoch),
      standbyFor: (path, root) => this.#standbyOf(path, root) === node,
      openStandby: (stream, deliver) => {
        const session = this.#hub?.shadowPull(stream.path);
        return session ? new StandbyFeed(session, deliver, this.timers, log.child("standby")) : null;
      },
      nack,
      port: () => this.#port,
    });
  }

  /** Binds the mesh port and starts heartbeats and watchdogs. The hub must be attached first. */
  async start(hub: StreamHub): Promise<void> {
    this.#hub = hub;
    if (this.#ring) {
      const encrypt = this.#opts.encrypt ?? true;
      const opener = new MeshOpener(this.#ring, incarnationBytes(this.self.incarnation));
      this.#security = { sealer: new MeshSealer(this.#ring, { encrypt }), opener };
      this.#log.info("mesh sealed", {
        encrypt,
        aesGcm: gcmBackendName(),
        keys: this.#ring.keys.map((k) => k.fingerprint),
        incarnation: this.self.incarnation,
      });
    }
    const open: OpenMeshPort = this.#opts.openPort ?? ((host, port, sec) => new MeshSocket(host, port, sec));
    this.#port = open(this.#opts.bindHost, this.#opts.self.meshPort, this.#security);
    this.#port.onPacket = this.#router.receive;
    this.#port.onReject = (r, from) =>
      this.#refusals.log("mesh packet refused", r.reason, from.hostname, r.message);
    await this.#discovery.start();
    // Cameras named by Service: their endpoints first (bounded wait), so the first readers find the root at once.
    const wait = (ms: number) => this.#wait(ms);
    const services = await awaitServiceEndpoints(hub.pulls(), this.#discovery, this.#clock, wait);
    if (services.length > 0) this.#log.warn("camera Services without ready endpoints yet", { services });
    // Before the first readers: learn which peers are configured with which cameras (bounded wait).
    await Promise.race([this.#probes.refreshPaths(), this.#wait(2000)]);
    this.#every(this.#opts.heartbeatMs, "mesh heartbeat", () => this.#heartbeat());
    this.#every(100, "mesh watchdog", () => {
      this.#checkHearing();
      this.#member.checkParents();
    });
    this.#every(500, "mesh sweep", () => this.#sweep());
    this.#every(1000, "mesh paths", () => {
      void this.#probes.refreshPaths();
      this.#keepStandbys();
    });
    this.#discovery.onChange(() => this.#rootsMayHaveMoved());
  }

  /** The bound mesh port. */
  get meshPort(): number {
    return this.#port?.port ?? 0;
  }

  /** True once the port is bound and discovery synced. */
  get ready(): boolean {
    return this.#port !== null && this.#discovery.synced;
  }

  /** The hub's resolver for paths rooted elsewhere. */
  readonly resolver: RemoteResolver = {
    isLocalRoot: (path, url) => {
      const loc = locateConfigured({ ...this.#query(path), url });
      // Undecided (a Service without endpoints yet): not here, or every relay would pull the camera.
      if (loc.kind === "none") return true;
      return loc.kind === "root" && loc.node === this.self.node;
    },
    mayServeRemotely: () => this.livePeers().some((p) => p.node !== this.self.node),
    createSource: (stream) => this.#member.createSource(stream),
  };

  /** The URL this relay (the root) pulls for a configured camera: a Service's host becomes its pod here. */
  pullUrl(url: string): string {
    const service = serviceOf(url);
    if (!service) return url;
    return directPullUrl(
      url,
      this.self.node,
      this.#discovery.serviceEndpoints(service.namespace, service.name),
    );
  }

  /** Ready peers not suspected of being dead, self included. */
  livePeers(): Peer[] {
    const now = this.#clock();
    const peers = this.#discovery.peers();
    const live = peers.filter((p) =>
      p.node !== this.self.node && p.ready && !this.#detector.suspected(p.node, now)
    );
    // This relay is live by definition, whatever discovery says of its pod yet.
    const self = peers.find((p) => p.node === this.self.node) ?? this.#opts.self;
    return [...live, self].sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : 0));
  }

  /** See {@linkcode MeshOptions}: true while this relay's mesh port hears nothing (failure_detector.ts). */
  deaf(): boolean {
    return this.#detector.deaf;
  }

  /** Peers as this relay sees them, for the admin API. */
  peersView(): PeerView[] {
    const live = new Set(this.livePeers().map((p) => p.node));
    const now = this.#clock();
    const until = (n: string) => this.#detector.suspectedUntil(n, now);
    return peersView(this.#discovery.peers(), this.self.node, live, until, now, this.#wallClock());
  }

  /** This relay's place in the tree of `path`, for the admin API; null when it has no part in it. */
  treeView(path: string): Record<string, unknown> | null {
    return treeView({
      path,
      self: this.self.node,
      tree: this.#root.treeView(path),
      source: this.#member.sources.get(path),
      children: this.#parent.children.childrenOf(path).map((c) => c.node),
      epoch: this.#epochOf(path),
    });
  }

  /** At a member: the root's view of `path`'s whole tree, asked of the root at most once a second per path. */
  async wholeTree(path: string): Promise<Record<string, unknown> | null> {
    const root = this.#member.sources.get(path)?.root;
    if (!root) return null;
    const now = this.#clock();
    const cached = this.#wholeTrees.get(path);
    if (cached && cached.root === root.node && now - cached.at < 1000) return cached.tree;
    const tree = await this.#client.rootTree(root, path);
    if (this.#wholeTrees.size > 256) this.#wholeTrees.clear();
    this.#wholeTrees.set(path, { root: root.node, at: now, tree });
    return tree;
  }

  /** Children per path (`msm_mesh_children`). */
  childCounts(): Map<string, number> {
    return this.#parent.children.counts();
  }

  /** What this relay answered its children's NACKs so far. */
  retransmits(): RetransmitCounts {
    return { ...this.#parent.retransmits };
  }

  /** Refused packets and requests so far. */
  rejections(): MeshRejections {
    return {
      packets: { ...(this.#port?.rejected ?? emptyRejectCounts()), ...this.#router.refused },
      requests: this.#refusals.requests,
    };
  }

  /** The peer protocol, to mount at `/mesh/v1`. */
  routes(): Hono {
    return meshRoutes({
      node: this.self.node,
      incarnation: this.self.incarnation,
      ring: () => this.#ring,
      nonces: this.#nonces,
      wallClock: this.#wallClock,
      trust: this.#trust,
      refusals: this.#refusals,
      ownPaths: () => {
        if (this.#hub) this.#paths.setOwn(this.#hub.pulls());
        return this.#paths.own();
      },
      isLocalRoot: (path) => this.#hub?.isLocalRoot(path) ?? false,
      notRootHere: (path) => this.#probes.checkRootOf(path),
      join: (req) => this.#root.join(req),
      renew: (req) => this.#root.renew(req),
      leave: (path, node) => this.#root.leave(path, node),
      subscribe: (req) => this.#parent.subscribe(req),
      rejoin: (path, node) => this.#member.rejoin(path, node),
      unsubscribe: (path, node) => this.#parent.unsubscribe(path, node),
      rootTree: (path) => this.#rootTree(path),
    });
  }

  /**
   * Replaces the cluster keys (a rotated key file): calls and packets are signed with the new first key from now
   * on and every key given is accepted. A relay started without keys stays open until restarted.
   * @returns false when the mesh runs without keys and cannot take them live
   */
  setKeyring(ring: MeshKeyring): boolean {
    if (!this.#ring) return false;
    this.#ring = ring;
    this.#security?.sealer.setKeyring(ring);
    this.#security?.opener.setKeyring(ring);
    return true;
  }

  /**
   * Leaves every tree make-before-break before this relay goes away (SIGTERM): stops renewing its joins, tells
   * each root it leaves (the root plans around it), asks its children to re-join now (they subscribe to their new
   * parent before unsubscribing from this one), and waits until they are gone or `timeoutMs` passes. Keeps
   * forwarding meanwhile.
   * @returns children that moved and children still attached at the end
   */
  async drain(timeoutMs: number): Promise<{ moved: number; remaining: number }> {
    this.#draining = true;
    this.#member.freeze();
    const children = this.#parent.children;
    const before = children.size;
    await this.#member.moveChildren(true);
    const deadline = this.#clock() + timeoutMs;
    while (children.size > 0 && this.#clock() < deadline) await this.#wait(25);
    const remaining = children.size;
    this.#log.info("mesh drained", { moved: before - remaining, remaining });
    return { moved: before - remaining, remaining };
  }

  /** True while draining. */
  get draining(): boolean {
    return this.#draining;
  }

  /** Leaves every tree and closes the port. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const t of this.#repeating) this.timers.clearTimeout(t);
    this.#repeating = [];
    for (const held of this.#standbyHolds.values()) held.release();
    this.#standbyHolds.clear();
    this.#member.close();
    this.#parent.close();
    this.#root.close();
    await this.#discovery.stop();
    this.#port?.close();
    this.#transport.close?.();
  }

  // ---- internals ------------------------------------------------------------------------------------------

  /** Runs `fn` every `ms` until {@linkcode close} (re-armed after each run, so runs never overlap). */
  #every(ms: number, what: string, fn: () => void): void {
    const index = this.#repeating.length;
    const tick = () => {
      if (this.#closed) return;
      contained(what, fn);
      this.#repeating[index] = this.timers.setTimeout(tick, ms);
    };
    this.#repeating.push(this.timers.setTimeout(tick, ms));
  }

  /** Resolves after `ms` on this mesh's timers. */
  #wait(ms: number): Promise<void> {
    return new Promise((resolve) => this.timers.setTimeout(resolve, ms));
  }

  /** What this relay knows of `path` when it looks for its root. */
  #query(path: string): RootQuery {
    return {
      path,
      url: this.#hub?.pulls().get(path),
      live: this.livePeers(),
      self: this.self.node,
      serviceEndpoints: (ns, name) => this.#discovery.serviceEndpoints(ns, name),
      configured: this.#paths.configured(path),
      // A relay whose paths are not known yet counts as maybe configured, unless it has not answered for long.
      known: (n) => !this.#paths.awaited(n),
    };
  }

  /** The cluster as the root's plans see it now. */
  #planView(): PlanView {
    const live = this.livePeers().map((p) => ({ node: p.node, zone: p.zone }));
    return {
      key: `${this.#detector.generation}|${live.map((p) => `${p.node}@${p.zone}`).join(",")}`,
      live,
      noted: (n) => this.#detector.noted(n),
      refOf: (n) => {
        const p = this.#trust.knownPeer(n);
        return p ? refOf(p) : undefined;
      },
    };
  }

  /** Suspects `node` when it may be recorded: a relay discovery knows or a member here (not a made-up name). */
  #suspect(node: string): void {
    if (!this.#trust.knownPeer(node) && !this.#root.authority.isMemberAnywhere(node)) return;
    if (this.#detector.suspect(node, this.#clock())) this.#lookup.forget(node);
  }

  /**
   * The standby root of camera `path` when `root` is its root: with dual protection here, the relay the location
   * rule would choose without `root` (root_lookup.ts); null without protection or without another candidate.
   */
  #standbyOf(path: string, root: string): string | null {
    const url = this.#hub?.pulls().get(path);
    if (url === undefined || this.#root.protectionOf(path) !== "dual") return null;
    return locateStandby({ ...this.#query(path), url }, root);
  }

  /**
   * Holds open the camera streams this relay is the standby root of (its mesh source then joins the tree and pulls
   * the camera too, see mesh_source.ts), and lets go of those it no longer is.
   */
  #keepStandbys(): void {
    const hub = this.#hub;
    if (!hub || this.#closed) return;
    const pulls = hub.pulls();
    for (const [path, url] of pulls) {
      const loc = locateConfigured({ ...this.#query(path), url });
      const wanted = !this.#draining && loc.kind === "root" && loc.node !== this.self.node &&
        this.#standbyOf(path, loc.node) === this.self.node;
      const held = this.#standbyHolds.get(path);
      if (wanted && (!held || held.closed)) {
        const stream = hub.forReader(path);
        if (!stream) continue;
        stream.retain();
        this.#standbyHolds.set(path, stream);
      } else if (!wanted && held) {
        held.release();
        this.#standbyHolds.delete(path);
      }
    }
    for (const [path, held] of this.#standbyHolds) {
      if (pulls.has(path)) continue;
      held.release();
      this.#standbyHolds.delete(path);
    }
  }

  /** The plan of `path` when it is rooted here, for a member's dashboard (no stream object, plain data). */
  #rootTree(path: string): Record<string, unknown> | null {
    const tree = this.#root.treeView(path);
    if (!tree?.plan) return null;
    return {
      root: this.self.node,
      plan: tree.plan,
      ...(tree.planParents ? { planParents: tree.planParents } : {}),
      members: tree.members ?? [],
      ...(tree.standby ? { standby: tree.standby } : {}),
    };
  }

  /** The epoch whose numbering this relay forwards `path` in: its own as the root, else its mesh source's. */
  #epochOf(path: string): string | null {
    return this.#root.epochOf(path) ?? this.#member.forwardingOf(path);
  }

  /** The view changed: re-plan this relay's trees, re-home camera streams whose root moved, hurry members. */
  #rootsMayHaveMoved(): void {
    this.#root.replanAll();
    const hub = this.#hub;
    if (!hub) return;
    for (const stream of hub.streams()) hub.rehome(stream.path);
    this.#root.abdicate();
    this.#member.viewChanged();
  }

  /** Enters or leaves the deaf state (see {@link deaf}); on entering, steps back from every tree. */
  #checkHearing(): void {
    const expected = new Set([...this.#parent.children.nodes(), ...this.#member.parents()]);
    const change = this.#detector.checkHearing(this.#clock(), expected.size);
    if (change?.change === "hears") {
      this.#log.info("mesh port hears again", { deafMs: Math.round(change.deafMs) });
    } else if (change?.change === "deaf") {
      this.#log.warn("mesh port hears nothing: is it blocked? stepping back to a leaf", {
        port: this.meshPort,
        silentMs: Math.round(change.silentMs),
        expectedFrom: [...expected].sort(),
      });
      void this.#member.moveChildren(false);
    }
  }

  /** Heartbeats to parents and children (unless deaf: silence moves them at once), once per address. */
  #heartbeat(): void {
    const targets = [
      ...this.#member.heartbeatTargets(),
      ...(this.deaf() ? [] : this.#parent.children.values()),
    ];
    const beat = new TextEncoder().encode(this.self.node);
    const sent = new Set<string>();
    for (const { to, incarnation } of targets) {
      const key = `${to.hostname}:${to.port}:${toHex(incarnation)}`;
      if (!sent.has(key)) this.#port?.send(to, incarnation, "heartbeat", 0, 0, beat);
      sent.add(key);
    }
  }

  #sweep(): void {
    this.#nonces.sweep(this.#wallClock());
    this.#refusals.flush();
    this.#parent.sweep(this.#opts.childTimeoutMs);
    this.#root.sweep();
    this.#member.sweep();
  }
}
