/**
 * One run of the deterministic cluster simulation: the plan of a seed (plan.ts) played on a simulated cluster
 * (cluster.ts), its invariants checked after every step (invariants.ts), and a trace that replays it.
 *
 * A run: the relays start; the first readers play; then each step applies its faults, waits for the transient
 * ones to end, and gives the cluster `settleMs` to settle, checking the invariants every `pollMs` meanwhile (the
 * first moment from which they held to the end is the step's convergence time). At the end of a step they must
 * hold. What readers see (SSRC, sequence numbers, timestamps) is checked on every packet; an error a relay
 * contained, an unhandled rejection, or a timer callback that threw is a violation too.
 * @module
 */
import { containedErrors, setContainmentLogger } from "../../../src/contain.ts";
import { createLogger, type Logger } from "../../../src/log.ts";
import { seededRandom } from "../seeded_random.ts";
import { SimCluster, type SimLinkDelays } from "./cluster.ts";
import { checkCluster, lingeringCopies } from "./invariants.ts";
import { describePlan, drawPlan, type PlanOptions, type SimPlan } from "./plan.ts";
import type { MediaGap } from "./reader.ts";
import { SimScheduler, WORLD } from "./scheduler.ts";
import { installVirtualGlobals } from "./virtual_globals.ts";

/** Options of {@linkcode runSimulation}. */
export interface SimOptions extends PlanOptions {
  seed: number;
  /** Time the relays get to start and the first readers to play. @default 3000 */
  startupMs?: number;
  /** Time the cluster gets to settle after a step's last fault. @default 8000 */
  settleMs?: number;
  /** Invariant checks this often while settling. @default 250 */
  pollMs?: number;
  /**
   * A step ends early once the invariants held this long in a row (they must still hold then); 0: every step
   * lasts `settleMs`. @default 0
   */
  holdMs?: number;
  /** `--linger`. @default 5 */
  lingerSeconds?: number;
  /** Milliseconds between a camera's pictures (25 fps by default; a control-plane bench sends few). */
  cameraFrameMs?: number;
  /** Link delays (see cluster.ts). */
  links?: SimLinkDelays;
  /** Copies to lingering members count against k and zones (finding F2). @default false */
  strictLinger?: boolean;
  /** `--protection` of every relay (dual: the invariants check two disjoint paths). @default none */
  protection?: "none" | "dual";
  /** Relay log level kept in the trace. @default "warn" */
  logLevel?: "debug" | "info" | "warn";
  /** Changes the plan before the run (to attack the simulation with a known-bad cluster). */
  editPlan?: (plan: SimPlan) => void;
  /** From this sim time to the end, peer calls and heartbeats received are counted apart (`window`). */
  measureFromMs?: number;
  /** Looks at the cluster at the end of the run, before teardown (diagnostics). */
  inspect?: (cluster: SimCluster) => void;
}

/** What a run did and found. */
export interface SimResult {
  seed: number;
  plan: SimPlan;
  /** Violations; empty when every invariant held. */
  violations: string[];
  /** Replayable account of the run: the plan, each fault as resolved, each step's outcome, the relays' logs. */
  trace: string[];
  faults: number;
  steps: number;
  /** Per step: ms from its last fault until the invariants held for good (null: they never did). */
  convergeMs: Array<number | null>;
  simMs: number;
  events: number;
  /** Gaps every reader saw. */
  gaps: MediaGap[];
  /** Most copies of one path sent to lingering members at one check (see invariants.ts). */
  lingeringCopies: number;
  /** Checks at which an aligned standby root fed a tree (dual protection: its paths end there). */
  standbyChecks: number;
  /** Timers set through the global setTimeout/setInterval (not injected). */
  globalTimers: number;
  /** Peer calls received per relay node and operation, and heartbeats. */
  calls: Map<string, Map<string, number>>;
  heartbeats: number;
  /** What relays received from `measureFromMs` to the end: peer calls per node and operation, heartbeats per node. */
  window: {
    fromMs: number;
    toMs: number;
    calls: Map<string, Map<string, number>>;
    heartbeats: Map<string, number>;
  };
  /** Log lines the relays wrote (at the run's level), and a hash of them all: equal runs log the same. */
  logLines: number;
  logHash: number;
}

/** How to replay a seed (printed with every failing trace). */
export function replayCommand(seed: number): string {
  return `MSM_SIM_SEED=${seed} deno test -A tests/mesh_sim_test.ts`;
}

/** Runs the simulation of `options.seed`. */
export async function runSimulation(options: SimOptions): Promise<SimResult> {
  const plan = drawPlan(options.seed, options);
  options.editPlan?.(plan);
  const startupMs = options.startupMs ?? 3000;
  const settleMs = options.settleMs ?? 8000;
  const pollMs = options.pollMs ?? 250;
  const trace: string[] = [...describePlan(plan)];
  const violations: string[] = [];
  const logTail: string[] = [];
  let logHash = 0x811c9dc5;
  let logLines = 0;
  const scheduler = new SimScheduler();
  const random = seededRandom(options.seed);
  const globals = installVirtualGlobals(scheduler, seededRandom(options.seed ^ 0x0bad5eed));
  const containedBefore = sumOf(containedErrors());
  const level = options.logLevel ?? "warn";
  const loggers = new Map<string, Logger>();
  const logger = (node: string) => {
    let l = loggers.get(node);
    if (!l) {
      l = createLogger({
        level,
        now: () => scheduler.now(),
        write: (line) => {
          logHash = fnv(logHash, `${node} ${line}`);
          logLines++;
          logTail.push(`${node} ${line}`);
          if (logTail.length > 400) logTail.shift();
        },
      }, node);
      loggers.set(node, l);
    }
    return l;
  };
  const violate = (line: string) => {
    violations.push(line);
    trace.push(`VIOLATION ${line}`);
  };
  scheduler.onError = (err) => violate(`${scheduler.now().toFixed(1)} ms: a timer callback threw: ${err}`);
  const onRejection = (e: PromiseRejectionEvent) => {
    e.preventDefault();
    violate(`${scheduler.now().toFixed(1)} ms: unhandled rejection: ${e.reason}`);
  };
  globalThis.addEventListener("unhandledrejection", onRejection);
  setContainmentLogger(logger("contained"));
  const cluster = new SimCluster({
    plan,
    scheduler,
    random,
    trace: (line) => trace.push(line),
    onViolation: violate,
    logger,
    lingerSeconds: options.lingerSeconds ?? 5,
    ...(options.protection ? { protection: options.protection } : {}),
    ...(options.cameraFrameMs ? { cameraFrameMs: options.cameraFrameMs } : {}),
    ...(options.links ? { links: options.links } : {}),
  });
  const convergeMs: Array<number | null> = [];
  let lingering = 0;
  let standbyChecks = 0;
  const counted = () =>
    new Map(plan.relays.map((r) => {
      const c = cluster.network.countersOf(r.host);
      return [r.node, { calls: new Map(c.callsIn), heartbeats: c.heartbeatsIn }] as const;
    }));
  let before: ReturnType<typeof counted> | null = null;
  const measureFrom = options.measureFromMs ?? Infinity;
  if (Number.isFinite(measureFrom)) scheduler.at(measureFrom, () => before = counted(), WORLD);
  try {
    scheduler.at(1000, () => {
      for (const r of plan.readers) cluster.addReader(r.relay, r.path);
    }, WORLD);
    await scheduler.runUntil(startupMs);
    for (const [i, step] of plan.steps.entries()) {
      const start = scheduler.now();
      trace.push(`${start.toFixed(1)} ms: step ${i + 1}`);
      let lastFault = start;
      for (const f of step.faults) {
        scheduler.at(f.atMs, () => {
          lastFault = Math.max(lastFault, cluster.apply(f.fault));
        }, WORLD);
      }
      const lastAt = start + Math.max(...step.faults.map((f) => f.atMs));
      await scheduler.runUntil(lastAt);
      await scheduler.runUntil(lastFault);
      // Faults may end later than first said (a restart's relay up): wait for the latest end.
      while (scheduler.now() < lastFault) await scheduler.runUntil(lastFault);
      const end = lastFault + settleMs;
      let heldSince: number | null = null;
      let last: string[] = [];
      const holdMs = options.holdMs ?? 0;
      while (scheduler.now() < end) {
        if (holdMs > 0 && heldSince !== null && scheduler.now() - heldSince >= holdMs) break;
        await scheduler.runUntil(Math.min(end, scheduler.now() + pollMs));
        const snap = cluster.snapshot();
        last = checkCluster(snap, plan.paths, { strictLinger: options.strictLinger ?? false });
        for (const p of plan.paths) lingering = Math.max(lingering, lingeringCopies(snap, p));
        if (snap.relays.some((r) => [...r.trees.values()].some((t) => t.standby))) standbyChecks++;
        if (last.length === 0) heldSince ??= scheduler.now();
        else heldSince = null;
      }
      const converged = last.length === 0 && heldSince !== null ? heldSince - lastFault : null;
      convergeMs.push(converged);
      if (converged === null) {
        for (const v of last) violate(`${scheduler.now().toFixed(1)} ms: after step ${i + 1}: ${v}`);
      } else {trace.push(
          `${scheduler.now().toFixed(1)} ms: step ${i + 1} settled ${
            converged.toFixed(0)
          } ms after its last fault`,
        );}
      if (violations.length > 0) break;
    }
    options.inspect?.(cluster);
  } finally {
    cluster.teardown();
    await scheduler.drain();
    scheduler.close();
    globalThis.removeEventListener("unhandledrejection", onRejection);
    setContainmentLogger(null);
    globals.restore();
  }
  const contained = sumOf(containedErrors()) - containedBefore;
  if (contained > 0) violate(`relays contained ${contained} error(s) (see the log lines of "contained")`);
  if (globals.liveIntervals > 0) {
    violate(`${globals.liveIntervals} global interval(s) still running after teardown`);
  }
  if (violations.length > 0) {
    trace.push(`--- last ${logTail.length} log lines of the relays (level ${level}) ---`, ...logTail);
    trace.push(`replay: ${replayCommand(options.seed)}`);
  }
  const after = counted();
  const start = before as ReturnType<typeof counted> | null;
  const window = {
    fromMs: Number.isFinite(measureFrom) ? measureFrom : 0,
    toMs: scheduler.now(),
    calls: new Map<string, Map<string, number>>(),
    heartbeats: new Map<string, number>(),
  };
  for (const [node, now] of after) {
    const was = start?.get(node);
    const calls = new Map<string, number>();
    for (const [op, n] of now.calls) calls.set(op, n - (was?.calls.get(op) ?? 0));
    window.calls.set(node, calls);
    window.heartbeats.set(node, now.heartbeats - (was?.heartbeats ?? 0));
  }
  const calls = new Map<string, Map<string, number>>();
  let heartbeats = 0;
  for (const r of plan.relays) {
    const c = cluster.network.countersOf(r.host);
    calls.set(r.node, c.callsIn);
    heartbeats += c.heartbeatsIn;
  }
  return {
    seed: options.seed,
    plan,
    violations,
    trace,
    faults: cluster.faults,
    steps: plan.steps.length,
    convergeMs,
    simMs: scheduler.now(),
    events: scheduler.events,
    gaps: cluster.readers.flatMap((r) => r.gaps),
    lingeringCopies: lingering,
    standbyChecks,
    globalTimers: globals.timersSet,
    calls,
    heartbeats,
    window,
    logLines,
    logHash,
  };
}

function sumOf(m: ReadonlyMap<string, number>): number {
  let n = 0;
  for (const v of m.values()) n += v;
  return n;
}

/** FNV-1a over `text`, continuing from `h`. */
function fnv(h: number, text: string): number {
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}
