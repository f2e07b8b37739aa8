/**
 * Discovery without an API server: `static` (the `--peer` list plus this relay) and `none` (this relay alone).
 * The view never changes; liveness comes from the mesh's heartbeats, not from here.
 * @module
 */
import type { Discovery, Peer, ServiceEndpoint } from "./discovery.ts";

/** A fixed view. */
export class StaticDiscovery implements Discovery {
  readonly kind: "static" | "none";
  readonly synced = true;
  readonly #peers: readonly Peer[];

  /**
   * @param kind `static` or `none`
   * @param self this relay
   * @param peers the others (`none` ignores them)
   */
  constructor(kind: "static" | "none", self: Peer, peers: readonly Peer[] = []) {
    this.kind = kind;
    const byNode = new Map<string, Peer>([[self.node, self]]);
    if (kind === "static") {
      for (const p of peers) if (!byNode.has(p.node)) byNode.set(p.node, p);
    }
    this.#peers = [...byNode.values()].sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : 0));
  }

  start(): Promise<void> {
    return Promise.resolve();
  }

  peers(): readonly Peer[] {
    return this.#peers;
  }

  onChange(_listener: (peers: readonly Peer[]) => void): () => void {
    return () => {};
  }

  serviceEndpoints(_namespace: string, _name: string): readonly ServiceEndpoint[] | null {
    return null;
  }

  stop(): Promise<void> {
    return Promise.resolve();
  }
}
