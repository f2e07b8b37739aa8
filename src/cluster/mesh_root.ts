/**
 * The root side of the mesh as the peer protocol reaches it: joins, batched renewals and leaves of the streams that
 * enter the mesh here. The decisions are the {@linkcode RootAuthority}'s (members, leases, plans); this shell holds
 * the streams (one reference per tree), waits for them to be ready and builds the answers (SDP, SSRCs, epoch).
 * @module
 */
import type { Clock } from "../clock.ts";
import type { Logger } from "../log.ts";
import type { StreamHub } from "../relay/hub.ts";
import type { Stream } from "../relay/stream.ts";
import { rewriteSdpForServing } from "../rtsp/sdp.ts";
import type { FailureDetector } from "./failure_detector.ts";
import { PeerError } from "./mesh_peer_client.ts";
import type {
  JoinRequest,
  JoinResponse,
  RenewRequest,
  RenewResponse,
  RenewResult,
  SelfRef,
} from "./mesh_protocol.ts";
import { type PlanView, type Protection, RootAuthority } from "./root_authority.ts";

/** What the root side needs from the mesh. */
export interface MeshRootHost {
  readonly self: SelfRef;
  /** The hub, once the mesh started. */
  hub(): StreamHub | null;
  readonly detector: FailureDetector;
  /** Suspects `node` when it may be recorded (a known relay or a member here). */
  suspect(node: string): void;
  /** The cluster as plans see it now. */
  planView(): PlanView;
  /** True while this relay drains (it takes no new members). */
  draining(): boolean;
  /** The standby root of a camera path rooted here (dual protection), or null. */
  standbyOf(path: string): string | null;
  readonly now: Clock;
}

/** Options of {@linkcode MeshRoot}. */
export interface MeshRootOptions {
  fanout: number;
  leaseMs: number;
  /** Wait for a root's source to be ready before answering a join. */
  rootReadyMs: number;
  logger: Logger;
  /** How the streams rooted here are protected. @default none */
  protection?: Protection;
  /** Per path, over `protection`. */
  pathProtection?: Readonly<Record<string, Protection>>;
}

/** The streams rooted here and their trees. */
export class MeshRoot {
  readonly #host: MeshRootHost;
  readonly #opts: MeshRootOptions;
  /** Members, leases and plans; a tree's handle is its stream (retained while the tree is open). */
  readonly authority: RootAuthority<Stream>;

  /**
   * @param host the mesh
   * @param options fan-out, lease, ready wait, logger
   */
  constructor(host: MeshRootHost, options: MeshRootOptions) {
    this.#host = host;
    this.#opts = options;
    const { node, host: address, adminPort, meshPort } = host.self;
    this.authority = new RootAuthority({
      self: { node, host: address, adminPort, meshPort },
      fanout: options.fanout,
      leaseMs: options.leaseMs,
      onPlanError: (path, err) => options.logger.error("tree planning failed", { path, error: String(err) }),
      protection: (path) => this.protectionOf(path),
      standby: (path) => host.standbyOf(path),
    });
  }

  /** How `path` is protected here (its own setting, else the relay's). */
  protectionOf(path: string): Protection {
    return this.#opts.pathProtection?.[path] ?? this.#opts.protection ?? "none";
  }

  /** The numbering epoch of `path` when it is rooted here: this relay, this run of it, this stream object. */
  epochOf(path: string): string | null {
    return this.authority.epochOf(path);
  }

  /**
   * A relay's join (with `req.from` as discovery gives it): its place in the tree, the SDP and the root's
   * numbering. Nothing changes for a path this relay neither pulls nor serves (404).
   * @throws {PeerError} 404 unknown path, 409 rooted elsewhere, 503 draining or not ready
   */
  async join(req: JoinRequest): Promise<JoinResponse> {
    const hub = this.#host.hub();
    if (!hub || (!hub.pulls().has(req.path) && !hub.isLocalRoot(req.path))) {
      throw new PeerError(404, `No stream at "${req.path}" here`);
    }
    const now = this.#host.now();
    const from = req.from.node;
    const detector = this.#host.detector;
    // A deaf member (its port receives nothing) stays out of plans, fed as a leaf, until it says it hears again.
    if (req.deaf) {
      this.#host.suspect(from);
      if (detector.suspected(from, now)) detector.peerDeaf(from, now);
    } else {
      detector.peerHears(from);
    }
    // What the member lost may be the old root: with it out of the view, the root may move here.
    for (const s of this.authority.blameable(req.path, from, req.suspects)) this.#host.suspect(s);
    hub.rehome(req.path);
    if (!hub.isLocalRoot(req.path)) {
      this.abdicate();
      throw new PeerError(409, `"${req.path}" does not enter the mesh here`);
    }
    if (this.#host.draining()) throw new PeerError(503, "This relay is draining");
    if (!this.authority.has(req.path)) {
      const stream = hub.forReader(req.path);
      if (!stream) throw new PeerError(404, `No stream at "${req.path}"`);
      stream.retain();
      this.authority.open(req.path, stream, this.#epoch(stream));
    }
    this.authority.admit(req.path, req.from, req.readers, now, req.standby, req.hop);
    const stream = this.authority.handle(req.path)!;
    try {
      await stream.whenReady(this.#opts.rootReadyMs);
    } catch (err) {
      throw new PeerError(503, (err as Error).message);
    }
    // The tree may have closed while the stream got ready (every member left or ran out): the member retries.
    if (this.authority.handle(req.path) !== stream) {
      throw new PeerError(503, `The tree of "${req.path}" closed while its stream got ready; join again`);
    }
    this.authority.admit(req.path, req.from, req.readers, this.#host.now(), req.standby, req.hop);
    const place = this.authority.assign(req.path, from, this.#host.planView())!;
    return {
      root: this.#host.self.node,
      parent: place.parent,
      sdp: rewriteSdpForServing(stream.description!, {
        sessionName: req.path,
        originAddress: this.#host.self.host,
      }),
      outputSsrcs: stream.tracks.map((t) => t.outputSsrc),
      depth: place.depth,
      epoch: this.authority.epochOf(req.path)!,
      ...(place.parents ? { parents: place.parents } : {}),
    };
  }

  /**
   * A member's renewal of its joins here, all paths in one call: each path answers its place or why the member must
   * join it again (404 no tree or not a member, 409 another epoch or rooted elsewhere, 503 draining).
   */
  renew(req: RenewRequest): RenewResponse {
    const now = this.#host.now();
    const from = req.from.node;
    if (req.deaf) this.#host.suspect(from);
    else this.#host.detector.peerHears(from);
    this.abdicate();
    const view = this.#host.planView();
    const paths: Record<string, RenewResult> = {};
    for (const item of req.paths) {
      if (this.#host.draining()) {
        paths[item.path] = { status: 503, error: "This relay is draining" };
        continue;
      }
      const r = this.authority.renew(
        item.path,
        from,
        item.readers,
        item.epoch,
        now,
        view,
        item.standby ?? false,
        item.hop,
      );
      paths[item.path] = "status" in r ? r : { ...r, epoch: item.epoch };
    }
    return { paths };
  }

  /**
   * `node` leaves `path`'s tree; the stream is released when the tree is empty.
   * @returns false when it was not a member
   */
  leave(path: string, node: string): boolean {
    const left = this.authority.leave(path, node);
    this.#dropIfEmpty(path);
    return left;
  }

  /**
   * Closes the trees of paths that no longer enter the mesh here (the root moved: a camera re-homed to another
   * relay): their members get 404 and join the new root, and nothing here answers in the old epoch any more.
   */
  abdicate(): void {
    const hub = this.#host.hub();
    if (!hub) return;
    for (const path of this.authority.paths()) {
      if (!hub.isLocalRoot(path)) this.authority.drop(path)?.release();
    }
  }

  /** Drops members whose lease ran out and closes empty trees. */
  sweep(): void {
    if (this.authority.expire(this.#host.now()).length > 0) this.replanAll();
    for (const path of this.authority.paths()) this.#dropIfEmpty(path);
  }

  /** Plans again the trees whose inputs changed (the view moved). */
  replanAll(): void {
    this.authority.replanAll(this.#host.planView());
  }

  /** This root's part of the tree view of `path` (admin API), or null when it is not rooted here. */
  treeView(
    path: string,
  ): {
    stream: Stream;
    plan?: Record<string, string>;
    planParents?: Record<string, readonly string[]>;
    members?: unknown[];
    standby?: { node: string | null; promoted: boolean };
  } | null {
    const stream = this.authority.handle(path);
    if (!stream) return null;
    const plan = this.authority.plan(path);
    const promoted = stream.source?.meshEpoch !== undefined;
    const dual = this.authority.dualPlan(path);
    const standby = dual || promoted ? { standby: { node: dual?.standby ?? null, promoted } } : {};
    if (!plan) return { stream, ...standby };
    return {
      stream,
      ...standby,
      plan: Object.fromEntries([...plan.parent.entries()].sort()),
      ...(dual ? { planParents: Object.fromEntries([...dual.parents.entries()].sort()) } : {}),
      members: this.authority.members(path).map((m) => ({
        node: m.ref.node,
        readers: m.readers,
        ...(m.hop ? { hop: m.hop } : {}),
      })),
    };
  }

  /** Closes every tree and releases the streams. */
  close(): void {
    for (const stream of this.authority.dropAll()) stream.release();
  }

  #dropIfEmpty(path: string): void {
    this.authority.dropIfEmpty(path)?.release();
  }

  #epoch(stream: Stream): string {
    // A standby that took the dead root's place carries its numbering on: the tree keeps that epoch.
    const inherited = stream.source?.meshEpoch;
    if (inherited !== undefined) return inherited;
    return `${this.#host.self.node}/${this.#host.self.incarnation}/${stream.epochId}`;
  }
}
