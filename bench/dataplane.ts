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
 * TRIAL_MS) for the highest offered rate with < 0.1 % loss; and one trial at 20k packets/s in x fan-out 10
 * (200k out) for CPU per forwarded packet. Prints a table, writes bench/output/dataplane.json.
 * @module
 */
import { fileURLToPath } from "node:url";
import { type RtspReader, startRtspPublisher, startRtspReader } from "../tests/support/rtsp_peers.ts";
import { startRelayProcess } from "../tests/support/relay.ts";
import { cpuSeconds } from "../tests/support/proc_stats.ts";

const REPO_ROOT = fileURLToPath(new URL("../", import.meta.url));
const C_DIR = fileURLToPath(new URL("./c/", import.meta.url));
const OUTPUT_DIR = new URL("./output/", import.meta.url);

/** Offered-load duration of one trial. */
const TRIAL_MS = Number(Deno.env.get("BENCH_TRIAL_MS") ?? 1500);
/** Trials per search. */
const MAX_STEPS = 7;
/** Loss allowed for a rate to count as zero-loss. */
const MAX_LOSS = 0.001;
/** Stop bisecting when the bracket is this tight (relative). */
const PRECISION = 0.1;
/** Offered rate (in packets/s) of the CPU-cost trial at fan-out 10. */
const COST_RATE = 20_000;
/** `BENCH_FANOUTS=10` (comma-separated) narrows a run while working on one figure. */
const FANOUTS = (Deno.env.get("BENCH_FANOUTS")?.split(",").map(Number) ?? [1, 10]) as readonly number[];
const START_RATE: Record<number, number> = { 1: 50_000, 10: 20_000 };
/** Highest rate tried: 1M datagrams/s out is beyond a loopback relay of one core. */
const CAP_RATE: Record<number, number> = { 1: 800_000, 10: 160_000 };

type Impl = "c" | "portable" | "msm-relay" | "msm-relay-fast";
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
  relayCpuSeconds: number;
  /** Relay CPU per delivered copy, µs. */
  cpuUsPerPacket: number;
  pass: boolean;
}

interface Relay {
  pid: number;
  port: number;
  /** Source port the blaster must send from (the relay checks its publisher's client_port). */
  sourcePort?: number;
  stop(): Promise<string>;
}

const SDP = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=bench\r\nt=0 0\r\nm=video 0 RTP/AVP 96\r\n" +
  "a=rtpmap:96 H264/90000\r\na=control:trackID=0\r\n";

/** Two consecutive free UDP ports starting on an even one (an RTP/RTCP client_port pair). */
function freeUdpPair(): number {
  for (let i = 0; i < 100; i++) {
    const [p] = freeUdpPorts(1) as [number];
    const even = p - (p % 2);
    try {
      const a = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: even });
      const b = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: even + 1 });
      a.close();
      b.close();
      return even;
    } catch { /* taken: try another */ }
  }
  throw new Error("No free UDP port pair");
}

/**
 * The relay itself as the forwarder: a child `deno run main.ts`, an RTSP publisher session over UDP (the blaster
 * sends from its client_port to the relay's server port) and one RTSP UDP reader per sink port.
 */
async function startMsmRelay(dests: number[], fast = false): Promise<Relay> {
  const relay = await startRelayProcess(
    ["--no-gop-cache", "--no-demo", "--session-timeout", "300", ...(fast ? ["--data-plane", "fast"] : [])],
    {},
    // BENCH_RELAY_FLAGS adds `deno run` flags to the relay, e.g. `--v8-flags=--prof` to profile it.
    {
      permissions: [
        ...(fast ? ["--allow-ffi"] : []),
        ...(Deno.env.get("BENCH_RELAY_FLAGS")?.split(" ") ?? []),
      ],
    },
  );
  const url = relay.url("bench");
  // The blaster sends from the publisher's client port, the sink receives on the readers' client ports.
  const source = freeUdpPair();
  const publisher = await startRtspPublisher(url, SDP, { transport: "udp", clientPort: source });
  const serverPort = publisher.serverPort!;
  const readers: RtspReader[] = [];
  for (const d of dests) readers.push(await startRtspReader(url, { transport: "udp", clientPort: d }));
  return {
    pid: relay.process.pid,
    port: serverPort,
    sourcePort: source,
    async stop() {
      const view = await relay.stream("bench");
      for (const r of readers) await r.close();
      publisher.close();
      await relay.stop();
      return JSON.stringify({
        packetsIn: view?.packetsIn,
        packetsOut: view?.packetsOut,
        dropped: view?.tracks[0]?.dropped,
      });
    },
  };
}

function freeUdpPorts(n: number): number[] {
  const conns = Array.from(
    { length: n },
    () => Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 }),
  );
  const ports = conns.map((c) => (c.addr as Deno.NetAddr).port);
  for (const c of conns) c.close();
  return ports;
}

/** Reads lines from a child's stdout. */
class Lines {
  readonly #reader: ReadableStreamDefaultReader<string>;
  #buf = "";
  constructor(stream: ReadableStream<Uint8Array>) {
    this.#reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  }
  /** Next line, or null at the end; rejects after `ms`. */
  async next(ms: number): Promise<string | null> {
    const deadline = Date.now() + ms;
    while (!this.#buf.includes("\n")) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`No output from a bench child in ${ms} ms`)),
          deadline - Date.now(),
        );
      });
      try {
        const { value, done } = await Promise.race([this.#reader.read(), timeout]);
        if (done) {
          const rest = this.#buf;
          this.#buf = "";
          return rest || null;
        }
        this.#buf += value;
      } finally {
        clearTimeout(timer);
      }
    }
    const i = this.#buf.indexOf("\n");
    const line = this.#buf.slice(0, i);
    this.#buf = this.#buf.slice(i + 1);
    return line;
  }
}

async function compile(dir: string): Promise<void> {
  for (const name of ["relay", "blaster", "sink"]) {
    const out = await new Deno.Command("gcc", {
      args: ["-O2", "-Wall", "-o", `${dir}/${name}`, `${C_DIR}${name}.c`],
      stderr: "piped",
    }).output();
    if (!out.success) throw new Error(`Cannot compile "${name}.c": ${new TextDecoder().decode(out.stderr)}`);
  }
}

async function startRelay(impl: Impl, bin: string, dests: number[]): Promise<Relay> {
  if (impl === "msm-relay" || impl === "msm-relay-fast") {
    return await startMsmRelay(dests, impl === "msm-relay-fast");
  }
  const [port] = freeUdpPorts(1) as [number];
  const cmd = impl === "c"
    ? new Deno.Command(`${bin}/relay`, {
      args: [String(port), "600000", ...dests.map(String)],
      stdout: "piped",
      stdin: "null",
    })
    : new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-net",
        `${REPO_ROOT}bench/dataplane_child.ts`,
        String(port),
        ...dests.map(String),
      ],
      cwd: REPO_ROOT,
      stdout: "piped",
      stdin: "piped",
    });
  const child = cmd.spawn();
  const lines = new Lines(child.stdout);
  const ready = await lines.next(20_000);
  if (!ready?.startsWith("ready")) throw new Error(`Relay "${impl}" did not start: ${ready}`);
  if (impl !== "c" && !ready.endsWith(impl)) throw new Error(`Relay "${impl}" started as "${ready}"`);
  return {
    pid: child.pid,
    port,
    async stop() {
      if (impl === "c") child.kill("SIGTERM");
      else await child.stdin.close();
      const last = (await lines.next(10_000)) ?? "";
      await child.status;
      return last;
    },
  };
}

async function trial(bin: string, relay: Relay, sinkPorts: number[], rate: number): Promise<Trial> {
  const expectedPerPort = Math.floor((rate * TRIAL_MS) / 1000);
  const sink = new Deno.Command(`${bin}/sink`, {
    args: [String(TRIAL_MS + 4000), "300", String(expectedPerPort), ...sinkPorts.map(String)],
    stdout: "piped",
  }).spawn();
  const sinkLines = new Lines(sink.stdout);
  const ready = await sinkLines.next(5000);
  if (!ready?.startsWith("ready")) throw new Error(`Sink did not start: ${ready}`);
  const cpu0 = cpuSeconds(relay.pid);
  const blast = await new Deno.Command(`${bin}/blaster`, {
    args: [
      String(relay.port),
      String(rate),
      String(TRIAL_MS),
      "1200",
      ...(relay.sourcePort ? [String(relay.sourcePort)] : []),
    ],
    stdout: "piped",
  }).output();
  const sent = JSON.parse(new TextDecoder().decode(blast.stdout)) as { sent: number; seconds: number };
  const result = JSON.parse((await sinkLines.next(10_000)) ?? "{}") as {
    received: number[];
    gaps: number[];
    reordered: number[];
  };
  await sink.status;
  const cpu = cpuSeconds(relay.pid) - cpu0;
  const sum = (a: number[]) => a.reduce((x, y) => x + y, 0);
  const expected = sent.sent * sinkPorts.length;
  const received = sum(result.received);
  const loss = expected > 0 ? 1 - received / expected : 1;
  const offeredPerSec = sent.sent / (TRIAL_MS / 1000);
  return {
    rate,
    sent: sent.sent,
    offeredPerSec,
    expected,
    received,
    loss,
    gaps: sum(result.gaps),
    reordered: sum(result.reordered),
    relayCpuSeconds: cpu,
    cpuUsPerPacket: received > 0 ? (cpu * 1e6) / received : NaN,
    // The blaster must have offered (nearly) the asked rate in time, or the rate was not really tried.
    pass: loss < MAX_LOSS && sent.sent >= expectedPerPort * 0.99 && sent.seconds < (TRIAL_MS / 1000) * 1.1,
  };
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
  try {
    await compile(bin);
    for (const fanout of FANOUTS) {
      for (const impl of IMPLS) {
        const sinkPorts = freeUdpPorts(fanout);
        const relay = await startRelay(impl, bin, sinkPorts);
        try {
          // BENCH_SEARCH=0: only the cost trial (while profiling it).
          const s = Deno.env.get("BENCH_SEARCH") === "0"
            ? { best: null, trials: [] }
            : await search(bin, relay, sinkPorts, fanout);
          const cost = fanout === 10 ? await trial(bin, relay, sinkPorts, COST_RATE) : null;
          results.push({ impl, fanout, best: s.best, cost, trials: s.trials });
          const b = s.best;
          console.error(
            `  ${impl} fan-out ${fanout}: max ${b ? fmtRate(b.offeredPerSec) : "none"} in/s` +
              (cost
                ? `, ${cost.cpuUsPerPacket.toFixed(2)} µs/pkt at 20k x10 (loss ${
                  (cost.loss * 100).toFixed(2)
                } %)`
                : ""),
          );
        } finally {
          const last = await relay.stop();
          results[results.length - 1] ??= {};
          (results[results.length - 1] as Record<string, unknown>).relayStats = last;
        }
      }
    }
  } finally {
    await Deno.remove(bin, { recursive: true });
  }

  // Table.
  type R = { impl: Impl; fanout: number; best: Trial | null; cost: Trial | null };
  const rs = results as unknown as R[];
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
      `${TRIAL_MS} ms trials; blaster, sink and relay share the machine's cores`,
  );
  console.log(
    "\n  relay     fan-out  max zero-loss in   out/s      fwd pkt/s per core  ratio to C   " +
      "µs/pkt @20k x10  ratio to C  loss @20k x10",
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
        `  ${impl.padEnd(9)} ${String(fanout).padStart(7)}  ${
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
  await Deno.mkdir(OUTPUT_DIR, { recursive: true });
  const out = new URL("dataplane.json", OUTPUT_DIR);
  await Deno.writeTextFile(
    out,
    JSON.stringify({ machine: facts, table: rows, details: results }, null, 2) + "\n",
  );
  console.log(`\nwrote ${fileURLToPath(out)} in ${facts.benchSeconds} s`);
}

if (import.meta.main) await main();
