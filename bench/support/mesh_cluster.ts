/**
 * The relays of the mesh bench (`bench/mesh.ts`): a cluster of relay processes on 127.0.0.x with static
 * discovery, an RTSP publisher on relay 0 (the root: a published stream is rooted where it is published) whose
 * packets the C blaster sends, and RTSP UDP readers whose client ports a C stamp sink listens on.
 * @module
 */
import { type RelayCluster, startRelayCluster, TEST_MESH_KEY } from "../../tests/support/mesh.ts";
import { type RtspReader, startRtspPublisher, startRtspReader } from "../../tests/support/rtsp_peers.ts";
import { treeOf } from "../../tests/support/tree_scenario.ts";
import { freeUdpPair } from "./dataplane_procs.ts";

/** The path the bench publishes. */
export const MESH_BENCH_PATH = "bench";

const SDP = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=mesh-bench\r\nt=0 0\r\nm=video 0 RTP/AVP 96\r\n" +
  "a=rtpmap:96 H264/90000\r\na=control:trackID=0\r\n";

/** Options of {@linkcode startMeshBench}. */
export interface MeshBenchOptions {
  /** `--data-plane` of every relay. */
  plane: "portable" | "fast";
  /** With a mesh key (`--mesh-key`): every mesh packet sealed with AES-256-GCM. */
  sealed: boolean;
  relays: number;
  /** `--fanout`: 1 makes a chain. */
  fanout: number;
}

/** A running bench cluster with its publisher. */
export interface MeshBench extends AsyncDisposable {
  readonly cluster: RelayCluster;
  /** Process id of relay i. */
  pid(i: number): number;
  /** Where the blaster sends (the root's server port on its address) and from which port. */
  readonly blast: { host: string; port: number; sourcePort: number };
  /** Packets blasted so far: the next trial's RTP numbering starts there. */
  rtpBase: number;
  /** A UDP reader on relay i whose packets go to `port` on 127.0.0.1 (`port` and `port + 1` must be free). */
  addReader(i: number, port: number): Promise<RtspReader>;
  /** Closes every reader but the first `keep` added (their RTSP connections: the sessions end). */
  dropReaders(keep: number): Promise<void>;
  /**
   * Waits until the depths of relays 1.. satisfy `settled` (the planner may attach a member somewhere first and
   * move it after: make-before-break); returns the depth of every relay (the root's 0).
   * @throws Error when they do not within `timeoutMs`
   */
  settledDepths(settled: (depths: number[]) => boolean, timeoutMs?: number): Promise<number[]>;
  /** Waits until relay i has a parent (it joined the tree); returns its depth below the root. */
  depthOf(i: number, timeoutMs?: number): Promise<number>;
  stop(): Promise<void>;
}

/** Starts the cluster and the publisher. */
export async function startMeshBench(opts: MeshBenchOptions): Promise<MeshBench> {
  const cluster = await startRelayCluster({
    count: opts.relays,
    zoneOf: () => "zone-1",
    discovery: "static",
    fanout: opts.fanout,
    meshKey: opts.sealed ? TEST_MESH_KEY : null,
    // FFI on both planes, so sealing uses libcrypto on both (node:crypto otherwise). BENCH_RELAY_FLAGS adds
    // `deno run` flags, e.g. `--v8-flags=--perf-basic-prof` to read the relays with `perf`.
    permissions: [
      "--allow-ffi",
      ...(Deno.env.get("BENCH_RELAY_FLAGS")?.split(" ").filter((f) => f !== "") ?? []),
    ],
    argsOf: () => [
      "--data-plane",
      opts.plane,
      "--no-gop-cache",
      "--no-demo",
      "--session-timeout",
      "300",
      "--log-level",
      "warn",
    ],
  });
  const readers: RtspReader[] = [];
  try {
    const root = cluster.relays[0]!;
    const sourcePort = freeUdpPair();
    const publisher = await startRtspPublisher(root.url(MESH_BENCH_PATH), SDP, {
      transport: "udp",
      clientPort: sourcePort,
    });
    const stop = async () => {
      await Promise.all(readers.map((r) => r.close().catch(() => {})));
      publisher.close();
      await cluster.stopAll();
    };
    const nameIndex = (name: string) => cluster.relays.findIndex((_, j) => cluster.nodeName(j) === name);
    const depthOf = async (i: number, timeoutMs = 20_000): Promise<number> => {
      const deadline = Date.now() + timeoutMs;
      let depth = 0;
      for (let at = i; at !== 0; depth++) {
        let parent: string | null = null;
        while (!parent) {
          parent = (await treeOf(cluster.relays[at]!, MESH_BENCH_PATH))?.parent ?? null;
          if (parent) break;
          if (Date.now() > deadline) {
            throw new Error(`${cluster.nodeName(at)} joined no tree in ${timeoutMs} ms`);
          }
          await new Promise((r) => setTimeout(r, 100));
        }
        at = nameIndex(parent);
        if (at < 0 || depth > opts.relays) throw new Error(`Unexpected parent "${parent}"`);
      }
      return depth;
    };
    const readerUrls = new Map<RtspReader, string>();
    return {
      cluster,
      pid: (i) => cluster.relays[i]!.process.pid,
      blast: { host: root.host, port: publisher.serverPort!, sourcePort },
      rtpBase: 0,
      async addReader(i, port) {
        const url = cluster.relays[i]!.url(MESH_BENCH_PATH);
        const r = await startRtspReader(url, { transport: "udp", clientPort: port });
        readers.push(r);
        readerUrls.set(r, url);
        return r;
      },
      async dropReaders(keep) {
        // A TEARDOWN first: a UDP session outlives its RTSP connection (RFC 2326), and the relay would go on
        // sending to the closed sinks' ports until the session timed out (ICMP port unreachable for each copy,
        // whose cost the next phase's figures would carry).
        await Promise.all(
          readers.splice(keep).map(async (r) => {
            await r.conn.request("TEARDOWN", readerUrls.get(r)!, { Session: r.session }).catch(() => {});
            await r.close().catch(() => {});
          }),
        );
      },
      async settledDepths(settled, timeoutMs = 30_000) {
        const deadline = Date.now() + timeoutMs;
        for (;;) {
          const depths = [0];
          for (let i = 1; i < cluster.relays.length; i++) depths.push(await depthOf(i, timeoutMs));
          if (settled(depths)) return depths;
          if (Date.now() > deadline) throw new Error(`The tree did not settle: depths ${depths.join(", ")}`);
          await new Promise((r) => setTimeout(r, 200));
        }
      },
      depthOf,
      stop,
      [Symbol.asyncDispose]: stop,
    };
  } catch (err) {
    await cluster.stopAll();
    throw err;
  }
}
