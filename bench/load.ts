/**
 * `deno task bench:load`: many concurrent RTSP sessions on one relay for a bounded time, with the loss, the
 * starvation and the memory figures ("trust and hardening": 500 sessions, TCP and UDP readers mixed, 60 s).
 *
 * - One relay child process (`tests/support/relay.ts`, with `--allow-ffi` as `deno task start` runs it) with the
 *   per-client limits off (`--rtsp-max-sessions-per-ip 0 --rtsp-request-rate 0
 *   --rtsp-max-connections-per-ip 0`: every reader comes from 127.0.0.1) and room for every connection.
 * - This process publishes BENCH_LOAD_PATHS paths (default 5) over TCP interleaved, each a video-like stream of
 *   BENCH_LOAD_RATE packets/s (default 400 packets of 1200 B: ~3.8 Mbit/s) as 25 frames/s of FU-A fragments with
 *   the marker on each frame's last packet and an IDR frame every 2 s (so the GOP cache holds real GOPs).
 *   Every payload carries the path's own packet counter, so each reader's loss is counted exactly.
 * - BENCH_LOAD_SESSIONS readers (default 500), spread evenly over the paths, half TCP interleaved and half UDP
 *   on every path, in BENCH_LOAD_PROCS child processes (`bench/load_child.ts`, default 2), set up in waves of
 *   BENCH_LOAD_WAVE at a time (default 25, over all children), each reader's setup time recorded: from its own
 *   connect to its PLAY reply (the time a reader waits for a slot of its wave is not counted).
 * - The join: whether each reader's first packet is the cached GOP's keyframe and how much of the GOP cache
 *   burst it received (the burst is estimated from the pacing: GOP start to the packet live at PLAY).
 * - Once all joined and BENCH_LOAD_SETTLE_MS later (default 5,000: the join's GOP bursts, ~480 packets to each
 *   reader within about a second, overflow UDP readers' socket buffers; the join has figures of its own),
 *   BENCH_LOAD_SECONDS (default 60) of measurement: per reader the packets of the window
 *   received vs sent, the worst gap between consecutive packets; the relay's CPU, RSS and heap, the readers'
 *   and this process's CPU, the whole machine's CPU (other work on the machine shows there) and the kernel's
 *   UDP receive-buffer drops.
 * - While measuring, a setup probe: the bench process sets up one new reader every 500 ms (TCP and UDP in turn,
 *   each leaving with a TEARDOWN) and times its connect -> PLAY reply: what a new reader waits for on the loaded
 *   relay, timed by a process that is not busy itself (the readers' processes are, and their setup times of the
 *   join include their own event-loop lag and the 24 other setups in flight).
 * - Two controls, to tell the relay's pauses from the machine's: a probe of the relay's ingest (every path's
 *   packetsIn every 200 ms from GET /api/v1/streams) and a control flow (path 0's packets sent by this process
 *   over UDP straight to each reader process, past the relay), whose worst gap is printed beside the readers'.
 *
 * Exits 1 when a session fails to set up, or a reader gets < 99 % of its packets, or a reader sees another
 * path's packets or loses its connection. Prints a table and writes bench/output/load.json. BENCH_LOAD_RELAY_FLAGS
 * adds `deno run` flags to the relay's command (a profiler's, for instance).
 * @module
 */
import { fileURLToPath } from "node:url";
import { writeRtpHeader } from "../src/rtp/packet.ts";
import { cpuSeconds, rssBytes } from "../tests/support/proc_stats.ts";
import { STARTUP_CODE_SETTLE_MS } from "../src/dataplane/startup_code.ts";
import { parsePrometheus, type PromFamily } from "../tests/support/prometheus.ts";
import { delay, REPO_ROOT, withTimeout } from "../tests/support/processes.ts";
import { nextUdpRange, type RelayProcess, startRelayProcess } from "../tests/support/relay.ts";
import { type RtspPublisher, startRtspPublisher, startRtspReader } from "../tests/support/rtsp_peers.ts";
import {
  type ChildConfig,
  LOAD_MAGIC,
  type Pacing,
  type ReaderResult,
  type ReaderSpec,
} from "./load_child.ts";
import { FigureTable, percentile } from "./support/figures.ts";
import { envInt } from "./support/env.ts";

const SESSIONS = envInt("BENCH_LOAD_SESSIONS", 500, 1);
const SECONDS = envInt("BENCH_LOAD_SECONDS", 60, 1);
const PATHS = Math.min(envInt("BENCH_LOAD_PATHS", 5, 1), SESSIONS, 250);
const RATE = envInt("BENCH_LOAD_RATE", 400, 25);
const PROCS = Math.min(envInt("BENCH_LOAD_PROCS", 2, 1), SESSIONS);
const WAVE = envInt("BENCH_LOAD_WAVE", 25, 1);
const DATA_PLANE = Deno.env.get("BENCH_LOAD_DATA_PLANE") ?? "auto";
/** More `deno run` flags for the relay, separated by spaces (e.g. `--v8-flags=--perf-basic-prof` to profile). */
const RELAY_FLAGS = (Deno.env.get("BENCH_LOAD_RELAY_FLAGS") ?? "").split(" ").filter((f) => f !== "");

const FPS = 25;
const GOP_FRAMES = 50; // an IDR frame every 2 s
const PACKET_BYTES = 1200;
const PER_FRAME = Math.max(1, Math.round(RATE / FPS));
/** Time given to all readers to set up, whatever happens. */
const SETUP_BUDGET_MS = 60_000 + SESSIONS * 200;
/**
 * From the last reader's PLAY reply to the window: the join's GOP bursts (about 480 packets to each of 500
 * readers at once) are over and the readers' sockets drained. `BENCH_LOAD_SETTLE_MS`.
 */
const SETTLE_MS = Number(Deno.env.get("BENCH_LOAD_SETTLE_MS") ?? 5000);
/** After `stop`: time for the packets of the window still in flight to arrive. */
const DRAIN_MS = 1500;
/** The whole run's bound (children exit by themselves after it). */
const RUN_BUDGET_MS = SETUP_BUDGET_MS + SECONDS * 1000 + 60_000;
/** Client UDP ports of the readers: above Linux's ephemeral range (32768-60999), split between children. */
const CLIENT_PORTS: [number, number] = [61000, 65535];

const OUTPUT = new URL("./output/load.json", import.meta.url);
const SDP = [
  "v=0",
  "o=- 0 0 IN IP4 127.0.0.1",
  "s=bench load",
  "t=0 0",
  "m=video 0 RTP/AVP 96",
  "a=rtpmap:96 H264/90000",
  "a=fmtp:96 packetization-mode=1",
  "a=control:trackID=0",
  "",
].join("\r\n");

// ---------------------------------------------------------------------------------------------------------
// Machine and process figures

/** Busy and total jiffies of all CPUs (/proc/stat). */
function machineCpu(): { busy: number; total: number } {
  const fields = Deno.readTextFileSync("/proc/stat").split("\n")[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = fields.reduce((a, b) => a + b, 0);
  const idle = (fields[3] ?? 0) + (fields[4] ?? 0); // idle + iowait
  return { busy: total - idle, total };
}

/**
 * Kernel counters (machine-wide): UDP receive-buffer overflows and input errors (/proc/net/snmp), and the
 * softirq's backlog drops and budget squeezes (/proc/net/softnet_stat, hex, one line per CPU).
 */
function kernelCounters(): {
  rcvbufErrors: number;
  inErrors: number;
  backlogDrops: number;
  squeezes: number;
} {
  const lines = Deno.readTextFileSync("/proc/net/snmp").split("\n").filter((l) => l.startsWith("Udp:"));
  const names = lines[0]?.split(/\s+/) ?? [];
  const values = lines[1]?.split(/\s+/).map(Number) ?? [];
  const get = (n: string) => values[names.indexOf(n)] ?? 0;
  let backlogDrops = 0;
  let squeezes = 0;
  for (const line of Deno.readTextFileSync("/proc/net/softnet_stat").trim().split("\n")) {
    const f = line.trim().split(/\s+/);
    backlogDrops += parseInt(f[1] ?? "0", 16);
    squeezes += parseInt(f[2] ?? "0", 16);
  }
  return { rcvbufErrors: get("RcvbufErrors"), inErrors: get("InErrors"), backlogDrops, squeezes };
}

/** The soft limit on open files of this process (children inherit it). */
function openFileLimit(): number {
  const m = Deno.readTextFileSync("/proc/self/limits").match(/Max open files\s+(\d+|unlimited)/);
  return m?.[1] === "unlimited" ? Infinity : Number(m?.[1] ?? 0);
}

function sum(family: PromFamily | undefined, filter: (l: Record<string, string>) => boolean = () => true) {
  return (family?.samples ?? []).filter((s) => filter(s.labels)).reduce((a, s) => a + s.value, 0);
}

/** The relay's own metrics: a few sums read from /metrics. */
async function relayMetrics(relay: RelayProcess) {
  const res = await fetch(`http://${relay.host}:${relay.adminPort}/metrics`);
  const m = parsePrometheus(await res.text());
  const dropped: Record<string, number> = {};
  for (const s of m.get("msm_rtp_packets_dropped_total")?.samples ?? []) {
    const reason = s.labels.reason ?? "?";
    dropped[reason] = (dropped[reason] ?? 0) + s.value;
  }
  const refused: Record<string, number> = {};
  for (const s of m.get("msm_rtsp_refused_total")?.samples ?? []) {
    const reason = s.labels.reason ?? "?";
    refused[reason] = (refused[reason] ?? 0) + s.value;
  }
  return {
    sessions: sum(m.get("msm_rtsp_sessions")),
    readers: sum(m.get("msm_readers")),
    heapBytes: sum(m.get("msm_process_heap_used_bytes")),
    rssBytes: sum(m.get("msm_process_resident_memory_bytes")),
    /** The worst event-loop lag since the previous scrape. */
    lagSeconds: sum(m.get("msm_process_event_loop_lag_seconds")),
    forwarded: sum(m.get("msm_rtp_packets_forwarded_total")),
    received: sum(m.get("msm_rtp_packets_received_total"), (l) => l.hop === "source"),
    fastPlaneDatagrams: sum(m.get("msm_dataplane_datagrams_total")),
    fastPlane: Object.fromEntries(
      (m.get("msm_dataplane_datagrams_total")?.samples ?? []).map((x) => [x.labels.event ?? "?", x.value]),
    ) as Record<string, number>,
    requests4xx5xx: sum(m.get("msm_rtsp_requests_total"), (l) => Number(l.status) >= 400),
    dropped,
    refused,
  };
}

/** What {@linkcode probeIngest} saw of each path. */
interface IngestProbe {
  /** Per path: [wall-clock ms, the relay's packetsIn] every {@linkcode INGEST_PROBE_MS}. */
  samples: Map<string, Array<[number, number]>>;
  /** Response times of GET /api/v1/streams. */
  apiMs: number[];
}

/** Period of the relay ingest probe (GET /api/v1/streams: one request for all paths). */
const INGEST_PROBE_MS = 200;

/**
 * Reads every path's `packetsIn` from the relay every {@linkcode INGEST_PROBE_MS} until `until`, so that a pause
 * of the relay's ingest of one publisher (its TCP reads) can be told apart from a pause of its sends.
 */
async function probeIngest(relay: RelayProcess, paths: string[], until: number): Promise<IngestProbe> {
  const samples = new Map(paths.map((p) => [p, [] as Array<[number, number]>]));
  const apiMs: number[] = [];
  while (performance.now() < until) {
    const t = performance.now();
    try {
      const { body } = await relay.get<{ streams: Array<{ path: string; packetsIn: number }> }>(
        "/api/v1/streams",
      );
      apiMs.push(performance.now() - t);
      for (const st of body.streams) samples.get(st.path)?.push([performance.timeOrigin + t, st.packetsIn]);
    } catch { /* counted as a missing sample */ }
    await delay(Math.max(1, t + INGEST_PROBE_MS - performance.now()));
  }
  return { samples, apiMs };
}

/** The longest time a path's packetsIn stood still between probe samples, and when it started (wall clock). */
function longestIngestStall(samples: Array<[number, number]>): { ms: number; at: number } {
  let best = { ms: 0, at: 0 };
  let runStart = 0;
  for (let i = 1; i < samples.length; i++) {
    if (samples[i]![1] !== samples[i - 1]![1]) {
      runStart = i;
      continue;
    }
    const ms = samples[i]![0] - samples[runStart]![0];
    if (ms > best.ms) best = { ms, at: samples[runStart]![0] };
  }
  return best;
}

/** Period of the setup probe: one new reader every this many ms while the others play. */
const SETUP_PROBE_MS = 500;

/** What {@linkcode probeSetups} measured: connect -> PLAY reply of each new reader, per transport. */
interface SetupProbe {
  ms: { tcp: number[]; udp: number[] };
  failed: string[];
}

/**
 * While every reader plays, sets up one more reader every {@linkcode SETUP_PROBE_MS} until `until` (TCP and UDP in
 * turn, over the paths), from this lightly loaded process rather than the busy reader processes: the time a new
 * reader waits for its PLAY reply on a loaded relay. Each leaves (TEARDOWN) once set up; a UDP probe's socket is
 * never read.
 */
async function probeSetups(relay: RelayProcess, paths: string[], until: number): Promise<SetupProbe> {
  const probe: SetupProbe = { ms: { tcp: [], udp: [] }, failed: [] };
  for (let i = 0; performance.now() < until; i++) {
    const t0 = performance.now();
    const transport = i % 2 === 0 ? "tcp" : "udp";
    const url = relay.url(paths[Math.floor(i / 2) % paths.length]!);
    try {
      const reader = await startRtspReader(url, { transport });
      probe.ms[transport].push(reader.playReplyAt - t0);
      await reader.conn.request("TEARDOWN", url, { Session: reader.session }).catch(() => {});
      await reader.close();
    } catch (err) {
      if (probe.failed.length < 20) probe.failed.push(`${transport}: ${(err as Error).message}`);
    }
    await delay(Math.max(1, t0 + SETUP_PROBE_MS - performance.now()));
  }
  return probe;
}

// ---------------------------------------------------------------------------------------------------------
// Publishers

/** One path's publisher and its counters. */
interface PathPublisher {
  name: string;
  index: number;
  pub: RtspPublisher;
  /** The next packet counter (= packets offered so far). */
  counter: number;
  frame: number;
  /** Counters of the packets the client's queue refused (the relay did not read in time). */
  refused: number[];
  /** Path 0 only: the control flow, the same packets sent over UDP straight to each reader process. */
  control?: { sock: Deno.DatagramConn; to: Deno.NetAddr[] };
}

/** The packets of frame `frame` of a path: FU-A fragments of one NAL (IDR every GOP), counter in the payload. */
function sendFrame(p: PathPublisher): void {
  const idr = p.frame % GOP_FRAMES === 0;
  for (let i = 0; i < PER_FRAME; i++) {
    const packet = new Uint8Array(PACKET_BYTES); // a fresh buffer per packet: queued by reference
    const last = i === PER_FRAME - 1;
    writeRtpHeader(packet, 0, {
      marker: last,
      payloadType: 96,
      sequence: p.counter & 0xffff,
      timestamp: (p.frame * (90000 / FPS)) >>> 0,
      ssrc: 0x10ad0000 + p.index,
    });
    packet[12] = 0x60 | 28; // FU indicator: NRI 3, FU-A
    packet[13] = (i === 0 ? 0x80 : 0) | (last ? 0x40 : 0) | (idr ? 5 : 1); // FU header: S, E, NAL type
    new DataView(packet.buffer).setUint32(14, p.counter);
    packet[18] = p.index;
    packet[19] = LOAD_MAGIC;
    if (!p.pub.conn.sendFrame(0, packet)) p.refused.push(p.counter);
    if (p.control) { for (const to of p.control.to) p.control.sock.send(packet, to).catch(() => {}); }
    p.counter++;
  }
  p.frame++;
}

/** Sends every path's due frames on a 40 ms grid until `stop()`; bounded by `untilMs` as well. */
function startPacing(pubs: PathPublisher[], untilMs: number) {
  let running = true;
  let lateFrames = 0;
  /** [wall-clock ms, ms late] of each wake-up more than 50 ms late (bounded). */
  const stalls: Array<[number, number]> = [];
  const t0 = performance.now();
  const period = 1000 / FPS;
  const pacing: Pacing = { t0Ms: performance.timeOrigin + t0, periodMs: period, perFrame: PER_FRAME };
  const done = (async () => {
    while (running && performance.now() < untilMs) {
      const due = Math.floor((performance.now() - t0) / period) + 1;
      // Behind by more than 5 frames: send 5 now, the rest on the next turns (a camera does not burst more).
      const frames = pubs[0]!.frame;
      if (due - frames > 5) lateFrames += due - frames - 5;
      for (let f = frames; f < Math.min(due, frames + 5); f++) for (const p of pubs) sendFrame(p);
      const wait = Math.max(1, t0 + pubs[0]!.frame * period - performance.now());
      const wake = performance.now() + wait;
      await delay(wait);
      const late = performance.now() - wake;
      if (late > 50 && stalls.length < 1000) stalls.push([performance.timeOrigin + wake, late]);
    }
  })();
  return {
    get lateFrames() {
      return lateFrames;
    },
    stalls,
    pacing,
    async stop() {
      running = false;
      await done;
    },
  };
}

// ---------------------------------------------------------------------------------------------------------
// Reader children

/** Lines of a child's stdout, each a JSON message. */
class ChildProcess {
  readonly index: number;
  readonly child: Deno.ChildProcess;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #reader: ReadableStreamDefaultReader<string>;
  readonly stderr: string[] = [];
  #buf = "";

  constructor(index: number) {
    this.index = index;
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-net",
        "--allow-read",
        fileURLToPath(new URL("./load_child.ts", import.meta.url)),
      ],
      cwd: REPO_ROOT,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.child = child;
    this.#writer = this.child.stdin.getWriter();
    this.#reader = this.child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    void (async () => {
      const r = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
      for (;;) {
        const { value, done } = await r.read();
        if (done) return;
        if (this.stderr.length < 200) this.stderr.push(...value.split("\n").filter((l) => l.trim()));
      }
    })();
  }

  async send(line: string): Promise<void> {
    await this.#writer.write(new TextEncoder().encode(line + "\n"));
  }

  /** The next message of type `type` (other lines are kept as stderr-like noise); rejects after `ms`. */
  async expect<T>(type: string, ms: number): Promise<T> {
    return await withTimeout(
      (async () => {
        for (;;) {
          const i = this.#buf.indexOf("\n");
          if (i >= 0) {
            const line = this.#buf.slice(0, i);
            this.#buf = this.#buf.slice(i + 1);
            try {
              const msg = JSON.parse(line) as { type: string };
              if (msg.type === type) return msg as T;
            } catch { /* not ours */ }
            this.stderr.push(line);
            continue;
          }
          const { value, done } = await this.#reader.read();
          if (done) {
            throw new Error(`Reader child ${this.index} exited:\n${this.stderr.slice(-20).join("\n")}`);
          }
          this.#buf += value;
        }
      })(),
      ms,
      `Reader child ${this.index} did not answer "${type}" in ${ms} ms`,
    );
  }

  /** Asks the child to close its readers and waits for it (bounded); kills it if it does not exit. */
  async close(): Promise<void> {
    try {
      await this.send("close");
      await this.#writer.close();
    } catch { /* already gone */ }
    const exited = await Promise.race([this.child.status, delay(5000).then(() => null)]);
    if (exited === null) {
      try {
        this.child.kill("SIGKILL");
      } catch { /* exited meanwhile */ }
      await this.child.status;
    }
    await this.#reader.cancel().catch(() => {});
  }
}

/** A child's answer to `report`. */
interface ChildReport {
  readers: ReaderResult[];
  /** The control flow (path 0 straight from the publisher, no relay). */
  control: ReaderResult;
  lagMaxMs: number;
  /** [wall-clock ms, lag ms] of each stall > 50 ms of the child's event loop while measuring. */
  lagEvents: Array<[number, number]>;
}

// ---------------------------------------------------------------------------------------------------------
// Report

const figures = new FigureTable(52);
const report = figures.report;

const MiB = 2 ** 20;

// ---------------------------------------------------------------------------------------------------------

async function main(): Promise<number> {
  const started = performance.now();
  const nofile = openFileLimit();
  console.log(
    `bench/load.ts: ${SESSIONS} sessions (${PATHS} paths, ${RATE} pkt/s x ${PACKET_BYTES} B each), ` +
      `${SECONDS} s, ${PROCS} reader processes, waves of ${WAVE}, data plane ${DATA_PLANE}, ulimit -n ${nofile}`,
  );
  // The relay holds a connection per reader (and a socket pair per path); each child a connection or two UDP
  // sockets per reader.
  if (nofile < SESSIONS * 2 + 256) {
    throw new Error(
      `ulimit -n ${nofile} is too low for ${SESSIONS} sessions: raise it to ${SESSIONS * 2 + 256}`,
    );
  }
  const help = new TextDecoder().decode(
    (await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", fileURLToPath(new URL("../main.ts", import.meta.url)), "--help"],
      stdout: "piped",
      stderr: "piped",
    }).output()).stdout,
  );
  const perClient = ["--rtsp-max-sessions-per-ip", "--rtsp-request-rate", "--rtsp-max-connections-per-ip"];
  const limitFlags = perClient.flatMap((f) => help.includes(f) ? [f, "0"] : []);
  if (limitFlags.length < 2 * perClient.length) {
    console.log("  note: the relay lacks some per-client limit flags; running without");
  }
  const relayArgs = [
    "--no-demo",
    "--log-level",
    "warn",
    "--udp-port-range",
    nextUdpRange(1000), // the last --udp-port-range wins: the relay binds one pair per path's track
    ...(help.includes("--rtsp-max-connections")
      ? ["--rtsp-max-connections", String(Math.max(1024, SESSIONS + PATHS + 64))]
      : []),
    ...limitFlags,
    ...(DATA_PLANE === "auto" ? [] : ["--data-plane", DATA_PLANE]),
  ];
  await using relay = await startRelayProcess(relayArgs, {}, {
    name: "msm-relay-load",
    permissions: [...(DATA_PLANE === "portable" ? [] : ["--allow-ffi"]), ...RELAY_FLAGS],
  });
  const relayPid = relay.process.pid;
  const relayLog: string[] = [];
  relay.process.onLine((line) => {
    if (relayLog.length < 1000 && line.trim()) relayLog.push(line); // --log-level warn: warnings and errors
  });
  console.log(`  relay pid ${relayPid}: main.ts ${relayArgs.join(" ")}`);

  // Publishers and pacing.
  const pubs: PathPublisher[] = [];
  for (let i = 0; i < PATHS; i++) {
    const name = `load${i}`;
    const pub = await startRtspPublisher(relay.url(name), SDP, { transport: "tcp" });
    pubs.push({ name, index: i, pub, counter: 0, frame: 0, refused: [] });
  }
  const pacing = startPacing(pubs, performance.now() + RUN_BUDGET_MS);
  const children: ChildProcess[] = [];
  let exitCode = 0;
  try {
    // Warm-up: the JIT, and the relay's start-up code paged out (src/dataplane/startup_code.ts) before the base
    // reading; readers then join in mid-GOP (IDR every 2 s), as they would.
    await delay(STARTUP_CODE_SETTLE_MS + 2000);
    await relayMetrics(relay); // resets the lag maximum
    const base = { rss: rssBytes(relayPid), metrics: await relayMetrics(relay) };

    // Readers: reader i reads path i % PATHS; on each path they alternate TCP and UDP.
    const specs: ReaderSpec[] = Array.from({ length: SESSIONS }, (_, id) => ({
      id,
      pathIndex: id % PATHS,
      path: `load${id % PATHS}`,
      transport: Math.floor(id / PATHS) % 2 === 0 ? "tcp" : "udp",
    }));
    const portsPerChild = Math.floor((CLIENT_PORTS[1] - CLIENT_PORTS[0]) / PROCS) & ~1;
    const joinStart = performance.now();
    const kernelAtJoin = kernelCounters();
    for (let c = 0; c < PROCS; c++) {
      const child = new ChildProcess(c);
      children.push(child);
      const cfg: ChildConfig = {
        child: c,
        host: relay.host,
        rtspPort: relay.rtspPort,
        // Every child gets TCP and UDP readers of every path: the readers of one (path, transport) take turns.
        readers: specs.filter((s) => Math.floor(s.id / (2 * PATHS)) % PROCS === c),
        concurrency: Math.max(1, Math.ceil(WAVE / PROCS)),
        portFirst: CLIENT_PORTS[0] + c * portsPerChild,
        portLast: CLIENT_PORTS[0] + (c + 1) * portsPerChild - 1,
        deadlineMs: RUN_BUDGET_MS,
        gopPackets: GOP_FRAMES * PER_FRAME,
      };
      await child.send(JSON.stringify(cfg));
    }
    const joined = await Promise.all(
      children.map((c) =>
        c.expect<{ ok: number; failed: number; controlPort: number }>("joined", SETUP_BUDGET_MS)
      ),
    );
    pubs[0]!.control = {
      sock: Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 }),
      to: joined.map((j) => ({ transport: "udp", hostname: "127.0.0.1", port: j.controlPort })),
    };
    const joinMs = performance.now() - joinStart;
    await delay(SETTLE_MS); // the last readers' GOP bursts are over
    const afterJoin = { rss: rssBytes(relayPid), metrics: await relayMetrics(relay), at: performance.now() };
    const kernelAfterJoin = kernelCounters();

    // Measurement window.
    const cpu0 = {
      relay: cpuSeconds(relayPid),
      self: cpuSeconds("self"),
      children: children.map((c) => cpuSeconds(c.child.pid)),
      machine: machineCpu(),
      udp: kernelCounters(),
      at: performance.now(),
    };
    await Promise.all(children.map((c) => c.send("start")));
    await Promise.all(children.map((c) => c.expect("started", 10_000)));
    const window0 = pubs.map((p) => p.counter);
    const windowStartMs = performance.timeOrigin + performance.now();
    const stalls0 = pacing.stalls.length;
    const late0 = pacing.lateFrames;
    // The relay's RSS and event-loop lag (worst since the previous scrape) every 5 s, bounded by the window.
    const rssSamples: number[] = [afterJoin.rss];
    const lagSamples: number[] = [];
    const scrapeMs: number[] = [];
    const windowEnd = performance.now() + SECONDS * 1000;
    const ingest = probeIngest(relay, pubs.map((p) => p.name), windowEnd);
    const setupProbe = probeSetups(relay, pubs.map((p) => p.name), windowEnd);
    while (performance.now() < windowEnd) {
      await delay(Math.min(5000, Math.max(0, windowEnd - performance.now())));
      rssSamples.push(rssBytes(relayPid));
      const t = performance.now();
      lagSamples.push((await relayMetrics(relay)).lagSeconds * 1000);
      scrapeMs.push(performance.now() - t);
    }
    const rssPeak = Math.max(...rssSamples);
    const ingestProbe = await ingest;
    const setups = await setupProbe;
    const window1 = pubs.map((p) => p.counter);
    await Promise.all(children.map((c) => c.send("stop")));
    await Promise.all(children.map((c) => c.expect("stopped", 10_000)));
    const cpu1 = {
      relay: cpuSeconds(relayPid),
      self: cpuSeconds("self"),
      children: children.map((c) => cpuSeconds(c.child.pid)),
      machine: machineCpu(),
      udp: kernelCounters(),
      at: performance.now(),
    };
    const lateFrames = pacing.lateFrames - late0;
    const pacingStalls = pacing.stalls.slice(stalls0);
    await delay(DRAIN_MS);
    const end = { rss: rssBytes(relayPid), metrics: await relayMetrics(relay), at: performance.now() };
    const streams = await Promise.all(pubs.map((p) => relay.stream(p.name)));
    const windows = pubs.map((_, i) => [window0[i]!, window1[i]!] as [number, number]);
    const reports = await Promise.all(
      children.map((c) =>
        c.send(`report ${JSON.stringify({ windows, pacing: pacing.pacing })}`).then(() =>
          c.expect<ChildReport>("report", 30_000)
        )
      ),
    );
    const results = reports.flatMap((r) => r.readers).sort((a, b) => a.id - b.id);

    // Figures.
    const seconds = (cpu1.at - cpu0.at) / 1000;
    const ok = results.filter((r) => r.ok);
    const failed = results.filter((r) => !r.ok);
    const byTransport = (t: string) => results.filter((r) => r.transport === t);
    const expected = (r: ReaderResult) => {
      const p = pubs[Number(r.path.slice(4))]!;
      const [c0, c1] = windows[p.index]!;
      return c1 - c0 - p.refused.filter((c) => c >= c0 && c < c1).length;
    };
    const loss = ok.map((r) => ({ r, loss: 1 - r.inWindow / Math.max(1, expected(r)) }));
    const lossSorted = loss.map((l) => l.loss).sort((a, b) => a - b);
    const worst = loss.reduce((a, b) => (b.loss > a.loss ? b : a), loss[0] ?? { r: null, loss: NaN });
    const setup = ok.map((r) => r.setupMs).sort((a, b) => a - b);
    const first = ok.filter((r) => r.firstPacketMs >= 0).map((r) => r.firstPacketMs).sort((a, b) => a - b);
    const gaps = ok.map((r) => r.maxGapMs).sort((a, b) => a - b);
    const inWindow = ok.map((r) => r.inWindow);
    const sentWindow = windows.map(([a, b]) => b - a);
    const lost = (t: string) => {
      const l = loss.filter((x) => x.r.transport === t).map((x) => x.loss);
      return l.length ? (l.reduce((a, b) => a + b, 0) / l.length) * 100 : NaN;
    };
    const machineBusy = (cpu1.machine.busy - cpu0.machine.busy) / (cpu1.machine.total - cpu0.machine.total);
    const cores = navigator.hardwareConcurrency;
    const relayCpu = (cpu1.relay - cpu0.relay) / seconds;
    const selfCpu = (cpu1.self - cpu0.self) / seconds;
    const childCpu = children.map((_, i) => (cpu1.children[i]! - cpu0.children[i]!) / seconds);
    const others = machineBusy * cores - relayCpu - selfCpu - childCpu.reduce((a, b) => a + b, 0);
    const refusedByPublisherQueue = pubs.reduce((a, p) => a + p.refused.length, 0);
    const closedEarly = ok.filter((r) => r.closedAtMs >= 0);
    const wrongPath = ok.reduce((a, r) => a + r.wrongPath + r.invalid, 0);
    const dupes = ok.reduce((a, r) => a + r.duplicates, 0);
    const dropDelta: Record<string, number> = {};
    for (const [k, v] of Object.entries(end.metrics.dropped)) {
      const d = v - (base.metrics.dropped[k] ?? 0);
      if (d > 0) dropDelta[k] = d;
    }
    const refusedDelta: Record<string, number> = {};
    for (const [k, v] of Object.entries(end.metrics.refused)) {
      const d = v - (base.metrics.refused[k] ?? 0);
      if (d > 0) refusedDelta[k] = d;
    }
    const starving = loss.filter((l) => l.loss > 0.01);

    console.log(
      `  window ${seconds.toFixed(1)} s; relay ${
        end.metrics.fastPlaneDatagrams > 0 ? "fast" : "portable"
      } UDP data plane`,
    );
    report(
      "sessions established, TCP",
      ok.filter((r) => r.transport === "tcp").length,
      "",
      `of ${byTransport("tcp").length}`,
    );
    report(
      "sessions established, UDP",
      ok.filter((r) => r.transport === "udp").length,
      "",
      `of ${byTransport("udp").length}; relay counts ${
        afterJoin.metrics.sessions - base.metrics.sessions
      } reader sessions`,
    );
    report("all readers joined in", joinMs / 1000, "s", `waves of ${WAVE}, ${joined.length} processes`);
    report("setup time (connect -> PLAY reply), p50", percentile(setup, 0.5), "ms");
    report("setup time, p99", percentile(setup, 0.99), "ms");
    report("setup time, max", setup.at(-1) ?? NaN, "ms");
    const probed = [...setups.ms.tcp, ...setups.ms.udp].sort((a, b) => a - b);
    const probeP = (xs: number[], q: number) => percentile([...xs].sort((a, b) => a - b), q).toFixed(0);
    report(
      "new reader while all play (probe): setup p50",
      percentile(probed, 0.5),
      "ms",
      `${probed.length} readers, one every ${SETUP_PROBE_MS} ms from the bench process; ` +
        `TCP ${probeP(setups.ms.tcp, 0.5)}, UDP ${
          probeP(setups.ms.udp, 0.5)
        } ms; ${setups.failed.length} failed`,
    );
    report(
      "new reader while all play (probe): setup p99",
      percentile(probed, 0.99),
      "ms",
      `max ${(probed.at(-1) ?? NaN).toFixed(0)} ms; TCP ${probeP(setups.ms.tcp, 0.99)}, UDP ${
        probeP(setups.ms.udp, 0.99)
      } ms`,
    );
    report(
      "setup start -> first packet, p50",
      percentile(first, 0.5),
      "ms",
      "the GOP cache burst follows PLAY",
    );
    report("setup start -> first packet, p99", percentile(first, 0.99), "ms");
    // The join: the GOP cache burst (from the GOP's first packet, a keyframe) then live packets up to the window.
    const joinBy = (t: string) => {
      const rs = ok.filter((r) => r.transport === t && r.joinExpected > 0);
      const got = rs.map((r) => r.joinReceived / r.joinExpected);
      const burst = rs.filter((r) => r.burstExpected > 0).map((r) => r.burstReceived / r.burstExpected);
      return {
        burstMean: burst.length ? (burst.reduce((a, b) => a + b, 0) / burst.length) * 100 : NaN,
        burstWorst: burst.length ? Math.min(...burst) * 100 : NaN,
        burstSize: rs.length ? rs.reduce((a, r) => a + r.burstExpected, 0) / rs.length : NaN,
        atKeyframe: rs.filter((r) => r.minCounter % (GOP_FRAMES * PER_FRAME) === 0).length,
        n: rs.length,
        mean: got.length ? (got.reduce((a, b) => a + b, 0) / got.length) * 100 : NaN,
        worst: got.length ? Math.min(...got) * 100 : NaN,
      };
    };
    for (const t of ["tcp", "udp"]) {
      const j = joinBy(t);
      report(
        `join: ${t.toUpperCase()} readers' first packet is the GOP's keyframe`,
        j.atKeyframe,
        "readers",
        `of ${j.n}; GOP start -> window received ${j.mean.toFixed(2)} % mean, ${j.worst.toFixed(2)} % worst`,
      );
      report(
        `join: ${t.toUpperCase()} GOP cache burst received, mean`,
        j.burstMean,
        "%",
        `worst ${j.burstWorst.toFixed(2)} %; burst ~${j.burstSize.toFixed(0)} packets on average`,
      );
    }
    report(
      "join: kernel UDP receive-buffer drops (machine-wide)",
      kernelAfterJoin.rcvbufErrors - kernelAtJoin.rcvbufErrors,
      "datagrams",
      `relay fast plane send errors ${
        (afterJoin.metrics.fastPlane["send_error"] ?? 0) -
        (base.metrics.fastPlane["send_error"] ?? 0)
      }; relay drops ${
        Object.entries(afterJoin.metrics.dropped).reduce((a, [k, v]) =>
          a + v - (base.metrics.dropped[k] ?? 0), 0)
      }`,
    );
    report(
      "packets sent per path in the window",
      sentWindow.reduce((a, b) => a + b, 0) / PATHS,
      "packets",
      `${(sentWindow.reduce((a, b) => a + b, 0) / PATHS / seconds).toFixed(0)} pkt/s; ` +
        `${lateFrames} late frames; ${refusedByPublisherQueue} refused by a full publisher queue`,
    );
    report(
      "relay forwarded, all readers",
      (end.metrics.forwarded - afterJoin.metrics.forwarded) / ((end.at - afterJoin.at) / 1000),
      "pkt/s",
      `${
        ((sentWindow.reduce((a, b) => a + b, 0) / PATHS) * (ok.length / seconds) * PACKET_BYTES * 8 / 1e9)
          .toFixed(2)
      } Gbit/s to readers`,
    );
    report(
      "loss, mean over readers",
      lossSorted.reduce((a, b) => a + b, 0) / Math.max(1, lossSorted.length) * 100,
      "%",
      `TCP ${lost("tcp").toFixed(3)} %, UDP ${lost("udp").toFixed(3)} %`,
    );
    report(
      "loss, worst reader",
      worst.loss * 100,
      "%",
      worst.r
        ? `reader ${worst.r.id} (${worst.r.transport}, ${worst.r.path}): ${worst.r.inWindow}/${
          expected(worst.r)
        }`
        : "",
    );
    report("loss, p99 over readers", percentile(lossSorted, 0.99) * 100, "%");
    report(
      "readers with loss > 0.1 %",
      loss.filter((l) => l.loss > 0.001).length,
      "readers",
      `of ${ok.length}`,
    );
    report("packets per reader in the window, min", Math.min(...inWindow), "packets");
    report("packets per reader in the window, max", Math.max(...inWindow), "packets");
    report(
      "worst gap between packets per reader, p50",
      percentile(gaps, 0.5),
      "ms",
      `frames every ${1000 / FPS} ms`,
    );
    report("worst gap between packets per reader, p99", percentile(gaps, 0.99), "ms");
    report(
      "worst gap between packets per reader, max",
      gaps.at(-1) ?? NaN,
      "ms",
      (() => {
        const r = ok.find((x) => x.maxGapMs === gaps.at(-1));
        return r ? `reader ${r.id} (${r.transport}, ${r.path})` : "";
      })(),
    );
    // When the worst gaps happened: many readers of both children at the same second point at the relay; one
    // child's readers alone, at that child's own stall.
    const bySecond = new Map<number, { tcp: number; udp: number; children: Set<number> }>();
    for (const r of ok.filter((x) => x.maxGapMs > 100)) {
      const sec = Math.floor((r.maxGapEndMs - r.maxGapMs - windowStartMs) / 1000);
      const e = bySecond.get(sec) ?? { tcp: 0, udp: 0, children: new Set<number>() };
      e[r.transport]++;
      e.children.add(r.id % PROCS);
      bySecond.set(sec, e);
    }
    const clusters = [...bySecond.entries()].sort((a, b) => (b[1].tcp + b[1].udp) - (a[1].tcp + a[1].udp));
    report(
      "readers whose worst gap exceeds 100 ms",
      clusters.reduce((a, [, e]) => a + e.tcp + e.udp, 0),
      "readers",
      "gap start: " +
        clusters.slice(0, 4).map(([sec, e]) =>
          `${sec} s: ${e.tcp} TCP + ${e.udp} UDP (child ${[...e.children].join(",")})`
        ).join("; "),
    );
    report(
      "control flow (no relay), worst gap",
      Math.max(...reports.map((r) => r.control.maxGapMs)),
      "ms",
      reports.map((r, i) =>
        `child ${i}: ${r.control.maxGapMs.toFixed(0)} ms at ${
          ((r.control.maxGapEndMs - r.control.maxGapMs - windowStartMs) / 1000).toFixed(1)
        } s, loss ${((1 - r.control.inWindow / Math.max(1, sentWindow[0]!)) * 100).toFixed(3)} %`
      ).join("; "),
    );
    report("relay RSS, publishers only", base.rss / MiB, "MiB");
    report(
      "relay RSS, all readers joined",
      afterJoin.rss / MiB,
      "MiB",
      `peak in window ${(rssPeak / MiB).toFixed(1)} MiB`,
    );
    report(
      "relay RSS samples in the window, every 5 s",
      rssSamples.length,
      "samples",
      rssSamples.map((r) => (r / MiB).toFixed(0)).join(" ") + " MiB",
    );
    report("relay RSS, end of window", end.rss / MiB, "MiB");
    report(
      "relay RSS per session",
      (afterJoin.rss - base.rss) / Math.max(1, ok.length) / 1024,
      "KiB",
      `end of window: ${((end.rss - base.rss) / Math.max(1, ok.length) / 1024).toFixed(1)} KiB`,
    );
    report(
      "relay JS heap used, publishers only -> end",
      end.metrics.heapBytes / MiB,
      "MiB",
      `from ${(base.metrics.heapBytes / MiB).toFixed(1)} MiB; joined ${
        (afterJoin.metrics.heapBytes / MiB).toFixed(1)
      } MiB`,
    );
    report(
      "relay CPU",
      relayCpu * 100,
      "% core",
      `${((relayCpu / Math.max(1, ok.length)) * 100).toFixed(3)} % per session`,
    );
    report(
      "relay event-loop lag, worst in window",
      Math.max(end.metrics.lagSeconds * 1000, ...lagSamples),
      "ms",
      `per 5 s: ${lagSamples.map((l) => l.toFixed(0)).join(" ")} ms; /metrics scrape p50 ${
        percentile([...scrapeMs].sort((a, b) => a - b), 0.5).toFixed(0)
      } ms`,
    );
    report(
      "reader processes CPU",
      Math.max(...childCpu) * 100,
      "% core",
      `busiest of ${PROCS}: ${childCpu.map((c) => (c * 100).toFixed(0) + " %").join(", ")}`,
    );
    report(
      "reader processes event-loop lag, worst",
      Math.max(...reports.map((r) => r.lagMaxMs)),
      "ms",
      reports.map((r, i) =>
        `child ${i}: ${r.lagMaxMs.toFixed(0)} ms, ${r.lagEvents.length} stalls > 50 ms` +
        r.lagEvents.slice(0, 3).map(([at, ms]) =>
          ` ${ms} ms at ${((at - windowStartMs) / 1000).toFixed(1)} s`
        )
          .join(",")
      ).join("; "),
    );
    report(
      "publisher pacing stalls > 50 ms",
      pacingStalls.length,
      "",
      pacingStalls.slice(0, 4).map(([at, ms]) =>
        `${ms.toFixed(0)} ms at ${((at - windowStartMs) / 1000).toFixed(1)} s`
      )
        .join(", "),
    );
    report("bench process CPU (publishers)", selfCpu * 100, "% core");
    report(
      "machine CPU busy",
      machineBusy * 100,
      "%",
      `of ${cores} cores; others (not this bench) ${(Math.max(0, others) * 100).toFixed(0)} % of a core`,
    );
    report(
      "kernel UDP receive-buffer drops (machine-wide)",
      cpu1.udp.rcvbufErrors - cpu0.udp.rcvbufErrors,
      "datagrams",
      `UDP InErrors ${cpu1.udp.inErrors - cpu0.udp.inErrors}; softirq backlog drops ${
        cpu1.udp.backlogDrops - cpu0.udp.backlogDrops
      }, budget squeezes ${cpu1.udp.squeezes - cpu0.udp.squeezes}`,
    );
    report(
      "relay ingest probe: GET /api/v1/streams, p99",
      percentile([...ingestProbe.apiMs].sort((a, b) => a - b), 0.99),
      "ms",
      `${ingestProbe.apiMs.length} requests, every ${INGEST_PROBE_MS} ms; max ${
        Math.max(...ingestProbe.apiMs).toFixed(0)
      } ms`,
    );
    // Per path: a stall of the relay's ingest of one publisher shows as one path's readers all losing (UDP) or
    // waiting (TCP) at once.
    console.log(
      "  per path: TCP loss mean / UDP loss min..max / worst gap TCP, UDP / longest ingest stall (relay packetsIn still)",
    );
    for (const p of pubs) {
      const of = (t: string) => loss.filter((l) => l.r.path === p.name && l.r.transport === t);
      const tcp = of("tcp");
      const udp = of("udp");
      const pct = (xs: number[], f: (...v: number[]) => number) =>
        xs.length ? (f(...xs) * 100).toFixed(3) : "-";
      const gap = (xs: typeof tcp) => xs.length ? Math.max(...xs.map((x) => x.r.maxGapMs)).toFixed(0) : "-";
      const stall = longestIngestStall(ingestProbe.samples.get(p.name) ?? []);
      console.log(
        `    ${p.name.padEnd(8)} TCP ${
          pct(tcp.map((x) => x.loss), (...v) => v.reduce((a, b) => a + b, 0) / v.length)
        } %` +
          `  UDP ${pct(udp.map((x) => x.loss), Math.min)}..${pct(udp.map((x) => x.loss), Math.max)} %` +
          `  gap ${gap(tcp)}, ${gap(udp)} ms  ingest stall ${stall.ms.toFixed(0)} ms` +
          (stall.ms > 0 ? ` at ${((stall.at - windowStartMs) / 1000).toFixed(1)} s` : ""),
      );
    }
    const planeDelta = Object.fromEntries(
      Object.entries(end.metrics.fastPlane).map(([k, v]) => [k, v - (afterJoin.metrics.fastPlane[k] ?? 0)]),
    );
    report(
      "relay fast plane send errors",
      Object.entries(planeDelta).filter(([k]) => /err/i.test(k)).reduce((a, [, v]) => a + v, 0),
      "datagrams",
      JSON.stringify(planeDelta),
    );
    report(
      "relay drops (all paths)",
      Object.values(dropDelta).reduce((a, b) => a + b, 0),
      "packets",
      JSON.stringify(dropDelta),
    );
    report(
      "relay refusals",
      Object.values(refusedDelta).reduce((a, b) => a + b, 0),
      "",
      JSON.stringify(refusedDelta),
    );

    // Errors.
    const errors: string[] = [];
    for (const r of failed) {
      errors.push(`reader ${r.id} (${r.transport}, ${r.path}) failed to set up: ${r.error}`);
    }
    for (const f of setups.failed) errors.push(`setup probe failed: ${f}`);
    for (const r of closedEarly) {
      errors.push(
        `reader ${r.id} (${r.transport}, ${r.path}) lost its connection at ${
          (r.closedAtMs / 1000).toFixed(1)
        } s`,
      );
    }
    for (const l of starving) {
      errors.push(
        `reader ${l.r.id} (${l.r.transport}, ${l.r.path}) got ${
          (100 - l.loss * 100).toFixed(2)
        } % of its packets`,
      );
    }
    if (wrongPath) errors.push(`${wrongPath} packets of another path or malformed`);
    if (dupes) errors.push(`${dupes} duplicate packets`);
    for (const c of children) {
      for (const l of c.stderr.slice(0, 5)) errors.push(`reader child ${c.index}: ${l}`);
    }
    for (const l of relayLog.slice(0, 10)) errors.push(`relay: ${l}`);
    console.log(`  errors: ${errors.length === 0 ? "none" : ""}`);
    for (const e of errors.slice(0, 30)) console.log(`    ${e}`);
    if (errors.length > 30) console.log(`    ... ${errors.length - 30} more`);
    if (relayLog.length > 10) console.log(`    ... ${relayLog.length - 10} more relay warnings/errors`);
    const pass = failed.length === 0 && starving.length === 0 && closedEarly.length === 0 &&
      wrongPath === 0 &&
      setups.failed.length === 0;
    console.log(
      `  ${pass ? "PASS" : "FAIL"}: every session set up and every reader got >= 99 % of its packets`,
    );
    exitCode = pass ? 0 : 1;

    await Deno.mkdir(new URL("./", OUTPUT), { recursive: true });
    await Deno.writeTextFile(
      OUTPUT,
      JSON.stringify(
        {
          at: new Date().toISOString(),
          config: { SESSIONS, SECONDS, PATHS, RATE, PROCS, WAVE, DATA_PLANE, relayArgs },
          loadavg: Deno.readTextFileSync("/proc/loadavg").trim(),
          rows: figures.rows,
          errors,
          streams,
          publishers: pubs.map((p) => ({ path: p.name, sent: p.counter, refused: p.refused.length })),
          rssSamples,
          lagSamples,
          pacingStalls,
          ingestProbe: { apiMs: ingestProbe.apiMs, samples: Object.fromEntries(ingestProbe.samples) },
          setupProbe: setups,
          childLag: reports.map((r) => ({ max: r.lagMaxMs, events: r.lagEvents })),
          metrics: { base: base.metrics, afterJoin: afterJoin.metrics, end: end.metrics },
          readers: results,
          control: reports.map((r) => r.control),
        },
        null,
        1,
      ),
    );
  } finally {
    await pacing.stop();
    await Promise.all(children.map((c) => c.close()));
    for (const p of pubs) p.pub.close();
    pubs[0]?.control?.sock.close();
  }
  console.log(`  total ${((performance.now() - started) / 1000).toFixed(0)} s`);
  return exitCode;
}

if (import.meta.main) {
  Deno.exit(await main());
}
