/**
 * The root's authority over the trees of the streams that enter the mesh here, sans-I/O (time passed in): the
 * members that joined each stream, their leases, the plan (planner.ts) and the answers to joins and renewals
 * (parent, depth, the numbering epoch). One authority per stream, so relays never disagree on a tree.
 *
 * Plans are recomputed only when something they depend on changed: a member came, left, expired or crossed
 * between readers and none, or the live view changed (its `key`). Renewals that change nothing cost no planning,
 * so a root with many members and paths stays cheap.
 * @module
 */
import { type PlanMember, planTree, type TreePlan } from "./planner.ts";
import { type DualPlan, firstParents, planDual } from "./dual_planner.ts";
import type { HopFigures, PeerRef } from "./mesh_protocol.ts";

/** What the root knows of the cluster when it plans. */
export interface PlanView {
  /** Identifies `live` (equal keys: the same relays in the same zones); plans are redone when it changes. */
  key: string;
  /** Live relays (ready, not suspected) with their zones, this relay included. */
  live: readonly PlanMember[];
  /** True for a relay that was suspected and has not spoken since: a member unknown to `live` counts only if not. */
  noted(node: string): boolean;
  /** The address discovery gives for `node`, if it knows it. */
  refOf(node: string): PeerRef | undefined;
}

/** A member's place in a tree, as a join or a renewal answers it. */
export interface Assignment {
  /** The relay to subscribe to (this root itself when the member hangs under it). */
  parent: PeerRef;
  /** Hops from the root (1: a child of the root). */
  depth: number;
  /** With dual-path protection: both relays to subscribe to (`parent` first), their paths disjoint but the root. */
  parents?: PeerRef[];
}

/** How a path's stream is protected: one tree, or two paths to every member (dual_planner.ts). */
export type Protection = "none" | "dual";

/** Why a renewal of one path is refused: the member joins that path again. */
export interface RenewRefusal {
  status: 404 | 409;
  error: string;
}

/** A member of a tree. */
export interface TreeMember {
  readonly ref: PeerRef;
  readers: number;
  /** It pulls the camera itself as the standby root, aligned with this root's numbering (it said so). */
  standby: boolean;
  /** The hop into it as it measures it (it said so last), or undefined. */
  hop?: HopFigures;
  /** When its lease runs out (monotonic ms). */
  expires: number;
}

interface RootTree<S> {
  readonly handle: S;
  readonly epoch: string;
  readonly members: Map<string, TreeMember>;
  plan: TreePlan | null;
  /** With dual-path protection: both trees (`plan` is then every member's first parent). */
  dual: DualPlan | null;
  /** The view key the plan was made for; null: plan again before answering. */
  plannedFor: string | null;
}

/** Options of {@linkcode RootAuthority}. */
export interface RootAuthorityOptions {
  /** This relay (the root) as members subscribe to it. */
  self: PeerRef;
  /** Children per relay. */
  fanout: number;
  /** Join lease: a member that neither joins nor renews for 4 of them leaves the tree. */
  leaseMs: number;
  /** Told when the planner refused an input (the previous plan stays). */
  onPlanError?: (path: string, error: unknown) => void;
  /** The protection of `path` (its config's, else `--protection`). @default none */
  protection?: (path: string) => Protection;
  /**
   * The standby root of `path` (a camera pulled by a second relay, dual protection only): when it is a member, its
   * colour's tree starts there (dual_planner.ts). @default none
   */
  standby?: (path: string) => string | null;
}

/** Members, leases and plans of the streams rooted here; `S` is what the mesh keeps per tree (its stream). */
export class RootAuthority<S> {
  readonly #opts: RootAuthorityOptions;
  readonly #trees = new Map<string, RootTree<S>>();

  /** @param options this relay, fan-out and lease */
  constructor(options: RootAuthorityOptions) {
    this.#opts = options;
  }

  /** True when `path` has a tree here. */
  has(path: string): boolean {
    return this.#trees.has(path);
  }

  /** Paths with a tree here. */
  paths(): string[] {
    return [...this.#trees.keys()];
  }

  /** What the mesh keeps for `path`'s tree. */
  handle(path: string): S | undefined {
    return this.#trees.get(path)?.handle;
  }

  /** The numbering epoch of `path`'s tree, or null when there is none. */
  epochOf(path: string): string | null {
    return this.#trees.get(path)?.epoch ?? null;
  }

  /** The current plan of `path`. */
  plan(path: string): TreePlan | null {
    return this.#trees.get(path)?.plan ?? null;
  }

  /** The dual plan of `path`, when it is protected so. */
  dualPlan(path: string): DualPlan | null {
    return this.#trees.get(path)?.dual ?? null;
  }

  /** The members of `path`'s tree. */
  members(path: string): TreeMember[] {
    return [...(this.#trees.get(path)?.members.values() ?? [])];
  }

  /** True when `node` is a member of `path`'s tree. */
  isMember(path: string, node: string): boolean {
    return this.#trees.get(path)?.members.has(node) ?? false;
  }

  /** True when `node` is a member of any tree here. */
  isMemberAnywhere(node: string): boolean {
    for (const tree of this.#trees.values()) if (tree.members.has(node)) return true;
    return false;
  }

  /**
   * Opens the tree of `path` (nothing when it is open).
   * @param handle what the mesh keeps for it (its stream, which it retained)
   * @param epoch the numbering epoch the root's stream runs in
   * @returns true when it was opened now
   */
  open(path: string, handle: S, epoch: string): boolean {
    if (this.#trees.has(path)) return false;
    this.#trees.set(path, { handle, epoch, members: new Map(), plan: null, dual: null, plannedFor: null });
    return true;
  }

  /**
   * The suspects a member of `path` named that may be acted on: it may blame its own parent, or a relay outside the
   * tree (such as an old root); never itself, this root or another member (a member cannot push others out).
   */
  blameable(path: string, from: string, suspects: readonly string[]): string[] {
    const plan = this.#trees.get(path)?.plan ?? null;
    const parents = this.#trees.get(path)?.dual?.parents.get(from) ?? [];
    return suspects.filter((s) => {
      if (s === from || s === this.#opts.self.node) return false;
      return !(plan?.parent.has(s) && plan.parent.get(from) !== s && !parents.includes(s));
    });
  }

  /**
   * Records a join of `ref` to the open tree of `path` with `readers` local readers; its lease runs from `now`.
   * @returns false when `path` has no tree here
   */
  admit(
    path: string,
    ref: PeerRef,
    readers: number,
    now: number,
    standby = false,
    hop?: HopFigures,
  ): boolean {
    const tree = this.#trees.get(path);
    if (!tree) return false;
    const before = tree.members.get(ref.node);
    if (
      !before || (before.readers > 0) !== (readers > 0) || !sameRef(before.ref, ref) ||
      before.standby !== standby
    ) {
      tree.plannedFor = null;
    }
    tree.members.set(ref.node, {
      ref,
      readers,
      standby,
      expires: now + 4 * this.#opts.leaseMs,
      ...(hop ? { hop } : {}),
    });
    return true;
  }

  /**
   * The place of `node` in `path`'s tree, planning first when the plan is out of date. A member without readers is
   * not in the plan: the root feeds it directly while its own children move elsewhere.
   */
  assign(path: string, node: string, view: PlanView): Assignment | null {
    const tree = this.#trees.get(path);
    if (!tree) return null;
    const plan = this.#planned(path, tree, view);
    const parentNode = plan?.parent.get(node) ?? this.#opts.self.node;
    const place: Assignment = { parent: this.#refOf(tree, parentNode, view), depth: plan?.depth(node) ?? 1 };
    const both = tree.dual?.parents.get(node);
    if (both && both.length === 2 && both[0] === parentNode) {
      place.parents = both.map((n) => this.#refOf(tree, n, view));
    }
    return place;
  }

  /**
   * A member's renewal of `path` under `epoch`: refreshes its lease and readers and answers its place, or refuses
   * (no tree or not a member here: 404; another epoch: 409) so that the member joins again.
   */
  renew(
    path: string,
    node: string,
    readers: number,
    epoch: string,
    now: number,
    view: PlanView,
    standby = false,
    hop?: HopFigures,
  ): Assignment | RenewRefusal {
    const tree = this.#trees.get(path);
    if (!tree) return { status: 404, error: `"${path}" has no tree here: join again` };
    const member = tree.members.get(node);
    if (!member) return { status: 404, error: `${node} is not a member of "${path}" here: join again` };
    if (epoch !== tree.epoch) {
      return { status: 409, error: `"${path}" runs in epoch ${tree.epoch} here, not ${epoch}: join again` };
    }
    this.admit(path, member.ref, readers, now, standby, hop);
    return this.assign(path, node, view)!;
  }

  /**
   * `node` left `path`'s tree (it has no readers left, or it is draining).
   * @returns true when it was a member
   */
  leave(path: string, node: string): boolean {
    const tree = this.#trees.get(path);
    if (!tree?.members.delete(node)) return false;
    tree.plannedFor = null;
    return true;
  }

  /** Removes the members whose lease ran out at `now`. @returns the paths that lost members */
  expire(now: number): string[] {
    const changed: string[] = [];
    for (const [path, tree] of this.#trees) {
      let lost = false;
      for (const [node, m] of tree.members) {
        if (m.expires < now) {
          tree.members.delete(node);
          lost = true;
        }
      }
      if (lost) {
        tree.plannedFor = null;
        changed.push(path);
      }
    }
    return changed;
  }

  /** Plans every tree whose plan is out of date for `view` (the view changed: a relay came, went or was suspected). */
  replanAll(view: PlanView): void {
    for (const [path, tree] of this.#trees) this.#planned(path, tree, view);
  }

  /**
   * Closes `path`'s tree when it has no member left.
   * @returns its handle (the mesh releases its stream), or undefined when it stays or does not exist
   */
  dropIfEmpty(path: string): S | undefined {
    const tree = this.#trees.get(path);
    if (!tree || tree.members.size > 0) return undefined;
    this.#trees.delete(path);
    return tree.handle;
  }

  /**
   * Closes `path`'s tree whatever its members (this relay is no longer where the path enters the mesh).
   * @returns its handle, or undefined when there was none
   */
  drop(path: string): S | undefined {
    const tree = this.#trees.get(path);
    this.#trees.delete(path);
    return tree?.handle;
  }

  /** Closes every tree. @returns their handles */
  dropAll(): S[] {
    const handles = [...this.#trees.values()].map((t) => t.handle);
    this.#trees.clear();
    return handles;
  }

  #planned(path: string, tree: RootTree<S>, view: PlanView): TreePlan | null {
    if (tree.plannedFor === view.key && tree.plan) return tree.plan;
    const members: PlanMember[] = [...view.live];
    const liveNodes = new Set(members.map((p) => p.node));
    // Members reported by join but unknown to discovery (static views differ) still count, in their own zone.
    for (const m of tree.members.values()) {
      if (!liveNodes.has(m.ref.node) && !view.noted(m.ref.node)) {
        members.push({ node: m.ref.node, zone: "" });
        liveNodes.add(m.ref.node);
      }
    }
    const wanting = new Set<string>();
    for (const m of tree.members.values()) {
      if (m.readers > 0 && liveNodes.has(m.ref.node)) wanting.add(m.ref.node);
    }
    try {
      const input = { root: this.#opts.self.node, members, wanting, fanout: this.#opts.fanout };
      if (this.#opts.protection?.(path) === "dual" && this.#opts.fanout >= 2) {
        // The standby tops a tree only once it says it pulls the camera, aligned: a relay that does not (its config
        // differs, its session is not aligned yet) would be a second path that still hangs on the root.
        const standby = this.#opts.standby?.(path) ?? null;
        const ready = standby !== null && tree.members.get(standby)?.standby === true ? standby : null;
        tree.dual = planDual(input, tree.dual ?? undefined, ready);
        tree.plan = firstParents(tree.dual);
      } else {
        tree.dual = null;
        tree.plan = planTree({ ...input, ...(tree.plan ? { previous: tree.plan } : {}) });
      }
      tree.plannedFor = view.key;
    } catch (err) {
      this.#opts.onPlanError?.(path, err);
    }
    return tree.plan;
  }

  #refOf(tree: RootTree<S>, node: string, view: PlanView): PeerRef {
    if (node === this.#opts.self.node) return this.#opts.self;
    return tree.members.get(node)?.ref ?? view.refOf(node) ?? this.#opts.self;
  }
}

function sameRef(a: PeerRef, b: PeerRef): boolean {
  return a.host === b.host && a.adminPort === b.adminPort && a.meshPort === b.meshPort;
}
