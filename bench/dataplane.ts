/**
 * `deno task bench:dataplane`: UDP forwarding throughput and cost of the data plane, against a C reference.
 *
 * Relays forward 1200-byte RTP-like datagrams from one port to N destination ports on 127.0.0.1:
 * - **c**: `bench/c/relay.c` (recvmmsg batch in, one sendmmsg of batch x N copies out), built with gcc -O2;
 * - **portable**: a plain Deno loop (`src/dataplane/` PortableForwarder: Deno.listenDatagram, one send per copy);
 * - **msm-relay** and **msm-relay-fast**: the relay itself, RTSP publisher and UDP readers, on its portable and
 *   its fast data plane.
 * Each runs as its own process (the plain loop via `bench/dataplane_child.ts`), so its CPU time is read from
 * /proc/PID/task/*\/schedstat. Load comes from `bench/c/blaster.c` (paced per 1 ms with sendmmsg, sequence
 * numbers) and is counted by `bench/c/sink.c` (recvmmsg, per-port counts and sequence gaps), both separate
 * processes too.
 *
 * For each relay at fan-out 1 and 10: a bounded search (doubling, then bisection, at most MAX_STEPS trials of
 * TRIAL_MS, 10 s) for the highest offered rate with < 0.1 % loss; and one trial of COST_MS (30 s) at 20k
 * packets/s in x fan-out 10 (200k out) for CPU per forwarded packet, thread by thread, and the relay's RSS;
 * for msm-relay, a fresh relay at 20k x 10 for FOOTPRINT_MS (60 s): its RSS idle, half-way and at the end.
 * CPU is counted from the first packet offered to the last one delivered (the drain included). Prints a table,
 * writes bench/output/dataplane.json.
 * @module
 */
import { fileURLToPath } from "node:url";
import { cpuSeconds, rssBytes } from "../tests/support/proc_stats.ts";
import { compile, freeUdpPorts, Lines } from "./support/dataplane_procs.ts";
import { type Impl, type Relay, startRelay } from "./support/dataplane_relays.ts";
import { formatThreads, loadAverage, openWindow, type WindowCpu } from "./support/trial_window.ts";
import { footprint, formatFootprint } from "./support/footprint.ts";
import { dropsGrowth, readUdpDrops } from "./support/socket_drops.ts";
import { formatSmapsParts, readSmapsParts } from "./support/smaps.ts";

const OUTPUT_DIR = new URL("./output/", import.meta.url);

/**
 * Offered-load duration of one search trial: 10 s, long enough for the relay's Worker and JIT to be warm and its
 * CPU steady (bench/README.md shows what 1.5 s trials read). `BENCH_TRIAL_MS` lowers it for a quick look only.
 */
const TRIAL_MS = Number(Deno.env.get("BENCH_TRIAL_MS") ?? 10_000);
/** Offered-load duration of the cost trial (20k in x 10): 30 s; `BENCH_COST_MS`, else `BENCH_TRIAL_MS`. */
const COST_MS = Number(Deno.env.get("BENCH_COST_MS") ?? Deno.env.get("BENCH_TRIAL_MS") ?? 30_000);
/**
 * Offered-load duration of the footprint trial: 60 s at 20k in x 10 on a fresh msm-relay, its RSS read every
 * RSS_EVERY_MS, to show it at 30 s and 60 s (flat in steady state). `BENCH_FOOTPRINT_MS=0` skips it.
 */
const FOOTPRINT_MS = Number(Deno.env.get("BENCH_FOOTPRINT_MS") ?? 60_000);
/**
 * Rounds of the search and cost trial per relay, the relays alternating round by round: one search reads the
 * whole machine (blaster, sink and relay on two cores) and moves between runs, so the ratios of each round and
 * their median are printed (bench/README.md, "how much one search is worth").
 */
const ROUNDS = Math.max(1, Number(Deno.env.get("BENCH_ROUNDS") ?? 1));
/** Interval of the RSS samples taken during every trial. */
const RSS_EVERY_MS = 5000;
/** Whether the figures come from trials long enough for steady state. */
const STEADY = TRIAL_MS >= 10_000 && COST_MS >= 30_000 && (FOOTPRINT_MS === 0 || FOOTPRINT_MS >= 60_000);
/** Trials per search. */
const MAX_STEPS = 7;
/** Loss allowed for a rate to count as zero-loss. */
const MAX_LOSS = 0.001;
/** Stop bisecting when the bracket is this tight (relative). */
const PRECISION = 0.1;
/**
 * Offered rate (in packets/s) of the CPU-cost trial at fan-out 10: 20k, the issue's figure; `BENCH_COST_RATE`
 * another (a camera sends 100 to 2,000: at such rates every packet wakes the relay).
 */
const COST_RATE = Number(Deno.env.get("BENCH_COST_RATE") ?? 20_000);
/** `BENCH_FANOUTS=10` (comma-separated) narrows a run while working on one figure. */
const FANOUTS = (Deno.env.get("BENCH_FANOUTS")?.split(",").map(Number) ?? [1, 10]) as readonly number[];
const START_RATE: Record<number, number> = { 1: 50_000, 10: 20_000 };
/** Highest rate tried: 1M datagrams/s out is beyond a loopback relay of one core. */
const CAP_RATE: Record<number, number> = { 1: 800_000, 10: 160_000 };

/** `msm-relay` is the relay itself (its portable path): an RTSP publisher session in, RTSP UDP readers out. */
const ALL_IMPLS: Impl[] = ["c", "portable", "msm-relay", "msm-relay-fast"];
/** `BENCH_IMPLS=c,msm-relay-fast` narrows a run (the C reference is always kept for the ratios). */
const IMPLS: Impl[] = ALL_IMPLS.filter((i) =>
  i === "c" || (Deno.env.get("BENCH_IMPLS")?.split(",").includes(i) ?? true)
);

interface Trial {
  rate: number;
  sent: number;
  offeredPerSec: number;
  expected: number;
  received: number;
  loss: number;
  gaps: number;
  reordered: number;
  /** Offered-load duration, ms. */
  ms: number;
  /** Load average of the machine when the trial started (1, 5, 15 min). */
  loadAvg: string;
  relayCpuSeconds: number;
  /** Relay CPU per delivered copy, µs. */
  cpuUsPerPacket: number;
  /** Relay CPU as % of one core over the window (offered load + drain). */
  cpuPercent: number;
  /** The window (from the first packet offered to the sink's last one), per kind of relay thread. */
  window: WindowCpu;
  /**
   * Datagrams the kernel dropped in the trial at the relay's ingress socket and at the sink's sockets (these read
   * when the offered load ended; /proc/net/udp).
   */
  drops: { relay: number; sink: number };
  /** Relay RSS half-way through the offered load and at the end of the window, bytes. */
  rssMid: number;
  rssEnd: number;
  /** Relay RSS every RSS_EVERY_MS from the start of the offered load (the first at RSS_EVERY_MS), bytes. */
  rssSamples: number[];
  /**
   * Relay CPU per offered copy (rate x fan-out), µs, in each sixth of the offered load, then in the drain:
   * where the trial's average comes from (warm-up at the start, steady state after).
   */
  slices: number[];
  pass: boolean;
}

/**
 * One trial: `rate` packets/s offered for `ms`. The relay's CPU is read over the whole window, from the first
 * packet offered until the sink has every copy (or heard nothing for 300 ms): the drain counts.
 */
async function trial(
  bin: string,
  relay: Relay,
  sinkPorts: number[],
  rate: number,
  ms = TRIAL_MS,
): Promise<Trial> {
  const expectedPerPort = Math.floor((rate * ms) / 1000);
  const sink = new Deno.Command(`${bin}/sink`, {
    args: [String(ms + 4000), "300", String(expectedPerPort), ...sinkPorts.map(String)],
    stdout: "piped",
  }).spawn();
  const sinkLines = new Lines(sink.stdout);
  const ready = await sinkLines.next(5000);
  if (!ready?.startsWith("ready")) throw new Error(`Sink did not start: ${ready}`);
  const loadAvg = loadAverage();
  let rssMid = NaN;
  const midTimer = setTimeout(() => {
    rssMid = rssBytes(relay.pid);
  }, ms / 2);
  const rssSamples: number[] = [];
  const rssTimer = setInterval(() => rssSamples.push(rssBytes(relay.pid)), RSS_EVERY_MS);
  const dropsBefore = readUdpDrops();
  const window = openWindow(relay.pid);
  const cpuMarks = [cpuSeconds(relay.pid)];
  const sliceTimer = setInterval(() => {
    if (cpuMarks.length < 7) cpuMarks.push(cpuSeconds(relay.pid));
  }, ms / 6);
  const blast = await new Deno.Command(`${bin}/blaster`, {
    args: [
      String(relay.port),
      String(rate),
      String(ms),
      "1200",
      ...(relay.sourcePort ? [String(relay.sourcePort)] : []),
    ],
    stdout: "piped",
    stderr: "piped",
  }).output().finally(() => {
    clearTimeout(midTimer);
    clearInterval(sliceTimer);
    clearInterval(rssTimer);
  });
  if (cpuMarks.length < 7) cpuMarks.push(cpuSeconds(relay.pid));
  // Read while the sink still waits for the drain: its sockets' counts end with them.
  const dropsAfter = readUdpDrops();
  const drops = {
    relay: dropsGrowth(dropsBefore, dropsAfter, [relay.port]),
    sink: dropsGrowth(dropsBefore, dropsAfter, sinkPorts),
  };
  if (!blast.success) {
    sink.kill();
    await sink.status;
    throw new Error(
      `The blaster failed (exit ${blast.code}): ${new TextDecoder().decode(blast.stderr).trim()}`,
    );
  }
  const sent = JSON.parse(new TextDecoder().decode(blast.stdout)) as { sent: number; seconds: number };
  const result = JSON.parse((await sinkLines.next(10_000)) ?? "{}") as {
    received: number[];
    gaps: number[];
    reordered: number[];
  };
  await sink.status;
  if (!Array.isArray(result.received)) throw new Error("The sink ended without its counts");
  const w = window.end();
  cpuMarks.push(cpuSeconds(relay.pid));
  const perSlice = (rate * sinkPorts.length * ms) / 6 / 1000;
  const slices = cpuMarks.slice(1).map((c, i) => ((c - cpuMarks[i]!) * 1e6) / perSlice);
  const rssEnd = rssBytes(relay.pid);
  const cpu = w.cpuSeconds;
  const sum = (a: number[]) => a.reduce((x, y) => x + y, 0);
  const expected = sent.sent * sinkPorts.length;
  const received = sum(result.received);
  const loss = expected > 0 ? 1 - received / expected : 1;
  const offeredPerSec = sent.sent / (ms / 1000);
  const t: Trial = {
    rate,
    sent: sent.sent,
    offeredPerSec,
    expected,
    received,
    loss,
    gaps: sum(result.gaps),
    reordered: sum(result.reordered),
    ms,
    loadAvg,
    relayCpuSeconds: cpu,
    cpuUsPerPacket: received > 0 ? (cpu * 1e6) / received : NaN,
    cpuPercent: (cpu / w.seconds) * 100,
    window: w,
    rssMid,
    rssEnd,
    rssSamples,
    slices,
    drops,
    // The blaster must have offered (nearly) the asked rate in time, or the rate was not really tried.
    pass: loss < MAX_LOSS && sent.sent >= expectedPerPort * 0.99 && sent.seconds < (ms / 1000) * 1.1,
  };
  console.error(
    `    ${fmtRate(rate)}/s x ${sinkPorts.length} for ${ms / 1000} s: loss ${(loss * 100).toFixed(3)} %, ` +
      `${t.cpuUsPerPacket.toFixed(2)} µs/pkt, ${t.cpuPercent.toFixed(0)} % of a core over ${
        w.seconds.toFixed(1)
      } s, load avg ${loadAvg}${
        drops.relay + drops.sink > 0
          ? `; kernel drops: relay socket ${drops.relay}, sink sockets ${drops.sink}`
          : ""
      }`,
  );
  return t;
}

interface Search {
  best: Trial | null;
  trials: Trial[];
}

/** Doubling then bisection for the highest rate that passes, at most MAX_STEPS trials. */
async function search(bin: string, relay: Relay, sinkPorts: number[], fanout: number): Promise<Search> {
  const trials: Trial[] = [];
  let best: Trial | null = null;
  let lo = 0;
  let hi = Infinity;
  let rate = START_RATE[fanout]!;
  const cap = CAP_RATE[fanout]!;
  for (let step = 0; step < MAX_STEPS; step++) {
    const t = await trial(bin, relay, sinkPorts, Math.round(rate));
    trials.push(t);
    if (t.pass) {
      lo = rate;
      best = t;
      if (rate >= cap) break;
      rate = hi === Infinity ? Math.min(rate * 2, cap) : (lo + hi) / 2;
    } else {
      hi = rate;
      rate = lo === 0 ? rate / 2 : (lo + hi) / 2;
    }
    if (hi !== Infinity && lo > 0 && (hi - lo) / lo < PRECISION) break;
  }
  return { best, trials };
}

function machine(gcc: string): Record<string, unknown> {
  const read = (p: string) => {
    try {
      return Deno.readTextFileSync(p).trim();
    } catch {
      return "unknown";
    }
  };
  return {
    cpu: /model name\s*:\s*(.+)/.exec(read("/proc/cpuinfo"))?.[1]?.trim() ?? "unknown",
    cores: navigator.hardwareConcurrency,
    os: `${Deno.build.os} ${Deno.osRelease()}`,
    deno: Deno.version.deno,
    v8: Deno.version.v8,
    gcc,
    rmemMax: Number(read("/proc/sys/net/core/rmem_max")),
    wmemMax: Number(read("/proc/sys/net/core/wmem_max")),
    root: Deno.uid() === 0,
    date: new Date().toISOString(),
  };
}

const mib = (b: number) => (Number.isFinite(b) ? `${(b / 2 ** 20).toFixed(1)} MiB` : "-");

/** Where each relay's CPU went in its cost trial, thread by thread, and its memory: idle, mid-trial, end. */
function printCostTrials(rs: { impl: Impl; idleRss?: number; cost: Trial | null }[]): void {
  const withCost = rs.filter((r) => r.cost);
  if (withCost.length === 0) return;
  console.log(
    `\n  cost trial (${
      COST_RATE / 1000
    }k in x 10), per thread (by /proc/PID/task/TID/comm, threads in brackets):`,
  );
  for (const r of withCost) {
    const t = r.cost!;
    console.log(
      `    ${r.impl}: ${t.relayCpuSeconds.toFixed(2)} s CPU over ${t.window.seconds.toFixed(1)} s, ` +
        `${t.cpuUsPerPacket.toFixed(3)} µs/pkt, ${
          t.cpuPercent.toFixed(1)
        } % of a core; load avg ${t.loadAvg}`,
    );
    for (const line of formatThreads(t.window, t.received)) console.log(line);
    const [drain, ...sixths] = [...t.slices].reverse();
    console.log(
      `      µs per offered copy by sixth of the offered load: ${
        sixths.reverse().map((v) => v.toFixed(2)).join(" ")
      }; drain ${drain?.toFixed(2)} (CPU of the drain over a sixth's copies)`,
    );
  }
  console.log(
    "\n  relay RSS: idle (started, no stream) / cost trial half-way / end (growth half-way to end)",
  );
  for (const r of withCost) {
    const t = r.cost!;
    console.log(
      `    ${r.impl.padEnd(15)} ${mib(r.idleRss ?? NaN).padStart(10)} ${mib(t.rssMid).padStart(10)} ${
        mib(t.rssEnd).padStart(10)
      }  (${t.rssEnd >= t.rssMid ? "+" : ""}${mib(t.rssEnd - t.rssMid)})`,
    );
  }
}

/** A fresh relay, idle then at 20k in x 10 for FOOTPRINT_MS: its RSS at half-way and at the end. */
async function footprintTrial(bin: string, impl: Impl, sinkPorts: number[]) {
  const relay = await startRelay(impl, bin, sinkPorts);
  console.error(`  ${impl} footprint (idle RSS ${mib(relay.idleRss)}):`);
  try {
    const idleParts = readSmapsParts(relay.pid);
    const t = await trial(bin, relay, sinkPorts, COST_RATE, FOOTPRINT_MS);
    const endParts = readSmapsParts(relay.pid);
    // BENCH_SMAPS_DIR keeps the relay's whole /proc/PID/smaps at the end, to read mapping by mapping.
    const smapsDir = Deno.env.get("BENCH_SMAPS_DIR");
    if (smapsDir) {
      await Deno.writeTextFile(
        `${smapsDir}/${impl}-${Date.now()}.smaps`,
        Deno.readTextFileSync(`/proc/${relay.pid}/smaps`),
      );
    }
    const f = footprint(relay.idleRss, t.rssSamples, t.rssEnd, RSS_EVERY_MS, FOOTPRINT_MS / 2);
    console.error(formatFootprint(impl, f, FOOTPRINT_MS / 1000));
    for (const [when, parts] of [["idle", idleParts], ["end", endParts]] as const) {
      if (parts) console.error(`      ${when}: ${formatSmapsParts(parts)}`);
    }
    return { impl, footprint: f, trial: t, smaps: { idle: idleParts, end: endParts } };
  } finally {
    await relay.stop();
  }
}

const fmtRate = (v: number) => (v >= 1e6 ? `${(v / 1e6).toFixed(2)} M` : `${(v / 1e3).toFixed(1)} k`);

async function main(): Promise<void> {
  const started = performance.now();
  const gccOut = await new Deno.Command("gcc", { args: ["--version"], stdout: "piped" }).output().catch(() =>
    null
  );
  if (!gccOut?.success) throw new Error("Cannot run the data-plane bench: gcc is not installed");
  const facts = machine(new TextDecoder().decode(gccOut.stdout).split("\n")[0] ?? "");
  const bin = await Deno.makeTempDir({ prefix: "msm-dataplane-bench-" });
  const results: Record<string, unknown>[] = [];
  const footprints: Awaited<ReturnType<typeof footprintTrial>>[] = [];
  try {
    await compile(bin);
    for (const fanout of FANOUTS) {
      for (let round = 0; round < ROUNDS; round++) {
        for (const impl of IMPLS) {
          const sinkPorts = freeUdpPorts(fanout);
          const relay = await startRelay(impl, bin, sinkPorts);
          console.error(`  ${impl} fan-out ${fanout} (idle RSS ${mib(relay.idleRss)}):`);
          try {
            // BENCH_SEARCH=0: only the cost trial (while profiling it).
            const s = Deno.env.get("BENCH_SEARCH") === "0"
              ? { best: null, trials: [] }
              : await search(bin, relay, sinkPorts, fanout);
            const cost = fanout === 10 ? await trial(bin, relay, sinkPorts, COST_RATE, COST_MS) : null;
            results.push({
              impl,
              fanout,
              round,
              idleRss: relay.idleRss,
              best: s.best,
              cost,
              trials: s.trials,
            });
            const b = s.best;
            console.error(
              `  ${impl} fan-out ${fanout}: max ${b ? fmtRate(b.offeredPerSec) : "none"} in/s` +
                (cost
                  ? `, ${cost.cpuUsPerPacket.toFixed(2)} µs/pkt at ${COST_RATE / 1000}k x10 (loss ${
                    (cost.loss * 100).toFixed(2)
                  } %)`
                  : ""),
            );
          } finally {
            const last = await relay.stop();
            results[results.length - 1] ??= {};
            (results[results.length - 1] as Record<string, unknown>).relayStats = last;
          }
          if (fanout === 10 && impl !== "c" && impl !== "portable" && FOOTPRINT_MS > 0 && round === 0) {
            footprints.push(await footprintTrial(bin, impl, sinkPorts));
          }
        }
      }
    }
  } finally {
    await Deno.remove(bin, { recursive: true });
  }

  // Table.
  type R = { impl: Impl; fanout: number; round: number; best: Trial | null; cost: Trial | null };
  const all = results as unknown as R[];
  // The table is the first round's; the rounds' ratios follow it.
  const rs = all.filter((r) => r.round === 0);
  const get = (impl: Impl, fanout: number) => rs.find((r) => r.impl === impl && r.fanout === fanout)!;
  /** Forwarded copies per CPU-second of the relay, at its best zero-loss trial. */
  const perCore = (t: Trial | null) => (t && t.relayCpuSeconds > 0 ? t.received / t.relayCpuSeconds : NaN);
  const rows: Record<string, unknown>[] = [];
  facts.benchSeconds = Number(((performance.now() - started) / 1000).toFixed(1));
  console.log(
    `\nmsm-relay data plane — ${facts.cpu}, ${facts.cores} cores, ${facts.os}, deno ${facts.deno}, ${facts.gcc}`,
  );
  console.log(
    `rmem_max ${facts.rmemMax}, wmem_max ${facts.wmemMax}, root ${facts.root}; 1200-byte datagrams, loss < 0.1 %, ` +
      `trials of ${TRIAL_MS / 1000} s, cost trial ${COST_MS / 1000} s, CPU counted until the drain ends; ` +
      `blaster, sink and relay share the machine's cores`,
  );
  if (!STEADY) {
    console.log(
      "NOT STEADY STATE: trials under 10 s (cost trial 30 s) carry start-up, warm-up and drain (bench/README.md)",
    );
  }
  console.log(
    "\n  relay     fan-out  max zero-loss in   out/s      fwd pkt/s per core  ratio to C   " +
      `µs/pkt @${COST_RATE / 1000}k x10  ratio to C  loss @${COST_RATE / 1000}k x10`,
  );
  for (const fanout of FANOUTS) {
    const c = get("c", fanout);
    for (const impl of IMPLS) {
      const r = get(impl, fanout);
      const b = r.best;
      const pc = perCore(b);
      const cost = r.cost?.cpuUsPerPacket ?? NaN;
      const cCost = c.cost?.cpuUsPerPacket ?? NaN;
      const row = {
        impl,
        fanout,
        maxZeroLossInPerSec: b?.offeredPerSec ?? 0,
        maxZeroLossOutPerSec: b ? b.offeredPerSec * fanout : 0,
        maxRateRatioToC: b && c.best ? b.offeredPerSec / c.best.offeredPerSec : NaN,
        forwardedPerCoreSecond: pc,
        perCoreRatioToC: pc / perCore(c.best),
        cpuUsPerPacketAt20kX10: r.cost ? cost : null,
        costRatioToC: r.cost ? cCost / cost : null,
        lossAt20kX10: r.cost ? r.cost.loss : null,
      };
      rows.push(row);
      const n = (v: number | null, d = 2) => (v === null || !Number.isFinite(v) ? "-" : v.toFixed(d));
      console.log(
        `  ${impl.padEnd(14)} ${String(fanout).padStart(2)}  ${
          (b ? fmtRate(b.offeredPerSec) : "none").padStart(10)
        }/s` +
          `  ${(b ? fmtRate(b.offeredPerSec * fanout) : "-").padStart(9)}  ${
            (Number.isFinite(pc) ? fmtRate(pc) : "-").padStart(12)
          }` +
          `        ${n(row.perCoreRatioToC).padStart(6)}     ${
            n(row.cpuUsPerPacketAt20kX10).padStart(10)
          }      ` +
          `${n(row.costRatioToC).padStart(6)}   ${
            row.lossAt20kX10 === null ? "-" : `${(row.lossAt20kX10 * 100).toFixed(2)} %`
          }`,
      );
    }
  }
  console.log(
    "\n  ratio to C: per core = Deno's / C's forwarded pkt per CPU-second; cost = C's µs/pkt / Deno's (>= 0.8 is the goal)",
  );
  if (ROUNDS > 1) printRounds(all);
  printCostTrials(rs);
  if (footprints.length > 0) {
    console.log(
      `\n  relay RSS in steady state: a fresh relay at 20k in x 10 for ${FOOTPRINT_MS / 1000} s ` +
        "(issue 16: <= 100 MiB at the end, flat from half-way)",
    );
    for (const f of footprints) {
      console.log(formatFootprint(f.impl, f.footprint, FOOTPRINT_MS / 1000));
      for (
        const [when, parts] of [["idle", f.smaps.idle], [`${FOOTPRINT_MS / 1000} s`, f.smaps.end]] as const
      ) {
        if (parts) console.log(`      ${when}: ${formatSmapsParts(parts)}`);
      }
    }
  }
  facts.steadyState = STEADY;
  await Deno.mkdir(OUTPUT_DIR, { recursive: true });
  const out = new URL("dataplane.json", OUTPUT_DIR);
  await Deno.writeTextFile(
    out,
    JSON.stringify({ machine: facts, table: rows, details: results, footprints }, null, 2) + "\n",
  );
  console.log(`\nwrote ${fileURLToPath(out)} in ${facts.benchSeconds} s`);
}

/** Each round's zero-loss rate and cost against C's in the same round, and the medians. */
function printRounds(
  all: Array<{ impl: Impl; fanout: number; round: number; best: Trial | null; cost: Trial | null }>,
) {
  const median = (xs: number[]) => {
    const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
    return s.length === 0
      ? NaN
      : s.length % 2
      ? s[(s.length - 1) / 2]!
      : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
  };
  console.log(
    `\n  ${ROUNDS} rounds, the relays alternating: each round's ratio to C in that round, then the median`,
  );
  for (const fanout of FANOUTS) {
    for (const impl of IMPLS.filter((i) => i !== "c")) {
      const rates: number[] = [];
      const costs: number[] = [];
      const cells: string[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        const r = all.find((x) => x.impl === impl && x.fanout === fanout && x.round === round);
        const c = all.find((x) => x.impl === "c" && x.fanout === fanout && x.round === round);
        const rate = r?.best && c?.best ? r.best.offeredPerSec / c.best.offeredPerSec : NaN;
        const cost = r?.cost && c?.cost ? c.cost.cpuUsPerPacket / r.cost.cpuUsPerPacket : NaN;
        rates.push(rate);
        costs.push(cost);
        cells.push(
          `${r?.best ? fmtRate(r.best.offeredPerSec) : "none"}/${
            c?.best ? fmtRate(c.best.offeredPerSec) : "none"
          } ` +
            `(${rate.toFixed(2)})` + (Number.isFinite(cost) ? ` cost ${cost.toFixed(2)}` : ""),
        );
      }
      console.log(
        `  ${impl.padEnd(14)} x${fanout}: ${cells.join("; ")}; median rate ratio ${
          median(rates).toFixed(2)
        }` +
          (costs.some(Number.isFinite) ? `, median cost ratio ${median(costs).toFixed(2)}` : ""),
      );
    }
  }
}

if (import.meta.main) await main();
