/**
 * The mesh's invariants, checked on a snapshot of the simulated cluster (pure functions: each is tested on
 * hand-built bad trees in invariants_test.ts). The copy graph is what the parents' child tables say: a parent
 * sends one copy of the stream to each child it lists, so that is where media really goes.
 *
 * For each path served by some live relay configured with it (or published):
 * - one root, among the live relays configured with the path;
 * - every relay with a reader reaches the root through the copy graph, each hop agreeing with the child's own
 *   parent, and its readers get media;
 * - at most k children per relay; depth <= ceil(log_k N) + 1 (N: the relays in the tree); no loop;
 * - at most one copy enters each zone, none enters the root's zone;
 * - every child a parent lists is alive and takes its copy from that parent (no copies into the void).
 *
 * A relay whose last reader left keeps its stream for the linger (`--linger`); the root keeps it fed outside the
 * plan meanwhile (an extra copy, beyond k, maybe into another zone: finding F2 in /work/briefs/sim_findings.md).
 * Such copies (to a relay with no reader and no child) are counted apart ({@linkcode lingeringCopies}) and left
 * out of the k and zone checks unless `strictLinger` is set.
 * @module
 */
import { expectedBound } from "../planner_testing.ts";

/** A relay's part in one path's tree (its admin API's `/api/v1/tree/{path}`). */
export interface TreeSnapshot {
  role: "root" | "member";
  parent: string | null;
  /** With dual-path protection: the parents it subscribed to, `parent` first. */
  parents?: readonly string[];
  /** It is the standby root and pulls the camera itself, aligned: a source of the stream as much as the root. */
  standby?: boolean;
  children: readonly string[];
}

/** One relay in a snapshot. */
export interface RelaySnapshot {
  node: string;
  zone: string;
  alive: boolean;
  /** Camera paths it is configured with. */
  configured: ReadonlySet<string>;
  /** Its tree view per path (paths it has no part in are absent). */
  trees: ReadonlyMap<string, TreeSnapshot>;
}

/** One reader in a snapshot. */
export interface ReaderSnapshot {
  id: string;
  node: string;
  path: string;
  /** Playing since this sim time, or -1 (waiting, stopped). */
  playingSince: number;
  /** Waiting for the stream since this sim time, or -1. */
  waitingSince: number;
  /** Last packet's sim time, or -1. */
  lastPacketAt: number;
}

/** The cluster at one moment. */
export interface ClusterSnapshot {
  now: number;
  fanout: number;
  relays: readonly RelaySnapshot[];
  readers: readonly ReaderSnapshot[];
  /**
   * Dual-path protection: a child may take copies from its two parents, the root feeds two trees (2k copies at
   * most), depth may be one more, the zone rule is per tree (not checked here), and every member's two paths from
   * the root must share no relay but the root.
   */
  dual?: boolean;
}

/** How long a playing reader may go without media and still count as served. */
export const FRESH_MS = 500;

/**
 * Every invariant of `path` in `snap`.
 * @returns the violations, each a sentence naming the relays
 */
export function checkPath(
  snap: ClusterSnapshot,
  path: string,
  options: { strictLinger?: boolean } = {},
): string[] {
  const out: string[] = [];
  const live = snap.relays.filter((r) => r.alive);
  const byNode = new Map(live.map((r) => [r.node, r]));
  const configured = live.filter((r) => r.configured.has(path));
  const wanting = snap.readers.filter((r) => r.path === path && byNode.has(r.node));
  const lingering = options.strictLinger ? () => false : lingeringIn(snap, path);
  if (configured.length === 0) return out; // nothing can serve it: readers wait, nobody is wrong

  const roots = live.filter((r) => r.trees.get(path)?.role === "root");
  if (wanting.length > 0 && roots.length === 0) {
    out.push(`${path}: no root, ${wanting.length} reader(s) wait`);
  }
  if (roots.length > 1) out.push(`${path}: ${roots.length} roots: ${roots.map((r) => r.node).join(", ")}`);
  for (const r of roots) {
    if (!r.configured.has(path)) out.push(`${path}: root ${r.node} is not configured with the path`);
  }

  // The copy graph: parent -> children as the parents' child tables have them.
  const copies = new Map<string, string[]>();
  for (const r of live) {
    const all = r.trees.get(path)?.children ?? [];
    const children = all.filter((c) => !lingering(c));
    const k = snap.dual && r.trees.get(path)?.role === "root" ? 2 * snap.fanout : snap.fanout;
    if (children.length > k) {
      out.push(
        `${path}: ${r.node} has ${children.length} children > k = ${k} (${children.join(", ")})`,
      );
    }
    copies.set(r.node, [...children]);
    for (const c of all) {
      const child = byNode.get(c);
      const takes = (t: TreeSnapshot | undefined) =>
        t?.parent === r.node || (snap.dual === true && (t?.parents ?? []).includes(r.node));
      if (!child) out.push(`${path}: ${r.node} sends a copy to ${c}, which is dead`);
      else if (!takes(child.trees.get(path))) {
        out.push(
          `${path}: ${r.node} sends a copy to ${c}, whose parent is ${
            child.trees.get(path)?.parent ?? "none"
          }`,
        );
      }
    }
  }
  out.push(...checkLoops(path, live));
  if (roots.length !== 1) return out;
  const root = roots[0]!;

  // Reachability from the root along copies that the child takes (parent pointer agrees).
  const depth = new Map<string, number>([[root.node, 0]]);
  const queue = [root.node];
  while (queue.length > 0) {
    const at = queue.shift()!;
    for (const c of copies.get(at) ?? []) {
      if (depth.has(c) || byNode.get(c)?.trees.get(path)?.parent !== at) continue;
      depth.set(c, depth.get(at)! + 1);
      queue.push(c);
    }
  }
  const bound = expectedBound(depth.size, snap.fanout) + (snap.dual ? 1 : 0);
  for (const [node, d] of depth) {
    if (d > bound) {
      out.push(`${path}: ${node} at depth ${d} > ceil(log_k N) + 1 = ${bound} (N = ${depth.size})`);
    }
  }
  const served = new Set<string>();
  for (const reader of wanting) {
    if (!depth.has(reader.node)) {
      if (!served.has(`!${reader.node}`)) {
        out.push(`${path}: ${reader.node} has readers but does not reach the root ${root.node}`);
        served.add(`!${reader.node}`);
      }
      continue;
    }
    if (reader.playingSince < 0) {
      out.push(
        `${path}: reader ${reader.id} on ${reader.node} is not playing (waiting since ${reader.waitingSince})`,
      );
    } else if (snap.now - Math.max(reader.lastPacketAt, reader.playingSince) > FRESH_MS) {
      out.push(
        `${path}: reader ${reader.id} on ${reader.node} got no media for ${
          Math.round(snap.now - Math.max(reader.lastPacketAt, reader.playingSince))
        } ms`,
      );
    }
  }

  if (snap.dual) {
    out.push(...checkDisjoint(path, live, root.node));
    return out;
  }
  // Zones: at most one copy enters each zone, none the root's.
  const entering = new Map<string, string[]>();
  for (const [parent, children] of copies) {
    const pz = byNode.get(parent)!.zone;
    for (const c of children) {
      const cz = byNode.get(c)?.zone;
      if (cz === undefined || cz === pz || !depth.has(c)) continue;
      entering.set(cz, [...(entering.get(cz) ?? []), `${parent}->${c}`]);
    }
  }
  for (const [zone, edges] of entering) {
    if (zone === root.zone) out.push(`${path}: copies enter the root's zone "${zone}": ${edges.join(", ")}`);
    else if (edges.length > 1) {
      out.push(`${path}: ${edges.length} copies enter zone "${zone}": ${edges.join(", ")}`);
    }
  }
  return out;
}

/** A predicate: is `node` a lingering member of `path`'s tree (alive, no reader of it, no child in it)? */
function lingeringIn(snap: ClusterSnapshot, path: string): (node: string) => boolean {
  const withReaders = new Set(snap.readers.filter((r) => r.path === path).map((r) => r.node));
  const byNode = new Map(snap.relays.filter((r) => r.alive).map((r) => [r.node, r]));
  return (node) => {
    const tree = byNode.get(node)?.trees.get(path);
    return tree !== undefined && tree.role === "member" && !withReaders.has(node) &&
      tree.children.length === 0;
  };
}

/** Copies of `path` sent to lingering members (see the module doc). */
export function lingeringCopies(snap: ClusterSnapshot, path: string): number {
  const lingering = lingeringIn(snap, path);
  let n = 0;
  for (const r of snap.relays) {
    if (r.alive) n += (r.trees.get(path)?.children ?? []).filter(lingering).length;
  }
  return n;
}

/** Loops among the live relays' parent pointers of `path`. */
export function checkLoops(path: string, live: readonly RelaySnapshot[]): string[] {
  const parentOf = new Map<string, string>();
  for (const r of live) {
    const p = r.trees.get(path)?.parent;
    if (p) parentOf.set(r.node, p);
  }
  const out: string[] = [];
  const reported = new Set<string>();
  for (const start of parentOf.keys()) {
    const seen: string[] = [];
    let at: string | undefined = start;
    while (at !== undefined && !seen.includes(at)) {
      seen.push(at);
      at = parentOf.get(at);
    }
    if (at === undefined) continue;
    const loop = seen.slice(seen.indexOf(at));
    const key = [...loop].sort().join(",");
    if (reported.has(key)) continue;
    reported.add(key);
    out.push(`${path}: parent loop ${[...loop, at].join(" -> ")}`);
  }
  return out;
}

/** Every invariant of every path of `snap`. */
export function checkCluster(
  snap: ClusterSnapshot,
  paths: readonly string[],
  options: { strictLinger?: boolean } = {},
): string[] {
  return paths.flatMap((p) => checkPath(snap, p, options));
}

/**
 * Dual-path protection: a member's two parents lead to a source by paths (each relay's first parent, from there
 * on) that share no relay but the root, and neither passes through the member. A source is the root, or a standby
 * root that pulls the camera itself, aligned (the path stops there: it is fed whatever happens above it).
 */
export function checkDisjoint(path: string, live: readonly RelaySnapshot[], root: string): string[] {
  const out: string[] = [];
  const byNode = new Map(live.map((r) => [r.node, r]));
  const up = (from: string): string[] | null => {
    const chain: string[] = [];
    for (
      let at: string | null | undefined = from;
      at !== root;
      at = byNode.get(at)?.trees.get(path)?.parent
    ) {
      if (at === null || at === undefined || chain.includes(at) || chain.length > live.length) return null;
      chain.push(at);
      if (byNode.get(at)?.trees.get(path)?.standby) break;
    }
    return chain;
  };
  for (const r of live) {
    const parents = r.trees.get(path)?.parents ?? [];
    if (parents.length < 2) continue;
    const a = up(parents[0]!);
    const b = up(parents[1]!);
    if (!a || !b) continue; // a parent that does not reach the root: reachability says so
    const shared = a.filter((n) => b.includes(n));
    if (shared.length > 0 || a.includes(r.node) || b.includes(r.node)) {
      out.push(
        `${path}: ${r.node}'s two paths share ${
          [...shared, ...(a.includes(r.node) || b.includes(r.node) ? [r.node] : [])].join(", ")
        } ` +
          `(${[...a].reverse().join(" -> ")} and ${[...b].reverse().join(" -> ")})`,
      );
    }
  }
  return out;
}
