/**
 * The simulated cluster: the relays of a plan on one network and one API, their readers, and what the fault
 * schedule does to them (SIGKILL, restarts, API outages, partitions, lossy links, readers coming and going,
 * camera restarts). Targets named by role are resolved here, against the trees as the relays report them.
 * @module
 */
import { SimApi } from "./discovery.ts";
import type { Fault, FaultTarget, SimPlan } from "./plan.ts";
import type { ClusterSnapshot, RelaySnapshot, TreeSnapshot } from "./invariants.ts";
import { SimCameras } from "./camera.ts";
import { type LinkQuality, SimNetwork } from "./network.ts";
import { SimReader } from "./reader.ts";
import { peerOf, SimRelay, type SimWorld } from "./relay.ts";
import { type SimScheduler, WORLD } from "./scheduler.ts";
import type { Logger } from "../../../src/log.ts";

/** One-way delays of the links inside a zone and between zones, and their jitter (ms). */
export interface SimLinkDelays {
  insideMs?: number;
  acrossMs?: number;
  jitterMs?: number;
}

/** Options of {@linkcode SimCluster}. */
export interface SimClusterOptions {
  plan: SimPlan;
  scheduler: SimScheduler;
  random: () => number;
  /** Writes one line of the run's trace. */
  trace: (line: string) => void;
  /** A reader broke its invariants. */
  onViolation: (line: string) => void;
  logger: (node: string) => Logger;
  lingerSeconds: number;
  /** `--protection` of every relay. @default none */
  protection?: "none" | "dual";
  /** Milliseconds between a camera's pictures. @default 40 */
  cameraFrameMs?: number;
  /** Link delays. @default 0.3 ms inside a zone, 2 ms across, jitter up to 0.4 and 1.5 ms */
  links?: SimLinkDelays;
}

/** Links inside a zone are fast; between zones, slower. */
function zoneLinks(
  zoneOf: Map<string, string>,
  delays: SimLinkDelays = {},
): (a: string, b: string) => LinkQuality {
  const inside: LinkQuality = { delayMs: delays.insideMs ?? 0.3, jitterMs: delays.jitterMs ?? 0.4, loss: 0 };
  const across: LinkQuality = { delayMs: delays.acrossMs ?? 2, jitterMs: delays.jitterMs ?? 1.5, loss: 0 };
  return (a, b) => (zoneOf.get(a) === zoneOf.get(b) ? inside : across);
}

/** The relays of a plan and what happens to them. */
export class SimCluster {
  readonly plan: SimPlan;
  readonly scheduler: SimScheduler;
  readonly network: SimNetwork;
  readonly api: SimApi;
  readonly cameras: SimCameras;
  /** The current process of each relay (dead ones included, until restarted). */
  readonly relays: SimRelay[];
  /** Every process ever started (for teardown). */
  readonly processes: SimRelay[] = [];
  readonly readers: SimReader[] = [];
  readonly #world: SimWorld;
  readonly #opts: SimClusterOptions;
  #readerNo = 0;
  #partitionNo = 0;
  /** Faults applied. */
  faults = 0;

  constructor(options: SimClusterOptions) {
    this.#opts = options;
    this.plan = options.plan;
    this.scheduler = options.scheduler;
    const zoneOf = new Map(this.plan.relays.map((r) => [r.host, r.zone]));
    this.network = new SimNetwork(options.scheduler, options.random, zoneLinks(zoneOf, options.links));
    this.api = new SimApi(options.scheduler);
    this.cameras = new SimCameras(options.random, options.cameraFrameMs);
    this.#world = {
      scheduler: options.scheduler,
      network: this.network,
      api: this.api,
      cameras: this.cameras,
      random: options.random,
      logger: options.logger,
      fanout: this.plan.fanout,
      lingerSeconds: options.lingerSeconds,
      protection: options.protection ?? "none",
    };
    for (const spec of this.plan.relays) this.api.put(peerOf(spec));
    this.relays = this.plan.relays.map((spec) => this.#spawn(spec));
  }

  #spawn(spec: SimPlan["relays"][number]): SimRelay {
    const relay = new SimRelay(this.#world, spec);
    this.processes.push(relay);
    void relay.start().catch((err) => this.#opts.onViolation(`${relay.node} failed to start: ${err}`));
    return relay;
  }

  /** A reader of `path` on relay `index`, playing at once. */
  addReader(index: number, path: string): SimReader {
    const relay = this.relays[index]!;
    const reader = new SimReader(
      `r${this.#readerNo++}`,
      relay,
      path,
      (_r, line) => this.#opts.onViolation(line),
    );
    relay.readers.push(reader);
    this.readers.push(reader);
    reader.play();
    return reader;
  }

  /** The cluster as the invariants see it. */
  snapshot(): ClusterSnapshot {
    const relays: RelaySnapshot[] = this.relays.map((r) => {
      const trees = new Map<string, TreeSnapshot>();
      if (r.alive) {
        for (const path of this.plan.paths) {
          const view = r.mesh.treeView(path);
          if (!view) continue;
          trees.set(path, {
            role: view.role === "root" ? "root" : "member",
            parent: (view.parent as string | null) ?? null,
            parents: (view.parents as string[] | undefined) ?? [],
            children: view.children as string[],
            standby: view.role !== "root" &&
              (view.standby as { aligned?: boolean } | undefined)?.aligned === true,
          });
        }
      }
      return {
        node: r.node,
        zone: r.spec.zone,
        alive: r.alive && r.started,
        configured: new Set(Object.keys(r.spec.paths)),
        trees,
      };
    });
    const readers = this.readers.filter((r) => r.state === "playing" || r.state === "waiting").map((r) => ({
      id: r.id,
      node: r.relay.node,
      path: r.path,
      playingSince: r.playingSince,
      waitingSince: r.waitingSince,
      lastPacketAt: r.lastPacketAt,
    }));
    return {
      now: this.scheduler.now(),
      fanout: this.plan.fanout,
      relays,
      readers,
      dual: this.#world.protection === "dual",
    };
  }

  /** The live relays a target names now (sorted by name), falling back to any live relay. */
  #candidates(target: FaultTarget): SimRelay[] {
    const live = this.relays.filter((r) => r.alive && r.started);
    const role = (r: SimRelay) => {
      const v = r.mesh.treeView(target.path);
      if (!v) return "none";
      if (v.role === "root") return "root";
      return (v.children as string[]).length > 0 ? "mid" : "leaf";
    };
    const matching = target.role === "any" ? live : live.filter((r) => role(r) === target.role);
    return matching.length > 0 ? matching : live;
  }

  #resolve(target: FaultTarget): SimRelay | null {
    const c = this.#candidates(target);
    return c.length === 0 ? null : c[Math.min(c.length - 1, Math.floor(target.pick * c.length))]!;
  }

  /** Live relays now. */
  get liveCount(): number {
    return this.relays.filter((r) => r.alive).length;
  }

  /**
   * Applies one fault now.
   * @returns when its effect ends (sim ms; now for lasting ones)
   */
  apply(fault: Fault): number {
    const now = this.scheduler.now();
    const trace = (what: string) => this.#opts.trace(`${now.toFixed(1)} ms: ${what}`);
    this.faults++;
    switch (fault.kind) {
      case "kill":
      case "restart": {
        // Keep a majority alive: a cluster with most relays dead is another test.
        if (this.liveCount <= Math.ceil(this.relays.length / 2)) {
          trace(`${fault.kind} skipped: only ${this.liveCount} relays alive`);
          return now;
        }
        const relay = this.#resolve(fault.target);
        if (!relay) return now;
        trace(`SIGKILL ${relay.node} (${this.#describe(relay, fault.target)})`);
        this.#kill(relay);
        if (fault.kind === "kill") return now;
        this.scheduler.at(fault.downMs, () => this.#restart(relay), WORLD);
        return now + fault.downMs;
      }
      case "revive": {
        const dead = this.relays.filter((r) => !r.alive);
        if (dead.length === 0) {
          trace("revive skipped: no relay is dead");
          return now;
        }
        this.#restart(dead[Math.min(dead.length - 1, Math.floor(fault.pick * dead.length))]!);
        return now;
      }
      case "apiOutage":
        trace(`API out for ${fault.ms} ms`);
        this.api.setOut(true);
        this.scheduler.at(fault.ms, () => {
          this.#opts.trace(`${this.scheduler.now().toFixed(1)} ms: API back`);
          this.api.setOut(false);
        }, WORLD);
        return now + fault.ms;
      case "partition": {
        const first = this.#resolve(fault.target);
        if (!first) return now;
        // The target and the relays after it by name (cyclically).
        const at = this.relays.indexOf(first);
        const others = this.relays.map((_, i) => this.relays[(at + 1 + i) % this.relays.length]!);
        const side = [first, ...others.slice(0, fault.size - 1)];
        const no = ++this.#partitionNo;
        trace(`partition for ${fault.ms} ms: ${side.map((r) => r.node).join(",")} | the rest`);
        this.network.partition(side.map((r) => r.spec.host));
        this.scheduler.at(fault.ms, () => {
          if (this.#partitionNo !== no) return;
          this.#opts.trace(`${this.scheduler.now().toFixed(1)} ms: partition healed`);
          this.network.heal();
        }, WORLD);
        return now + fault.ms;
      }
      case "lossy": {
        const relay = this.#resolve(fault.target);
        if (!relay) return now;
        trace(`${relay.node}'s links lose ${fault.loss * 100} % for ${fault.ms} ms`);
        this.network.setHostLoss(relay.spec.host, fault.loss);
        this.scheduler.at(fault.ms, () => this.network.setHostLoss(relay.spec.host, 0), WORLD);
        return now + fault.ms;
      }
      case "readersJoin": {
        for (const pick of fault.picks) {
          const live = this.relays.map((r, i) => [r, i] as const).filter(([r]) => r.alive && r.started);
          if (live.length === 0) break;
          const [relay, index] = live[Math.floor(pick.relay * live.length)]!;
          const path = this.plan.paths[Math.floor(pick.path * this.plan.paths.length)]!;
          const reader = this.addReader(index, path);
          trace(`reader ${reader.id} joins ${relay.node}/${path}`);
        }
        return now;
      }
      case "readersLeave": {
        for (const pick of fault.picks) {
          const active = this.readers.filter((r) => r.state === "playing" || r.state === "waiting");
          if (active.length === 0) break;
          const reader = active[Math.floor(pick * active.length)]!;
          trace(`reader ${reader.id} leaves ${reader.relay.node}/${reader.path}`);
          reader.stop();
        }
        return now;
      }
      case "cameraRestart": {
        const urls = new Set(this.plan.relays.map((r) => r.paths[fault.path]).filter((u) => u !== undefined));
        trace(`camera of ${fault.path} restarts (${[...urls].join(", ")})`);
        for (const url of urls) this.cameras.restart(url);
        return now;
      }
    }
  }

  #describe(relay: SimRelay, target: FaultTarget): string {
    const v = relay.mesh.treeView(target.path);
    if (!v) return `no part in ${target.path}`;
    return `${
      v.role === "root" ? "root" : (v.children as string[]).length ? "mid-tree" : "leaf"
    } of ${target.path}`;
  }

  #kill(relay: SimRelay): void {
    relay.kill();
    if (this.plan.discovery !== "kubernetes") return;
    this.scheduler.at(this.plan.podGoneMs, () => {
      const current = this.relays[this.plan.relays.indexOf(relay.spec)];
      if (current !== relay || relay.alive) return;
      this.#opts.trace(`${this.scheduler.now().toFixed(1)} ms: pod of ${relay.node} deleted`);
      this.api.delete(relay.node);
    }, WORLD);
  }

  /** A relay's process starts again (new incarnation); its readers come back once it is up. */
  #restart(old: SimRelay): void {
    const index = this.plan.relays.indexOf(old.spec);
    if (this.relays[index] !== old || old.alive) return;
    this.#opts.trace(`${this.scheduler.now().toFixed(1)} ms: ${old.node} starts again`);
    if (this.plan.discovery === "kubernetes") this.api.put(peerOf(old.spec));
    const relay = this.#spawn(old.spec);
    this.relays[index] = relay;
    const back = old.readers.map((r) => r.path);
    const rejoin = () => {
      if (!relay.alive) return;
      if (!relay.started) return void this.scheduler.at(100, rejoin, relay);
      for (const path of back) this.addReader(index, path);
    };
    this.scheduler.at(100, rejoin, relay);
  }

  /** Ends what outlives the processes in this isolate (pacing timers); nothing is awaited. */
  teardown(): void {
    for (const p of this.processes) p.teardown();
  }
}
