/**
 * A simulation's plan, drawn from its seed alone: the cluster (relays, zones, fan-out, which relay is configured
 * with which camera), the first readers, and the fault schedule, step by step. Faults name their targets by role
 * ("the root of cam", "a relay in the middle of cam's tree") and a pick in [0, 1): the run resolves them against
 * the cluster as it is then, the same way every time.
 * @module
 */
import { seededRandom } from "../seeded_random.ts";
import type { SimRelaySpec } from "./relay.ts";

/** Which relay a fault hits, resolved when it happens. */
export interface FaultTarget {
  /** The root of `path`, a relay in its tree with children, one without, or any live relay. */
  role: "root" | "mid" | "leaf" | "any";
  path: string;
  /** Which of the candidates (sorted by name): floor(pick * count). */
  pick: number;
}

/** One fault. */
export type Fault =
  /** SIGKILL; the relay stays dead until a `revive`. */
  | { kind: "kill"; target: FaultTarget }
  /** SIGKILL, then the relay starts again (a new incarnation) after `downMs`. */
  | { kind: "restart"; target: FaultTarget; downMs: number }
  /** A dead relay starts again. */
  | { kind: "revive"; pick: number }
  /** The discovery API is out for `ms`: every relay's view freezes. */
  | { kind: "apiOutage"; ms: number }
  /** `size` relays (the target's side, the target first) are cut from the rest for `ms`. */
  | { kind: "partition"; target: FaultTarget; size: number; ms: number }
  /** Every link of the target relay loses `loss` of its packets for `ms`. */
  | { kind: "lossy"; target: FaultTarget; loss: number; ms: number }
  /** `count` readers join (each on a pick of relay and path). */
  | { kind: "readersJoin"; picks: Array<{ relay: number; path: number }> }
  /** `count` readers leave. */
  | { kind: "readersLeave"; picks: number[] }
  /** The camera of `path` restarts (every pull of it reconnects, with a new SSRC and numbering). */
  | { kind: "cameraRestart"; path: string };

/** A fault at an offset into its step. */
export interface TimedFault {
  atMs: number;
  fault: Fault;
}

/** One step: faults, then (once the transient ones are over) the time the cluster has to settle. */
export interface SimStep {
  faults: TimedFault[];
}

/** Everything a run does, from its seed. */
export interface SimPlan {
  seed: number;
  fanout: number;
  zones: string[];
  /** Discovery as Kubernetes has it (dead pods are deleted, restarted ones come back) or static (fixed list). */
  discovery: "kubernetes" | "static";
  /** How long after a SIGKILL the API deletes the pod (kubernetes). */
  podGoneMs: number;
  relays: SimRelaySpec[];
  /** Camera paths. */
  paths: string[];
  /** The first readers: relay index and path. */
  readers: Array<{ relay: number; path: string }>;
  steps: SimStep[];
}

/** Knobs of {@linkcode drawPlan}. */
export interface PlanOptions {
  relays: number;
  steps: number;
  /** Fault kinds allowed (default all). */
  kinds?: ReadonlyArray<Fault["kind"]>;
  /** Fan-out (default: drawn from 2..4). */
  fanout?: number;
}

const ALL_KINDS: ReadonlyArray<Fault["kind"]> = [
  "kill",
  "restart",
  "revive",
  "apiOutage",
  "partition",
  "lossy",
  "readersJoin",
  "readersLeave",
  "cameraRestart",
];

/** The address of relay `i` (simulated: no packet ever leaves the process). */
export function simHost(i: number): string {
  return `127.${1 + (i >> 8)}.${i & 255}.1`;
}

/** The name of relay `i`. */
export function simNode(i: number, n: number): string {
  return `relay-${String(i).padStart(String(n - 1).length, "0")}`;
}

/** Draws the plan of `seed`. */
export function drawPlan(seed: number, options: PlanOptions): SimPlan {
  const rnd = seededRandom(seed ^ 0x5eed5eed);
  const int = (lo: number, hi: number) => lo + Math.floor(rnd() * (hi - lo + 1));
  const chance = (p: number) => rnd() < p;
  const n = options.relays;
  const fanout = options.fanout ?? int(2, 4);
  const zoneCount = int(1, 4);
  const zones = Array.from(
    { length: zoneCount },
    (_, i) => (i === 0 && chance(0.2) ? "" : `zone-${"abcd"[i]}`),
  );
  const relays: SimRelaySpec[] = Array.from({ length: n }, (_, i) => ({
    node: simNode(i, n),
    host: simHost(i),
    zone: zones[int(0, zoneCount - 1)]!,
    paths: {},
  }));
  const configure = (path: string, url: string, who: number[]) => {
    for (const i of who) (relays[i]!.paths as Record<string, string>)[path] = url;
  };
  const subset = (size: number) => {
    const order = relays.map((_, i) => i);
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(rnd() * (i + 1));
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    return order.slice(0, Math.max(1, Math.min(n, size)));
  };
  // "cam": on every relay (one ConfigMap), on some, or on one only.
  const camShape = rnd();
  const camOn = camShape < 0.4
    ? relays.map((_, i) => i)
    : camShape < 0.8
    ? subset(int(2, Math.max(2, n >> 1)))
    : subset(1);
  configure("cam", "rtsp://cam-1.cameras.sim/live", camOn);
  const paths = ["cam"];
  if (chance(0.5)) {
    // "cam2": two URLs for one path on two sets of relays, or a camera on a relay's own host (the host rule).
    paths.push("cam2");
    if (chance(0.5)) {
      const order = subset(n);
      const a = order.slice(0, int(1, Math.max(1, n >> 2)));
      const b = order.slice(a.length, a.length + int(1, Math.max(1, n >> 2)));
      configure("cam2", "rtsp://cam-2a.cameras.sim/live", a);
      configure("cam2", "rtsp://cam-2b.cameras.sim/live", b);
    } else {
      const host = int(0, n - 1);
      configure(
        "cam2",
        `rtsp://${relays[host]!.host}:554/onboard`,
        chance(0.5) ? relays.map((_, i) => i) : [host],
      );
    }
  }
  const readers = Array.from({ length: int(Math.max(1, n >> 3), Math.max(2, n >> 1)) }, () => ({
    relay: int(0, n - 1),
    path: paths[int(0, paths.length - 1)]!,
  }));
  const kinds = options.kinds ?? ALL_KINDS;
  const target = (): FaultTarget => ({
    role: (["root", "root", "mid", "leaf", "any"] as const)[int(0, 4)]!,
    path: paths[int(0, paths.length - 1)]!,
    pick: rnd(),
  });
  const fault = (): Fault => {
    const kind = kinds[int(0, kinds.length - 1)]!;
    switch (kind) {
      case "kill":
        return { kind, target: target() };
      case "restart":
        return { kind, target: target(), downMs: int(100, 3000) };
      case "revive":
        return { kind, pick: rnd() };
      case "apiOutage":
        return { kind, ms: int(500, 5000) };
      case "partition":
        return { kind, target: target(), size: int(1, Math.max(1, Math.floor(n / 3))), ms: int(300, 4000) };
      case "lossy":
        return { kind, target: target(), loss: [0.05, 0.2, 0.5][int(0, 2)]!, ms: int(500, 4000) };
      case "readersJoin":
        return { kind, picks: Array.from({ length: int(1, 4) }, () => ({ relay: rnd(), path: rnd() })) };
      case "readersLeave":
        return { kind, picks: Array.from({ length: int(1, 3) }, () => rnd()) };
      case "cameraRestart":
        return { kind, path: paths[int(0, paths.length - 1)]! };
    }
  };
  const steps: SimStep[] = Array.from({ length: options.steps }, () => ({
    faults: Array.from({ length: int(1, 3) }, () => ({ atMs: int(0, 1000), fault: fault() }))
      .sort((a, b) => a.atMs - b.atMs),
  }));
  return {
    seed,
    fanout,
    zones,
    discovery: chance(0.5) ? "kubernetes" : "static",
    podGoneMs: int(300, 3000),
    relays,
    paths,
    readers,
    steps,
  };
}

/** The plan in a few lines (the head of a trace). */
export function describePlan(plan: SimPlan): string[] {
  const lines = [
    `seed ${plan.seed}: ${plan.relays.length} relays, k = ${plan.fanout}, zones [${
      plan.zones.map((z) => JSON.stringify(z)).join(", ")
    }], discovery ${plan.discovery}${
      plan.discovery === "kubernetes" ? ` (pods deleted ${plan.podGoneMs} ms after SIGKILL)` : ""
    }`,
  ];
  for (const path of plan.paths) {
    const byUrl = new Map<string, string[]>();
    for (const r of plan.relays) {
      const url = r.paths[path];
      if (url) byUrl.set(url, [...(byUrl.get(url) ?? []), r.node]);
    }
    for (const [url, nodes] of byUrl) {
      lines.push(
        `  ${path} = ${url} on ${nodes.length === plan.relays.length ? "every relay" : nodes.join(",")}`,
      );
    }
  }
  lines.push(`  readers: ${plan.readers.map((r) => `${plan.relays[r.relay]!.node}/${r.path}`).join(" ")}`);
  plan.steps.forEach((s, i) => {
    lines.push(`  step ${i + 1}: ${s.faults.map((f) => `+${f.atMs} ${JSON.stringify(f.fault)}`).join("; ")}`);
  });
  return lines;
}
