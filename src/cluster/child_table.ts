/**
 * The parent side of the mesh, sans-I/O (time passed in): which child relays subscribed to which stream here, the
 * stream id each chose, the egresses their tracks carry, when each was last heard, and which fell silent for too
 * long. The mesh attaches and detaches the egresses the table names; the table never touches a stream.
 * @module
 */
import type { SelfRef } from "./mesh_protocol.ts";

/** One child's subscription to one stream. */
export interface ChildSub {
  readonly node: string;
  /** The child as discovery gives it (or as a key holder said), with its incarnation. */
  readonly ref: SelfRef;
  /** Its mesh address: media goes there, never to one a request body names. */
  readonly to: Deno.NetAddr;
  /** The child's incarnation (8 bytes): what is sealed for it opens nowhere else. */
  readonly incarnation: Uint8Array;
  /** The id the child gave the subscription: every frame carries it. */
  readonly streamId: number;
  /** The root's epoch the child subscribed in: it is fed that epoch's numbering only. */
  readonly epoch: string;
  /** Ids of the egresses on the stream's tracks, one per track. */
  readonly egressIds: readonly string[];
  /** Last heartbeat or subscription of the child (monotonic ms). */
  lastHeard: number;
}

/** A silent child, as {@linkcode ChildTable.silent} lists it. */
export interface SilentChild {
  path: string;
  sub: ChildSub;
}

/** The egress id of a child's track: unique per child, subscription and track. */
export function childEgressId(node: string, streamId: number, track: number): string {
  return `mesh:${node}:${streamId}:${track}`;
}

/** path -> child node -> subscription. */
export class ChildTable {
  readonly #byPath = new Map<string, Map<string, ChildSub>>();
  /** Subscriptions by the stream id their frames carry (ids are the children's: two may pick the same). */
  readonly #byStreamId = new Map<number, SilentChild[]>();

  /**
   * Records a subscription, replacing the child's previous one for that path (a re-subscribe with a new stream id).
   * @returns the replaced subscription (its egresses must be detached), or undefined for a new child
   */
  add(path: string, sub: ChildSub): ChildSub | undefined {
    let subs = this.#byPath.get(path);
    if (!subs) {
      subs = new Map();
      this.#byPath.set(path, subs);
    }
    const previous = subs.get(sub.node);
    subs.set(sub.node, sub);
    if (previous) this.#unindex(path, previous);
    const same = this.#byStreamId.get(sub.streamId);
    if (same) same.push({ path, sub });
    else this.#byStreamId.set(sub.streamId, [{ path, sub }]);
    return previous;
  }

  /**
   * Forgets a child's subscription to `path`.
   * @returns it (its egresses must be detached), or undefined when there was none
   */
  remove(path: string, node: string): ChildSub | undefined {
    const subs = this.#byPath.get(path);
    const sub = subs?.get(node);
    if (!subs || !sub) return undefined;
    subs.delete(node);
    if (subs.size === 0) this.#byPath.delete(path);
    this.#unindex(path, sub);
    return sub;
  }

  /** The subscriptions whose frames carry `streamId` (usually one), with their paths. */
  byStreamId(streamId: number): readonly SilentChild[] {
    return this.#byStreamId.get(streamId) ?? [];
  }

  #unindex(path: string, sub: ChildSub): void {
    const same = this.#byStreamId.get(sub.streamId);
    if (!same) return;
    const kept = same.filter((e) => e.sub !== sub || e.path !== path);
    if (kept.length > 0) this.#byStreamId.set(sub.streamId, kept);
    else this.#byStreamId.delete(sub.streamId);
  }

  /** The subscription of `node` to `path`. */
  get(path: string, node: string): ChildSub | undefined {
    return this.#byPath.get(path)?.get(node);
  }

  /** The children of `path`, sorted by node name. */
  childrenOf(path: string): ChildSub[] {
    return [...(this.#byPath.get(path)?.values() ?? [])].sort((a, b) => (a.node < b.node ? -1 : 1));
  }

  /** Number of children of `path`. */
  count(path: string): number {
    return this.#byPath.get(path)?.size ?? 0;
  }

  /** Children per path (`msm_mesh_children`). */
  counts(): Map<string, number> {
    return new Map([...this.#byPath].map(([path, subs]) => [path, subs.size]));
  }

  /** Subscriptions over every path. */
  get size(): number {
    let n = 0;
    for (const subs of this.#byPath.values()) n += subs.size;
    return n;
  }

  /** Paths with children. */
  paths(): string[] {
    return [...this.#byPath.keys()];
  }

  /** Every subscription, with its path. */
  *entries(): IterableIterator<[string, ChildSub]> {
    for (const [path, subs] of this.#byPath) for (const sub of subs.values()) yield [path, sub];
  }

  /** Every subscription. */
  *values(): IterableIterator<ChildSub> {
    for (const subs of this.#byPath.values()) yield* subs.values();
  }

  /** Nodes with at least one subscription: each heartbeats this relay. */
  nodes(): Set<string> {
    const out = new Set<string>();
    for (const subs of this.#byPath.values()) for (const node of subs.keys()) out.add(node);
    return out;
  }

  /** A heartbeat of `node` arrived: each of its subscriptions is alive. */
  heard(node: string, now: number): void {
    for (const subs of this.#byPath.values()) {
      const sub = subs.get(node);
      if (sub) sub.lastHeard = now;
    }
  }

  /**
   * The subscriptions silent for more than `timeoutMs` at `now` (the caller removes them). A child heartbeats every
   * few hundred ms: such silence means it died or moved without saying so.
   */
  silent(now: number, timeoutMs: number): SilentChild[] {
    const out: SilentChild[] = [];
    for (const [path, sub] of this.entries()) if (now - sub.lastHeard > timeoutMs) out.push({ path, sub });
    return out;
  }
}
