/**
 * Starts a cluster of relay processes on one machine the way they run on separate nodes: each on its own
 * 127.0.0.x address with the same ports, named node-a, node-b, ... in the zones given.
 * @module
 */
import { freePort } from "./processes.ts";
import { type RelayProcess, startRelayProcess } from "./relay.ts";

/** Options of {@linkcode startRelayCluster}. */
export interface ClusterOptions {
  /** Relays to start. */
  count: number;
  /** Zone of relay i. */
  zoneOf: (i: number) => string;
  /** `static` gives every relay `--peer` flags for the others; `kubernetes` expects `env` to point at an API. */
  discovery: "static" | "kubernetes";
  /** Extra flags of relay i. */
  argsOf?: (i: number) => string[];
  /** Environment of relay i. */
  envOf?: (i: number) => Record<string, string>;
  /** Fan-out. @default 2 */
  fanout?: number;
  /** First address's last octet. @default random in 20..200 */
  firstOctet?: number;
  /**
   * The cluster key every relay gets (`--mesh-key`), as in production; null for an open mesh (or when `argsOf`
   * gives keys itself). @default {@linkcode TEST_MESH_KEY}
   */
  meshKey?: string | null;
  /** Extra `deno run` permission flags of every relay (e.g. `["--allow-ffi"]`). */
  permissions?: string[];
}

/** The mesh key of test clusters. */
export const TEST_MESH_KEY = "test-cluster-key-0123456789abcdef";

/** A running cluster. */
export interface RelayCluster extends AsyncDisposable {
  readonly relays: RelayProcess[];
  readonly ports: { rtsp: number; admin: number; mesh: number };
  nodeName(i: number): string;
  hostOf(i: number): string;
  stopAll(): Promise<void>;
}

/** Node name of relay i: node-a, node-b, ... */
export function nodeName(i: number): string {
  return `node-${String.fromCharCode(97 + i)}`;
}

/** Starts `count` relays (in parallel) and waits until each is ready. */
export async function startRelayCluster(opts: ClusterOptions): Promise<RelayCluster> {
  const first = opts.firstOctet ?? 20 + Math.floor(Math.random() * 180);
  const hostOf = (i: number) => `127.0.0.${first + i}`;
  // The same ports on every address, as on separate nodes; probed free on the first address.
  const ports = {
    rtsp: freePort("tcp", hostOf(0)),
    admin: freePort("tcp", hostOf(0)),
    mesh: freePort("udp", hostOf(0)),
  };
  const peerFlags = (i: number) =>
    opts.discovery === "static"
      ? Array.from({ length: opts.count }, (_, j) => j).filter((j) => j !== i).flatMap((j) => [
        "--peer",
        `${nodeName(j)}=${hostOf(j)}:${ports.admin}:${ports.mesh}@${opts.zoneOf(j)}`,
      ])
      : [];
  const relays = await Promise.all(Array.from({ length: opts.count }, (_, i) =>
    startRelayProcess(
      [
        "--node",
        nodeName(i),
        "--zone",
        opts.zoneOf(i),
        "--discovery",
        opts.discovery,
        "--fanout",
        String(opts.fanout ?? 2),
        ...peerFlags(i),
        ...(opts.meshKey === null ? [] : ["--mesh-key", opts.meshKey ?? TEST_MESH_KEY]),
        ...(opts.argsOf?.(i) ?? []),
      ],
      opts.envOf?.(i) ?? {},
      {
        host: hostOf(i),
        rtspPort: ports.rtsp,
        adminPort: ports.admin,
        meshPort: ports.mesh,
        name: `relay-${nodeName(i)}`,
        ...(opts.permissions ? { permissions: opts.permissions } : {}),
      },
    )));
  const stopAll = async () => {
    await Promise.all(relays.map((r) => r.process.running ? r.stop("SIGTERM") : Promise.resolve()));
  };
  return { relays, ports, nodeName, hostOf, stopAll, [Symbol.asyncDispose]: stopAll };
}
