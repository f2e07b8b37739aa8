/**
 * Root lookup: where a path enters the mesh, as a relay with readers for it needs to know. A camera configured here
 * is located from the shared view (root_locator.ts) among the relays configured with it; any other path (a
 * publisher elsewhere) is asked of the peers, one lookup per path at a time, and the answer is cached: a root for
 * a few seconds, "nobody serves it" for a moment, so readers of made-up paths cannot make this relay flood its
 * peers. Time and the peers' answers are passed in; the mesh does the asking.
 * @module
 */
import type { Clock } from "../clock.ts";
import type { Discovery, Peer, ServiceEndpoint } from "./discovery.ts";
import type { PeerRef } from "./mesh_protocol.ts";
import { locateRoot, type RootLocation, serviceOf } from "./root_locator.ts";

/** The root of a path, or why there is none now (404: nobody serves it; 503: not settled yet, retry). */
export type RootFound = { root: PeerRef } | { missing: string; status: 404 | 503 };

/** What {@linkcode RootLookup.find} answers: {@linkcode RootFound}, or "the root is this relay". */
export type RootLookupResult = RootFound | { rootedHere: true; missing: string; status: 503 };

/** What a relay knows of one path when it looks for its root. */
export interface RootQuery {
  path: string;
  /** The camera URL this relay is configured with for `path`, if any. */
  url: string | undefined;
  /** Live relays (ready, not suspected), this relay included. */
  live: readonly Peer[];
  /** This relay's node name. */
  self: string;
  /** EndpointSlice lookup; null when there is no Kubernetes API. */
  serviceEndpoints: (namespace: string, name: string) => readonly ServiceEndpoint[] | null;
  /** The relays known to be configured with `path` (path_config.ts), this one included when it is. */
  configured: ReadonlySet<string>;
  /** True once a relay's configured paths are known (a relay not known yet may be configured with anything). */
  known(node: string): boolean;
}

/** Options of {@linkcode RootLookup}. */
export interface RootLookupOptions {
  /** Asks `peer` whether `path` enters the mesh there; false for no (or no answer). */
  ask(peer: Peer, path: string): Promise<boolean>;
  /** Monotonic clock. */
  now: Clock;
  /** How long a root found by asking is believed. @default 5000 */
  rootHoldMs?: number;
  /** How long a path that no peer serves is answered 404 without asking again. @default 1000 */
  missingHoldMs?: number;
  /** Paths remembered in each cache. @default 4096 */
  maxPaths?: number;
  /** Paths looked up among the peers at once. @default 32 */
  maxLookups?: number;
}

/**
 * The root of a configured camera: among the live relays configured with `path`, and those whose configuration is
 * not known yet (as if configured, until their answer says otherwise).
 */
export function locateConfigured(query: RootQuery & { url: string }): RootLocation {
  const candidates = new Set(query.configured);
  for (const p of query.live) if (!query.known(p.node)) candidates.add(p.node);
  return locateRoot({
    path: query.path,
    url: query.url,
    live: query.live,
    serviceEndpoints: query.serviceEndpoints,
    configured: candidates,
  });
}

/**
 * The standby root of a configured camera (dual-path protection): the relay the same rule would choose if `root`
 * were gone, so the standby is where the root moves when it dies. Null when no other relay could be the root.
 */
export function locateStandby(query: RootQuery & { url: string }, root: string): string | null {
  const loc = locateConfigured({ ...query, live: query.live.filter((p) => p.node !== root) });
  return loc.kind === "root" ? loc.node : null;
}

/**
 * Waits (up to `timeoutMs`) until every camera configured by Service name has ready endpoints in discovery's view
 * (the EndpointSlice watches start with the first lookup), so that the first readers find the root at once.
 * @returns the Services still without endpoints (`name.namespace`), empty when all have some
 */
export async function awaitServiceEndpoints(
  pulls: ReadonlyMap<string, string>,
  discovery: Pick<Discovery, "serviceEndpoints">,
  now: Clock,
  wait: (ms: number) => Promise<void>,
  timeoutMs = 3000,
): Promise<string[]> {
  const services = [...pulls.values()].map(serviceOf).filter((s) => s !== null);
  const pending = () =>
    services.filter((s) => (discovery.serviceEndpoints(s.namespace, s.name) ?? [1]).length === 0);
  const deadline = now() + timeoutMs;
  while (pending().length > 0 && now() < deadline) await wait(50);
  return pending().map((s) => `${s.name}.${s.namespace}`);
}

/** Finds roots and remembers them. */
export class RootLookup {
  readonly #opts: Required<RootLookupOptions>;
  readonly #roots = new Map<string, { ref: PeerRef; until: number }>();
  readonly #missing = new Map<string, number>();
  readonly #running = new Map<string, Promise<RootFound>>();

  /** @param options how to ask a peer, the clock and the caches' bounds */
  constructor(options: RootLookupOptions) {
    this.#opts = { rootHoldMs: 5000, missingHoldMs: 1000, maxPaths: 4096, maxLookups: 32, ...options };
  }

  /** The root of `query.path`, or why there is none now. */
  async find(query: RootQuery): Promise<RootLookupResult> {
    const { path, live } = query;
    if (query.url !== undefined) {
      const loc = locateConfigured({ ...query, url: query.url });
      if (loc.kind !== "root") return { missing: loc.reason, status: 503 };
      if (loc.node === query.self) {
        return { rootedHere: true, missing: `"${path}" is now rooted here`, status: 503 };
      }
      return { root: refOf(live.find((p) => p.node === loc.node)!) };
    }
    const now = this.#opts.now();
    const cached = this.#roots.get(path);
    if (cached && cached.until > now && live.some((p) => p.node === cached.ref.node)) {
      return { root: cached.ref };
    }
    const missing = this.#missing.get(path);
    if (missing !== undefined && missing > now) return { missing: `No relay serves "${path}"`, status: 404 };
    const running = this.#running.get(path);
    if (running) return await running;
    if (this.#running.size >= this.#opts.maxLookups) {
      return { missing: `Too many paths are being looked up in the mesh; retry`, status: 503 };
    }
    const lookup = this.#askPeers(query);
    this.#running.set(path, lookup);
    try {
      return await lookup;
    } finally {
      this.#running.delete(path);
    }
  }

  /** `node` is suspected: roots cached on it are forgotten. */
  forget(node: string): void {
    for (const [path, v] of this.#roots) if (v.ref.node === node) this.#roots.delete(path);
  }

  /** Paths in the caches (for tests and bounds). */
  get cached(): { roots: number; missing: number } {
    return { roots: this.#roots.size, missing: this.#missing.size };
  }

  /** Asks the live peers whether `path` enters the mesh there (a publisher elsewhere). */
  async #askPeers(query: RootQuery): Promise<RootFound> {
    const { path, configured } = query;
    // A camera configured on other relays: only they can be its root. Else (a publisher elsewhere) ask everyone.
    const others = query.live.filter((p) =>
      p.node !== query.self && (configured.size === 0 || configured.has(p.node))
    );
    const answers = await Promise.all(others.map(async (p) => {
      try {
        return (await this.#opts.ask(p, path)) ? p : null;
      } catch {
        return null;
      }
    }));
    const found = answers.find((p) => p !== null);
    if (!found && (configured.size > 0 || others.some((p) => !query.known(p.node)))) {
      // A camera configured elsewhere whose root is being settled (a peer starting, the views converging): the
      // reader waits while this relay asks again, rather than getting 404.
      return { missing: `The root of "${path}" is not settled yet`, status: 503 };
    }
    if (!found) {
      remember(this.#missing, path, this.#opts.now() + this.#opts.missingHoldMs, this.#opts.maxPaths);
      return { missing: `No relay serves "${path}"`, status: 404 };
    }
    const ref = refOf(found);
    remember(
      this.#roots,
      path,
      { ref, until: this.#opts.now() + this.#opts.rootHoldMs },
      this.#opts.maxPaths,
    );
    return { root: ref };
  }
}

/** A relay's address as messages carry it. */
export function refOf(p: Peer): PeerRef {
  return { node: p.node, host: p.host, adminPort: p.adminPort, meshPort: p.meshPort };
}

function remember<V>(map: Map<string, V>, key: string, value: V, max: number): void {
  map.delete(key);
  if (map.size >= max) map.delete(map.keys().next().value!);
  map.set(key, value);
}
