/**
 * The deterministic cluster simulation (tests/support/sim/): 50 relays of the real mesh core in one process on a
 * simulated clock and network, each seed a different cluster (zones, fan-out, which relay is configured with which
 * camera, two URLs for one path) and fault schedule (SIGKILL of any relay, the root included, restarts, API
 * outages, partitions, lossy links, readers that come and go, camera restarts). After every step the invariants
 * must hold (invariants.ts); every packet a reader gets is checked (one SSRC, sequence numbers and timestamps
 * that only move forward).
 *
 * `MSM_SIM_SEED=123` replays one seed and prints its whole trace; `MSM_SIM_SEEDS=1-1000` runs another range;
 * `MSM_SIM_STEPS` and `MSM_SIM_RELAYS` change the shape.
 */
import { runSimulation, type SimResult } from "./support/sim/simulation.ts";

const one = Deno.env.get("MSM_SIM_SEED");
const range = (Deno.env.get("MSM_SIM_SEEDS") ?? "1-200").split("-").map(Number);
const seeds = one !== undefined
  ? [Number(one)]
  : Array.from({ length: range[1]! - range[0]! + 1 }, (_, i) => range[0]! + i);
const relays = Number(Deno.env.get("MSM_SIM_RELAYS") ?? 50);
const steps = Number(Deno.env.get("MSM_SIM_STEPS") ?? 1);
const shape = `${relays !== 50 ? `MSM_SIM_RELAYS=${relays} ` : ""}${
  steps !== 1 ? `MSM_SIM_STEPS=${steps} ` : ""
}`;

/**
 * Violations of findings still open (/work/briefs/sim_findings.md): counted and printed with their seeds, not
 * failed on, until the mesh is fixed; every other violation fails the test. Remove an entry with its fix.
 */
const OPEN_FINDINGS: ReadonlyArray<{ finding: string; what: string; pattern: RegExp }> = [];

/** A step ends once the invariants held this long in a row (or 8 s after its last fault, when they must hold). */
const HOLD_MS = 3000;

function percentile(values: number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

Deno.test(`mesh simulation: ${seeds.length} seeded fault schedules of ${relays} relays keep every invariant`, async () => {
  const started = performance.now();
  const failed: SimResult[] = [];
  let faults = 0;
  let stepsRun = 0;
  let simMs = 0;
  let events = 0;
  let lingering = 0;
  let globalTimers = 0;
  const converge: number[] = [];
  const gaps: number[] = [];
  const open = new Map<string, number[]>();
  for (const seed of seeds) {
    const r = await runSimulation({
      seed,
      relays,
      steps,
      holdMs: HOLD_MS,
      ...(one !== undefined ? { logLevel: "info" } : {}),
    });
    faults += r.faults;
    stepsRun += r.convergeMs.length;
    simMs += r.simMs;
    events += r.events;
    lingering = Math.max(lingering, r.lingeringCopies);
    globalTimers += r.globalTimers;
    for (const c of r.convergeMs) if (c !== null) converge.push(c);
    for (const g of r.gaps) gaps.push(g.to - g.from);
    if (one !== undefined) console.log(r.trace.join("\n"));
    const unknown = r.violations.filter((v) => !OPEN_FINDINGS.some((f) => f.pattern.test(v)));
    for (const f of OPEN_FINDINGS) {
      if (r.violations.some((v) => f.pattern.test(v))) {
        open.set(f.finding, [...(open.get(f.finding) ?? []), seed]);
      }
    }
    if (unknown.length > 0) failed.push(r);
  }
  const wallS = (performance.now() - started) / 1000;
  console.log(
    `${seeds.length} fault schedules (seeds ${seeds[0]}..${
      seeds.at(-1)
    }), ${relays} relays, ${stepsRun} steps, ` +
      `${faults} faults; ${(simMs / 1000).toFixed(0)} s simulated, ${events} events in ${wallS.toFixed(1)} s`,
  );
  console.log(
    `settled after the last fault of a step: median ${percentile(converge, 0.5)} ms, p95 ${
      percentile(converge, 0.95)
    } ms, max ${percentile(converge, 1)} ms; reader gaps: ${gaps.length}, p95 ${
      Math.round(percentile(gaps, 0.95))
    } ms, max ${
      Math.round(percentile(gaps, 1))
    } ms; copies to lingering members at once: max ${lingering}; ` +
      `timers set through the runtime's globals: ${globalTimers}`,
  );
  for (const f of OPEN_FINDINGS) {
    const hit = open.get(f.finding) ?? [];
    console.log(`open finding ${f.finding} (${f.what}): ${hit.length} seed(s) ${hit.join(", ")}`);
  }
  if (failed.length > 0) {
    const first = failed[0]!;
    throw new Error(
      `${failed.length} of ${seeds.length} seeds broke an invariant: ${
        failed.map((f) => f.seed).join(", ")
      }\n` +
        `first failing seed ${first.seed}:\n${first.trace.join("\n")}\n` +
        failed.map((f) => `replay: ${shape}MSM_SIM_SEED=${f.seed} deno test -A tests/mesh_sim_test.ts`).join(
          "\n",
        ),
    );
  }
});

Deno.test("mesh simulation: 40 seeded fault schedules of 20 relays on slow links (60 ms between zones) keep every invariant", async () => {
  // A make-before-break re-parent's overlap then carries pictures from both parents: duplicate suppression at work.
  const failed: string[] = [];
  let faults = 0;
  for (let seed = 1; seed <= 40; seed++) {
    const r = await runSimulation({
      seed,
      relays: 20,
      steps: 2,
      holdMs: HOLD_MS,
      links: { insideMs: 20, acrossMs: 60, jitterMs: 10 },
    });
    faults += r.faults;
    if (r.violations.length > 0) failed.push(`seed ${seed}:\n${r.trace.join("\n")}`);
  }
  console.log(`40 fault schedules of 20 relays on slow links, ${faults} faults`);
  if (failed.length > 0) {
    throw new Error(`${failed.length} of 40 seeds broke an invariant; first:\n${failed[0]}`);
  }
});

Deno.test("mesh simulation: 40 seeded fault schedules of 20 relays with dual-path protection keep every invariant, two disjoint paths included", async () => {
  const failed: string[] = [];
  let faults = 0;
  let checked = 0;
  let standby = 0;
  for (let seed = 1; seed <= 40; seed++) {
    const r = await runSimulation({ seed, relays: 20, steps: 2, holdMs: HOLD_MS, protection: "dual" });
    faults += r.faults;
    checked += r.steps;
    standby += r.standbyChecks > 0 ? 1 : 0;
    if (r.violations.length > 0) failed.push(`seed ${seed}:\n${r.trace.join("\n")}`);
  }
  console.log(
    `40 fault schedules of 20 relays with --protection dual, ${faults} faults, ${checked} steps; an aligned ` +
      `standby root fed the trees in ${standby} of them`,
  );
  // The standby root's paths end at it (it pulls the camera too): the disjointness check must have met them.
  if (standby === 0) throw new Error("no standby root ever aligned: the check of its paths never ran");
  if (failed.length > 0) {
    throw new Error(`${failed.length} of 40 seeds broke an invariant; first:\n${failed[0]!.slice(0, 6000)}`);
  }
});
