/**
 * The mesh of relays: root location, the root's tree authority, the parent side of subscriptions, heartbeats and
 * failure detection. It implements the hub's {@linkcode RemoteResolver} (paths rooted elsewhere become
 * {@linkcode MeshSource}s) and serves the peer protocol under `/mesh/v1` (see mesh_protocol.ts).
 *
 * Design: every relay can tell the root of a camera path from the shared view (root_locator.ts); the root alone
 * plans each stream's tree (planner.ts) from the members that joined it, so there is one authority per stream
 * and no disagreement between relays. Members renew their join every second and learn re-assignments from the
 * answer; a child whose parent falls silent for 600 ms re-joins at once naming the parent as suspect, and the
 * root re-plans without it.
 * @module
 */
import { type Context, Hono, type HonoRequest } from "hono";
import { type Clock, monotonicMs, realTimers, type TimerHandle, type Timers } from "../clock.ts";
import { contained } from "../contain.ts";
import type { z } from "zod";
import type { Logger } from "../log.ts";
import type { RemoteResolver, StreamHub } from "../relay/hub.ts";
import type { Stream } from "../relay/stream.ts";
import { rewriteSdpForServing } from "../rtsp/sdp.ts";
import type { Discovery, Peer } from "./discovery.ts";
import { heartbeatNode, type MeshPacket } from "./mesh_frame.ts";
import { LogThrottle } from "../relay/limits.ts";
import { NonceCache } from "./mesh_auth.ts";
import { meshGuard } from "./mesh_guard.ts";
import { MeshHttp, UnsignedAnswerError } from "./mesh_http.ts";
import { fromHex, incarnationBytes, newIncarnation, toHex } from "./mesh_incarnation.ts";
import type { MeshKeyring } from "./mesh_keys.ts";
import {
  emptyRejectCounts,
  gcmBackendName,
  MeshOpener,
  type MeshRejectReason,
  MeshSealer,
} from "./mesh_seal.ts";
import { MeshEgress } from "./mesh_egress.ts";
import {
  joinRequestSchema,
  type JoinResponse,
  joinResponseSchema,
  leaveRequestSchema,
  pathsResponseSchema,
  type PeerRef,
  type SelfRef,
  subscribeRequestSchema,
  subscribeResponseSchema,
  unsubscribeRequestSchema,
} from "./mesh_protocol.ts";
import { MeshSocket } from "./mesh_socket.ts";
import type { MeshPort, OpenMeshPort, PeerTransport } from "./mesh_io.ts";
import { MeshSource, type MeshSourceHost } from "./mesh_source.ts";
import { planTree, type TreePlan } from "./planner.ts";
import { directPullUrl, locateRoot, serviceOf } from "./root_locator.ts";
import { PathConfigViews } from "./path_config.ts";

/** Options of {@linkcode Mesh}. */
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
}

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

interface Member {
  ref: PeerRef;
  readers: number;
  expires: number;
}

/** Root-side state of one stream. */
interface RootTree {
  stream: Stream;
  members: Map<string, Member>;
  plan: TreePlan | null;
}

/** Parent-side state of one child subscription. */
interface ChildSub {
  node: string;
  ref: PeerRef;
  to: Deno.NetAddr;
  /** The child's incarnation: what is sealed for it. */
  incarnation: Uint8Array;
  streamId: number;
  egressIds: string[];
  lastHeard: number;
}

/** How long a path that no peer serves is answered 404 without asking them again. */
const MISSING_PATH_HOLD_MS = 1000;
/** Paths remembered as served by no peer. */
const MAX_MISSING_PATHS = 4096;
/** Relays remembered as deaf (only key holders or known peers can say so). */
const MAX_DEAF_PEERS = 4096;
/** Peers whose configured paths are fetched at once. */
const MAX_PATH_FETCHES = 8;
/** Paths looked up among the peers at once. */
const MAX_ROOT_LOOKUPS = 32;
/** How often a suspected peer is asked for its paths (alive again: no longer suspected). */
const SUSPECT_PROBE_MS = 1000;

/**
 * How long a subscribe naming an epoch this relay does not forward yet waits for it (this relay re-joining the
 * new root) before it is answered 409; under the caller's 2 s call timeout.
 */
const EPOCH_WAIT_MS = 1000;

/** Errors a peer call may answer with. */
class PeerError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
    this.name = "PeerError";
  }
}

/** One relay's part of the mesh. */
export class Mesh implements MeshSourceHost {
  readonly self: SelfRef;
  readonly #peer: Peer;
  readonly #opts:
    & Required<
      Omit<
        MeshOptions,
        | "self"
        | "discovery"
        | "logger"
        | "keys"
        | "encrypt"
        | "localAddress"
        | "incarnation"
        | "clock"
        | "timers"
        | "wallClock"
        | "transport"
        | "openPort"
      >
    >
    & MeshOptions;
  /** This process's incarnation, as sealing needs it. */
  readonly #incarnation: Uint8Array;
  /** The incarnation of each parent, as its signed subscribe answer gave it: heartbeats are sealed for it. */
  readonly #parentIncarnations = new Map<string, Uint8Array>();
  readonly #log: Logger;
  #hub: StreamHub | null = null;
  #socket: MeshPort | null = null;
  readonly #roots = new Map<string, RootTree>();
  readonly #children = new Map<string, Map<string, ChildSub>>();
  readonly #sources = new Map<string, MeshSource>();
  readonly #routes = new Map<number, MeshSource>();
  readonly #suspects = new Map<string, number>();
  /** Members that said their mesh port hears nothing. */
  readonly #deafPeers = new Set<string>();
  readonly #rootCache = new Map<string, { ref: PeerRef; until: number }>();
  /** Which peers are configured with which camera paths (see path_config.ts). */
  readonly #pathViews: PathConfigViews;
  /** Peers whose paths are being fetched now. */
  readonly #pathFetches = new Set<string>();
  /** When each suspect was last asked for its paths (see {@link #refreshPaths}). */
  readonly #probed = new Map<string, number>();
  /** Path conflicts already warned about (path and fingerprint groups). */
  readonly #conflictsWarned = new Set<string>();
  /** Paths no peer serves, until when (monotonic ms). */
  readonly #missingCache = new Map<string, number>();
  /** Root lookups in flight, per path. */
  readonly #lookups = new Map<string, Promise<{ root: PeerRef } | { missing: string; status: 404 | 503 }>>();
  readonly #clock: Clock;
  readonly #wallClock: () => number;
  /** Timers of this mesh (see {@linkcode MeshSourceHost.timers}). */
  readonly timers: Timers;
  #repeating: TimerHandle[] = [];
  #closed = false;
  #draining = false;
  /** Last sealed/valid packet received on the mesh port. */
  #lastHeard: number;
  /** Since when the mesh port hears nothing though peers should be sending (see {@link deaf}). */
  #deafSince: number | null = null;
  #ring: MeshKeyring | null;
  readonly #http: PeerTransport;
  readonly #nonces = new NonceCache();
  #sealer: MeshSealer | null = null;
  #opener: MeshOpener | null = null;
  readonly #requestRejects = new Map<string, number>();
  /** Frames and heartbeats refused because they did not come from the relay they name (open mesh). */
  #unexpectedSource = 0;
  /** Frames for a stream id no source here subscribed with. */
  #unknownStream = 0;
  readonly #refusalLog = new LogThrottle<null>();

  /** @param options identity, discovery, fan-out and timing */
  constructor(options: MeshOptions) {
    this.#opts = {
      heartbeatMs: 150,
      parentTimeoutMs: 600,
      childTimeoutMs: 3000,
      leaseMs: 1000,
      suspectHoldMs: 15000,
      rootReadyMs: 8000,
      ...options,
    };
    this.#peer = options.self;
    this.self = { ...refOf(options.self), incarnation: options.incarnation ?? newIncarnation() };
    this.#pathViews = new PathConfigViews(options.self.node);
    this.#incarnation = incarnationBytes(this.self.incarnation);
    this.#log = options.logger;
    this.#ring = options.keys ?? null;
    this.#http = options.transport ?? new MeshHttp(() => this.#ring, options.localAddress);
    this.#clock = options.clock ?? monotonicMs;
    this.#wallClock = options.wallClock ?? Date.now;
    this.timers = options.timers ?? realTimers;
    this.#lastHeard = this.#clock();
  }

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

  /** Binds the mesh port and starts heartbeats and watchdogs. The hub must be attached first. */
  async start(hub: StreamHub): Promise<void> {
    this.#hub = hub;
    if (this.#ring) {
      this.#sealer = new MeshSealer(this.#ring, { encrypt: this.#opts.encrypt ?? true });
      this.#opener = new MeshOpener(this.#ring, this.#incarnation);
      this.#log.info("mesh sealed", {
        encrypt: this.#opts.encrypt ?? true,
        aesGcm: gcmBackendName(),
        keys: this.#ring.keys.map((k) => k.fingerprint),
        incarnation: this.self.incarnation,
      });
    }
    const security = this.#sealer && this.#opener ? { sealer: this.#sealer, opener: this.#opener } : null;
    const open: OpenMeshPort = this.#opts.openPort ??
      ((host, port, sec) => new MeshSocket(host, port, sec));
    this.#socket = open(this.#opts.bindHost, this.#peer.meshPort, security);
    this.#socket.onPacket = (p, from) => this.#onPacket(p, from);
    this.#socket.onReject = (r, from) =>
      this.#logRefusal("mesh packet refused", r.reason, from.hostname, r.message);
    await this.#opts.discovery.start();
    await this.#watchCameraServices(hub);
    // Before the first readers: learn which peers are configured with which cameras (bounded wait).
    await Promise.race([this.#refreshPaths(), this.#wait(2000)]);
    this.#every(this.#opts.heartbeatMs, "mesh heartbeat", () => this.#heartbeat());
    this.#every(100, "mesh watchdog", () => {
      this.#checkHearing();
      for (const s of this.#sources.values()) s.checkParent();
    });
    this.#every(500, "mesh sweep", () => this.#sweep());
    this.#every(1000, "mesh paths", () => void this.#refreshPaths());
    this.#opts.discovery.onChange(() => this.#rootsMayHaveMoved());
  }

  /**
   * Fetches the configured paths of the peers that are due (never fetched, or not for a period), a few at a
   * time; what changed may move roots.
   */
  async #refreshPaths(): Promise<void> {
    const hub = this.#hub;
    if (!hub || this.#closed) return;
    this.#pathViews.setOwn(hub.pulls());
    const nodes = this.#opts.discovery.peers().map((p) => p.node);
    let moved = this.#pathViews.retain(new Set(nodes));
    const now = this.#clock();
    // Suspects are asked first and often: one that answers is alive again (a restarted relay, a healed partition)
    // and leaves the suspects at once instead of after the hold, or every relay would plan around it for 15 s
    // while the ones that did not suspect it follow it (two roots for one camera); one that does not answer stays
    // suspected for as long as it does not.
    for (const node of this.#probed.keys()) if (!this.#suspects.has(node)) this.#probed.delete(node);
    const probes = nodes.filter((n) =>
      (this.#suspects.get(n) ?? 0) > now && now - (this.#probed.get(n) ?? -Infinity) >= SUSPECT_PROBE_MS
    );
    const due = [...new Set([...probes, ...this.#pathViews.due(nodes, now)])].filter((n) =>
      !this.#pathFetches.has(n)
    );
    const batch = due.slice(0, Math.max(0, MAX_PATH_FETCHES - this.#pathFetches.size));
    const results = await Promise.all(batch.map(async (node) => {
      const peer = this.#knownPeer(node);
      if (!peer) return false;
      const probe = probes.includes(node);
      if (probe) this.#probed.set(node, now);
      this.#pathFetches.add(node);
      try {
        const res = await this.#http.request(
          { node, origin: base(peer) },
          "GET",
          "/mesh/v1/paths",
          undefined,
          2000,
        );
        const parsed = res.status === 200 ? pathsResponseSchema.safeParse(JSON.parse(res.text)) : null;
        if (!parsed?.success) {
          // It answered, but not with its paths (it refuses this relay, or speaks another protocol): it is known,
          // as configured with nothing this relay can use.
          this.#log.debug("peer paths refused", {
            peer: node,
            status: res.status,
            answer: res.text.slice(0, 200),
          });
          return this.#pathViews.update(node, {}, this.#clock());
        }
        const changed = this.#pathViews.update(node, parsed.data.paths, this.#clock());
        if (!probe || !this.#suspects.has(node)) return changed;
        this.#heard(node);
        return changed || !this.#suspects.has(node);
      } catch (err) {
        this.#log.debug("peer paths not fetched", { peer: node, error: String(err) });
        if (probe && !(err instanceof UnsignedAnswerError)) this.#suspect(node);
        // An answer not signed with the mesh key is a refusal too; no answer at all (a peer starting) is not.
        if (err instanceof UnsignedAnswerError) return this.#pathViews.update(node, {}, this.#clock());
        this.#pathViews.failed(node, this.#clock());
        return false;
      } finally {
        this.#pathFetches.delete(node);
      }
    }));
    moved ||= results.some(Boolean);
    if (!moved) return;
    this.#warnConflicts();
    this.#rootsMayHaveMoved();
  }

  /**
   * A relay looking for the root of `path` asked this one, configured with it, which takes another relay for its
   * root: that relay is asked for its paths (at most once per SUSPECT_PROBE_MS) and suspected when it does not
   * answer, so the root moves on. Without it, the relays configured with a camera would never learn that its root
   * died when only relays without the camera had readers (they suspect it, but ask the configured ones, which
   * never call the root): with static discovery the camera stayed unserved for good.
   */
  #checkRootOf(path: string): void {
    const url = this.#hub?.pulls().get(path);
    if (url === undefined) return;
    const loc = locateRoot({
      path,
      url,
      live: this.livePeers(),
      serviceEndpoints: (ns, name) => this.#opts.discovery.serviceEndpoints(ns, name),
      configured: this.#configuredFor(path),
    });
    if (loc.kind !== "root" || loc.node === this.#peer.node) return;
    const node = loc.node;
    const peer = this.#knownPeer(node);
    const now = this.#clock();
    if (
      !peer || this.#pathFetches.has(node) || now - (this.#probed.get(node) ?? -Infinity) < SUSPECT_PROBE_MS
    ) {
      return;
    }
    this.#probed.set(node, now);
    this.#pathFetches.add(node);
    void this.#http.request({ node, origin: base(peer) }, "GET", "/mesh/v1/paths", undefined, 2000)
      .then(() => this.#heard(node), (err) => {
        if (err instanceof UnsignedAnswerError || this.#closed) return;
        this.#log.info("the root of a camera does not answer: suspected", {
          path,
          root: node,
          error: String(err),
        });
        this.#suspect(node);
        this.#rootsMayHaveMoved();
      })
      .finally(() => this.#pathFetches.delete(node));
  }

  /** One warning per path whose relays are configured with different cameras (and per set of differences). */
  #warnConflicts(): void {
    for (const path of this.#pathViews.paths()) {
      const groups = this.#pathViews.conflicts(path);
      if (!groups) continue;
      const described = [...groups].map(([fp, nodes]) => `${nodes.sort().join(",")} (${fp})`).sort();
      const key = `${path}|${described.join("|")}`;
      if (this.#conflictsWarned.has(key)) continue;
      if (this.#conflictsWarned.size > 1000) this.#conflictsWarned.clear();
      this.#conflictsWarned.add(key);
      this.#log.warn("relays are configured with different cameras for one path", {
        path,
        relays: described,
        choice: "the root is chosen among all of them by the usual rule and pulls its own URL",
      });
    }
  }

  /**
   * The relays that may be the root of a camera path: those configured with it, and those whose configuration is
   * not known yet (as if configured, until their answer says otherwise, or until they have not answered for
   * GIVE_UP_MS: a relay that is down must not keep a camera unserved).
   */
  #configuredFor(path: string): Set<string> {
    const out = this.#pathViews.configured(path);
    const now = this.#clock();
    for (const p of this.#opts.discovery.peers()) if (this.#pathViews.awaited(p.node, now)) out.add(p.node);
    return out;
  }

  /** The view changed: re-plan this relay's trees and re-home camera streams whose root moved. */
  #rootsMayHaveMoved(): void {
    for (const tree of this.#roots.values()) this.#replan(tree);
    const hub = this.#hub;
    if (!hub) return;
    for (const stream of hub.streams()) hub.rehome(stream.path);
    // A member whose root moved re-joins now, not at its next renewal: each hop down would add a lease.
    for (const source of this.#sources.values()) if (this.#rootMoved(source)) source.renewNow();
  }

  /** True when the root `source` joined is no longer the one the view gives (or no longer live). */
  #rootMoved(source: MeshSource): boolean {
    const joined = source.root;
    if (!joined) return false;
    const live = this.livePeers();
    const url = this.#hub?.pulls().get(source.stream.path);
    if (url === undefined) return !live.some((p) => p.node === joined.node);
    const loc = locateRoot({
      path: source.stream.path,
      url,
      live,
      serviceEndpoints: (ns, name) => this.#opts.discovery.serviceEndpoints(ns, name),
      configured: this.#configuredFor(source.stream.path),
    });
    return loc.kind === "root" && loc.node !== joined.node;
  }

  /**
   * Waits up to `ms` for this relay to forward `path` in `epoch` (a child that joined a new root subscribing
   * before this relay re-joined it): its source re-joins now. @returns the epoch this relay forwards in
   */
  async #reachEpoch(path: string, epoch: string, ms: number): Promise<string | null> {
    const source = this.#sources.get(path);
    if (!source || this.#roots.has(path)) return this.#epochOf(path);
    source.renewNow();
    const deadline = this.#clock() + ms;
    while (this.#epochOf(path) !== epoch && this.#clock() < deadline && !this.#closed) await this.#wait(25);
    return this.#epochOf(path);
  }

  /**
   * Starts the EndpointSlice watches of cameras configured by Service name and waits (up to 3 s) for their
   * endpoints, so the first readers find the root at once instead of waiting for the next attempt.
   */
  async #watchCameraServices(hub: StreamHub): Promise<void> {
    const services = [...hub.pulls().values()].map(serviceOf).filter((s) => s !== null);
    if (services.length === 0) return;
    const deadline = this.#clock() + 3000;
    while (this.#clock() < deadline) {
      const pending = services.filter((s) =>
        (this.#opts.discovery.serviceEndpoints(s.namespace, s.name) ?? [1]).length === 0
      );
      if (pending.length === 0) return;
      await this.#wait(50);
    }
    this.#log.warn("camera Services without ready endpoints yet", {
      services: services.map((s) => `${s.name}.${s.namespace}`),
    });
  }

  /** The bound mesh port. */
  get meshPort(): number {
    return this.#socket?.port ?? 0;
  }

  /** True once the port is bound and discovery synced. */
  get ready(): boolean {
    return this.#socket !== null && this.#opts.discovery.synced;
  }

  /** The hub's resolver for paths rooted elsewhere. */
  readonly resolver: RemoteResolver = {
    isLocalRoot: (path, url) => {
      const loc = locateRoot({
        path,
        url,
        live: this.livePeers(),
        serviceEndpoints: (ns, name) => this.#opts.discovery.serviceEndpoints(ns, name),
        configured: this.#configuredFor(path),
      });
      // Undecided (a Service without endpoints yet): not here, or every relay would pull the camera.
      if (loc.kind === "none") return true;
      return loc.kind === "root" && loc.node === this.#peer.node;
    },
    mayServeRemotely: () => this.livePeers().some((p) => p.node !== this.#peer.node),
    createSource: (stream) => {
      const source = new MeshSource(stream, this, this.#log.child("mesh-source"), {
        leaseMs: this.#opts.leaseMs,
        parentTimeoutMs: this.#opts.parentTimeoutMs,
      });
      this.#sources.set(stream.path, source);
      return source;
    },
  };

  /** The URL this relay (the root) pulls for a configured camera: a Service's host becomes its pod here. */
  pullUrl(url: string): string {
    const service = serviceOf(url);
    if (!service) return url;
    return directPullUrl(
      url,
      this.#peer.node,
      this.#opts.discovery.serviceEndpoints(service.namespace, service.name),
    );
  }

  /** Ready peers not suspected of being dead, self included. */
  livePeers(): Peer[] {
    const now = this.#clock();
    const live = this.#opts.discovery.peers().filter((p) =>
      p.node !== this.#peer.node && p.ready && (this.#suspects.get(p.node) ?? 0) < now
    );
    // This relay is live by definition, whatever discovery says of its pod yet.
    const self = this.#opts.discovery.peers().find((p) => p.node === this.#peer.node) ?? this.#peer;
    return [...live, self].sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : 0));
  }

  // ---- MeshSourceHost -------------------------------------------------------------------------------------

  now(): number {
    return this.#clock();
  }

  /** A random stream id not in use: ids are not guessable, so a forged frame cannot aim at a live stream. */
  newStreamId(): number {
    const word = new Uint32Array(1);
    for (;;) {
      const id = crypto.getRandomValues(word)[0]!;
      if (id !== 0 && !this.#routes.has(id)) return id;
    }
  }

  route(streamId: number, source: MeshSource | null): void {
    if (source) {
      this.#routes.set(streamId, source);
      this.#newPeerExpected();
    } else {
      this.#routes.delete(streamId);
    }
  }

  readersOf(stream: Stream): number {
    return Math.max(0, stream.refs - (this.#children.get(stream.path)?.size ?? 0));
  }

  async findRoot(path: string): Promise<{ root: PeerRef } | { missing: string; status: 404 | 503 }> {
    const url = this.#hub?.pulls().get(path);
    const live = this.livePeers();
    if (url !== undefined) {
      const loc = locateRoot({
        path,
        url,
        live,
        serviceEndpoints: (ns, name) => this.#opts.discovery.serviceEndpoints(ns, name),
        configured: this.#configuredFor(path),
      });
      if (loc.kind !== "root") return { missing: loc.reason, status: 503 };
      if (loc.node === this.#peer.node) {
        // The root moved here (the relay that had it left): pull the camera ourselves, readers stay.
        queueMicrotask(() => this.#hub?.rehome(path));
        return { missing: `"${path}" is now rooted here`, status: 503 };
      }
      const peer = live.find((p) => p.node === loc.node)!;
      return { root: refOf(peer) };
    }
    const cached = this.#rootCache.get(path);
    if (cached && cached.until > this.#clock() && live.some((p) => p.node === cached.ref.node)) {
      return { root: cached.ref };
    }
    // Asking every peer costs a call each: a path nobody serves is remembered for a moment, one lookup per path
    // runs at a time, and only so many paths are looked up at once (readers of made-up paths cannot make this
    // relay flood its peers).
    const missing = this.#missingCache.get(path);
    if (missing !== undefined && missing > this.#clock()) {
      return { missing: `No relay serves "${path}"`, status: 404 };
    }
    const running = this.#lookups.get(path);
    if (running) return await running;
    if (this.#lookups.size >= MAX_ROOT_LOOKUPS) {
      return { missing: `Too many paths are being looked up in the mesh; retry`, status: 503 };
    }
    const lookup = this.#askPeersForRoot(path, live);
    this.#lookups.set(path, lookup);
    try {
      return await lookup;
    } finally {
      this.#lookups.delete(path);
    }
  }

  /** Asks every live peer whether `path` enters the mesh there (a publisher elsewhere). */
  async #askPeersForRoot(
    path: string,
    live: readonly Peer[],
  ): Promise<{ root: PeerRef } | { missing: string; status: 404 | 503 }> {
    // A camera configured on other relays: only they can be its root. Else (a publisher elsewhere) ask everyone.
    const configured = this.#pathViews.configured(path);
    const others = live.filter((p) =>
      p.node !== this.#peer.node && (configured.size === 0 || configured.has(p.node))
    );
    const answers = await Promise.all(others.map(async (p) => {
      try {
        const res = await this.#http.request(
          { node: p.node, origin: base(p) },
          "GET",
          `/mesh/v1/roots/${encodePath(path)}`,
          undefined,
          1000,
        );
        return res.status === 200 ? p : null;
      } catch {
        return null;
      }
    }));
    const found = answers.find((p) => p !== null);
    const now = this.#clock();
    if (!found && (configured.size > 0 || others.some((p) => this.#pathViews.awaited(p.node, now)))) {
      // A camera configured elsewhere whose root is being settled (a peer starting, the views converging): the
      // reader waits while this relay asks again, rather than getting 404.
      return { missing: `The root of "${path}" is not settled yet`, status: 503 };
    }
    if (!found) {
      if (this.#missingCache.size >= MAX_MISSING_PATHS) {
        this.#missingCache.delete(this.#missingCache.keys().next().value!);
      }
      this.#missingCache.set(path, this.#clock() + MISSING_PATH_HOLD_MS);
      return { missing: `No relay serves "${path}"`, status: 404 };
    }
    const ref = refOf(found);
    if (this.#rootCache.size >= MAX_MISSING_PATHS) {
      this.#rootCache.delete(this.#rootCache.keys().next().value!);
    }
    this.#rootCache.set(path, { ref, until: this.#clock() + 5000 });
    return { root: ref };
  }

  async join(root: PeerRef, path: string, readers: number, suspects: string[]): Promise<JoinResponse> {
    // A relay that hears nothing blames no one: its own port is the likelier fault.
    const deaf = this.deaf();
    const body = { path, from: this.self, readers, suspects: deaf ? [] : suspects, deaf };
    return joinResponseSchema.parse(await this.#call(root, "join", body, this.#opts.rootReadyMs + 2000));
  }

  async subscribe(
    parent: PeerRef,
    path: string,
    streamId: number,
    burst: boolean,
    epoch: string,
  ): Promise<void> {
    const salt = this.#sealer ? { salt: toHex(this.#sealer.salt) } : {};
    const answer = subscribeResponseSchema.parse(
      await this.#call(parent, "subscribe", { path, from: this.self, streamId, burst, epoch, ...salt }),
    );
    // Signed by the parent: its incarnation is what our heartbeats are sealed for, its salt what it seals under.
    this.#parentIncarnations.set(parent.node, incarnationBytes(answer.incarnation));
    if (answer.salt) this.#opener?.announce(fromHex(answer.salt));
  }

  async unsubscribe(parent: PeerRef, path: string): Promise<void> {
    await this.#call(parent, "unsubscribe", { path, node: this.self.node });
  }

  async leave(root: PeerRef, path: string): Promise<void> {
    this.#sourcesCleanup(path);
    await this.#call(root, "leave", { path, node: this.self.node });
  }

  // ---- views ----------------------------------------------------------------------------------------------

  /** Peers as this relay sees them, for the admin API. */
  peersView(): Array<Peer & { self: boolean; live: boolean; suspectedUntil: string | null }> {
    const live = new Set(this.livePeers().map((p) => p.node));
    const now = this.#clock();
    return this.#opts.discovery.peers().map((p) => {
      const until = this.#suspects.get(p.node) ?? 0;
      return {
        ...p,
        self: p.node === this.#peer.node,
        live: live.has(p.node),
        suspectedUntil: until > now ? new Date(Date.now() + until - now).toISOString() : null,
      };
    });
  }

  /** This relay's place in the tree of `path`, for the admin API; null when it has no part in it. */
  treeView(path: string): Record<string, unknown> | null {
    const tree = this.#roots.get(path);
    const source = this.#sources.get(path);
    const children = [...(this.#children.get(path)?.values() ?? [])].map((c) => c.node).sort();
    if (!tree && !source && children.length === 0) return null;
    return {
      path,
      node: this.#peer.node,
      role: tree ? "root" : "member",
      root: tree ? this.#peer.node : source?.root?.node ?? null,
      parent: source?.parent?.node ?? null,
      children,
      state: (tree?.stream ?? source?.stream)?.state ?? null,
      epoch: this.#epochOf(path),
      ...(source ? { reparents: source.reparents, duplicates: source.duplicates, stale: source.stale } : {}),
      ...(tree?.plan
        ? {
          plan: Object.fromEntries([...tree.plan.parent.entries()].sort()),
          members: [...tree.members.values()].map((m) => ({ node: m.ref.node, readers: m.readers })),
        }
        : {}),
    };
  }

  /** Children per path (`msm_mesh_children`). */
  childCounts(): Map<string, number> {
    return new Map([...this.#children.entries()].map(([path, subs]) => [path, subs.size]));
  }

  // ---- HTTP routes ----------------------------------------------------------------------------------------

  /** The peer protocol, to mount at `/mesh/v1`. */
  routes(): Hono {
    const app = new Hono();
    app.use(
      "*",
      meshGuard({
        ring: () => this.#ring,
        node: this.#peer.node,
        incarnation: this.self.incarnation,
        nonces: this.#nonces,
        onRefused: (failure, from, what) => {
          this.#requestRejects.set(failure.reason, (this.#requestRejects.get(failure.reason) ?? 0) + 1);
          // A caller learning this run's incarnation (a first call, or this relay restarted): counted, not logged.
          if (failure.reason === "incarnation") return;
          this.#logRefusal("peer request refused", failure.reason, from, `${what}: ${failure.message}`);
        },
      }),
    );
    // Without a mesh key, only relays that discovery knows may call, from the address it gives for them.
    app.use("*", async (c, next) => {
      if (this.#ring) return await next();
      const from = callerAddress(c);
      const known = from !== null &&
        this.#opts.discovery.peers().some((p) =>
          p.node !== this.#peer.node && plainHost(p.host) === plainHost(from)
        );
      if (known) return await next();
      return this.#refuseCall(
        c,
        "unknown_peer",
        `${c.req.method} ${new URL(c.req.url).pathname} from ${from ?? "an unknown address"}: ` +
          "without a mesh key only the relays discovery knows may call",
      );
    });
    const notThat = (c: Context, node: string) =>
      this.#refuseCall(
        c,
        "not_that_peer",
        `a call naming ${node} came from ${callerAddress(c) ?? "an unknown address"}, not from its address`,
      );
    const parse = async <S extends z.ZodType>(
      schema: S,
      req: HonoRequest,
    ): Promise<z.infer<S> | Response> => {
      let body: unknown;
      try {
        body = await req.json();
      } catch {
        return Response.json({ error: "Body must be JSON" }, { status: 400 });
      }
      const r = schema.safeParse(body);
      if (!r.success) {
        return Response.json({
          error: r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; "),
        }, {
          status: 400,
        });
      }
      return r.data;
    };
    app.get("/paths", (c) => {
      if (this.#hub) this.#pathViews.setOwn(this.#hub.pulls());
      return c.json({ paths: this.#pathViews.own() });
    });
    app.get("/roots/:path{.+}", (c) => {
      const path = decodeURIComponent(c.req.param("path"));
      if (this.#hub?.isLocalRoot(path)) return c.json({ node: this.#peer.node });
      this.#checkRootOf(path);
      return c.json({ error: `"${path}" does not enter the mesh here` }, 404);
    });
    app.post("/join", async (c) => {
      const req = await parse(joinRequestSchema, c.req);
      if (req instanceof Response) return req;
      if (!this.#callerIs(c, req.from.node)) return notThat(c, req.from.node);
      try {
        return c.json(await this.#onJoin({ ...req, from: this.#trustedRef(req.from)! }));
      } catch (err) {
        const status = err instanceof PeerError ? err.status : 500;
        return c.json({ error: (err as Error).message }, status as 404);
      }
    });
    app.post("/leave", async (c) => {
      const req = await parse(leaveRequestSchema, c.req);
      if (req instanceof Response) return req;
      if (!this.#callerIs(c, req.node)) return notThat(c, req.node);
      const tree = this.#roots.get(req.path);
      if (tree?.members.delete(req.node)) this.#replan(tree);
      this.#dropEmptyTree(req.path);
      return c.json({ ok: true });
    });
    app.post("/subscribe", async (c) => {
      const req = await parse(subscribeRequestSchema, c.req);
      if (req instanceof Response) return req;
      if (!this.#callerIs(c, req.from.node)) return notThat(c, req.from.node);
      if (this.#draining) return c.json({ error: "This relay is draining" }, 503);
      this.#heard(req.from.node);
      const stream = this.#hub?.get(req.path);
      if (!stream?.description || stream.tracks.length === 0) {
        return c.json({ error: `"${req.path}" is not flowing here yet` }, 503);
      }
      let epoch = this.#epochOf(req.path);
      if (epoch !== req.epoch) epoch = await this.#reachEpoch(req.path, req.epoch, EPOCH_WAIT_MS);
      if (epoch !== req.epoch) {
        // The child joined under another root (or another run of it) than this relay forwards: it re-joins.
        return c.json({
          error: `"${req.path}" flows here in epoch ${
            epoch ?? "(none yet)"
          }, not ${req.epoch}: join the root again`,
        }, 409);
      }
      // Media goes to the address discovery gives for the child, never to one a body names.
      this.#addChild(stream, this.#trustedRef(req.from)!, req.streamId, req.burst);
      // Signed by a key holder: expect its sealer's packets, and tell it what to seal for and what we seal under.
      if (req.salt) this.#opener?.announce(fromHex(req.salt));
      const salt = this.#sealer ? { salt: toHex(this.#sealer.salt) } : {};
      return c.json({ tracks: stream.tracks.length, incarnation: this.self.incarnation, ...salt });
    });
    app.post("/rejoin", async (c) => {
      const req = await parse(leaveRequestSchema, c.req);
      if (req instanceof Response) return req;
      if (!this.#callerIs(c, req.node)) return notThat(c, req.node);
      const source = this.#sources.get(req.path);
      if (!source || source.parent?.node !== req.node) return c.json({ error: "Not fed by that relay" }, 404);
      source.renewNow();
      return c.json({ ok: true });
    });
    app.post("/unsubscribe", async (c) => {
      const req = await parse(unsubscribeRequestSchema, c.req);
      if (req instanceof Response) return req;
      if (!this.#callerIs(c, req.node)) return notThat(c, req.node);
      this.#removeChild(req.path, req.node);
      return c.json({ ok: true });
    });
    return app;
  }

  /**
   * Replaces the cluster keys (a rotated key file): calls and packets are signed with the new first key from now
   * on and every key given is accepted. A relay started without keys stays open until restarted.
   * @returns false when the mesh runs without keys and cannot take them live
   */
  setKeyring(ring: MeshKeyring): boolean {
    if (!this.#ring) return false;
    this.#ring = ring;
    this.#sealer?.setKeyring(ring);
    this.#opener?.setKeyring(ring);
    return true;
  }

  /** Refused packets and requests so far. */
  rejections(): MeshRejections {
    const sealing = this.#socket?.rejected ?? emptyRejectCounts();
    return {
      packets: { ...sealing, unexpected_source: this.#unexpectedSource, unknown_stream: this.#unknownStream },
      requests: this.#requestRejects,
    };
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
    for (const source of this.#sources.values()) source.freeze();
    const count = () => [...this.#children.values()].reduce((n, subs) => n + subs.size, 0);
    const before = count();
    await Promise.all([...this.#children.entries()].map(async ([path, subs]) => {
      const root = this.#sources.get(path)?.root;
      // A stream rooted here cannot move: its children fail over when this relay is gone.
      if (!root) return;
      await this.#call(root, "leave", { path, node: this.self.node }).catch(() => {});
      await Promise.all(
        [...subs.values()].map((sub) =>
          this.#call(sub.ref, "rejoin", { path, node: this.self.node }).catch(() => {})
        ),
      );
    }));
    const deadline = this.#clock() + timeoutMs;
    while (count() > 0 && this.#clock() < deadline) await this.#wait(25);
    const remaining = count();
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
    for (const path of [...this.#children.keys()]) {
      for (const node of [...(this.#children.get(path)?.keys() ?? [])]) this.#removeChild(path, node);
    }
    for (const [path, tree] of this.#roots) {
      this.#roots.delete(path);
      tree.stream.release();
    }
    await this.#opts.discovery.stop();
    this.#socket?.close();
    this.#http.close?.();
  }

  /**
   * True while this relay's mesh port hears nothing though at least two peers should be sending to it (a parent
   * and children heartbeat every 150 ms): its port is blocked or its inbound path broken, not all of them dead.
   * A deaf relay names no suspects, stops heartbeating its children (so they move at once) and asks the roots to
   * keep it out of their plans; it hears again with the first packet that arrives.
   */
  deaf(): boolean {
    return this.#deafSince !== null;
  }

  // ---- internals ------------------------------------------------------------------------------------------

  /** A new parent or child will send: its silence counts from now, not from the last packet of anyone. */
  #newPeerExpected(): void {
    if (this.#deafSince === null) this.#lastHeard = Math.max(this.#lastHeard, this.#clock());
  }

  /** Enters or leaves the deaf state (see {@link deaf}); on entering, steps back from every tree. */
  #checkHearing(): void {
    const now = this.#clock();
    if (this.#deafSince !== null) {
      if (this.#lastHeard <= this.#deafSince) return;
      this.#log.info("mesh port hears again", { deafMs: Math.round(now - this.#deafSince) });
      this.#deafSince = null;
      return;
    }
    const silentMs = now - this.#lastHeard;
    if (silentMs <= this.#opts.parentTimeoutMs) return;
    const expected = new Set<string>();
    for (const subs of this.#children.values()) for (const node of subs.keys()) expected.add(node);
    for (const source of this.#sources.values()) if (source.parent) expected.add(source.parent.node);
    if (expected.size < 2) return; // one silent peer is more likely dead than this port blocked
    this.#deafSince = now;
    this.#log.warn("mesh port hears nothing: is it blocked? stepping back to a leaf", {
      port: this.meshPort,
      silentMs: Math.round(silentMs),
      expectedFrom: [...expected].sort(),
    });
    void this.#stepBack();
  }

  /** Tells each root this relay is deaf (it plans around it), then asks its children to re-join elsewhere. */
  async #stepBack(): Promise<void> {
    await Promise.all([...this.#children.entries()].map(async ([path, subs]) => {
      const source = this.#sources.get(path);
      const root = source?.root;
      if (!source || !root) return; // rooted here: there is no other way in for its children
      await this.join(root, path, this.readersOf(source.stream), []).catch(() => {});
      await Promise.all(
        [...subs.values()].map((sub) =>
          this.#call(sub.ref, "rejoin", { path, node: this.self.node }).catch(() => {})
        ),
      );
    }));
  }

  /**
   * One log line per reason and peer address per 10 s, with the count of refusals it stands for; beyond 64
   * addresses at once (made-up sources), one per reason.
   */
  #logRefusal(what: string, reason: string, from: string, message: string): void {
    const key = `${what}|${reason}|${from}`;
    const many = this.#refusalLog.size >= 64 && !this.#refusalLog.has(key);
    const suppressed = this.#refusalLog.admit(many ? `${what}|${reason}|(many)` : key, this.#clock(), null);
    if (suppressed === null) return;
    this.#log.warn(what, { reason, from, message, ...(suppressed > 0 ? { suppressed } : {}) });
  }

  async #call(to: PeerRef, op: string, body: unknown, timeoutMs = 2000): Promise<unknown> {
    const peer = this.#trustedRef(to);
    if (!peer) {
      throw new PeerError(
        403,
        `${to.node} ${op}: not a relay discovery knows (without a mesh key, only those)`,
      );
    }
    let res: { status: number; text: string };
    try {
      res = await this.#http.request(
        { node: peer.node, origin: base(peer) },
        "POST",
        `/mesh/v1/${op}`,
        body,
        timeoutMs,
      );
    } catch (err) {
      // Unreachable (refused, timed out) or not one of ours (an unsigned answer): keep it out of root choices and
      // plans until it speaks again.
      this.#suspect(peer.node);
      throw err;
    }
    let json: { error?: string } | null = null;
    try {
      json = res.text ? JSON.parse(res.text) : null;
    } catch {
      throw new PeerError(502, `${peer.node} ${op}: the answer is not JSON`);
    }
    if (res.status < 200 || res.status > 299) {
      throw new PeerError(res.status, `${peer.node} ${op}: ${res.status} ${json?.error ?? res.text}`);
    }
    this.#heard(peer.node);
    return json;
  }

  /** The other relay discovery knows as `node`. */
  #knownPeer(node: string): Peer | undefined {
    if (node === this.#peer.node) return undefined;
    return this.#opts.discovery.peers().find((p) => p.node === node);
  }

  /**
   * `ref` as this relay may act on it: the addresses discovery gives for a node it knows, whatever a request body
   * or an answer says; a node discovery does not know only with a mesh key (the caller proved it holds the key);
   * else null.
   */
  #trustedRef<R extends PeerRef>(ref: R): R | null {
    if (ref.node === this.#peer.node) return ref;
    const known = this.#knownPeer(ref.node);
    if (known) return { ...ref, host: known.host, adminPort: known.adminPort, meshPort: known.meshPort };
    return this.#ring ? ref : null;
  }

  /** Without a mesh key, true only when the request comes from the address discovery gives for `node`. */
  #callerIs(c: Context, node: string): boolean {
    if (this.#ring) return true;
    const known = this.#knownPeer(node);
    const from = callerAddress(c);
    return known !== undefined && from !== null && plainHost(known.host) === plainHost(from);
  }

  /** Counts and logs (throttled) a refused peer call; the 403 to answer. */
  #refuseCall(c: Context, reason: string, message: string): Response {
    this.#requestRejects.set(reason, (this.#requestRejects.get(reason) ?? 0) + 1);
    this.#logRefusal("peer request refused", reason, callerAddress(c) ?? "unknown", message);
    return c.json({ error: message }, 403);
  }

  #heard(node: string): void {
    if (this.#deafPeers.has(node)) return;
    this.#suspects.delete(node);
  }

  #suspect(node: string): void {
    if (node === this.#peer.node) return;
    // Only a relay discovery knows, or a member of a tree here, can be suspected: names made up in a join's
    // suspects list must not grow the table.
    if (!this.#knownPeer(node) && ![...this.#roots.values()].some((t) => t.members.has(node))) return;
    this.#suspects.set(node, this.#clock() + this.#opts.suspectHoldMs);
    this.#rootCache.forEach((v, k) => v.ref.node === node && this.#rootCache.delete(k));
  }

  async #onJoin(req: z.infer<typeof joinRequestSchema>): Promise<JoinResponse> {
    const hub = this.#hub!;
    if (req.deaf) {
      // Its mesh port receives nothing: keep it out of plans (it is fed as a leaf) until it says it hears again;
      // the heartbeats it still sends do not count.
      if (this.#deafPeers.size < MAX_DEAF_PEERS) this.#deafPeers.add(req.from.node);
      this.#suspect(req.from.node);
    } else {
      this.#deafPeers.delete(req.from.node);
      this.#heard(req.from.node);
    }
    // What the member lost may be the old root: with it out of the view, the root may move here. A member may
    // blame its own parent, or a relay outside this tree (such as that old root); never another member.
    const current = this.#roots.get(req.path)?.plan ?? null;
    for (const s of req.suspects) {
      if (s === req.from.node || s === this.#peer.node) continue;
      if (current?.parent.has(s) && current.parent.get(req.from.node) !== s) continue;
      this.#suspect(s);
    }
    hub.rehome(req.path);
    if (!hub.isLocalRoot(req.path)) throw new PeerError(409, `"${req.path}" does not enter the mesh here`);
    if (this.#draining) throw new PeerError(503, "This relay is draining");
    let tree = this.#roots.get(req.path);
    if (!tree) {
      const stream = hub.forReader(req.path);
      if (!stream) throw new PeerError(404, `No stream at "${req.path}"`);
      stream.retain();
      tree = { stream, members: new Map(), plan: null };
      this.#roots.set(req.path, tree);
    }
    tree.members.set(req.from.node, {
      ref: req.from,
      readers: req.readers,
      expires: this.#clock() + 4 * this.#opts.leaseMs,
    });
    try {
      await tree.stream.whenReady(this.#opts.rootReadyMs);
    } catch (err) {
      throw new PeerError(503, (err as Error).message);
    }
    const plan = this.#replan(tree);
    let parentNode = plan?.parent.get(req.from.node);
    if (parentNode === undefined) {
      // Not in the tree (no readers left): keep it fed by the root while its own children move elsewhere.
      parentNode = this.#peer.node;
    }
    const parentRef = parentNode === this.#peer.node ? this.self : this.#refOfNode(tree, parentNode);
    const desc = tree.stream.description!;
    return {
      root: this.#peer.node,
      parent: parentRef,
      sdp: rewriteSdpForServing(desc, { sessionName: req.path, originAddress: this.#peer.host }),
      outputSsrcs: tree.stream.tracks.map((t) => t.outputSsrc),
      depth: plan?.depth(req.from.node) ?? 1,
      epoch: this.#rootEpoch(tree.stream),
    };
  }

  /** The numbering epoch of a stream rooted here: this relay, this run of it, this stream object. */
  #rootEpoch(stream: Stream): string {
    return `${this.#peer.node}/${this.self.incarnation}/${stream.epochId}`;
  }

  /** The epoch this relay forwards `path` in: its own as the root, else the one its mesh source joined under. */
  #epochOf(path: string): string | null {
    const tree = this.#roots.get(path);
    if (tree) return this.#rootEpoch(tree.stream);
    return this.#sources.get(path)?.epoch ?? null;
  }

  #refOfNode(tree: RootTree, node: string): PeerRef {
    const member = tree.members.get(node);
    if (member) return member.ref;
    const peer = this.#opts.discovery.peers().find((p) => p.node === node);
    return peer ? refOf(peer) : this.self;
  }

  #replan(tree: RootTree): TreePlan | null {
    const live = this.livePeers();
    const liveNodes = new Set(live.map((p) => p.node));
    const members = live.map((p) => ({ node: p.node, zone: p.zone }));
    // Members reported by join but unknown to discovery (static views differ) still count, in their own zone.
    for (const m of tree.members.values()) {
      if (!liveNodes.has(m.ref.node) && !this.#suspects.has(m.ref.node)) {
        members.push({ node: m.ref.node, zone: "" });
        liveNodes.add(m.ref.node);
      }
    }
    const wanting = new Set(
      [...tree.members.values()].filter((m) => m.readers > 0 && liveNodes.has(m.ref.node)).map((m) =>
        m.ref.node
      ),
    );
    try {
      tree.plan = planTree({
        root: this.#peer.node,
        members,
        wanting,
        fanout: this.#opts.fanout,
        ...(tree.plan ? { previous: tree.plan } : {}),
      });
    } catch (err) {
      this.#log.error("tree planning failed", { path: tree.stream.path, error: String(err) });
    }
    return tree.plan;
  }

  #dropEmptyTree(path: string): void {
    const tree = this.#roots.get(path);
    if (!tree || tree.members.size > 0) return;
    this.#roots.delete(path);
    tree.stream.release();
  }

  #addChild(stream: Stream, from: SelfRef, streamId: number, burst: boolean): void {
    const subs = this.#children.get(stream.path) ?? new Map<string, ChildSub>();
    this.#children.set(stream.path, subs);
    const existing = subs.get(from.node);
    if (existing) this.#detachChild(stream, existing);
    else stream.retain();
    const to: Deno.NetAddr = { transport: "udp", hostname: from.host, port: from.meshPort };
    const incarnation = incarnationBytes(from.incarnation);
    const egressIds: string[] = [];
    for (const track of stream.tracks) {
      const id = `mesh:${from.node}:${streamId}:${track.index}`;
      track.addEgress(new MeshEgress(id, this.#socket!, to, incarnation, streamId, track.index), { burst });
      egressIds.push(id);
    }
    subs.set(from.node, {
      node: from.node,
      ref: from,
      to,
      incarnation,
      streamId,
      egressIds,
      lastHeard: this.#clock(),
    });
    this.#newPeerExpected();
    this.#log.info("mesh child subscribed", { path: stream.path, child: from.node, burst });
  }

  #detachChild(stream: Stream, sub: ChildSub): void {
    for (const track of stream.tracks) for (const id of sub.egressIds) track.removeEgress(id);
  }

  #removeChild(path: string, node: string): void {
    const subs = this.#children.get(path);
    const sub = subs?.get(node);
    if (!subs || !sub) return;
    subs.delete(node);
    if (subs.size === 0) this.#children.delete(path);
    const stream = this.#hub?.get(path);
    if (stream) {
      this.#detachChild(stream, sub);
      stream.release();
    }
    this.#log.info("mesh child left", { path, child: node });
  }

  #sourcesCleanup(path: string): void {
    const source = this.#sources.get(path);
    if (source && source.stream.closed) this.#sources.delete(path);
  }

  #onPacket(packet: MeshPacket, from: Deno.NetAddr): void {
    if (packet.type === "heartbeat") {
      const node = heartbeatNode(packet);
      if (!node) return;
      if (!this.#fromPeer(from, node)) {
        return this.#refuseDatagram(from, "unexpected_source", `heartbeat naming ${node}`);
      }
      this.#lastHeard = this.#clock();
      this.#heard(node);
      for (const source of this.#sources.values()) source.onHeartbeat(node);
      for (const subs of this.#children.values()) {
        const sub = subs.get(node);
        if (sub) sub.lastHeard = this.#clock();
      }
      return;
    }
    const source = this.#routes.get(packet.streamId);
    if (!source) return this.#refuseDatagram(from, "unknown_stream", `frame of stream ${packet.streamId}`);
    // Only the parent this stream id was given to may feed it.
    const parent = source.parentOf(packet.streamId);
    if (!parent || !this.#fromPeer(from, parent.node)) {
      return this.#refuseDatagram(from, "unexpected_source", `frame of stream ${packet.streamId}`);
    }
    this.#lastHeard = this.#clock();
    source.onFrame(packet, packet.streamId);
  }

  /**
   * True when a datagram from `from` may be taken for one of relay `node`: with a mesh key, sealing proved it
   * comes from a key holder; without, it must come from the mesh address discovery gives for `node`.
   */
  #fromPeer(from: Deno.NetAddr, node: string): boolean {
    if (this.#ring) return true;
    const known = this.#knownPeer(node);
    return known !== undefined && known.meshPort === from.port &&
      plainHost(known.host) === plainHost(from.hostname);
  }

  #refuseDatagram(from: Deno.NetAddr, reason: "unexpected_source" | "unknown_stream", what: string): void {
    if (reason === "unknown_stream") {
      // Frames of a stream just unsubscribed are still in flight: counted, not worth a log line.
      this.#unknownStream++;
      return;
    }
    this.#unexpectedSource++;
    this.#logRefusal(
      "mesh packet refused",
      reason,
      from.hostname,
      `${what} from ${from.hostname}:${from.port}, not the mesh address discovery gives for that relay`,
    );
  }

  #heartbeat(): void {
    const socket = this.#socket;
    if (!socket) return;
    const beat = new TextEncoder().encode(this.#peer.node);
    const sent = new Set<string>();
    const send = (to: Deno.NetAddr, incarnation: Uint8Array) => {
      const key = `${to.hostname}:${to.port}:${toHex(incarnation)}`;
      if (sent.has(key)) return;
      sent.add(key);
      socket.send(to, incarnation, "heartbeat", 0, 0, beat);
    };
    // A deaf relay has nothing to forward: its silence tells its children to move at once.
    if (this.#deafSince === null) {
      for (const subs of this.#children.values()) {
        for (const sub of subs.values()) send(sub.to, sub.incarnation);
      }
    }
    for (const source of this.#sources.values()) {
      const p = source.parent && this.#trustedRef(source.parent);
      const incarnation = p && this.#parentIncarnations.get(p.node);
      if (p && incarnation) send({ transport: "udp", hostname: p.host, port: p.meshPort }, incarnation);
    }
  }

  #sweep(): void {
    this.#nonces.sweep(this.#wallClock());
    for (const { key, suppressed } of this.#refusalLog.flush(this.#clock())) {
      const [what, reason, from] = key.split("|");
      this.#log.warn(`${what} (repeats)`, { reason, from, suppressed });
    }
    const now = this.#clock();
    for (const [path, subs] of this.#children) {
      for (const sub of [...subs.values()]) {
        if (now - sub.lastHeard > this.#opts.childTimeoutMs) {
          this.#log.warn("mesh child silent, dropping it", { path, child: sub.node });
          this.#removeChild(path, sub.node);
        }
      }
    }
    for (const [path, tree] of this.#roots) {
      let changed = false;
      for (const [node, m] of tree.members) {
        if (m.expires < now) {
          tree.members.delete(node);
          changed = true;
        }
      }
      if (changed) this.#replan(tree);
      this.#dropEmptyTree(path);
    }
    for (const [path, source] of this.#sources) if (source.stream.closed) this.#sources.delete(path);
    const parents = new Set([...this.#sources.values()].map((s) => s.parent?.node));
    for (const node of this.#parentIncarnations.keys()) {
      if (!parents.has(node)) this.#parentIncarnations.delete(node);
    }
  }
}

function refOf(p: Peer): PeerRef {
  return { node: p.node, host: p.host, adminPort: p.adminPort, meshPort: p.meshPort };
}

/** An address as relays compare them: an IPv4-mapped IPv6 address as its IPv4 form, lower case. */
function plainHost(host: string): string {
  return host.replace(/^::ffff:(?=\d)/i, "").toLowerCase();
}

/** The address a request came from (Deno.serve's connection info), or null when unknown. */
function callerAddress(c: Context): string | null {
  return (c.env as { remoteAddr?: Deno.NetAddr } | undefined)?.remoteAddr?.hostname ?? null;
}

function hostPart(host: string): string {
  return host.includes(":") ? `[${host}]` : host;
}

function base(p: Pick<Peer, "host" | "adminPort">): string {
  return `http://${hostPart(p.host)}:${p.adminPort}`;
}

function encodePath(path: string): string {
  return path.split("/").map(encodeURIComponent).join("/");
}
