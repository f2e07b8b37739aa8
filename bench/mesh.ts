/**
 * `deno task bench:mesh`: what the mesh hop costs, in CPU and in latency, on loopback with real relay processes.
 *
 * - **chain**: root -> member -> member (3 relays, `--fanout 1`, static discovery), an RTSP publisher on the root
 *   fed by `bench/c/blaster.c` (a packet number and a send stamp in every payload), one RTSP UDP reader on every
 *   relay, all read by `bench/c/stamp_sink.c` (kernel receive stamps per packet): loss per depth, added latency
 *   per hop (arrival at depth k's reader minus arrival at depth k-1's, per packet), CPU of every relay thread by
 *   thread; at each rate of RATES, trials of TRIAL_MS.
 * - **fan-out 4**: a root with 4 member children. Three cost trials of COST_MS on the root: A (1 UDP reader),
 *   B (5 UDP readers), C (1 UDP reader + 4 mesh children, each with a reader): CPU per mesh copy (C - A) / 4
 *   against CPU per UDP reader copy (B - A) / 4, also thread by thread, and each child's cost per packet; and
 *   two windows of COST_MS without media on the trees of A and C (A0, C0): the children's control plane alone
 *   (heartbeats, lease renewals), per child and second, and a mesh copy's cost without it.
 * Every tree gets WARMUP_MS of the stream before its trials, unmeasured; each relay's fast plane says how much it
 * sent by its Worker alone. Both on `--data-plane portable` and `fast`, sealed (`--mesh-key`) and unsealed. Prints tables, writes
 * bench/output/mesh.json.
 * @module
 */
import { fileURLToPath } from "node:url";
import { compile, freeUdpPair, Lines } from "./support/dataplane_procs.ts";
import { type MeshBench, startMeshBench } from "./support/mesh_cluster.ts";
import { copyCosts, splitMeshCopy } from "./support/copy_costs.ts";
import {
  formatPlaneSends,
  type PlaneCounts,
  planeCountsGrowth,
  readPlaneCounts,
} from "./support/plane_counts.ts";
import { type HopLatency, hopLatency, sendLatency, splitLatencies } from "./support/mesh_latency.ts";
import { formatThreads, loadAverage, openWindow, type WindowCpu } from "./support/trial_window.ts";

const OUTPUT_DIR = new URL("./output/", import.meta.url);
/** Offered-load duration of a chain trial (>= 10 s for steady state); `BENCH_TRIAL_MS` lowers it. */
const TRIAL_MS = Number(Deno.env.get("BENCH_TRIAL_MS") ?? 10_000);
/** Duration of each fan-out cost trial (>= 30 s); `BENCH_COST_MS`, else `BENCH_TRIAL_MS`. */
const COST_MS = Number(Deno.env.get("BENCH_COST_MS") ?? Deno.env.get("BENCH_TRIAL_MS") ?? 30_000);
const STEADY = TRIAL_MS >= 10_000 && COST_MS >= 30_000;
/** Offered rates of the chain, packets/s of 1200 B. */
const RATES = (Deno.env.get("BENCH_MESH_RATES")?.split(",").map(Number) ?? [2_000, 10_000]) as number[];
/** Rate of the fan-out cost trials. */
const COST_RATE = Number(Deno.env.get("BENCH_MESH_COST_RATE") ?? 2_000);
const PLANES = (Deno.env.get("BENCH_MESH_PLANES")?.split(",") ?? ["portable", "fast"]) as Array<
  "portable" | "fast"
>;
const SEALING = (Deno.env.get("BENCH_MESH_SEALED")?.split(",") ?? ["unsealed", "sealed"]).map((s) =>
  s === "sealed"
);
/** `chain`, `fanout` or both. */
const PARTS = Deno.env.get("BENCH_MESH_PARTS")?.split(",") ?? ["chain", "fanout"];
/**
 * Traffic offered once a tree has settled and before its trials, not measured: a member lets its Worker forward
 * its parent's packets only a second after it changed parent (src/cluster/mesh_source.ts), and a trial that
 * starts sooner measures that second's hand-offs, not the steady state. `BENCH_MESH_WARMUP_MS`.
 */
const WARMUP_MS = Number(Deno.env.get("BENCH_MESH_WARMUP_MS") ?? 2_500);

/** A sink port: whose reader it is. */
export interface ReaderPort {
  port: number;
  relay: number;
  label: string;
}

/** One trial's figures. */
export interface MeshTrial {
  rate: number;
  ms: number;
  sent: number;
  loadAvg: string;
  readers: Array<
    { label: string; received: number; loss: number; gaps: number; reordered: number; fromSend: HopLatency }
  >;
  /** Per relay (index in the cluster): the window's CPU, thread by thread. */
  relays: WindowCpu[];
  /** Per relay: what its fast plane's datagram counts grew by over the window (empty on the portable plane). */
  planes: PlaneCounts[];
}

/**
 * Offers `rate` packets/s for `ms` to the bench's root and records every reader's packets. CPU is read for every
 * relay over the whole window (until every reader has every packet, or nothing came for 300 ms).
 */
export async function meshTrial(
  bin: string,
  bench: MeshBench,
  readers: ReaderPort[],
  rate: number,
  ms: number,
): Promise<{ trial: MeshTrial; latencies: Float64Array[] }> {
  const expected = Math.max(1, Math.floor((rate * ms) / 1000));
  // One sink process per reader, as readers are: a copy wakes its own receiver, whether a reader or a relay.
  const files = await Promise.all(readers.map(() => Deno.makeTempFile({ prefix: "msm-mesh-bench-" })));
  try {
    const sinks = readers.map((r, i) => {
      const child = new Deno.Command(`${bin}/stamp_sink`, {
        args: [String(ms + 4000), "300", String(expected), files[i]!, String(r.port)],
        stdout: "piped",
      }).spawn();
      return { child, lines: new Lines(child.stdout) };
    });
    for (const sink of sinks) {
      const ready = await sink.lines.next(5000);
      if (!ready?.startsWith("ready")) throw new Error(`Stamp sink did not start: ${ready}`);
    }
    const loadAvg = loadAverage();
    const relayCount = bench.cluster.relays.length;
    const planesBefore = await Promise.all(
      bench.cluster.relays.map((r) => readPlaneCounts(r.host, r.adminPort)),
    );
    const windows = Array.from({ length: relayCount }, (_, i) => openWindow(bench.pid(i)));
    const { host, port, sourcePort } = bench.blast;
    const blast = await new Deno.Command(`${bin}/blaster`, {
      // The RTP numbering goes on from the last trial's: one stream, as from a camera (a restart would re-base).
      args: [String(port), String(rate), String(ms), "1200", String(sourcePort), host, String(bench.rtpBase)],
      stdout: "piped",
    }).output();
    const sent = (JSON.parse(new TextDecoder().decode(blast.stdout)) as { sent: number }).sent;
    bench.rtpBase += sent;
    const counts = { received: [] as number[], gaps: [] as number[], reordered: [] as number[] };
    for (const sink of sinks) {
      const c = JSON.parse((await sink.lines.next(ms + 10_000)) ?? "{}") as typeof counts;
      counts.received.push(c.received?.[0] ?? 0);
      counts.gaps.push(c.gaps?.[0] ?? 0);
      counts.reordered.push(c.reordered?.[0] ?? 0);
      await sink.child.status;
    }
    const relays = windows.map((w) => w.end());
    const planesAfter = await Promise.all(
      bench.cluster.relays.map((r) => readPlaneCounts(r.host, r.adminPort)),
    );
    const planes = planesAfter.map((after, i) => planeCountsGrowth(planesBefore[i]!, after));
    const latencies = await Promise.all(
      files.map(async (f) => splitLatencies(await Deno.readFile(f), 1, expected)[0]!),
    );
    const trial: MeshTrial = {
      rate,
      ms,
      sent,
      loadAvg,
      readers: readers.map((r, i) => ({
        label: r.label,
        received: counts.received[i] ?? 0,
        loss: sent > 0 ? 1 - (counts.received[i] ?? 0) / sent : 1,
        gaps: counts.gaps[i] ?? 0,
        reordered: counts.reordered[i] ?? 0,
        fromSend: sendLatency(latencies[i]!),
      })),
      relays,
      planes,
    };
    console.error(
      `    ${rate}/s for ${ms / 1000} s: loss ${trial.readers.map((r) => pct(r.loss)).join(" / ")}, CPU ${
        relays.map((w) => `${((w.cpuSeconds / w.seconds) * 100).toFixed(0)} %`).join(" / ")
      }, load avg ${loadAvg}`,
    );
    return { trial, latencies };
  } finally {
    await Promise.all(files.map((f) => Deno.remove(f).catch(() => {})));
  }
}

const pct = (v: number) => `${(v * 100).toFixed(2)} %`;
const us = (v: number) => (Number.isFinite(v) ? v.toFixed(v < 10 ? 1 : 0) : "-");

/** Offers {@linkcode WARMUP_MS} of packets at `rate` to the readers, unmeasured (see there). */
async function warmUp(bin: string, bench: MeshBench, readers: ReaderPort[], rate: number): Promise<void> {
  if (WARMUP_MS <= 0) return;
  console.error(`    warm-up: ${WARMUP_MS / 1000} s at ${rate}/s, not measured`);
  await meshTrial(bin, bench, readers, rate, WARMUP_MS);
}

/**
 * Client port pairs handed out so far: free while no trial runs (each sink binds its port for a trial only), so
 * the kernel could give one out again, and two readers would share a sink port.
 */
const claimedPorts: number[] = [];

/** Readers on relays `relays` (ports from the free pool, none claimed before), labelled `label(i)`. */
async function addReaders(bench: MeshBench, relays: number[], label: (i: number) => string) {
  const out: ReaderPort[] = [];
  for (const relay of relays) {
    const source = bench.blast.sourcePort;
    const port = freeUdpPair([...claimedPorts, source, source + 1]);
    claimedPorts.push(port, port + 1);
    await bench.addReader(relay, port);
    out.push({ port, relay, label: label(relay) });
  }
  return out;
}

/** µs of a relay's CPU per packet offered into the root. */
const perPacket = (t: MeshTrial, relay: number) => (t.relays[relay]!.cpuSeconds * 1e6) / Math.max(1, t.sent);

/** The chain: 3 relays in a line, a reader on each; one trial per rate. */
async function chain(bin: string, plane: "portable" | "fast", sealed: boolean) {
  await using bench = await startMeshBench({ plane, sealed, relays: 3, fanout: 1 });
  const readers = await addReaders(bench, [0, 1, 2], (i) => `relay ${i}`);
  const depths = await bench.settledDepths((d) => [...d].sort().join() === "0,1,2");
  // Readers by depth: reader d is on the relay at depth d.
  readers.sort((a, b) => depths[a.relay]! - depths[b.relay]!);
  for (const r of readers) r.label = `depth ${depths[r.relay]}`;
  await warmUp(bin, bench, readers, RATES[0] ?? 2_000);
  const runs = [];
  for (const rate of RATES) {
    const { trial, latencies } = await meshTrial(bin, bench, readers, rate, TRIAL_MS);
    const hops = [1, 2].map((d) => hopLatency(latencies[d - 1]!, latencies[d]!));
    runs.push({ trial, hops, order: readers.map((r) => r.relay) });
    console.log(
      `\n  chain, ${plane}, ${sealed ? "sealed" : "unsealed"}, ${rate} pkt/s in, load avg ${trial.loadAvg}`,
    );
    console.log("    depth  loss      µs/pkt in  % core   send->reader p50/p99 µs  hop p50/p99/max µs");
    for (const [d, r] of readers.entries()) {
      const w = trial.relays[r.relay]!;
      const hop = d > 0 ? hops[d - 1]! : null;
      console.log(
        `    ${String(d).padStart(5)}  ${pct(trial.readers[d]!.loss).padEnd(8)}  ${
          perPacket(trial, r.relay).toFixed(2).padStart(9)
        }  ${((w.cpuSeconds / w.seconds) * 100).toFixed(1).padStart(6)}   ${
          `${us(trial.readers[d]!.fromSend.p50Us)} / ${us(trial.readers[d]!.fromSend.p99Us)}`.padStart(22)
        }  ${hop ? `${us(hop.p50Us)} / ${us(hop.p99Us)} / ${us(hop.maxUs)}` : "-"}`,
      );
      for (const line of formatThreads(w, trial.sent)) console.log(`  ${line}`);
      const sends = formatPlaneSends(trial.planes[r.relay]!);
      if (sends) console.log(`        ${sends}`);
    }
  }
  return { part: "chain", plane, sealed, runs };
}

/**
 * `BENCH_MESH_PIN=1`: the fan-out's root on CPU 0, everything else (its children, the blaster, the sinks, this
 * process) on the others, so that the root's figures are its own and not those of the cores it shares with its
 * receivers (Linux, `taskset`; needs two cores at least).
 */
const PIN = Deno.env.get("BENCH_MESH_PIN") === "1" && navigator.hardwareConcurrency >= 2;

/** Sets the CPU affinity of every thread of `pid` to `cpus` (a taskset list). */
async function pinTo(pid: number, cpus: string): Promise<void> {
  const out = await new Deno.Command("taskset", { args: ["-a", "-cp", cpus, String(pid)], stdout: "null" })
    .output();
  if (!out.success) throw new Error(`taskset ${cpus} ${pid}: ${new TextDecoder().decode(out.stderr)}`);
}

/**
 * The root's CPU over `ms` with no media offered (the stream and its tree stay: the publisher's session is open,
 * the children heartbeat and renew): what the control plane costs alone.
 */
async function quietWindow(bench: MeshBench, ms: number): Promise<WindowCpu> {
  const window = openWindow(bench.pid(0));
  await new Promise((r) => setTimeout(r, ms));
  return window.end();
}

/** The fan-out-4 parent: phases A, B, C on the root (see the module doc). */
async function fanout(bin: string, plane: "portable" | "fast", sealed: boolean) {
  const all = `0-${navigator.hardwareConcurrency - 1}`;
  if (PIN) await pinTo(Deno.pid, `1-${navigator.hardwareConcurrency - 1}`); // what this process starts inherits it
  try {
    return await fanoutPhases(bin, plane, sealed);
  } finally {
    if (PIN) await pinTo(Deno.pid, all);
  }
}

async function fanoutPhases(bin: string, plane: "portable" | "fast", sealed: boolean) {
  await using bench = await startMeshBench({ plane, sealed, relays: 5, fanout: 4 });
  if (PIN) await pinTo(bench.pid(0), "0");
  const rootReader = await addReaders(bench, [0], () => "root");
  console.error(`  fan-out 4, ${plane}, ${sealed ? "sealed" : "unsealed"}: A (root, 1 reader)`);
  await warmUp(bin, bench, rootReader, COST_RATE);
  console.error(`  A0 (root, 1 reader, no media for ${COST_MS / 1000} s)`);
  const a0 = await quietWindow(bench, COST_MS);
  const a = (await meshTrial(bin, bench, rootReader, COST_RATE, COST_MS)).trial;
  const extra = await addReaders(bench, [0, 0, 0, 0], () => "root extra");
  console.error("  B (root, 5 UDP readers)");
  const b = (await meshTrial(bin, bench, [...rootReader, ...extra], COST_RATE, COST_MS)).trial;
  await bench.dropReaders(1);
  const children = await addReaders(bench, [1, 2, 3, 4], (i) => `child ${i}`);
  await bench.settledDepths((d) => d.every((depth, i) => depth === (i === 0 ? 0 : 1)));
  await warmUp(bin, bench, [...rootReader, ...children], COST_RATE);
  console.error("  C (root, 1 reader + 4 mesh children)");
  const { trial: c, latencies } = await meshTrial(
    bin,
    bench,
    [...rootReader, ...children],
    COST_RATE,
    COST_MS,
  );
  console.error(`  C0 (root, 1 reader + 4 mesh children, no media for ${COST_MS / 1000} s)`);
  const c0 = await quietWindow(bench, COST_MS);
  const settled = await bench.settledDepths((d) => d.every((depth, i) => depth === (i === 0 ? 0 : 1)), 5000)
    .then(() => true, () => false);
  const hops = [1, 2, 3, 4].map((i) => hopLatency(latencies[0]!, latencies[i]!));
  const base = perPacket(a, 0);
  const udpCopy = (perPacket(b, 0) - base) / 4;
  const meshCopy = (perPacket(c, 0) - base) / 4;
  const childIn = [1, 2, 3, 4].map((i) => perPacket(c, i));
  const split = splitMeshCopy(a0, c0, 4, meshCopy, c.sent / (c.ms / 1000));
  console.log(
    `\n  fan-out 4, ${plane}, ${sealed ? "sealed" : "unsealed"}, ${COST_RATE} pkt/s in, ${
      COST_MS / 1000
    } s ` +
      `per phase, load avg A ${a.loadAvg}, B ${b.loadAvg}, C ${c.loadAvg}${
        PIN ? "; root on CPU 0, the rest on the other cores" : ""
      }`,
  );
  console.log(
    `    root µs/pkt in: A ${base.toFixed(2)}, B ${perPacket(b, 0).toFixed(2)}, C ${
      perPacket(c, 0).toFixed(2)
    }; ` +
      `per UDP reader copy ${udpCopy.toFixed(2)}, per mesh copy ${meshCopy.toFixed(2)} µs (ratio ${
        (meshCopy / udpCopy).toFixed(2)
      }, goal <= 1.5)`,
  );
  console.log(
    `    the children's control plane alone (C0 - A0, no media${
      settled ? "" : "; THE TREE CHANGED in C0"
    }): ${split.controlMsPerChildSecond.toFixed(3)} ms of CPU per child and second, ${
      split.controlPerCopyUs.toFixed(2)
    } µs per copy at ${COST_RATE}/s; ` +
      `per mesh copy without it ${split.dataPerCopyUs.toFixed(2)} µs (ratio ${
        (split.dataPerCopyUs / udpCopy).toFixed(2)
      })`,
  );
  const byGroup = copyCosts({ w: a.relays[0]!, sent: a.sent }, { w: b.relays[0]!, sent: b.sent }, {
    w: c.relays[0]!,
    sent: c.sent,
  }, 4).filter((g) => g.group !== "all");
  console.log(
    `    per copy by thread (UDP / mesh µs): ${
      byGroup.map((g) => `${g.group} ${g.udpCopyUs.toFixed(2)} / ${g.meshCopyUs.toFixed(2)}`).join(", ")
    } (the Worker's is the data plane; the main thread's mesh share is the children's heartbeats, reports and leases)`,
  );
  console.log(
    `    children µs/pkt in (mesh ingress + 1 UDP copy): ${childIn.map((v) => v.toFixed(2)).join(", ")}; ` +
      `loss A ${pct(a.readers[0]!.loss)}, B max ${pct(Math.max(...b.readers.map((r) => r.loss)))}, C ${
        c.readers.map((r) => pct(r.loss)).join(" / ")
      }`,
  );
  console.log(
    `    hop root reader -> child reader p50/p99/max µs: ${
      hops.map((h) => `${us(h.p50Us)}/${us(h.p99Us)}/${us(h.maxUs)}`).join(", ")
    }`,
  );
  for (const i of [0, 1, 2, 3, 4]) {
    const sends = formatPlaneSends(c.planes[i]!);
    if (sends) console.log(`    ${i === 0 ? "root" : `child ${i}`}, phase C: ${sends}`);
  }
  for (const [name, t] of [["A", a], ["B", b], ["C", c]] as const) {
    console.log(`    root, phase ${name}:`);
    for (const line of formatThreads(t.relays[0]!, t.sent)) console.log(`  ${line}`);
  }
  for (const [name, w] of [["A0", a0], ["C0", c0]] as const) {
    console.log(
      `    root, phase ${name} (no media): ${(w.cpuSeconds * 1000).toFixed(0)} ms of CPU in ${
        w.seconds.toFixed(1)
      } s (${w.groups.map((g) => `${g.group} ${(g.seconds * 1000).toFixed(0)}`).join(", ")} ms)`,
    );
  }
  return {
    part: "fanout",
    plane,
    sealed,
    rootUsPerPacket: { a: base, b: perPacket(b, 0), c: perPacket(c, 0) },
    udpCopyUs: udpCopy,
    meshCopyUs: meshCopy,
    meshToUdpRatio: meshCopy / udpCopy,
    controlPlane: { ...split, treeKept: settled, a0, c0 },
    dataMeshToUdpRatio: split.dataPerCopyUs / udpCopy,
    copyCostsByThread: byGroup,
    childUsPerPacket: childIn,
    hops,
    trials: { a, b, c },
  };
}

async function main(): Promise<void> {
  const started = performance.now();
  const bin = await Deno.makeTempDir({ prefix: "msm-mesh-bench-" });
  const results: unknown[] = [];
  console.log(
    `msm-relay mesh bench: 1200-byte packets, chain trials ${TRIAL_MS / 1000} s at ${
      RATES.join(", ")
    } pkt/s, ` +
      `fan-out cost trials ${COST_MS / 1000} s at ${COST_RATE} pkt/s; relays, blaster and sink share ` +
      `${navigator.hardwareConcurrency} cores; load avg ${loadAverage()}`,
  );
  if (!STEADY) {
    console.log("NOT STEADY STATE: trials under 10 s (cost trials 30 s) carry start-up, warm-up and drain");
  }
  try {
    await compile(bin, ["blaster", "stamp_sink"]);
    for (const plane of PLANES) {
      for (const sealed of SEALING) {
        if (PARTS.includes("chain")) results.push(await chain(bin, plane, sealed));
        if (PARTS.includes("fanout")) results.push(await fanout(bin, plane, sealed));
      }
    }
  } finally {
    await Deno.remove(bin, { recursive: true });
  }
  await Deno.mkdir(OUTPUT_DIR, { recursive: true });
  const out = new URL("mesh.json", OUTPUT_DIR);
  const seconds = Number(((performance.now() - started) / 1000).toFixed(1));
  await Deno.writeTextFile(
    out,
    JSON.stringify(
      {
        machine: {
          cores: navigator.hardwareConcurrency,
          deno: Deno.version.deno,
          steadyState: STEADY,
          seconds,
        },
        results,
      },
      null,
      2,
    ) + "\n",
  );
  console.log(`\nwrote ${fileURLToPath(out)} in ${seconds} s`);
}

if (import.meta.main) await main();
