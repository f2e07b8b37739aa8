/**
 * Learning which camera paths the peers are configured with (path_config.ts holds the views): the peers that are
 * due are asked a few at a time, what they answer updates the views, and relays configured with different cameras
 * for one path are warned about once. The asking is passed in (the peer client's `GET /mesh/v1/paths`, whose
 * answer counts only when signed with the mesh key), and so is the time.
 * @module
 */
import type { Clock } from "../clock.ts";
import type { Logger } from "../log.ts";
import { PathConfigViews, type PathFingerprints } from "./path_config.ts";

/** Options of {@linkcode PeerPaths}. */
export interface PeerPathsOptions {
  /** This relay's node name. */
  self: string;
  /** Asks `node` for its paths: null when it did not answer (ask again soon), "refused" when it refused. */
  fetch(node: string): Promise<PathFingerprints | "refused" | null>;
  now: Clock;
  logger: Logger;
  /** Peers asked at once. @default 8 */
  maxFetches?: number;
}

/** This relay's knowledge of its peers' configured paths, kept current. */
export class PeerPaths {
  readonly #opts: PeerPathsOptions;
  readonly #views: PathConfigViews;
  readonly #fetching = new Set<string>();
  /** Conflicts already warned about (path and fingerprint groups). */
  readonly #warned = new Set<string>();

  /** @param options this relay, how to ask, the clock and the log */
  constructor(options: PeerPathsOptions) {
    this.#opts = options;
    this.#views = new PathConfigViews(options.self);
  }

  /** Sets this relay's own configured paths (path -> URL). */
  setOwn(paths: ReadonlyMap<string, string>): void {
    this.#views.setOwn(paths);
  }

  /** This relay's configured paths as peers are told them (fingerprints, never URLs). */
  own(): PathFingerprints {
    return this.#views.own();
  }

  /** The relays known to be configured with `path`, this one included when it is. */
  configured(path: string): Set<string> {
    return this.#views.configured(path);
  }

  /** True once `node`'s paths are known (or it is this relay). */
  known(node: string): boolean {
    return this.#views.known(node);
  }

  /**
   * True while `node`'s paths are not known and worth waiting for (see {@linkcode PathConfigViews.awaited}): only
   * then does it count as maybe configured with every camera.
   */
  awaited(node: string): boolean {
    return this.#views.awaited(node, this.#opts.now());
  }

  /**
   * Forgets peers no longer listed and asks the ones that are due (never asked, or not for a period), `probes`
   * first whether due or not (suspects: an answer, even a refusal, shows they are alive).
   * @param nodes the relays discovery lists now
   * @param probes relays to ask now, told to `onProbe` with whether they answered
   * @returns true when what is known changed (roots may have moved)
   */
  async refresh(
    nodes: readonly string[],
    probes: readonly string[] = [],
    onProbe: (node: string, answered: boolean) => void = () => {},
  ): Promise<boolean> {
    let moved = this.#views.retain(new Set(nodes));
    const max = this.#opts.maxFetches ?? 8;
    const due = [...new Set([...probes, ...this.#views.due(nodes, this.#opts.now())])]
      .filter((n) => !this.#fetching.has(n));
    const batch = due.slice(0, Math.max(0, max - this.#fetching.size));
    const results = await Promise.all(batch.map(async (node) => {
      this.#fetching.add(node);
      try {
        const paths = await this.#opts.fetch(node);
        if (probes.includes(node)) onProbe(node, paths !== null);
        if (paths === null) {
          this.#views.failed(node, this.#opts.now());
          return false;
        }
        if (paths === "refused") return this.#views.refused(node, this.#opts.now());
        return this.#views.update(node, paths, this.#opts.now());
      } finally {
        this.#fetching.delete(node);
      }
    }));
    moved ||= results.some(Boolean);
    if (moved) this.#warnConflicts();
    return moved;
  }

  /** One warning per path whose relays are configured with different cameras (and per set of differences). */
  #warnConflicts(): void {
    for (const path of this.#views.paths()) {
      const groups = this.#views.conflicts(path);
      if (!groups) continue;
      const described = [...groups].map(([fp, nodes]) => `${nodes.sort().join(",")} (${fp})`).sort();
      const key = `${path}|${described.join("|")}`;
      if (this.#warned.has(key)) continue;
      if (this.#warned.size > 1000) this.#warned.clear();
      this.#warned.add(key);
      this.#opts.logger.warn("relays are configured with different cameras for one path", {
        path,
        relays: described,
        choice: "the root is chosen among all of them by the usual rule and pulls its own URL",
      });
    }
  }
}
