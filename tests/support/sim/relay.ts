/**
 * One simulated relay process: the real StreamHub and Mesh (and through them the real MeshSource, planner and
 * peer protocol), wired as src/app.ts wires them, with the simulation's clock, timers, network and discovery;
 * configured cameras are pulled from simulated cameras. No RTSP server: readers attach to the hub as the RTSP
 * service does (reader.ts).
 *
 * SIGKILL ({@linkcode SimRelay.kill}) is what the kernel does: the process stops at once, its timers never fire,
 * its calls never answer, its host refuses connections; nothing of it says goodbye.
 * @module
 */
import { Hono } from "hono";
import type { Peer } from "../../../src/cluster/discovery.ts";
import { Mesh } from "../../../src/cluster/mesh.ts";
import { toHex } from "../../../src/cluster/mesh_incarnation.ts";
import type { Timers } from "../../../src/clock.ts";
import type { Logger } from "../../../src/log.ts";
import { StreamHub } from "../../../src/relay/hub.ts";
import { FakePortPairs } from "../fake_port_pairs.ts";
import { type SimCameras, SimCameraSource } from "./camera.ts";
import { type SimApi, SimDiscovery } from "./discovery.ts";
import type { SimNetwork } from "./network.ts";
import type { SimReader } from "./reader.ts";
import type { SimOwner, SimScheduler } from "./scheduler.ts";

/** What every relay of a simulation shares. */
export interface SimWorld {
  scheduler: SimScheduler;
  network: SimNetwork;
  api: SimApi;
  cameras: SimCameras;
  /** Seeded uniform [0, 1) of the run. */
  random: () => number;
  /** A logger for `node` (its lines go to the run's trace). */
  logger: (node: string) => Logger;
  fanout: number;
  /** Seconds a stream lingers after its last reader. */
  lingerSeconds: number;
  /** `--protection` of every relay. */
  protection: "none" | "dual";
}

/** How one relay is configured. */
export interface SimRelaySpec {
  node: string;
  host: string;
  zone: string;
  /** Configured cameras: path -> URL. */
  paths: Readonly<Record<string, string>>;
}

/** The ports every relay listens on (each relay has its own address). */
export const SIM_PORTS = { rtsp: 8554, admin: 8080, mesh: 7000 } as const;

/** A relay's pod as discovery lists it. */
export function peerOf(spec: SimRelaySpec): Peer {
  return {
    node: spec.node,
    zone: spec.zone,
    host: spec.host,
    rtspPort: SIM_PORTS.rtsp,
    adminPort: SIM_PORTS.admin,
    meshPort: SIM_PORTS.mesh,
    ready: true,
  };
}

/** One run of one relay. */
export class SimRelay implements SimOwner {
  alive = true;
  readonly spec: SimRelaySpec;
  readonly hub: StreamHub;
  readonly mesh: Mesh;
  readonly timers: Timers;
  readonly now: () => number;
  readonly readers: SimReader[] = [];
  readonly #world: SimWorld;
  /** True once mesh.start() finished. */
  started = false;

  /**
   * @param world what the relays share
   * @param spec its configuration
   */
  constructor(world: SimWorld, spec: SimRelaySpec) {
    this.#world = world;
    this.spec = spec;
    const sched = world.scheduler;
    this.timers = sched.timersFor(this);
    this.now = sched.now;
    const logger = world.logger(spec.node);
    const self = peerOf(spec);
    const incarnation = toHex(Uint8Array.from({ length: 8 }, () => Math.floor(world.random() * 256)));
    this.mesh = new Mesh({
      self,
      discovery: new SimDiscovery(world.api, self, this),
      fanout: world.fanout,
      protection: world.protection,
      bindHost: spec.host,
      logger: logger.child("mesh"),
      incarnation,
      clock: sched.now,
      timers: this.timers,
      wallClock: () => Date.now(),
      transport: world.network.transportFor(spec.host, this),
      openPort: world.network.openPortFor(spec.host, this),
    });
    const mesh = this.mesh;
    this.hub = new StreamHub({
      logger: logger.child("hub"),
      pulls: { ...spec.paths },
      demo: false,
      publish: false,
      bindPair: new FakePortPairs(64).bind,
      timers: this.timers,
      lingerSeconds: world.lingerSeconds,
      gopCacheBytes: 1 << 20,
      maxTracks: 8,
      remote: mesh.resolver,
      createSource: (stream, _kind, url) =>
        new SimCameraSource(stream, mesh.pullUrl(url!), world.cameras, this.timers, sched.now),
    });
  }

  get node(): string {
    return this.spec.node;
  }

  /** Listens on the network and starts the mesh (resolves in sim time, once discovery and paths are in). */
  async start(): Promise<void> {
    const app = new Hono();
    app.route("/mesh/v1", this.mesh.routes());
    this.#world.network.listen(this.spec.host, this, app);
    await this.mesh.start(this.hub);
    this.started = true;
  }

  /** SIGKILL: everything stops at once; readers lose their connection. */
  kill(): void {
    if (!this.alive) return;
    this.alive = false;
    this.#world.network.unlisten(this.spec.host, this);
    for (const r of this.readers) r.lost();
  }

  /**
   * Ends what outlives the process in this one JS isolate: tracks' GOP-burst pacing (a shared timer) and the
   * streams' sources. Nothing is awaited: a dead relay's calls never settle.
   */
  teardown(): void {
    for (const stream of this.hub.streams()) {
      void stream.source?.stop().catch(() => {});
      for (const track of stream.tracks) track.close();
    }
  }
}
