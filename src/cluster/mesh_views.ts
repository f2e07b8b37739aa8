/**
 * The mesh as the admin API shows it (`GET /api/v1/peers`, `GET /api/v1/tree/{path}`): plain data built from the
 * parts' state, never a live reference into it.
 * @module
 */
import type { Peer } from "./discovery.ts";
import type { MeshSource } from "./mesh_source.ts";
import type { Stream } from "../relay/stream.ts";

/** A peer as this relay sees it. */
export type PeerView = Peer & { self: boolean; live: boolean; suspectedUntil: string | null };

/**
 * The peers discovery lists, each with whether it is this relay, whether it is live, and until when it is
 * suspected (an ISO time).
 * @param suspectedUntil until when a node is suspected (monotonic ms), or null
 * @param now the monotonic clock's reading
 * @param wallNow the wall clock's reading at the same instant
 */
export function peersView(
  peers: readonly Peer[],
  self: string,
  live: ReadonlySet<string>,
  suspectedUntil: (node: string) => number | null,
  now: number,
  wallNow: number,
): PeerView[] {
  return peers.map((p) => {
    const until = suspectedUntil(p.node);
    return {
      ...p,
      self: p.node === self,
      live: live.has(p.node),
      suspectedUntil: until === null ? null : new Date(wallNow + until - now).toISOString(),
    };
  });
}

/** What this relay holds of one path, the inputs of {@linkcode treeView}. */
export interface TreeParts {
  path: string;
  self: string;
  /** The tree when the path is rooted here. */
  tree: {
    stream: Stream;
    plan?: Record<string, string>;
    planParents?: Record<string, readonly string[]>;
    members?: unknown[];
    /** The standby root the plan names (dual protection), and whether this root was one. */
    standby?: { node: string | null; promoted: boolean };
  } | null;
  /** The mesh source when this relay reads the path from a parent. */
  source: MeshSource | undefined;
  /** Children fed from here, sorted. */
  children: string[];
  epoch: string | null;
}

/** This relay's place in the tree of a path; null when it has no part in it. */
export function treeView(parts: TreeParts): Record<string, unknown> | null {
  const { tree, source, children } = parts;
  if (!tree && !source && children.length === 0) return null;
  return {
    path: parts.path,
    node: parts.self,
    role: tree ? "root" : "member",
    root: tree ? parts.self : source?.root?.node ?? null,
    parent: source?.parent?.node ?? null,
    parents: source ? [source.parent?.node, source.secondParent?.node].filter((n): n is string => !!n) : [],
    children,
    state: (tree?.stream ?? source?.stream)?.state ?? null,
    epoch: parts.epoch,
    ...(source
      ? {
        reparents: source.reparents,
        duplicates: source.duplicates,
        stale: source.stale,
        repairs: source.nack,
      }
      : {}),
    ...(tree?.plan ? { plan: tree.plan, members: tree.members } : {}),
    ...(tree?.planParents ? { planParents: tree.planParents } : {}),
    ...(tree?.standby ? { standby: tree.standby } : {}),
    ...(!tree && source?.standbyFeed
      ? { standby: { node: parts.self, promoted: false, ...source.standbyFeed } }
      : {}),
  };
}
