/**
 * What a standby root costs (issue 17): three relays on 127.0.0.x (static discovery, fan-out 2, sealed mesh), every
 * one configured with a GStreamer camera outside the mesh, a UDP reader on each relay but the root, one trial per
 * mode of BENCH_STANDBY_SECONDS (30 s):
 * - `none`: `--protection none`: one camera session, one tree;
 * - `dual + standby`: `--protection dual`: the standby pulls the camera too, aligns its session with the root's
 *   and tops the second tree.
 * Prints, for each relay (root, standby or member), its CPU per packet of the stream over the whole window, its
 * RSS at the end, and the camera's sessions. `deno run -A bench/mesh_standby.ts`.
 * @module
 */
import { rendezvous } from "../src/cluster/root_locator.ts";
import { startRelayCluster } from "../tests/support/mesh.ts";
import { delay, startGstCamera } from "../tests/support/processes.ts";
import { cpuSeconds, rssBytes } from "../tests/support/proc_stats.ts";
import { startRtspReader } from "../tests/support/rtsp_peers.ts";

const SECONDS = Number(Deno.env.get("BENCH_STANDBY_SECONDS") ?? 30);
const FPS = Number(Deno.env.get("BENCH_STANDBY_FPS") ?? 25);
const PLANE = Deno.env.get("BENCH_STANDBY_PLANE") ?? "fast";
const RELAYS = 3;

async function trial(protection: "none" | "dual"): Promise<string> {
  await using camera = await startGstCamera({ fps: FPS, gop: FPS, width: 1280, height: 720 });
  await using cluster = await startRelayCluster({
    count: RELAYS,
    zoneOf: () => "zone-1",
    discovery: "static",
    fanout: 2,
    argsOf: () => [
      ...["--path", `cam=${camera.url}`, "--pull-transport", "tcp", "--protection", protection],
      ...["--data-plane", PLANE],
    ],
    permissions: PLANE === "fast" ? ["--allow-ffi"] : [],
  });
  const nodes = cluster.relays.map((_, i) => cluster.nodeName(i));
  const root = nodes.indexOf(rendezvous("cam", nodes)!);
  const standby = nodes.indexOf(rendezvous("cam", nodes.filter((_, i) => i !== root))!);
  let packets = 0;
  const readers = [];
  for (let i = 0; i < RELAYS; i++) {
    if (i === root) continue;
    readers.push(
      await startRtspReader(cluster.relays[i]!.url("cam"), {
        transport: "udp",
        onRtp: () => i === standby && packets++,
      }),
    );
  }
  try {
    // Settled: the standby aligned (dual), every reader served, the tree renewed a few times.
    const deadline = Date.now() + 30_000;
    while (protection === "dual" && Date.now() < deadline) {
      const tree = await cluster.relays[standby]!.get<{ standby?: { aligned?: boolean } }>(
        "/api/v1/tree/cam",
      );
      if (tree.body?.standby?.aligned) break;
      await delay(250);
    }
    await delay(3000);
    const pids = cluster.relays.map((r) => r.process.pid);
    const cpu0 = pids.map((p) => cpuSeconds(p));
    const packets0 = packets;
    const started = performance.now();
    await delay(SECONDS * 1000);
    const window = (performance.now() - started) / 1000;
    const cpu = pids.map((p, i) => cpuSeconds(p) - cpu0[i]!);
    const n = packets - packets0;
    const roleOf = (
      i: number,
    ) => (i === root ? "root" : i === standby && protection === "dual" ? "standby" : "member");
    const lines = pids.map((p, i) =>
      `    ${nodes[i]} (${roleOf(i).padEnd(7)}) CPU ${(1000 * cpu[i]! / window).toFixed(1)} ms/s, ` +
      `${(1e6 * cpu[i]! / Math.max(1, n)).toFixed(1)} µs per packet of the stream, RSS ${
        (rssBytes(p) / 2 ** 20).toFixed(1)
      } MiB`
    );
    return `  --protection ${protection}: ${n} packets in ${window.toFixed(1)} s (${
      (n / window).toFixed(0)
    }/s), ` +
      `camera sessions ${camera.totalConnections()}\n${lines.join("\n")}`;
  } finally {
    for (const r of readers) await r.close().catch(() => {});
  }
}

if (import.meta.main) {
  console.log(
    `bench/mesh_standby.ts: a GStreamer camera (1280x720, ${FPS} fps) pulled by ${RELAYS} relays, ${SECONDS} s per ` +
      `mode, ${PLANE} plane; load avg ${Deno.loadavg().join(" ")}`,
  );
  for (const mode of ["none", "dual"] as const) console.log(await trial(mode));
}
