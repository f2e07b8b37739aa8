/**
 * Sustained, randomized bad input at a live relay while readers read (the randomized sibling of
 * relay_bad_input_test.ts). A publisher sends the demo clip as RTP over UDP, numbered by its packetizer; two
 * readers of our own (UDP and TCP) and ffmpeg (TCP, decoding to framemd5) read it. Meanwhile a seeded fuzzer
 * opens many TCP connections with mutated and generated RTSP (tests/support/mutator.ts and fuzz_targets.ts),
 * and sprays mutated RTP/RTCP and random datagrams at the relay's RTP/RTCP server ports (from an address the
 * relay knows as a reader and from one it does not) and mesh frames at its mesh port.
 *
 * Then: every reader got every packet (one gapless run, payloads byte for byte), ffmpeg decoded exactly the
 * frames it asked for, each identical to the clip's; the relay refused bad requests with 4xx (no 500), stayed up
 * and serves a new reader; its counters show the refusals and the dropped datagrams. `MSM_FUZZ_SEED` replays a
 * run; the seed is printed.
 * @module
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import fc from "fast-check";
import { H264Packetizer, nalType, splitAnnexB } from "../src/rtp/h264.ts";
import { rtpSequence } from "../src/rtp/packet.ts";
import { decodeMeshPacket } from "../src/cluster/mesh_frame.ts";
import { RtspParser } from "../src/rtsp/parser.ts";
import { accessUnits, demoSdp } from "../src/relay/sources/demo.ts";
import { meshCorpus, rtcpCorpus, rtpCorpus, rtspArbitrary } from "./support/fuzz_targets.ts";
import { BINARY_SPECIAL_BYTES, hex, mutate, RTSP_CORPUS } from "./support/mutator.ts";
import { seededRandom } from "./support/seeded_random.ts";
import {
  delay,
  DEMO_H264,
  freePort,
  freePortPair,
  raceTimeout,
  runCommand,
  spawnProcess,
} from "./support/processes.ts";
import { RawRtspConnection } from "./support/raw_rtsp.ts";
import { startRelayProcess } from "./support/relay.ts";
import { startRtspPublisher, startRtspReader } from "./support/rtsp_peers.ts";
import { parsePrometheus, type PromFamily } from "./support/prometheus.ts";

const PATH = "witness";
const FPS = 25;
/** Frames the publisher sends (10 s); the fuzzer runs from FUZZ_FROM to FUZZ_TO. */
const FRAMES = 250;
const FUZZ_FROM = 10;
const FUZZ_TO = 200;
/** ffmpeg decodes this many frames (`-frames:v`) and stops: 9.6 s of the 10 s published. */
const FFMPEG_FRAMES = 240;
/** Concurrent fuzzing TCP connections. */
const TCP_WORKERS = 6;

const enc = new TextEncoder();

/** What one of our readers received: output sequence numbers and payload copies. */
interface Received {
  seqs: number[];
  payloads: Uint8Array[];
}

function receiver(): { got: Received; onRtp: (p: Uint8Array) => void } {
  const got: Received = { seqs: [], payloads: [] };
  return { got, onRtp: (p) => (got.seqs.push(rtpSequence(p)), got.payloads.push(p.slice(12))) };
}

/** Sums the samples of a family whose labels match `pred`. */
function sum(
  families: ReadonlyMap<string, PromFamily>,
  name: string,
  pred: (l: Record<string, string>) => boolean,
) {
  return (families.get(name)?.samples ?? []).filter((s) => pred(s.labels)).reduce((n, s) => n + s.value, 0);
}

/** The relay's statuses to fuzzed connections, and how the connections ended. */
interface TcpTally {
  connections: number;
  bytesSent: number;
  statuses: Map<number, number>;
  closedByRelay: number;
  silent: number;
  writeErrors: number;
  /** Bytes from the relay its own parser could not read (must stay 0). */
  unparsable: string[];
  /** Inputs that drew a 500, with their hex. */
  internalErrors: string[];
}

/** Sends one fuzz input on a fresh connection in 1-3 pieces, then collects answers until idle or closed. */
async function fuzzConnection(
  port: number,
  input: Uint8Array,
  r: () => number,
  tally: TcpTally,
): Promise<void> {
  let conn: Deno.TcpConn;
  try {
    conn = await Deno.connect({ hostname: "127.0.0.1", port });
  } catch {
    return;
  }
  tally.connections++;
  const parser = new RtspParser();
  const buf = new Uint8Array(64 * 1024);
  let closed = false;
  let answered = false;
  const statuses: number[] = [];
  const drain = () => {
    try {
      for (let ev = parser.next(); ev !== null; ev = parser.next()) {
        if (ev.kind === "response") {
          statuses.push(ev.status);
          answered = true;
        }
      }
    } catch (e) {
      tally.unparsable.push(`${e} after input ${hex(input, 512)}`);
      closed = true;
    }
  };
  const read = async (idleMs: number) => {
    while (!closed) {
      const n = await raceTimeout(conn.read(buf).catch(() => null).then((n) => n ?? -1), idleMs);
      if (n === null) return; // idle
      if (n < 0) {
        closed = true;
        tally.closedByRelay++;
        return;
      }
      parser.push(buf.subarray(0, n));
      drain();
    }
  };
  try {
    const pieces = 1 + Math.floor(r() * 3);
    let off = 0;
    for (let k = 0; k < pieces && off < input.length && !closed; k++) {
      const end = k === pieces - 1 ? input.length : off + Math.floor(r() * (input.length - off + 1));
      try {
        let w = off;
        while (w < end) w += await conn.write(input.subarray(w, end));
        tally.bytesSent += end - off;
      } catch {
        tally.writeErrors++;
        break;
      }
      off = end;
      await read(20);
    }
    await read(100);
  } finally {
    try {
      conn.close();
    } catch { /* closed */ }
  }
  if (!answered && !closed) tally.silent++;
  for (const s of statuses) {
    tally.statuses.set(s, (tally.statuses.get(s) ?? 0) + 1);
    if (s === 500) tally.internalErrors.push(hex(input, 2048));
  }
}

/**
 * For a failure: which sent packet each received one is (the nearest sent packet within 64 with the same payload:
 * the clip repeats further apart; `?` when none), as runs `a..b` with the received sequence number where each
 * run starts.
 */
function describeOrder(got: Received, sent: readonly Uint8Array[]): string {
  const same = (x: Uint8Array, y: Uint8Array) => x.length === y.length && x.every((v, i) => v === y[i]);
  const runs: string[] = [];
  let prev = -2;
  got.payloads.forEach((p, k) => {
    let i = -1;
    for (let d = 0; d <= 64 && i < 0; d++) {
      if (k + d < sent.length && same(p, sent[k + d]!)) i = k + d;
      else if (d > 0 && k - d >= 0 && same(p, sent[k - d]!)) i = k - d;
    }
    if (i < 0 || i !== prev + 1) {
      if (runs.length) runs[runs.length - 1] += prev >= 0 ? `..${prev}` : "";
      runs.push(`[#${k} seq ${got.seqs[k]}] ${i < 0 ? "?" : i}`);
    }
    prev = i;
  });
  if (runs.length && prev >= 0) runs[runs.length - 1] += `..${prev}`;
  return `received ${got.payloads.length} of ${sent.length}; as sent packets: ${
    runs.slice(0, 30).join(", ")
  }`;
}

/** The clip's frames as ffmpeg decodes them (framemd5 of assets/demo.h264), in order. */
async function clipFrameMd5s(): Promise<string[]> {
  const r = await runCommand(
    ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-i", DEMO_H264, "-f", "framemd5", "pipe:1"],
    30_000,
    { name: "ffmpeg-framemd5" },
  );
  assertEquals(r.code, 0, r.stderr);
  return r.stdout.split("\n").filter((l) => /^\d/.test(l)).map((l) => l.split(",").at(-1)!.trim());
}

Deno.test({
  name: "a relay under seeded RTSP, RTP/RTCP and mesh fuzzing keeps every reader's every packet and frame",
  async fn() {
    const seed = Number(Deno.env.get("MSM_FUZZ_SEED") ?? crypto.getRandomValues(new Uint32Array(1))[0]) >>> 0;
    console.log(`relay fuzz seed ${seed} (replay: MSM_FUZZ_SEED=${seed})`);
    // One generator per fuzzer (this one for the datagrams): each draws the same inputs on every run with this
    // seed, timing aside.
    const r = seededRandom(seed);

    const clip = await Deno.readFile(DEMO_H264);
    const nals = splitAnnexB(clip);
    const units = accessUnits(nals);
    const sps = nals.find((n) => nalType(n) === 7)!;
    const pps = nals.find((n) => nalType(n) === 8)!;
    const expectedMd5 = await clipFrameMd5s();
    assertEquals(expectedMd5.length, units.length);

    const meshPort = freePort("udp", "127.0.0.1");
    await using relay = await startRelayProcess(["--no-demo", "--log-level", "error"], {}, { meshPort });
    const url = relay.url(PATH);
    const metricsUrl = `http://127.0.0.1:${relay.adminPort}/metrics`;
    const scrape = async () => parsePrometheus(await (await fetch(metricsUrl)).text());

    await using pub = await startRtspPublisher(url, demoSdp(sps, pps), { transport: "udp" });
    const udp = receiver();
    const tcp = receiver();
    await using _udpReader = await startRtspReader(url, { transport: "udp", onRtp: udp.onRtp });
    await using _tcpReader = await startRtspReader(url, { transport: "tcp", onRtp: tcp.onRtp });
    await using ffmpeg = spawnProcess([
      "ffmpeg",
      "-hide_banner",
      "-nostdin",
      "-loglevel",
      "error",
      "-rtsp_transport",
      "tcp",
      "-timeout",
      "5000000",
      "-i",
      url,
      "-map",
      "0:v",
      "-frames:v",
      String(FFMPEG_FRAMES),
      "-fps_mode",
      "passthrough",
      "-f",
      "framemd5",
      "pipe:1",
    ], { name: "ffmpeg-framemd5-read", keepLines: { stdout: 4000 } });
    for (let i = 0; (await relay.stream(PATH))?.readers !== 3; i++) {
      assert(i < 100 && ffmpeg.running, `ffmpeg did not start playing\n${ffmpeg.output()}`);
      await delay(100);
    }

    // The fuzzer's own reader session: its SETUP tells the server ports; its client ports are a known reader.
    const known = freePortPair("127.0.0.1");
    const knownRtp = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: known });
    const knownRtcp = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: known + 1 });
    const stranger = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
    await using session = await RawRtspConnection.open(relay.rtspPort);
    assertEquals((await session.request(`DESCRIBE ${url} RTSP/1.0\r\nCSeq: 1\r\n\r\n`))?.status, 200);
    const setup = await session.request(
      `SETUP ${url}/trackID=0 RTSP/1.0\r\nCSeq: 2\r\nTransport: RTP/AVP;unicast;client_port=${known}-${
        known + 1
      }\r\n\r\n`,
    );
    assertEquals(setup?.status, 200);
    const serverRtp = Number(setup!.headers.transport!.match(/server_port=(\d+)-(\d+)/)![1]);
    const sessionId = setup!.headers.session!.split(";")[0]!;
    assertEquals(
      (await session.request(`PLAY ${url} RTSP/1.0\r\nCSeq: 3\r\nSession: ${sessionId}\r\n\r\n`))?.status,
      200,
    );

    // Fuzz inputs: the mutator's corpus plus requests for the live path, and fast-check streams.
    const corpus = [
      ...RTSP_CORPUS,
      ...[
        `DESCRIBE ${url} RTSP/1.0\r\nCSeq: 7\r\nAccept: application/sdp\r\n\r\n`,
        `SETUP ${url}/trackID=0 RTSP/1.0\r\nCSeq: 8\r\nTransport: RTP/AVP;unicast;client_port=${known}-${
          known + 1
        }\r\n\r\n`,
        `SETUP ${url}/trackID=0 RTSP/1.0\r\nCSeq: 9\r\nTransport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n\r\n`,
        `PLAY ${url} RTSP/1.0\r\nCSeq: 10\r\nSession: ${sessionId}\r\n\r\n`,
        `GET_PARAMETER ${url} RTSP/1.0\r\nCSeq: 11\r\nSession: 0123\r\nContent-Length: 0\r\n\r\n`,
        `ANNOUNCE ${relay.url("fuzz/pub")} RTSP/1.0\r\nCSeq: 12\r\nContent-Type: application/sdp\r\n` +
        `Content-Length: ${demoSdp(sps, pps).length}\r\n\r\n${demoSdp(sps, pps)}`,
      ].map((s) => enc.encode(s)),
    ];
    const generated = fc.sample(rtspArbitrary, { seed: seed | 0, numRuns: 400 });
    const datagrams = {
      media: [...rtpCorpus(), ...rtcpCorpus()],
      mesh: meshCorpus(),
    };
    const garbage = (kind: keyof typeof datagrams) =>
      r() < 0.2
        ? Uint8Array.from({ length: Math.floor(r() * 1400) }, () => Math.floor(r() * 256))
        : mutate(datagrams[kind], r, { specials: BINARY_SPECIAL_BYTES, maxGlued: 1, maxMutations: 4 });

    const before = await scrape();
    const tally: TcpTally = {
      connections: 0,
      bytesSent: 0,
      statuses: new Map(),
      closedByRelay: 0,
      silent: 0,
      writeErrors: 0,
      unparsable: [],
      internalErrors: [],
    };
    const sent = {
      rtpFromStranger: 0,
      rtcpFromStranger: 0,
      rtpFromReader: 0,
      rtcpFromReader: 0,
      mesh: 0,
      /** Mesh datagrams `decodeMeshPacket` refuses (the relay has no mesh key: it decodes them so too). */
      meshMalformed: 0,
    };
    let fuzzing = false;
    let stopFuzzing = false;
    const tcpFuzzers = Array.from({ length: TCP_WORKERS }, async (_, w) => {
      const rw = seededRandom(seed + 1 + w);
      while (!fuzzing) await delay(10);
      for (let k = 0; !stopFuzzing; k++) {
        const input = rw() < 0.8 ? mutate(corpus, rw) : generated[(w * 7919 + k) % generated.length]!;
        await fuzzConnection(relay.rtspPort, input, rw, tally);
      }
    });
    const udpFuzzer = (async () => {
      while (!fuzzing) await delay(10);
      const to = (port: number): Deno.NetAddr => ({ transport: "udp", hostname: "127.0.0.1", port });
      const send = (sock: Deno.DatagramConn, bytes: Uint8Array, port: number) => {
        if (port === relay.meshPort) {
          sent.mesh++;
          if (typeof decodeMeshPacket(bytes) === "string") sent.meshMalformed++;
        }
        return sock.send(bytes, to(port)).catch(() => 0);
      };
      while (!stopFuzzing) {
        // ~1000 datagrams/s in all, in small bursts (the publisher shares the server RTP port's buffer).
        for (let i = 0; i < 2; i++) {
          await send(stranger, garbage("media"), serverRtp);
          await send(stranger, garbage("media"), serverRtp + 1);
          await send(knownRtcp, garbage("media"), serverRtp + 1);
          await send(stranger, garbage("mesh"), relay.meshPort);
        }
        await send(knownRtp, garbage("media"), serverRtp);
        await send(stranger, garbage("mesh"), relay.meshPort);
        sent.rtpFromStranger += 2;
        sent.rtcpFromStranger += 2;
        sent.rtcpFromReader += 2;
        sent.rtpFromReader += 1;
        await delay(10);
      }
    })();
    // Drain what the relay sends the fuzzer's reader session (its RTP), so nothing backs up.
    const drainKnown = (async () => {
      const b = new Uint8Array(2048);
      for (;;) await knownRtp.receive(b).catch(() => null).then((x) => x ?? Promise.reject());
    })().catch(() => {});

    // Publish the clip at 25 fps for 10 s, numbered by the packetizer; fuzz from frame 10 to frame 200.
    const packetizer = new H264Packetizer({
      payloadType: 96,
      ssrc: 0x5eed,
      initialSequence: 65000,
      mtu: 400,
    });
    const sentPayloads: Uint8Array[] = [];
    const late = { started: false, packets: 0, attempts: 0, error: "" };
    const t0 = performance.now();
    let fuzzStartedAt = 0;
    let fuzzSeconds = 0;
    for (let f = 0; f < FRAMES; f++) {
      const due = t0 + (f * 1000) / FPS;
      const wait = due - performance.now();
      if (wait > 0) await delay(wait);
      const packets: Uint8Array[] = [];
      packetizer.packetize(units[f % units.length]!, f * (90000 / FPS), (p) => packets.push(p));
      for (const p of packets) {
        sentPayloads.push(p.slice(12));
        await pub.send(p);
      }
      if (f === FUZZ_FROM) {
        fuzzing = true;
        fuzzStartedAt = performance.now();
      }
      if (f === FUZZ_TO) {
        stopFuzzing = true;
        fuzzSeconds = (performance.now() - fuzzStartedAt) / 1000;
      }
      if (f === FUZZ_TO + 5) {
        // After the fuzzing: the relay still serves a new reader (from the fuzzer's address, so a refusal by a
        // per-client limit the fuzzing used up, 503, is retried).
        late.started = true;
        void (async () => {
          for (late.attempts = 1; late.attempts <= 5; late.attempts++) {
            try {
              await using _reader = await startRtspReader(url, {
                transport: "udp",
                onRtp: () => late.packets++,
              });
              await delay(1000);
              return;
            } catch (e) {
              late.error = String(e);
              await delay(200);
            }
          }
        })();
      }
    }
    await Promise.all([...tcpFuzzers, udpFuzzer]);
    await delay(500); // the last packets reach the readers

    const ffmpegExit = await raceTimeout(ffmpeg.exited, 10_000);
    assert(ffmpegExit !== null, `ffmpeg did not stop after ${FFMPEG_FRAMES} frames\n${ffmpeg.output()}`);
    const after = await scrape();
    const view = await relay.stream(PATH);
    knownRtp.close();
    knownRtcp.close();
    stranger.close();
    await drainKnown;

    // --- what the readers got
    const total = sentPayloads.length;
    for (const [name, got] of [["UDP reader", udp.got], ["TCP reader", tcp.got]] as const) {
      console.log(`${name}: ${got.seqs.length} of ${total} packets`);
      assertEquals(got.seqs.length, total, `${name} got ${got.seqs.length} of ${total} packets`);
      for (let k = 0; k < total; k++) {
        if (k > 0 && ((got.seqs[k]! - got.seqs[k - 1]! + 0x10000) & 0xffff) !== 1) {
          throw new Error(
            `${name}: sequence ${got.seqs[k - 1]} then ${got.seqs[k]} at packet ${k}\n${
              describeOrder(got, sentPayloads)
            }`,
          );
        }
        const a = got.payloads[k]!;
        const b = sentPayloads[k]!;
        if (a.length !== b.length || !a.every((x, i) => x === b[i])) {
          throw new Error(`${name}: packet ${k} payload differs\n${describeOrder(got, sentPayloads)}`);
        }
      }
    }
    const md5s = ffmpeg.stdoutLines.filter((l) => /^\d/.test(l)).map((l) => l.split(",").at(-1)!.trim());
    const mismatched = md5s.findIndex((m, k) => m !== expectedMd5[k % expectedMd5.length]);
    console.log(
      `ffmpeg (TCP, framemd5): ${md5s.length} of ${FFMPEG_FRAMES} frames decoded` +
        (mismatched < 0 ? ", each identical to the clip's" : `, frame ${mismatched} differs`),
    );
    assertEquals(ffmpegExit.code, 0, ffmpeg.output());
    assert(mismatched < 0, `ffmpeg frame ${mismatched} is not the clip's frame ${mismatched % 100}`);
    assertEquals(md5s.length, FFMPEG_FRAMES, ffmpeg.output());

    // --- what the fuzzed connections got
    const statuses = [...tally.statuses].sort(([a], [b]) => a - b);
    const count = (pred: (s: number) => boolean) =>
      statuses.filter(([s]) => pred(s)).reduce((n, [, c]) => n + c, 0);
    console.log(
      `fuzzed RTSP over ${
        fuzzSeconds.toFixed(1)
      } s: ${tally.connections} connections, ${tally.bytesSent} bytes; ` +
        `statuses ${
          statuses.map(([s, c]) => `${s}x${c}`).join(" ")
        }; ${tally.closedByRelay} closed by the relay, ` +
        `${tally.silent} left waiting for more bytes, ${tally.writeErrors} write errors`,
    );
    console.log(
      `datagrams: ${sent.rtpFromStranger} RTP + ${sent.rtcpFromStranger} RTCP from a stranger, ` +
        `${sent.rtpFromReader} RTP + ${sent.rtcpFromReader} RTCP from a reader's ports, ${sent.mesh} at the mesh port ` +
        `(${sent.meshMalformed} of them malformed)`,
    );
    assertEquals(tally.unparsable, [], "the relay sent bytes its own parser refuses");
    assertEquals(tally.internalErrors, [], "inputs answered with 500 Internal Server Error (hex above)");
    const fiveHundreds = statuses.filter(([s]) => s >= 500 && ![501, 503, 505].includes(s));
    assertEquals(fiveHundreds, [], `unexpected 5xx answers`);
    assert(count((s) => s >= 400 && s < 500) > 100, `too few 4xx answers: ${JSON.stringify(statuses)}`);
    assert(tally.connections > 150, `only ${tally.connections} fuzz connections`);

    // --- the relay afterwards
    assert(relay.process.running, relay.process.output());
    assertEquals((await relay.get("/healthz")).status, 200);
    console.log(
      `a reader joining after the fuzzing got ${late.packets} packets in 1 s (attempt ${late.attempts}` +
        `${late.error ? `, after ${late.error}` : ""})`,
    );
    assert(late.started && late.packets > 20, `no packets for a new reader: ${late.error}`);

    // --- counters
    const requests4xx = (m: ReadonlyMap<string, PromFamily>) =>
      sum(m, "msm_rtsp_requests_total", (l) => /^4\d\d$/.test(l.status ?? ""));
    const delta4xx = requests4xx(after) - requests4xx(before);
    const any500 = sum(after, "msm_rtsp_requests_total", (l) => l.status === "500");
    const dropped = (m: ReadonlyMap<string, PromFamily>, reason: string) =>
      sum(m, "msm_rtp_packets_dropped_total", (l) => l.path === PATH && l.reason === reason);
    const unexpected = dropped(after, "unexpected_source") - dropped(before, "unexpected_source");
    const planeReceived = (m: ReadonlyMap<string, PromFamily>) =>
      sum(m, "msm_dataplane_datagrams_total", (l) => l.event === "received");
    const planeDelta = planeReceived(after) - planeReceived(before);
    console.log(
      planeDelta > 0 ? `fast data plane: its worker received ${planeDelta} datagrams` : "portable data plane",
    );
    const methods = new Set(
      (after.get("msm_rtsp_requests_total")?.samples ?? []).map((s) => s.labels.method),
    );
    console.log(
      `counters: msm_rtsp_requests_total 4xx +${delta4xx} (the fuzzer saw ${
        count((s) => s >= 400 && s < 500)
      }), ` +
        `status 500: ${any500}; msm_rtp_packets_dropped_total{reason="unexpected_source"} +${unexpected} ` +
        `(${sent.rtpFromStranger + sent.rtcpFromStranger} sent from the stranger); track drops ` +
        `${JSON.stringify(view?.tracks[0]?.dropped)}; msm_rtsp_sessions ${
          sum(after, "msm_rtsp_sessions", () => true)
        }; ${methods.size} distinct method labels on msm_rtsp_requests_total: ${
          [...methods].slice(0, 24).join(" ")
        }`,
    );
    assert(delta4xx >= count((s) => s >= 400 && s < 500), "msm_rtsp_requests_total missed 4xx answers");
    assertEquals(any500, 0);
    assert(
      unexpected >= 0.9 * (sent.rtpFromStranger + sent.rtcpFromStranger),
      `only ${unexpected} datagrams from the stranger counted as unexpected_source`,
    );
    const meshRejected = (m: ReadonlyMap<string, PromFamily>) =>
      sum(m, "msm_mesh_packets_rejected_total", (l) => l.reason === "malformed");
    if (after.has("msm_mesh_packets_rejected_total")) {
      const delta = meshRejected(after) - meshRejected(before);
      console.log(
        `msm_mesh_packets_rejected_total{reason="malformed"} +${delta} (${sent.meshMalformed} malformed sent)`,
      );
      assert(
        delta >= 0.9 * sent.meshMalformed && delta <= sent.meshMalformed,
        `${delta} mesh datagrams counted malformed, ${sent.meshMalformed} sent`,
      );
    } else {
      console.log(
        "msm_mesh_packets_rejected_total is not exported (yet): mesh garbage is counted nowhere visible",
      );
    }
    assertEquals(view?.source.state, "ready");
  },
});
