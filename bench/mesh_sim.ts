/**
 * `deno task bench` (or `deno run -A bench/mesh_sim.ts`): the deterministic cluster simulation at sizes and seed
 * counts that do not fit in `deno task test` (tests/support/sim/; all times are simulated, so the figures do not
 * depend on how busy the machine is, only the wall-clock time to get them does).
 *
 * a. Failover gap readers see when the root dies and when a mid-tree relay dies, at 6 and at 50 relays (every relay
 *    configured with the camera, as one ConfigMap gives it; k = 2; readers on half the relays): per seed the worst
 *    surviving reader's gap (last packet before to first after) and its decodable gap (to the first keyframe after),
 *    median / p95 / max over seeds.
 * b. Thousands of seeds of the full fault mix at 50 relays (as tests/mesh_sim_test.ts, other seeds, two steps).
 * c. One 1,000-relay cluster (every relay configured with the camera): SIGKILL of the root and of two mid-tree relays
 *    (one restarted), then a partition of 100 relays with the root during an API outage.
 * d. Control messages per second at the root and per relay, 1,000 relays x 100 paths (each relay reading 3 of
 *    them) and 100 relays x 100 paths (each reading 30), cameras at 1 fps: peer calls and heartbeats received in a
 *    steady window. Renewals are batched per root (split's `/mesh/v1/renew`, on main since 11f9d42). Every relay
 *    reading every path (1,000 x 100 = 100,000 member streams) does not fit one process: each relay's member
 *    streams and duplicate filters hold some 70 KB each (2 GB at 100 x 100 x 100, measured).
 *
 * Sizes: MSM_SIM_BENCH_SEEDS (b, default 2000), MSM_SIM_BENCH_GAP_SEEDS (a, default 100), MSM_SIM_BENCH_PARTS
 * (default "abcd"). Prints a table and writes bench/output/mesh_sim.json.
 * @module
 */
import { runSimulation, type SimOptions, type SimResult } from "../tests/support/sim/simulation.ts";
import type { SimPlan } from "../tests/support/sim/plan.ts";

const PARTS = Deno.env.get("MSM_SIM_BENCH_PARTS") ?? "abcd";
const SEEDS = Number(Deno.env.get("MSM_SIM_BENCH_SEEDS") ?? 2000);
const GAP_SEEDS = Number(Deno.env.get("MSM_SIM_BENCH_GAP_SEEDS") ?? 100);
const OUTPUT = new URL("./output/mesh_sim.json", import.meta.url);
const CAM = "rtsp://cam-1.cameras.sim/live";

const figures: Record<string, unknown> = {};

function quantiles(values: number[]): { n: number; median: number; p95: number; max: number } {
  const v = [...values].sort((a, b) => a - b);
  const at = (p: number) => v.length ? v[Math.min(v.length - 1, Math.floor(p * v.length))]! : NaN;
  return { n: v.length, median: at(0.5), p95: at(0.95), max: v.length ? v[v.length - 1]! : NaN };
}

function line(name: string, q: { n: number; median: number; p95: number; max: number }, unit = "ms"): string {
  const f = (x: number) => (Number.isFinite(x) ? Math.round(x).toString() : "-");
  return `${name.padEnd(58)} n=${String(q.n).padStart(5)}  median ${f(q.median).padStart(6)}  p95 ${
    f(q.p95).padStart(6)
  }  max ${f(q.max).padStart(6)} ${unit}`;
}

async function timed<T>(what: string, fn: () => Promise<T>): Promise<T> {
  const started = performance.now();
  const out = await fn();
  console.log(`  (${what}: ${((performance.now() - started) / 1000).toFixed(1)} s of wall-clock time)`);
  return out;
}

/** Every relay configured with one camera, k = 2, readers on half the relays, one fault at 4 s. */
function failoverPlan(relays: number, role: "root" | "mid", seed: number): SimOptions {
  return {
    seed,
    relays,
    steps: 1,
    settleMs: 6000,
    fanout: 2,
    editPlan: (plan: SimPlan) => {
      for (const r of plan.relays) (r as { paths: Record<string, string> }).paths = { cam: CAM };
      plan.paths = ["cam"];
      plan.discovery = seed % 2 === 0 ? "static" : "kubernetes";
      const n = plan.relays.length;
      plan.readers = Array.from({ length: Math.max(3, n >> 1) }, (_, i) => ({
        relay: (i * 2 + 1 + seed) % n,
        path: "cam",
      }));
      plan.steps = [{
        faults: [{
          atMs: 1000,
          fault: { kind: "kill", target: { role, path: "cam", pick: (seed * 0.618) % 1 } },
        }],
      }];
    },
  };
}

async function partA(): Promise<void> {
  console.log("a. failover gap readers see (sim time), worst surviving reader per seed");
  for (const relays of [6, 50]) {
    for (const role of ["root", "mid"] as const) {
      const gaps: number[] = [];
      const decodable: number[] = [];
      let hit = 0;
      let violations = 0;
      await timed(`${relays} relays, ${role}`, async () => {
        for (let seed = 1; seed <= GAP_SEEDS; seed++) {
          const r = await runSimulation(failoverPlan(relays, role, seed));
          const kill = r.trace.find((l) => / ms: SIGKILL /.test(l));
          if (!kill || !kill.includes(role === "root" ? "(root of" : "(mid-tree of")) continue;
          hit++;
          if (r.violations.length > 0) violations++;
          const at = Number(kill.split(" ms")[0]);
          const after = r.gaps.filter((g) => g.to > at && g.from >= at - 100);
          if (after.length === 0) {
            gaps.push(0);
            decodable.push(0);
            continue;
          }
          gaps.push(Math.max(...after.map((g) => g.to - g.from)));
          decodable.push(Math.max(...after.map((g) => (g.keyframeAt ?? g.to) - g.from)));
        }
      });
      const q = quantiles(gaps);
      const d = quantiles(decodable);
      console.log(line(`  ${relays} relays, ${role} SIGKILLed: media gap`, q));
      console.log(line(`  ${relays} relays, ${role} SIGKILLed: to the next keyframe`, d));
      console.log(`    (${hit} of ${GAP_SEEDS} seeds hit a ${role}; ${violations} with a violation)`);
      figures[`gap_${relays}_${role}`] = { gap: q, decodable: d, seeds: hit, violations };
    }
  }
}

async function partB(): Promise<void> {
  console.log(`b. ${SEEDS} seeds of the fault mix at 50 relays, 2 steps each`);
  let faults = 0;
  let simMs = 0;
  const failed: number[] = [];
  const converge: number[] = [];
  await timed(`${SEEDS} seeds`, async () => {
    for (let seed = 1001; seed < 1001 + SEEDS; seed++) {
      const r = await runSimulation({ seed, relays: 50, steps: 2, holdMs: 3000 });
      faults += r.faults;
      simMs += r.simMs;
      for (const c of r.convergeMs) if (c !== null) converge.push(c);
      if (r.violations.length > 0) {
        failed.push(seed);
        if (failed.length <= 3) console.log(`  seed ${seed}: ${r.violations.slice(0, 3).join(" | ")}`);
      }
    }
  });
  console.log(
    `  ${SEEDS} fault schedules, ${faults} faults, ${
      (simMs / 1000).toFixed(0)
    } s simulated; seeds with a violation: ${failed.length ? failed.join(", ") : "none"}`,
  );
  console.log(line("  settled after a step's last fault", quantiles(converge)));
  figures.seeds = { seeds: SEEDS, faults, simMs, failed, converge: quantiles(converge) };
}

async function partC(): Promise<void> {
  console.log(
    "c. a 1,000-relay cluster (every relay configured with the camera): SIGKILLs, then a partition",
  );
  const r: SimResult = await timed(
    "1,000 relays",
    () =>
      runSimulation({
        seed: 4242,
        relays: 1000,
        steps: 2,
        startupMs: 20_000,
        settleMs: 20_000,
        editPlan: (plan) => {
          // One ConfigMap: every relay knows the camera, so no relay waits for 999 peers' paths (about 2 min at 8
          // fetches a second) before it can tell the root.
          for (const r of plan.relays) (r as { paths: Record<string, string> }).paths = { cam: CAM };
          plan.paths = ["cam"];
          plan.readers = plan.readers.map((x) => ({ ...x, path: "cam" }));
          const cam = (role: "root" | "mid" | "any", pick = 0.5) => ({ role, path: "cam", pick });
          plan.steps = [
            {
              faults: [
                { atMs: 0, fault: { kind: "kill", target: cam("root") } },
                { atMs: 300, fault: { kind: "kill", target: cam("mid", 0.3) } },
                { atMs: 500, fault: { kind: "restart", target: cam("mid", 0.7), downMs: 1500 } },
              ],
            },
            {
              faults: [
                { atMs: 0, fault: { kind: "partition", target: cam("root"), size: 100, ms: 3000 } },
                { atMs: 200, fault: { kind: "apiOutage", ms: 2000 } },
                {
                  atMs: 400,
                  fault: { kind: "readersJoin", picks: [{ relay: 0.1, path: 0 }, { relay: 0.9, path: 0 }] },
                },
              ],
            },
          ];
        },
      }),
  );
  const served = r.trace.filter((l) => /settled|VIOLATION|SIGKILL|partition|API|starts again/.test(l));
  for (const l of served.slice(0, 12)) console.log(`  ${l.slice(0, 160)}`);
  console.log(
    `  ${r.faults} faults, ${
      (r.simMs / 1000).toFixed(0)
    } s simulated, ${r.events} events; violations: ${r.violations.length}`,
  );
  figures.cluster1000 = {
    faults: r.faults,
    simMs: r.simMs,
    events: r.events,
    violations: r.violations.slice(0, 10),
    convergeMs: r.convergeMs,
  };
}

/** Every relay configured with every path (one ConfigMap); each relay reads `perRelay` of the `paths` paths. */
function controlPlan(relays: number, paths: number, perRelay: number): SimOptions {
  const names = Array.from({ length: paths }, (_, i) => `cam${i}`);
  return {
    seed: 77,
    relays,
    steps: 0,
    startupMs: 20_000,
    cameraFrameMs: 1000,
    measureFromMs: 15_000,
    editPlan: (plan: SimPlan) => {
      for (const r of plan.relays) {
        (r as { paths: Record<string, string> }).paths = Object.fromEntries(
          names.map((p) => [p, `rtsp://${p}.cameras.sim/live`]),
        );
      }
      plan.paths = names;
      plan.discovery = "static";
      plan.readers = plan.relays.flatMap((_, i) =>
        Array.from({ length: perRelay }, (_, j) => ({ relay: i, path: names[(i * 7 + j * 13) % paths]! }))
      );
    },
  };
}

async function partD(): Promise<void> {
  console.log("d. control messages per second in a steady window (batched renewals)");
  for (const [relays, paths, perRelay] of [[100, 100, 30], [1000, 100, 3]] as const) {
    const r = await timed(
      `${relays} relays x ${paths} paths`,
      () => runSimulation(controlPlan(relays, paths, perRelay)),
    );
    const seconds = (r.window.toMs - r.window.fromMs) / 1000;
    const perNode = [...r.window.calls].map(([node, ops]) => ({
      node,
      calls: [...ops.values()].reduce((a, b) => a + b, 0) / seconds,
      ops: Object.fromEntries([...ops].map(([op, n]) => [op, Math.round(n / seconds)])),
      heartbeats: (r.window.heartbeats.get(node) ?? 0) / seconds,
    }));
    perNode.sort((a, b) => b.calls - a.calls);
    const busiest = perNode[0]!;
    const mean = perNode.reduce((a, b) => a + b.calls, 0) / perNode.length;
    const hb = perNode.reduce((a, b) => a + b.heartbeats, 0) / perNode.length;
    console.log(
      `  ${relays} relays x ${paths} paths (${perRelay} read per relay): busiest relay ${busiest.node} ${
        busiest.calls.toFixed(0)
      } calls/s ${JSON.stringify(busiest.ops)}; mean ${mean.toFixed(1)} calls/s and ${
        hb.toFixed(0)
      } heartbeats/s received per relay; violations ${r.violations.length}`,
    );
    figures[`control_${relays}x${paths}`] = {
      perRelay,
      seconds,
      busiest,
      meanCalls: mean,
      meanHeartbeats: hb,
      violations: r.violations.length,
    };
  }
}

if (PARTS.includes("a")) await partA();
if (PARTS.includes("b")) await partB();
if (PARTS.includes("c")) await partC();
if (PARTS.includes("d")) await partD();
await Deno.mkdir(new URL("./output/", import.meta.url), { recursive: true });
await Deno.writeTextFile(OUTPUT, JSON.stringify(figures, null, 2) + "\n");
console.log(`wrote ${OUTPUT.pathname}`);
