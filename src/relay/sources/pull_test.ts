/**
 * Tests of the pull source's shell against an in-process fake camera, with real sockets and timers: the RTCP
 * receiver reports it sends a camera over UDP and over TCP, the fall back to TCP when no RTP comes over UDP, a
 * silent UDP camera noticed through the tracks' counters, the TEARDOWN of a stop, and how it retries a camera
 * that is down (faster while readers wait, backoff starting over once the camera played, one warning per
 * outage). The decisions themselves are tested event by event in `pull_machine*_test.ts`.
 * @module
 */
import { deepStrictEqual as assertEquals, equal, ok } from "node:assert/strict";
import { createLogger, silentLogger } from "../../log.ts";
import { writeRtpHeader } from "../../rtp/packet.ts";
import {
  forEachRtcpPacket,
  marshalSenderReport,
  ntpMiddle32,
  parseReceiverReport,
  type ReportBlock,
  RTCP_RR,
  RTCP_SDES,
  senderReportSize,
} from "../../rtp/rtcp.ts";
import { PortPairAllocator } from "../port_allocator.ts";
import { udpPortPairs } from "../udp_pair.ts";
import { Stream } from "../stream.ts";
import { PullSource } from "./pull.ts";
import { configDefaults } from "../../config/schema.ts";

// ---------------------------------------------------------------------------------------------------------------
// RTCP receiver reports to the camera, against an in-process fake camera.

const HOST = "127.0.0.1";
const CAM_SSRC = 0xca3e0001;
const enc = new TextEncoder();
const dec = new TextDecoder();

/** One H.264 RTP packet from the camera. */
function camRtp(seq: number): Uint8Array {
  const p = new Uint8Array(14);
  writeRtpHeader(p, 0, {
    marker: true,
    payloadType: 96,
    sequence: seq,
    timestamp: seq * 3600,
    ssrc: CAM_SSRC,
  });
  p[12] = 0x41;
  return p;
}

/** The camera's sender report at a known NTP time. */
function camSr(): Uint8Array {
  const sr = new Uint8Array(senderReportSize(0));
  marshalSenderReport(sr, 0, {
    ssrc: CAM_SSRC,
    ntpSec: 0xe000_1234,
    ntpFrac: 0x5678_0000,
    rtpTimestamp: 0,
    packetCount: 1,
    octetCount: 1,
    reports: [],
  });
  return sr;
}

/**
 * A minimal RTSP camera: DESCRIBE, SETUP (UDP with server ports, or TCP answering interleaved=4-5 whatever was
 * offered), PLAY, GET_PARAMETER, TEARDOWN. After PLAY it sends packets 1..40 without 10 and 20, and an SR after
 * packet 5 (over UDP only when `sendUdp`); it collects every RTCP compound the relay sends it, and the requests.
 */
class FakeCamera {
  readonly listener: Deno.TcpListener;
  readonly rtp = Deno.listenDatagram({ transport: "udp", hostname: HOST, port: 0 });
  readonly rtcp = Deno.listenDatagram({ transport: "udp", hostname: HOST, port: 0 });
  readonly received: Array<{ via: "udp" | "tcp"; channel?: number; from?: number; packet: Uint8Array }> = [];
  /** Requests received, as `METHOD` or `METHOD session`. */
  readonly requests: string[] = [];
  /** When the last media packet went out (performance.now()). */
  lastSentAt = 0;
  readonly #sendUdp: boolean;
  readonly #tasks: Promise<unknown>[] = [];
  #conn: Deno.Conn | null = null;
  #closed = false;

  /**
   * @param options.port the RTSP port (a camera coming back where it was) @default any free port
   * @param options.sendUdp whether media goes out over UDP when set up so @default true
   */
  constructor(options: { port?: number; sendUdp?: boolean } = {}) {
    this.listener = Deno.listen({ hostname: HOST, port: options.port ?? 0 });
    this.#sendUdp = options.sendUdp ?? true;
    this.#tasks.push(this.#accept(), this.#udpRtcp());
  }

  get url(): string {
    return `rtsp://${HOST}:${(this.listener.addr as Deno.NetAddr).port}/cam`;
  }

  async #accept(): Promise<void> {
    for await (const conn of this.listener) {
      this.#conn = conn;
      await this.#serve(conn).catch(() => {});
    }
  }

  async #udpRtcp(): Promise<void> {
    while (!this.#closed) {
      try {
        const [packet, from] = await this.rtcp.receive();
        this.received.push({ via: "udp", from: (from as Deno.NetAddr).port, packet });
      } catch {
        return;
      }
    }
  }

  async #serve(conn: Deno.Conn): Promise<void> {
    let buf = new Uint8Array(0);
    const chunk = new Uint8Array(4096);
    let client: { rtp: number } | null = null;
    let tcp = false;
    while (true) {
      const n = await conn.read(chunk);
      if (n === null) return;
      const joined = new Uint8Array(buf.length + n);
      joined.set(buf);
      joined.set(chunk.subarray(0, n), buf.length);
      buf = joined;
      while (buf.length > 0) {
        if (buf[0] === 0x24) { // an interleaved frame from the relay
          if (buf.length < 4) break;
          const len = (buf[2]! << 8) | buf[3]!;
          if (buf.length < 4 + len) break;
          this.received.push({ via: "tcp", channel: buf[1]!, packet: buf.slice(4, 4 + len) });
          buf = buf.slice(4 + len);
          continue;
        }
        const text = dec.decode(buf);
        const end = text.indexOf("\r\n\r\n");
        if (end < 0) break;
        buf = buf.slice(enc.encode(text.slice(0, end + 4)).length);
        const lines = text.slice(0, end).split("\r\n");
        const method = lines[0]!.split(" ")[0];
        const header = (name: string) =>
          lines.find((l) => l.toLowerCase().startsWith(name.toLowerCase() + ":"))?.split(":").slice(1).join(
            ":",
          )
            .trim();
        const cseq = header("CSeq");
        const session = header("Session");
        this.requests.push(session ? `${method} ${session}` : `${method}`);
        let extra = "";
        let body = "";
        if (method === "DESCRIBE") {
          body = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=cam\r\nt=0 0\r\nm=video 0 RTP/AVP 96\r\n" +
            "a=rtpmap:96 H264/90000\r\na=control:trackID=0\r\n";
          extra = `Content-Base: ${this.url}/\r\nContent-Type: application/sdp\r\n`;
        } else if (method === "SETUP") {
          const transport = header("Transport")!;
          const m = transport.match(/client_port=(\d+)-(\d+)/);
          tcp = m === null;
          if (m) client = { rtp: Number(m[1]) };
          const ports = `${(this.rtp.addr as Deno.NetAddr).port}-${(this.rtcp.addr as Deno.NetAddr).port}`;
          extra = `Session: 1234;timeout=60\r\nTransport: ${
            tcp
              ? "RTP/AVP/TCP;unicast;interleaved=4-5"
              : `RTP/AVP;unicast;client_port=${m![1]}-${m![2]};server_port=${ports}`
          }\r\n`;
        } else if (method === "PLAY" || method === "GET_PARAMETER" || method === "TEARDOWN") {
          extra = "Session: 1234\r\n";
        }
        const bytes = enc.encode(body);
        await writeAll(
          conn,
          enc.encode(
            `RTSP/1.0 200 OK\r\nCSeq: ${cseq}\r\n${extra}Content-Length: ${bytes.length}\r\n\r\n${body}`,
          ),
        );
        if (method === "PLAY") this.#tasks.push(this.#stream(conn, tcp, client));
      }
    }
  }

  async #stream(conn: Deno.Conn, tcp: boolean, client: { rtp: number } | null): Promise<void> {
    for (let seq = 1; seq <= 40 && !this.#closed; seq++) {
      await new Promise((r) => setTimeout(r, 5));
      if (seq === 10 || seq === 20) continue;
      const packets: Array<[number, Uint8Array]> = [[0, camRtp(seq)]];
      if (seq === 5) packets.push([1, camSr()]);
      for (const [rtcp, p] of packets) {
        try {
          if (tcp) await writeAll(conn, frame(rtcp ? 5 : 4, p));
          else if (!this.#sendUdp) continue;
          else if (!rtcp) await this.rtp.send(p, { transport: "udp", hostname: HOST, port: client!.rtp });
          else await this.rtcp.send(p, { transport: "udp", hostname: HOST, port: client!.rtp + 1 });
          this.lastSentAt = performance.now();
        } catch {
          return;
        }
      }
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.listener.close();
    this.rtp.close();
    this.rtcp.close();
    try {
      this.#conn?.close();
    } catch { /* closed by the relay */ }
    await Promise.allSettled(this.#tasks);
  }
}

function frame(channel: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + payload.length);
  out.set([0x24, channel, payload.length >> 8, payload.length & 0xff]);
  out.set(payload, 4);
  return out;
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let off = 0;
  while (off < bytes.length) off += await conn.write(bytes.subarray(off));
}

/** The report blocks and CNAME of an RR compound. */
function readRr(packet: Uint8Array): { ssrc: number; blocks: ReportBlock[]; types: number[] } {
  const types: number[] = [];
  let ssrc = -1;
  let blocks: ReportBlock[] = [];
  ok(forEachRtcpPacket(packet, (type, pkt) => {
    types.push(type);
    if (type === RTCP_RR) {
      const rr = parseReceiverReport(pkt)!;
      ssrc = rr.ssrc;
      blocks = [...rr.reports];
    }
  }));
  return { ssrc, blocks, types };
}

for (const transport of ["udp", "tcp"] as const) {
  Deno.test(`PullSource sends the camera RTCP receiver reports with loss and LSR/DLSR over ${transport}`, async () => {
    const camera = new FakeCamera();
    const base = 41_000 + 2 * Math.floor(Math.random() * 1000);
    const stream = new Stream({
      path: "cam",
      kind: "pull",
      logger: silentLogger,
      bindPair: udpPortPairs(HOST, new PortPairAllocator(base, base + 7)),
      lingerSeconds: 0,
      gopCacheBytes: 0,
      maxTracks: configDefaults().maxTracksPerStream,
      onIdle: () => {},
    });
    const source = new PullSource({
      stream,
      url: camera.url,
      transport,
      authSchemes: configDefaults().pullAuth,
      logger: silentLogger,
      rtcpIntervalMs: 400,
      cname: "relay-test",
    });
    stream.source = source;
    try {
      source.start();
      const deadline = Date.now() + 5000;
      // The camera's 40 packets take ~0.25 s; the first report goes 0.2 s after PLAY, the next 0.4 s later.
      const reports = () => camera.received.filter((r) => readRr(r.packet).blocks.length > 0);
      while (Date.now() < deadline && !reports().some((r) => readRr(r.packet).blocks[0]!.highestSeq === 40)) {
        await new Promise((r) => setTimeout(r, 20));
      }
      const got = reports();
      ok(got.length > 0, `no report with a block: ${JSON.stringify(camera.received.map((r) => r.via))}`);
      const last = got.find((r) => readRr(r.packet).blocks[0]!.highestSeq === 40)!;
      ok(last, "a report after the last packet");
      const rr = readRr(last.packet);
      assertEquals(rr.types, [RTCP_RR, RTCP_SDES]);
      ok(rr.ssrc !== CAM_SSRC);
      const block = rr.blocks[0]!;
      equal(block.ssrc, CAM_SSRC);
      equal(block.cumulativeLost, 2); // 10 and 20
      equal(block.lsr, ntpMiddle32(0xe000_1234, 0x5678_0000));
      ok(block.dlsr > 0 && block.dlsr < 65536 * 5, `dlsr ${block.dlsr}`);
      if (transport === "udp") {
        equal(last.via, "udp");
        equal(last.from, stream.pairOf(0)!.rtcpPort, "from the track's RTCP port");
      } else {
        equal(last.via, "tcp");
        equal(last.channel, 5, "on the RTCP channel the camera answered");
      }
      equal(stream.tracks[0]!.counters.packetsIn, 38);
      ok((source.info().receiverReportsSent as number) >= 1);
    } finally {
      await stream.close();
      await camera.close();
    }
  });
}

// ---------------------------------------------------------------------------------------------------------------
// An unreachable camera: retry cadence, backoff reset, logs.

interface PullLog {
  level: string;
  msg: string;
  url?: string;
  retryInMs?: number;
  afterFailures?: number;
  failures?: number;
  error?: string;
  /** When the line was written (performance.now()). */
  at: number;
}

function pullHarness(url: string, options: Partial<ConstructorParameters<typeof PullSource>[0]> = {}) {
  const logs: PullLog[] = [];
  const streamLogs: Array<PullLog & { state?: string }> = [];
  const base = 43_000 + 2 * Math.floor(Math.random() * 1000);
  const stream = new Stream({
    path: "cam",
    kind: "pull",
    logger: createLogger({ write: (l) => streamLogs.push(JSON.parse(l)) }),
    bindPair: udpPortPairs(HOST, new PortPairAllocator(base, base + 7)),
    lingerSeconds: 0,
    gopCacheBytes: 0,
    maxTracks: configDefaults().maxTracksPerStream,
    onIdle: () => {},
  });
  const source = new PullSource({
    stream,
    url,
    transport: "tcp",
    authSchemes: configDefaults().pullAuth,
    logger: createLogger({
      level: "debug",
      write: (l) => logs.push({ ...JSON.parse(l), at: performance.now() }),
    }),
    ...options,
  });
  stream.source = source;
  return { stream, source, logs, streamLogs };
}

/** A port where nothing listens (connections are refused). */
function closedPort(): number {
  const l = Deno.listen({ hostname: HOST, port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

Deno.test("PullSource retries a down camera at most waitingRetryMs apart while a reader waits, and at once for a new reader", async () => {
  const h = pullHarness(`rtsp://${HOST}:${closedPort()}/cam`, {
    backoffInitialMs: 400,
    backoffMaxMs: 10_000,
    waitingRetryMs: 100,
  });
  const failures = () =>
    h.logs.filter((l) => l.msg.startsWith("camera") && l.msg.includes("unreachable")).length;
  try {
    h.source.start();
    // Nobody waits: attempts at 0, 400, 1200 ms...
    await new Promise((r) => setTimeout(r, 700));
    const alone = failures();
    ok(alone >= 1 && alone <= 2, `${alone} attempts in 0.7 s without readers`);
    // A reader arrives (retain() starts the source again) and waits: the pending 800 ms backoff is cut short,
    // then attempts come every 100 ms.
    const waited = h.stream.whenReady(700).then(() => new Error("ready?"), (e: Error) => e);
    h.source.start();
    const t0 = performance.now();
    await waitForCondition(() => failures() > alone, 1000);
    const firstRetry = performance.now() - t0;
    ok(firstRetry < 150, `the new reader's retry came after ${Math.round(firstRetry)} ms`);
    const err = await waited;
    const during = failures() - alone;
    ok(during >= 5, `${during} attempts while a reader waited 0.7 s`);
    ok(/not ready after 700 ms: .*refused/i.test(err.message), err.message);
    equal(h.stream.state, "error");
    // One warning for the whole outage; the retries are debug.
    equal(h.logs.filter((l) => l.level === "warn").length, 1, JSON.stringify(h.logs));
    // The state went connecting -> error once, not once per retry.
    assertEquals(h.streamLogs.map((l) => l.state), ["connecting", "error"]);
  } finally {
    await h.stream.close();
  }
});

Deno.test("PullSource starts its backoff over once the camera played stableMs, and logs the outage once without credentials", async () => {
  const port = closedPort();
  const h = pullHarness(`rtsp://viewer:s3cret@${HOST}:${port}/cam`, {
    backoffInitialMs: 40,
    backoffMaxMs: 10_000,
    stableMs: 100,
    mediaTimeoutMs: 400,
  });
  let camera: FakeCamera | null = null;
  try {
    h.source.start();
    // Down at first: attempts after 40, 80, 160 ms... grow the backoff.
    await waitForCondition(() => h.logs.filter((l) => l.msg.includes("unreachable")).length >= 4, 3000);
    camera = new FakeCamera({ port });
    await waitForCondition(() => h.stream.state === "ready", 5000);
    const playing = h.logs.find((l) => l.msg === "camera session playing")!;
    ok(playing.afterFailures! >= 4, JSON.stringify(playing));
    equal(h.source.info().failures, 0);
    // The camera sends its 40 packets then falls silent: the session ends after mediaTimeoutMs, having played
    // longer than stableMs, so the next attempt comes after the first delay again, not after 640 ms or more.
    await waitForCondition(() => h.logs.some((l) => l.msg === "camera session ended; reconnecting"), 3000);
    const ended = h.logs.find((l) => l.msg === "camera session ended; reconnecting")!;
    equal(ended.retryInMs, 40);
    const failed = h.logs.filter((l) => l.msg.includes("unreachable"));
    assertEquals(failed.slice(0, 4).map((l) => [l.level, l.retryInMs]), [
      ["warn", 40],
      ["debug", 80],
      ["debug", 160],
      ["debug", 320],
    ]);
    equal(failed[0]!.msg, "camera unreachable; retrying with backoff");
    equal(failed[0]!.url, `rtsp://viewer:***@${HOST}:${port}/cam`);
    ok(!JSON.stringify(h.logs).includes("s3cret"), "no password in the logs");
  } finally {
    await h.stream.close();
    await camera?.close();
  }
});

Deno.test("PullSource falls back to TCP when a camera sends no RTP over UDP (auto)", async () => {
  const camera = new FakeCamera({ sendUdp: false });
  const h = pullHarness(camera.url, { transport: "auto", udpFallbackMs: 300 });
  try {
    h.source.start();
    await waitForCondition(() => h.stream.tracks[0]?.counters.packetsIn === 38, 5000);
    equal(h.source.info().transport, "tcp");
    assertEquals(
      h.logs.filter((l) => l.level !== "debug").map((l) => l.msg),
      ["camera session playing", "no RTP over UDP, falling back to TCP", "camera session playing"],
    );
    // One SETUP offered UDP client ports, the next (on a new connection) interleaved channels.
    equal(camera.requests.filter((r) => r.startsWith("SETUP")).length, 2);
  } finally {
    await h.stream.close();
    await camera.close();
  }
});

Deno.test("PullSource ends a silent UDP session mediaTimeoutMs after the camera's last packet", async () => {
  const camera = new FakeCamera();
  // 1.5 s: the fake camera sends from this process every 5 ms, and a loaded machine can stall it for longer than
  // a shorter timeout (a parallel run at load 17 ended the session after 18 of 38 packets with 400 ms).
  const h = pullHarness(camera.url, { transport: "udp", mediaTimeoutMs: 1500, backoffInitialMs: 5000 });
  try {
    h.source.start();
    await waitForCondition(() => h.logs.some((l) => l.msg === "camera session ended; reconnecting"), 10_000);
    const ended = h.logs.find((l) => l.msg === "camera session ended; reconnecting")!;
    equal(h.stream.tracks[0]!.counters.packetsIn, 38);
    ok(/^No media from the camera for \d+ s$/.test(ended.error!), ended.error);
    // The deadline counts from the last packet the track took, never from an earlier look at the counters.
    ok(
      ended.at - camera.lastSentAt >= 1500 - 1,
      `ended ${Math.round(ended.at - camera.lastSentAt)} ms after the last packet`,
    );
  } finally {
    await h.stream.close();
    await camera.close();
  }
});

Deno.test("PullSource.stop() tears the camera session down and closes its connection", async () => {
  const camera = new FakeCamera();
  const h = pullHarness(camera.url);
  try {
    h.source.start();
    await waitForCondition(() => h.stream.state === "ready", 5000);
    await h.source.stop();
    assertEquals(camera.requests, ["DESCRIBE", "SETUP", "PLAY 1234", "TEARDOWN 1234"]);
    equal(h.source.info().transport, null);
    h.source.start(); // stopped for good
    await new Promise((r) => setTimeout(r, 50));
    equal(camera.requests.length, 4);
  } finally {
    await h.stream.close();
    await camera.close();
  }
});

async function waitForCondition(cond: () => boolean, ms: number): Promise<void> {
  const deadline = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > deadline) throw new Error(`condition not met within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
