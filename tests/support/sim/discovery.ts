/**
 * Discovery in the simulation: one "API" ({@linkcode SimApi}) holds the authoritative list of relay pods, and each
 * relay has a static-style view of it ({@linkcode SimDiscovery}) that follows the API a little later, unless the
 * API is out: an outage freezes every view as it was; a deleted pod leaves the views once the API is back.
 * Static discovery is the same view that the API never changes.
 * @module
 */
import type { Discovery, Peer, ServiceEndpoint } from "../../../src/cluster/discovery.ts";
import type { SimOwner, SimScheduler } from "./scheduler.ts";

/** The simulated Kubernetes API (or the fixed `--peer` list): who the relays are. */
export class SimApi {
  readonly #sched: SimScheduler;
  readonly #pods = new Map<string, Peer>();
  readonly #views = new Set<SimDiscovery>();
  #out = false;
  /** Delay from a change in the API to a view seeing it (a watch event). */
  readonly watchDelayMs: number;

  /**
   * @param scheduler the simulated time
   * @param watchDelayMs how long a watch event takes to reach each relay
   */
  constructor(scheduler: SimScheduler, watchDelayMs = 20) {
    this.#sched = scheduler;
    this.watchDelayMs = watchDelayMs;
  }

  /** True during an outage. */
  get out(): boolean {
    return this.#out;
  }

  /** The pods as the API has them now, sorted by node name. */
  pods(): Peer[] {
    return [...this.#pods.values()].sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : 0));
  }

  /** Adds or replaces a pod. */
  put(peer: Peer): void {
    this.#pods.set(peer.node, peer);
    this.#changed();
  }

  /** Deletes a pod. */
  delete(node: string): void {
    if (this.#pods.delete(node)) this.#changed();
  }

  /** Starts or ends an outage: views freeze during one and catch up after it. */
  setOut(out: boolean): void {
    if (this.#out === out) return;
    this.#out = out;
    if (!out) this.#changed();
  }

  /** @internal */
  attach(view: SimDiscovery): void {
    this.#views.add(view);
  }

  /** @internal */
  detach(view: SimDiscovery): void {
    this.#views.delete(view);
  }

  #changed(): void {
    if (this.#out) return;
    for (const view of this.#views) {
      if (!view.owner.alive) {
        this.#views.delete(view);
        continue;
      }
      this.#sched.at(this.watchDelayMs, () => {
        if (!this.#out) view.update(this.pods());
      }, view.owner);
    }
  }
}

/** One relay's view of the API. */
export class SimDiscovery implements Discovery {
  readonly kind = "static" as const;
  readonly #api: SimApi;
  readonly #self: Peer;
  #peers: readonly Peer[] = [];
  #synced = false;
  readonly #listeners = new Set<(peers: readonly Peer[]) => void>();

  /**
   * @param api the API it follows
   * @param self this relay (always in its own view)
   * @param owner the relay process (its view stops with it)
   */
  constructor(api: SimApi, self: Peer, readonly owner: SimOwner) {
    this.#api = api;
    this.#self = self;
  }

  get synced(): boolean {
    return this.#synced;
  }

  /** Takes the API's list at once when the API is up; during an outage the relay starts with itself alone. */
  start(): Promise<void> {
    this.#api.attach(this);
    this.#peers = this.#withSelf(this.#api.out ? [] : this.#api.pods());
    this.#synced = true;
    return Promise.resolve();
  }

  /** @internal A watch event: the API's list now. */
  update(pods: readonly Peer[]): void {
    if (!this.owner.alive) return;
    const next = this.#withSelf(pods);
    if (sameView(next, this.#peers)) return;
    this.#peers = next;
    for (const listener of this.#listeners) listener(next);
  }

  peers(): readonly Peer[] {
    return this.#peers;
  }

  onChange(listener: (peers: readonly Peer[]) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  serviceEndpoints(_namespace: string, _name: string): readonly ServiceEndpoint[] | null {
    return null;
  }

  stop(): Promise<void> {
    this.#api.detach(this);
    return Promise.resolve();
  }

  #withSelf(pods: readonly Peer[]): Peer[] {
    const out = pods.filter((p) => p.node !== this.#self.node);
    out.push(pods.find((p) => p.node === this.#self.node) ?? this.#self);
    return out.sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : 0));
  }
}

function sameView(a: readonly Peer[], b: readonly Peer[]): boolean {
  return a.length === b.length &&
    a.every((p, i) => p.node === b[i]!.node && p.ready === b[i]!.ready && p.host === b[i]!.host);
}
