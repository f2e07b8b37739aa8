/**
 * `deno task bench`: early data-plane and end-to-end figures of msm-relay, measured for real and kept honest.
 *
 * a. RTSP parser throughput (src/rtsp/parser.ts): SETUP requests and PLAY responses fed whole and split at
 *    random boundaries, and 1200-byte `$` frames cut into 64 KiB reads.
 * b. In-process fan-out (src/relay/track.ts): `Track.ingestRtp` to 1 and 10 counting egresses, and to 1 and 10
 *    real TCP egresses (InterleavedWriter into a discarding sink).
 * c. Loopback end to end: a relay child process (`deno run main.ts`, as users run it), one publisher
 *    (ANNOUNCE/SETUP/RECORD, TCP interleaved) at a fixed offered rate for 2 s, N TCP-interleaved readers;
 *    delivered/expected per reader and the relay process's CPU time per forwarded packet.
 *
 * Prints a table and writes bench/output/results.json. Every measurement is bounded in time.
 * @module
 */
import { fileURLToPath } from "node:url";
import { cpuSeconds } from "../tests/support/proc_stats.ts";
import type { Egress } from "../src/relay/egress.ts";
import { TcpEgress } from "../src/relay/egress.ts";
import { Track } from "../src/relay/track.ts";
import { setRtpSequence, setRtpTimestamp, writeRtpHeader } from "../src/rtp/packet.ts";
import { type RtspReader, startRtspReader } from "../tests/support/rtsp_peers.ts";
import { InterleavedWriter } from "../src/rtsp/interleaved_writer.ts";
import { RtspHeaders, type RtspResponse } from "../src/rtsp/message.ts";
import { RtspParser } from "../src/rtsp/parser.ts";
import { encodeInterleavedHeader, serializeRequest } from "../src/rtsp/serializer.ts";
import { seededRandom } from "../tests/support/seeded_random.ts";
import { configDefaults } from "../src/config/schema.ts";

const REPO_ROOT = fileURLToPath(new URL("../", import.meta.url));
const OUTPUT_DIR = new URL("./output/", import.meta.url);
const encoder = new TextEncoder();

/** Bytes of every RTP packet used here (12-byte header + 1188 payload), a typical video packet size. */
const RTP_BYTES = 1200;
/** Time given to each micro-benchmark. */
const MICRO_MS = 1000;
/** Seconds each end-to-end run offers packets. */
const E2E_SECONDS = 2;
const SSRC = 0x5eed_1234;
/** The queue bound of a TCP reader, as the relay sets it by default. */
const READER_QUEUE = { maxQueuedBytes: configDefaults().readerQueueBytes };

/** One reported figure. */
interface Row {
  group: string;
  name: string;
  value: number;
  unit: string;
  note?: string;
}

const rows: Row[] = [];
const details: Record<string, unknown> = {};

function report(group: string, name: string, value: number, unit: string, note?: string): void {
  rows.push({ group, name, value, unit, ...(note ? { note } : {}) });
}

/** Builds a 1200-byte RTP packet. */
function rtpPacket(seq: number, ts: number, ssrc = SSRC): Uint8Array {
  const p = new Uint8Array(RTP_BYTES);
  writeRtpHeader(p, 0, { marker: false, payloadType: 96, sequence: seq, timestamp: ts, ssrc });
  for (let i = 12; i < p.length; i++) p[i] = i & 0xff;
  return p;
}

/** Runs `batch()` (which does `n` operations) until `ms` elapsed; returns operations per second. */
function timeLoop(
  ms: number,
  n: number,
  batch: () => void,
): { opsPerSec: number; ops: number; seconds: number } {
  for (let i = 0; i < 20; i++) batch(); // warm-up: let the JIT settle
  let ops = 0;
  const start = performance.now();
  let now = start;
  while (now - start < ms) {
    batch();
    ops += n;
    now = performance.now();
  }
  const seconds = (now - start) / 1000;
  return { opsPerSec: ops / seconds, ops, seconds };
}

// ---------------------------------------------------------------------------------------------------------
// a. RTSP parser

const SETUP_REQUEST = "SETUP rtsp://127.0.0.1:8554/cam1/trackID=0 RTSP/1.0\r\n" +
  "Transport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n" +
  "CSeq: 3\r\n" +
  "User-Agent: Lavf59.27.100\r\n" +
  "\r\n";

const PLAY_RESPONSE = "RTSP/1.0 200 OK\r\n" +
  "CSeq: 5\r\n" +
  "Server: msm-relay\r\n" +
  "Session: 9106f5228f8e42b0;timeout=60\r\n" +
  "Range: npt=0.000-\r\n" +
  "RTP-Info: url=rtsp://127.0.0.1:8554/cam1/trackID=0;seq=41234;rtptime=2939292\r\n" +
  "\r\n";

function benchParserMessages(label: string, text: string): void {
  const bytes = encoder.encode(text);
  const parser = new RtspParser();
  const whole = timeLoop(MICRO_MS, 1000, () => {
    for (let i = 0; i < 1000; i++) {
      parser.push(bytes);
      if (parser.next() === null) throw new Error(`${label}: parser needed more data`);
      if (parser.next() !== null) throw new Error(`${label}: unexpected second event`);
    }
  });
  report("a. parser", `${label}, fed whole`, whole.opsPerSec, "msg/s", `${bytes.length} B each`);

  // Every message split into 3 pieces at random cut points, the parser asked for events after each piece.
  const rand = seededRandom(0x1234); // the same split points on every run
  const variants: Uint8Array[][] = [];
  for (let v = 0; v < 1024; v++) {
    const a = 1 + Math.floor(rand() * (bytes.length - 2));
    const b = a + 1 + Math.floor(rand() * (bytes.length - a - 1));
    variants.push([bytes.subarray(0, a), bytes.subarray(a, b), bytes.subarray(b)]);
  }
  const splitParser = new RtspParser();
  let v = 0;
  const split = timeLoop(MICRO_MS, 1000, () => {
    for (let i = 0; i < 1000; i++) {
      const pieces = variants[v++ & 1023]!;
      let events = 0;
      for (const piece of pieces) {
        splitParser.push(piece);
        while (splitParser.next() !== null) events++;
      }
      if (events !== 1) throw new Error(`${label}: split message gave ${events} events`);
    }
  });
  report("a. parser", `${label}, 3 random pieces`, split.opsPerSec, "msg/s");
}

function benchParserFrames(): void {
  const FRAMES = 1000;
  const frameBytes = RTP_BYTES + 4;
  const stream = new Uint8Array(FRAMES * frameBytes);
  for (let i = 0; i < FRAMES; i++) {
    encodeInterleavedHeader(0, RTP_BYTES, stream, i * frameBytes);
    stream.set(rtpPacket(i, i * 3000), i * frameBytes + 4);
  }
  // The server reads up to 64 KiB at a time: frames straddle read boundaries.
  const chunks: Uint8Array[] = [];
  for (let off = 0; off < stream.length; off += 65536) chunks.push(stream.subarray(off, off + 65536));
  const parser = new RtspParser();
  let sum = 0;
  const r = timeLoop(MICRO_MS, FRAMES, () => {
    let n = 0;
    for (const c of chunks) {
      parser.push(c);
      for (let ev = parser.next(); ev !== null; ev = parser.next()) {
        if (ev.kind === "frame") {
          n++;
          sum += ev.payload.length;
        }
      }
    }
    if (n !== FRAMES) throw new Error(`frame parse gave ${n} frames`);
  });
  report(
    "a. parser",
    "$ frames 1200 B, 64 KiB reads",
    r.opsPerSec,
    "frames/s",
    `${mbps(r.opsPerSec * 1204)} MB/s`,
  );
  if (sum === 0) throw new Error("unreachable");
}

function mbps(bytesPerSec: number): string {
  return (bytesPerSec / 1e6).toFixed(0);
}

// ---------------------------------------------------------------------------------------------------------
// b. In-process fan-out

class CountingEgress implements Egress {
  readonly kind = "tcp" as const;
  readonly id: string;
  packets = 0;
  bytes = 0;
  constructor(id: string) {
    this.id = id;
  }
  sendRtp(packet: Uint8Array): boolean {
    this.packets++;
    this.bytes += packet.length;
    return true;
  }
  sendRtcp(): boolean {
    return true;
  }
}

function benchFanOutCounting(egressCount: number): void {
  const track = new Track({ index: 0, clockRate: 90_000, outputSsrc: SSRC });
  const egresses = Array.from({ length: egressCount }, (_, i) => new CountingEgress(`e${i}`));
  for (const e of egresses) track.addEgress(e);
  const packet = rtpPacket(0, 0);
  let seq = 0;
  const r = timeLoop(MICRO_MS, 1000, () => {
    for (let i = 0; i < 1000; i++) {
      // A fresh packet from the wire would carry the next sequence number; the track rewrites it in place.
      setRtpSequence(packet, ++seq);
      setRtpTimestamp(packet, seq * 3000);
      track.ingestRtp(packet);
    }
  });
  const delivered = egresses.reduce((n, e) => n + e.packets, 0);
  if (delivered < r.ops * egressCount) throw new Error("fan-out lost packets");
  report(
    "b. fan-out",
    `ingestRtp -> ${egressCount} counting egress${egressCount > 1 ? "es" : ""}`,
    r.opsPerSec,
    "pkt/s",
  );
  report("b. fan-out", `  per delivery (${egressCount})`, 1e9 / (r.opsPerSec * egressCount), "ns");
}

/** TCP egresses as the relay builds them: a bounded InterleavedWriter per reader, writing to a sink. */
async function benchFanOutTcp(egressCount: number): Promise<void> {
  let written = 0;
  const sink = { write: (p: Uint8Array) => Promise.resolve((written += p.length, p.length)) };
  const writers = Array.from({ length: egressCount }, () => new InterleavedWriter(sink, READER_QUEUE));
  const track = new Track({ index: 0, clockRate: 90_000, outputSsrc: SSRC });
  writers.forEach((w, i) => track.addEgress(new TcpEgress(`t${i}`, w, [0, 1])));
  const packet = rtpPacket(0, 0);
  let seq = 0;
  const BATCH = 256;
  const runBatch = async () => {
    for (let i = 0; i < BATCH; i++) {
      setRtpSequence(packet, ++seq);
      setRtpTimestamp(packet, seq * 3000);
      track.ingestRtp(packet);
    }
    for (const w of writers) await w.flushed();
  };
  for (let i = 0; i < 20; i++) await runBatch();
  const startWritten = written;
  let ops = 0;
  const start = performance.now();
  let now = start;
  while (now - start < MICRO_MS) {
    await runBatch();
    ops += BATCH;
    now = performance.now();
  }
  const rate = ops / ((now - start) / 1000);
  const dropped = writers.reduce((n, w) => n + w.dropped, 0);
  if (written - startWritten < ops * egressCount * (RTP_BYTES + 4)) throw new Error("tcp fan-out lost bytes");
  report(
    "b. fan-out",
    `ingestRtp -> ${egressCount} TCP egress${egressCount > 1 ? "es" : ""} (frame copy + writer)`,
    rate,
    "pkt/s",
    dropped ? `${dropped} dropped` : undefined,
  );
  report("b. fan-out", `  per delivery (${egressCount}, TCP)`, 1e9 / (rate * egressCount), "ns");
}

// ---------------------------------------------------------------------------------------------------------
// c. Loopback end to end

function freeTcpPort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** A publisher written on the wire layer: it owns its socket so frames go out in order and whole. */
class Publisher {
  readonly #conn: Deno.TcpConn;
  readonly #parser = new RtspParser();
  readonly #buf = new Uint8Array(16 * 1024);
  #cseq = 0;

  private constructor(conn: Deno.TcpConn) {
    this.#conn = conn;
  }

  static async connect(port: number): Promise<Publisher> {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    conn.setNoDelay(true);
    return new Publisher(conn);
  }

  async request(
    method: string,
    url: string,
    headers: Record<string, string>,
    body?: string,
  ): Promise<RtspResponse> {
    const h = new RtspHeaders({ CSeq: String(++this.#cseq), "User-Agent": "msm-bench", ...headers });
    await this.write(
      serializeRequest({
        kind: "request",
        method,
        url,
        headers: h,
        body: body ? encoder.encode(body) : new Uint8Array(0),
      }),
    );
    while (true) {
      const ev = this.#parser.next();
      if (ev?.kind === "response") {
        if (ev.status !== 200) throw new Error(`Publisher ${method} answered ${ev.status} ${ev.reason}`);
        return ev;
      }
      if (ev) continue;
      const n = await this.#conn.read(this.#buf);
      if (n === null) throw new Error(`Publisher connection closed during ${method}`);
      this.#parser.push(this.#buf.subarray(0, n));
    }
  }

  async write(bytes: Uint8Array): Promise<void> {
    let off = 0;
    while (off < bytes.length) off += await this.#conn.write(bytes.subarray(off));
  }

  close(): void {
    try {
      this.#conn.close();
    } catch { /* closed */ }
  }
}

const PUBLISH_SDP = [
  "v=0",
  "o=- 0 0 IN IP4 127.0.0.1",
  "s=msm-bench",
  "c=IN IP4 127.0.0.1",
  "t=0 0",
  "m=video 0 RTP/AVP 96",
  "a=rtpmap:96 H264/90000",
  "a=fmtp:96 packetization-mode=1",
  "a=control:trackID=0",
  "",
].join("\r\n");

interface Reader {
  reader: RtspReader;
  received: number;
}

async function openReader(port: number, path: string): Promise<Reader> {
  const counted: Reader = { reader: null!, received: 0 };
  counted.reader = await startRtspReader(`rtsp://127.0.0.1:${port}/${path}`, {
    transport: "tcp",
    onRtp: () => counted.received++,
  });
  return counted;
}

interface RelayChild {
  pid: number;
  rtspPort: number;
  adminPort: number;
  stop(): Promise<void>;
  log(): string;
}

async function startRelayChild(): Promise<RelayChild> {
  const rtspPort = freeTcpPort();
  const adminPort = freeTcpPort();
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net",
      "--allow-read",
      "--allow-env",
      "--allow-sys",
      "main.ts",
      "--listen",
      "127.0.0.1",
      "--rtsp-port",
      String(rtspPort),
      "--admin-port",
      String(adminPort),
      "--udp-port-range",
      "30000-30199",
      "--no-demo",
      "--linger",
      "0",
      "--log-level",
      "warn",
    ],
    cwd: REPO_ROOT,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let log = "";
  const drain = (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of child.stderr) if (log.length < 64 * 1024) log += decoder.decode(chunk);
  })();
  const deadline = performance.now() + 20_000;
  while (true) {
    try {
      const res = await fetch(`http://127.0.0.1:${adminPort}/readyz`);
      await res.body?.cancel();
      if (res.ok) break;
    } catch { /* not yet listening */ }
    if (performance.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`relay did not become ready:\n${log}`);
    }
    await delay(100);
  }
  return {
    pid: child.pid,
    rtspPort,
    adminPort,
    log: () => log,
    async stop() {
      try {
        child.kill("SIGTERM");
      } catch { /* exited */ }
      const timer = setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch { /* exited */ }
      }, 5000);
      await child.status;
      clearTimeout(timer);
      await drain;
    },
  };
}

function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

interface E2eResult {
  readers: number;
  offeredPps: number;
  sent: number;
  sendSeconds: number;
  delivered: number[];
  lossPercent: { min: number; max: number; mean: number };
  relay: { packetsIn: number; packetsOut: number; dropped: Record<string, number> } | null;
  relayCpuSeconds: number;
  relayCpuPercent: number;
  relayCpuUsPerForwarded: number;
  relayCpuUsPerIngested: number;
  benchCpuPercent: number;
}

/** One run: publisher + N readers on a fresh path, packets at `pps` for `seconds`. */
async function e2eRun(
  relay: RelayChild,
  path: string,
  readers: number,
  pps: number,
  seconds: number,
): Promise<E2eResult> {
  const base = `rtsp://127.0.0.1:${relay.rtspPort}/${path}`;
  const pub = await Publisher.connect(relay.rtspPort);
  await pub.request("ANNOUNCE", base, { "Content-Type": "application/sdp" }, PUBLISH_SDP);
  const setup = await pub.request("SETUP", `${base}/trackID=0`, {
    Transport: "RTP/AVP/TCP;unicast;interleaved=0-1;mode=record",
  });
  const session = (setup.headers.get("Session") ?? "").split(";")[0]!;
  await pub.request("RECORD", base, { Session: session, Range: "npt=0.000-" });
  const rs = await Promise.all(Array.from({ length: readers }, () => openReader(relay.rtspPort, path)));

  // Pre-built frames; each tick sends the packets that are due as one write.
  const total = Math.round(pps * seconds);
  const frame = RTP_BYTES + 4;
  const maxBatch = Math.max(64, Math.ceil(pps / 50));
  const batchBuf = new Uint8Array(maxBatch * frame);
  const template = rtpPacket(0, 0, 0x0badcafe);
  for (let i = 0; i < maxBatch; i++) {
    encodeInterleavedHeader(0, RTP_BYTES, batchBuf, i * frame);
    batchBuf.set(template, i * frame + 4);
  }
  const relayCpu0 = cpuSeconds(relay.pid);
  const benchCpu0 = cpuSeconds("self");
  const t0 = performance.now();
  let sent = 0;
  while (sent < total) {
    const due = Math.min(total, Math.floor(((performance.now() - t0) / 1000) * pps));
    const n = Math.min(due - sent, maxBatch);
    if (n <= 0) {
      await delay(1);
      continue;
    }
    for (let i = 0; i < n; i++) {
      const p = batchBuf.subarray(i * frame + 4, (i + 1) * frame);
      setRtpSequence(p, sent + i);
      setRtpTimestamp(p, Math.floor(((sent + i) * 90_000) / pps));
      // Single-NAL H.264 payloads: an IDR slice once per second of packets, non-IDR slices otherwise, so the
      // relay's per-packet work (keyframe check, GOP cache) is what a real 1 s GOP costs.
      p[12] = (sent + i) % pps === 0 ? 0x65 : 0x41;
    }
    await pub.write(batchBuf.subarray(0, n * frame));
    sent += n;
  }
  const sendSeconds = (performance.now() - t0) / 1000;
  // Let queues drain: stop when every reader has everything or nothing moved for 300 ms (max 3 s).
  let last = -1;
  let still = 0;
  const drainDeadline = performance.now() + 3000;
  while (performance.now() < drainDeadline) {
    const got = rs.reduce((n, r) => n + r.received, 0);
    if (got >= total * readers) break;
    if (got === last) {
      if (++still >= 6) break;
    } else still = 0;
    last = got;
    await delay(50);
  }
  const wall = (performance.now() - t0) / 1000;
  const relayCpu = cpuSeconds(relay.pid) - relayCpu0;
  const benchCpu = cpuSeconds("self") - benchCpu0;

  let relayView: E2eResult["relay"] = null;
  try {
    const res = await fetch(`http://127.0.0.1:${relay.adminPort}/api/v1/streams/${path}`);
    if (res.ok) {
      const j = await res.json() as {
        tracks: Array<{ packetsIn: number; packetsOut: number; dropped: Record<string, number> }>;
      };
      const t = j.tracks[0];
      if (t) relayView = { packetsIn: t.packetsIn, packetsOut: t.packetsOut, dropped: t.dropped };
    } else await res.body?.cancel();
  } catch { /* admin unreachable: reported as null */ }

  pub.close();
  for (const r of rs) await r.reader.close();
  await delay(100);

  const delivered = rs.map((r) => r.received);
  const losses = delivered.map((d) => 100 * (1 - d / total));
  const forwarded = delivered.reduce((a, b) => a + b, 0);
  return {
    readers,
    offeredPps: pps,
    sent,
    sendSeconds,
    delivered,
    lossPercent: {
      min: Math.min(...losses),
      max: Math.max(...losses),
      mean: losses.reduce((a, b) => a + b, 0) / losses.length,
    },
    relay: relayView,
    relayCpuSeconds: relayCpu,
    relayCpuPercent: (100 * relayCpu) / wall,
    relayCpuUsPerForwarded: forwarded ? (relayCpu * 1e6) / forwarded : NaN,
    relayCpuUsPerIngested: sent ? (relayCpu * 1e6) / sent : NaN,
    benchCpuPercent: (100 * benchCpu) / wall,
  };
}

async function benchE2e(): Promise<void> {
  const relay = await startRelayChild();
  const results: E2eResult[] = [];
  try {
    await e2eRun(relay, "warmup", 2, 2000, 0.5); // JIT warm-up of the relay's hot path, not reported
    const idle0 = cpuSeconds(relay.pid);
    const idleT0 = performance.now();
    await delay(1000);
    const idlePercent = (100 * (cpuSeconds(relay.pid) - idle0)) / ((performance.now() - idleT0) / 1000);
    details.relayIdleCpuPercent = idlePercent;
    report("c. loopback e2e", "relay idle (no stream)", idlePercent, "% of a core", "timers, admin, GC");
    let k = 0;
    for (const readers of [1, 10]) {
      for (const pps of [2000, 10_000]) {
        const r = await e2eRun(relay, `bench${k++}`, readers, pps, E2E_SECONDS);
        results.push(r);
        const tag = `${readers} reader${readers > 1 ? "s" : ""} @ ${pps} pkt/s`;
        const drops = r.relay ? Object.entries(r.relay.dropped).filter(([, v]) => v > 0) : [];
        report(
          "c. loopback e2e",
          `${tag}: delivered`,
          r.delivered.reduce((a, b) => a + b, 0) / (r.sent * readers) * 100,
          "% of sent",
          `${r.sent} sent; worst reader loss ${r.lossPercent.max.toFixed(2)} %` +
            (drops.length ? `; relay drops ${drops.map(([k, v]) => `${k}=${v}`).join(",")}` : ""),
        );
        report(
          "c. loopback e2e",
          `${tag}: relay CPU`,
          r.relayCpuPercent,
          "% of a core",
          `bench ${r.benchCpuPercent.toFixed(0)} %`,
        );
        report("c. loopback e2e", `${tag}: relay CPU / forwarded pkt`, r.relayCpuUsPerForwarded, "µs");
      }
    }
  } finally {
    await relay.stop();
  }
  details.e2e = results;
  if (/"level":"(error|warn)"/.test(relay.log())) {
    details.relayWarnings = relay.log().split("\n").slice(0, 20);
  }
}

// ---------------------------------------------------------------------------------------------------------

function machine(): Record<string, unknown> {
  let cpu = "unknown";
  try {
    cpu = /model name\s*:\s*(.+)/.exec(Deno.readTextFileSync("/proc/cpuinfo"))?.[1]?.trim() ?? cpu;
  } catch { /* not Linux */ }
  return {
    cpu,
    cores: navigator.hardwareConcurrency,
    os: `${Deno.build.os} ${Deno.osRelease()}`,
    deno: Deno.version.deno,
    v8: Deno.version.v8,
    date: new Date().toISOString(),
  };
}

function fmtValue(v: number): string {
  if (!Number.isFinite(v)) return "n/a";
  if (Math.abs(v) >= 1e6) return `${(v / 1e6).toFixed(2)} M`;
  if (Math.abs(v) >= 1e4) return `${(v / 1e3).toFixed(1)} k`;
  if (Math.abs(v) >= 100) return v.toFixed(0);
  return v.toFixed(2);
}

function printTable(facts: Record<string, unknown>): void {
  console.log(`msm-relay bench — ${facts.cpu}, ${facts.cores} cores, ${facts.os}, deno ${facts.deno}`);
  const nameW = Math.max(...rows.map((r) => r.name.length), 10);
  let group = "";
  for (const r of rows) {
    if (r.group !== group) {
      group = r.group;
      console.log(`\n${group}`);
    }
    console.log(
      `  ${r.name.padEnd(nameW)}  ${fmtValue(r.value).padStart(10)} ${r.unit.padEnd(11)}${
        r.note ? `  ${r.note}` : ""
      }`,
    );
  }
}

async function main(): Promise<void> {
  const facts = machine();
  const started = performance.now();

  benchParserMessages("SETUP request", SETUP_REQUEST);
  benchParserMessages("PLAY response", PLAY_RESPONSE);
  benchParserFrames();
  benchFanOutCounting(1);
  benchFanOutCounting(10);
  await benchFanOutTcp(1);
  await benchFanOutTcp(10);
  await benchE2e();

  facts.benchSeconds = Number(((performance.now() - started) / 1000).toFixed(1));
  printTable(facts);
  await Deno.mkdir(OUTPUT_DIR, { recursive: true });
  const out = new URL("results.json", OUTPUT_DIR);
  await Deno.writeTextFile(out, JSON.stringify({ machine: facts, results: rows, details }, null, 2) + "\n");
  console.log(`\nwrote ${fileURLToPath(out)} in ${facts.benchSeconds} s`);
}

if (import.meta.main) await main();
