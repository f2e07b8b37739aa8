/**
 * Which relays are configured with which camera paths, as each relay learns it from its peers (`GET
 * /mesh/v1/paths`): the root of a configured camera is chosen only among live relays configured with its path, so a
 * camera given to some relays only is pulled by one of them, never by a relay that has not heard of it.
 *
 * Peers tell a fingerprint of each path's URL (its SHA-256 without credentials, query or fragment, 16 hex
 * characters), never the URL: two relays configured with different cameras for one path are told apart (and
 * warned about) without a password or a token crossing the mesh. Sans-I/O: the time is passed in; the mesh
 * fetches and feeds the answers.
 * @module
 */
import { createHash } from "node:crypto";

/** What a relay says of its configured paths: path → URL fingerprint. */
export type PathFingerprints = Readonly<Record<string, string>>;

/** Wait before asking again a peer that never answered (most likely still starting). */
export const FIRST_RETRY_MS = 1000;
/**
 * How long a peer that never answered is waited for: past it, it no longer counts as maybe configured with every
 * camera (a peer that is down would otherwise keep a camera it may win the root of unserved for ever).
 */
export const GIVE_UP_MS = 5000;
/** Shortest and longest time between two fetches of one peer's paths. */
export const REFRESH_MIN_MS = 10_000;
export const REFRESH_MAX_MS = 120_000;

/**
 * The fingerprint of a camera URL: SHA-256 of it without user info, query and fragment, 16 hex characters.
 * @example pathFingerprint("rtsp://u:p@cam/live?token=x") === pathFingerprint("rtsp://cam/live") // true
 */
export function pathFingerprint(url: string): string {
  const bare = url.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/?#@]*@/i, "$1").replace(/[?#].*$/, "");
  return createHash("sha256").update(bare.toLowerCase()).digest("hex").slice(0, 16);
}

interface PeerView {
  paths: Map<string, string>;
  /** When the view was last fetched (or last tried, on failure). */
  at: number;
}

/** This relay's view of the paths its peers are configured with. */
export class PathConfigViews {
  readonly #self: string;
  #own = new Map<string, string>();
  readonly #peers = new Map<string, PeerView>();
  /** When a peer never fetched yet last failed to answer (it is tried again after half a period). */
  readonly #failedAt = new Map<string, number>();
  /** When a peer never fetched yet first failed to answer (see {@linkcode GIVE_UP_MS}). */
  readonly #failingSince = new Map<string, number>();
  /** Peers whose last answer was a refusal: how many in a row (they are asked again sooner, see `due`). */
  readonly #refusals = new Map<string, number>();

  /** @param self this relay's node name */
  constructor(self: string) {
    this.#self = self;
  }

  /** Sets this relay's own configured paths (path → URL). */
  setOwn(paths: ReadonlyMap<string, string>): void {
    this.#own = new Map([...paths].map(([path, url]) => [path, pathFingerprint(url)]));
  }

  /** This relay's configured paths as peers are told them. */
  own(): PathFingerprints {
    return Object.fromEntries(this.#own);
  }

  /**
   * Records what `node` says it is configured with.
   * @returns true when that changed what this relay knew (roots may have moved)
   */
  update(node: string, paths: PathFingerprints, now: number): boolean {
    this.#refusals.delete(node);
    return this.#record(node, paths, now);
  }

  /**
   * `node` answered, but not with its paths (it refuses this relay: a relay restarting before its own view loaded,
   * another cluster's key, not a relay at all): known as configured with nothing for now, and asked again after
   * {@linkcode FIRST_RETRY_MS}, doubling up to the refresh period, since the refusal may pass.
   * @returns true when that changed what this relay knew (roots may have moved)
   */
  refused(node: string, now: number): boolean {
    this.#refusals.set(node, (this.#refusals.get(node) ?? 0) + 1);
    return this.#record(node, {}, now);
  }

  #record(node: string, paths: PathFingerprints, now: number): boolean {
    const before = this.#peers.get(node);
    const next = new Map(Object.entries(paths));
    this.#peers.set(node, { paths: next, at: now });
    this.#failedAt.delete(node);
    this.#failingSince.delete(node);
    if (!before) return next.size > 0;
    return before.paths.size !== next.size || [...next].some(([p, f]) => before.paths.get(p) !== f);
  }

  /** A fetch of `node`'s paths failed: keep what was known, try again after the period. */
  failed(node: string, now: number): void {
    const view = this.#peers.get(node);
    if (view) view.at = now;
    else {
      this.#failedAt.set(node, now);
      if (!this.#failingSince.has(node)) this.#failingSince.set(node, now);
    }
  }

  /**
   * Forgets the peers that discovery no longer lists.
   * @returns true when a forgotten peer was configured with a path (roots may have moved)
   */
  retain(nodes: ReadonlySet<string>): boolean {
    let changed = false;
    for (const node of this.#failedAt.keys()) if (!nodes.has(node)) this.#failedAt.delete(node);
    for (const node of this.#failingSince.keys()) if (!nodes.has(node)) this.#failingSince.delete(node);
    for (const node of this.#refusals.keys()) if (!nodes.has(node)) this.#refusals.delete(node);
    for (const [node, view] of this.#peers) {
      if (nodes.has(node)) continue;
      this.#peers.delete(node);
      if (view.paths.size > 0) changed = true;
    }
    return changed;
  }

  /** The refresh period for a cluster of `peers` relays: 10 s, longer in large clusters (at most 2 min). */
  static refreshMs(peers: number): number {
    return Math.min(REFRESH_MAX_MS, Math.max(REFRESH_MIN_MS, peers * 100));
  }

  /** The peers among `nodes` whose paths should be fetched now: never fetched, or not for a period. */
  due(nodes: readonly string[], now: number): string[] {
    const period = PathConfigViews.refreshMs(nodes.length);
    return nodes.filter((n) => {
      if (n === this.#self) return false;
      const view = this.#peers.get(n);
      const refusals = this.#refusals.get(n);
      if (view && refusals !== undefined) {
        return now - view.at >= Math.min(period, FIRST_RETRY_MS * 2 ** Math.min(refusals - 1, 16));
      }
      if (view) return now - view.at >= period;
      // A peer that never answered is most likely starting: ask again soon, roots wait for its answer.
      const failed = this.#failedAt.get(n);
      return failed === undefined || now - failed >= FIRST_RETRY_MS;
    });
  }

  /** True once `node`'s paths have been fetched at least once (or it is this relay); a failed fetch is no answer. */
  known(node: string): boolean {
    return node === this.#self || this.#peers.has(node);
  }

  /**
   * True while `node`'s paths are not known and it is worth waiting for them: it never failed to answer, or not
   * for {@linkcode GIVE_UP_MS} (a peer starting answers within that; one that is down does not).
   */
  awaited(node: string, now: number): boolean {
    if (this.known(node)) return false;
    const since = this.#failingSince.get(node);
    return since === undefined || now - since < GIVE_UP_MS;
  }

  /** The relays configured with `path`, this one included when it is. */
  configured(path: string): Set<string> {
    const out = new Set<string>();
    if (this.#own.has(path)) out.add(this.#self);
    for (const [node, view] of this.#peers) if (view.paths.has(path)) out.add(node);
    return out;
  }

  /**
   * The relays configured with `path` grouped by URL fingerprint, when they disagree (more than one group);
   * null when every relay configured with it names the same camera.
   */
  conflicts(path: string): Map<string, string[]> | null {
    const groups = new Map<string, string[]>();
    const add = (node: string, fp: string | undefined) => {
      if (fp !== undefined) groups.set(fp, [...(groups.get(fp) ?? []), node]);
    };
    add(this.#self, this.#own.get(path));
    for (const [node, view] of this.#peers) add(node, view.paths.get(path));
    return groups.size > 1 ? groups : null;
  }

  /** Every path some relay is configured with. */
  paths(): Set<string> {
    const out = new Set(this.#own.keys());
    for (const view of this.#peers.values()) for (const p of view.paths.keys()) out.add(p);
    return out;
  }
}
