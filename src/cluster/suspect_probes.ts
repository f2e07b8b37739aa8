/**
 * Asking suspected relays whether they are alive again, through the cheapest call there is (their configured
 * paths): the periodic refresh of the peers' paths asks suspects first, and the root a configured camera is taken
 * to have is asked when a peer says the camera does not enter the mesh here. What is learnt goes back through
 * callbacks: a relay heard, a relay suspected, roots that may have moved.
 * @module
 */
import type { Clock } from "../clock.ts";
import type { Logger } from "../log.ts";
import type { FailureDetector } from "./failure_detector.ts";
import type { PathFingerprints } from "./path_config.ts";
import type { PeerPaths } from "./peer_paths.ts";
import { locateConfigured, type RootQuery } from "./root_lookup.ts";

/** How often one suspected peer is asked at most (alive again: no longer suspected). */
export const SUSPECT_PROBE_MS = 1000;

/** What {@linkcode SuspectProbes} works with. */
export interface SuspectProbesOptions {
  /** This relay's node name. */
  self: string;
  now: Clock;
  logger: Logger;
  detector: FailureDetector;
  paths: PeerPaths;
  /** Asks one relay for its paths (null: no answer). */
  askPaths(node: string): Promise<PathFingerprints | "refused" | null>;
  /** The relays discovery lists now. */
  peers(): string[];
  /** This relay's configured cameras (path -> URL), or null before the hub is attached. */
  pulls(): ReadonlyMap<string, string> | null;
  /** What this relay knows of `path` when it looks for its root. */
  query(path: string): RootQuery;
  /** Suspects `node` (when it may be recorded). */
  suspect(node: string): void;
  /** What is known changed: roots may have moved. */
  rootsMayHaveMoved(): void;
  /** True once the mesh is closed: answers arriving later are ignored. */
  closed(): boolean;
}

/** Probes of suspected relays and of the roots of configured cameras. */
export class SuspectProbes {
  readonly #o: SuspectProbesOptions;
  /** When each suspect was last asked. */
  readonly #probed = new Map<string, number>();

  /** @param options the relay's parts and callbacks */
  constructor(options: SuspectProbesOptions) {
    this.#o = options;
  }

  /**
   * Fetches the configured paths of the peers that are due; what changed may move roots. Suspects are asked first
   * and every second: one that answers is alive again (a restarted relay, a healed partition) and leaves the
   * suspects at once, instead of after the hold while the relays that did not suspect it follow it (two roots for
   * one camera); one that does not answer is suspected again, for as long as it does not.
   */
  async refreshPaths(): Promise<void> {
    const o = this.#o;
    const pulls = o.pulls();
    if (!pulls || o.closed()) return;
    o.paths.setOwn(pulls);
    const now = o.now();
    const nodes = o.peers();
    for (const node of this.#probed.keys()) if (!o.detector.noted(node)) this.#probed.delete(node);
    const probes = nodes.filter((n) => o.detector.suspected(n, now) && this.#mayProbe(n, now));
    let back = false;
    const moved = await o.paths.refresh(nodes, probes, (node, answered) => {
      if (!answered) return o.suspect(node);
      back ||= o.detector.suspected(node, o.now());
      o.detector.heard(node);
    });
    if (moved || back) o.rootsMayHaveMoved();
  }

  /**
   * A peer asked whether `path` enters the mesh here (it looks for the root) and is answered no: when this relay
   * is configured with `path` and takes another relay for its root, that relay is asked for its paths (at most once
   * per {@linkcode SUSPECT_PROBE_MS}) and suspected when it does not answer, so the root moves on. Without it, the
   * relays configured with a camera never learned that its root died when only relays without the camera had
   * readers (those suspect it but ask the configured ones, which never call the root): with static discovery the
   * camera stayed unserved for good.
   */
  checkRootOf(path: string): void {
    const o = this.#o;
    const url = o.pulls()?.get(path);
    if (url === undefined || o.closed()) return;
    const loc = locateConfigured({ ...o.query(path), url });
    if (loc.kind !== "root" || loc.node === o.self || !this.#mayProbe(loc.node, o.now())) return;
    const node = loc.node;
    void o.askPaths(node).then((paths) => {
      if (o.closed()) return;
      if (paths !== null) return o.detector.heard(node);
      o.logger.info("the root of a camera does not answer: suspected", { path, root: node });
      o.suspect(node);
      o.rootsMayHaveMoved();
    });
  }

  /** True (and noted) when `node` was not probed in the last {@linkcode SUSPECT_PROBE_MS}. */
  #mayProbe(node: string, now: number): boolean {
    if (now - (this.#probed.get(node) ?? -Infinity) < SUSPECT_PROBE_MS) return false;
    this.#probed.set(node, now);
    return true;
  }
}
