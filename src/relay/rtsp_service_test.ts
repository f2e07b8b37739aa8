/**
 * Tests of {@linkcode RtspService} driven through its handler interface, as the TCP shell (src/rtsp/server.ts)
 * drives it: request objects in, responses out, `$` frames through the connection's `onFrame`. The hub is real,
 * with fake sources that install an SDP on demand, fake connections that record interleaved frames, fake port
 * pairs (tests/support/fake_port_pairs.ts) and a fake clock for session timeouts: no sockets.
 * @module
 */
import { deepStrictEqual as assertEquals, equal, match, notEqual, ok } from "node:assert/strict";
import { silentLogger } from "../log.ts";
import { rtpSequence, rtpSsrc, writeRtpHeader } from "../rtp/packet.ts";
import {
  buildReceiverReportCompound,
  forEachRtcpPacket,
  parseReceiverReport,
  type ReportBlock,
  RTCP_RR,
  RTCP_SDES,
} from "../rtp/rtcp.ts";
import { parseTransport } from "../rtsp/headers/transport.ts";
import { parseSession } from "../rtsp/headers/session.ts";
import { parseRtpInfo } from "../rtsp/headers/rtp_info.ts";
import { InterleavedWriter } from "../rtsp/interleaved_writer.ts";
import { request, response, type RtspResponse } from "../rtsp/message.ts";
import { parseSdp } from "../rtsp/sdp.ts";
import { MemoryBudget } from "./memory_budget.ts";
import type { RtspConnection } from "../rtsp/server.ts";
import { StreamHub } from "./hub.ts";
import { type FakePortPair, FakePortPairs } from "../../tests/support/fake_port_pairs.ts";
import { requestCost, RtspService, type RtspServiceLimits } from "./rtsp_service.ts";
import type { RefusalReason } from "../rtsp/refusals.ts";
import { RtspProtocolError } from "../rtsp/errors.ts";
import { RtspAuthenticator } from "./rtsp_auth.ts";
import { createLogger, type Logger } from "../log.ts";
import type { Stream, StreamSource } from "./stream.ts";
import { monotonicMs } from "../clock.ts";
import { shiftClocks } from "../../tests/support/shifted_clocks.ts";

const TIMEOUT_S = 60;
/** Advertised timeout plus the SessionTimer's grace. */
const ENFORCED_MS = (TIMEOUT_S + 10) * 1000;
const HOST = "127.0.0.1";
const BASE = `rtsp://${HOST}:8554`;

/** Two tracks: H.264 video and G.711 audio. */
const CAMERA_SDP = [
  "v=0",
  "o=- 1 1 IN IP4 10.0.0.9",
  "s=camera",
  "t=0 0",
  "m=video 0 RTP/AVP 96",
  "a=rtpmap:96 H264/90000",
  "a=control:video",
  "m=audio 0 RTP/AVP 0",
  "a=control:audio",
  "",
].join("\r\n");

/** What ffmpeg announces when publishing one H.264 track. */
const PUBLISHER_SDP = [
  "v=0",
  "o=- 0 0 IN IP4 127.0.0.1",
  "s=No Name",
  "c=IN IP4 127.0.0.1",
  "t=0 0",
  "m=video 0 RTP/AVP 96",
  "a=rtpmap:96 H264/90000",
  "a=control:streamid=0",
  "",
].join("\r\n");

/** A pulled source under the test's control: it installs its SDP when first started, if it has one. */
class FakeSource implements StreamSource {
  readonly kind = "pull" as const;
  starts = 0;
  stopped = false;
  constructor(readonly stream: Stream, readonly sdp: string | null) {}
  start(): void {
    this.starts++;
    if (this.sdp === null || this.stream.description) return;
    this.stream.setDescription(parseSdp(this.sdp));
    this.stream.setState("ready");
  }
  stop(): Promise<void> {
    this.stopped = true;
    return Promise.resolve();
  }
  info(): Record<string, unknown> {
    return { fake: true };
  }
}

let nextClientPort = 50_000;

/** A client connection that records the bytes the relay writes to it (interleaved frames). */
class FakeConn implements RtspConnection {
  readonly id: string;
  readonly remote: Deno.NetAddr;
  readonly local: Deno.NetAddr = { transport: "tcp", hostname: HOST, port: 8554 };
  readonly writer: InterleavedWriter;
  readonly bytes: number[] = [];
  lastActivity = 0;
  onFrame: ((channel: number, payload: Uint8Array) => void) | null = null;
  closed = false;

  constructor(hostname = HOST) {
    const port = nextClientPort++;
    this.id = `c${port}`;
    this.remote = { transport: "tcp", hostname, port };
    this.writer = new InterleavedWriter({
      write: (p) => {
        this.bytes.push(...p); // the writer reuses its scratch buffer: copy
        return Promise.resolve(p.length);
      },
    });
  }

  close(): void {
    this.closed = true;
    this.writer.close();
  }

  /** The `$` frames written so far. */
  async frames(): Promise<Array<{ channel: number; payload: Uint8Array }>> {
    await this.writer.flushed();
    const out: Array<{ channel: number; payload: Uint8Array }> = [];
    const b = this.bytes;
    for (let i = 0; i < b.length;) {
      equal(b[i], 0x24, `frame marker at ${i}`);
      const len = (b[i + 2]! << 8) | b[i + 3]!;
      out.push({ channel: b[i + 1]!, payload: Uint8Array.from(b.slice(i + 4, i + 4 + len)) });
      i += 4 + len;
    }
    return out;
  }
}

interface HarnessOptions {
  lingerSeconds?: number;
  gopCacheBytes?: number;
  publish?: boolean;
  sourceWaitMs?: number;
  limits?: RtspServiceLimits;
  auth?: RtspAuthenticator;
  logger?: Logger;
  /** Leave the service its default clocks (monotonicMs, Date.now) instead of the harness's fake ones. */
  realClocks?: boolean;
  memoryBudget?: MemoryBudget;
}

/** A hub with pulled paths `cam` (2 tracks), `cam2` (2 tracks) and `dead` (never ready), and the service. */
class Harness {
  /** The monotonic clock: session timeouts, report timing, rates. */
  readonly clock = { now: 1_000_000 };
  /** The wall clock: timestamps shown to people (2023-11-14T22:13:20Z). */
  readonly wall = { now: 1_700_000_000_000 };
  readonly sources: FakeSource[] = [];
  readonly answered: Array<[string, number]> = [];
  readonly refused: RefusalReason[] = [];
  /** The streams' port pairs: no sockets; tests deliver datagrams and read what was sent. */
  readonly pairs = new FakePortPairs(32);
  readonly hub: StreamHub;
  readonly svc: RtspService;
  #cseq = 0;

  constructor(options: HarnessOptions = {}) {
    this.hub = new StreamHub({
      logger: silentLogger,
      pulls: {
        cam: "rtsp://camera.invalid/1",
        cam2: "rtsp://camera.invalid/2",
        dead: "rtsp://camera.invalid/3",
      },
      demo: false,
      publish: options.publish ?? true,
      bindPair: this.pairs.bind,
      lingerSeconds: options.lingerSeconds ?? 30,
      gopCacheBytes: options.gopCacheBytes ?? 0,
      createSource: (stream, _kind, url) => {
        const source = new FakeSource(stream, url?.endsWith("/3") ? null : CAMERA_SDP);
        this.sources.push(source);
        return source;
      },
    });
    this.svc = new RtspService({
      hub: this.hub,
      logger: silentLogger,
      sessionTimeoutSeconds: TIMEOUT_S,
      sourceWaitMs: options.sourceWaitMs ?? 1000,
      ...(options.realClocks ? {} : { now: () => this.clock.now, wallClock: () => this.wall.now }),
      onRequest: (method, status) => this.answered.push([method, status]),
      onRefused: (reason) => this.refused.push(reason),
      ...(options.limits ? { limits: options.limits } : {}),
      ...(options.auth ? { auth: options.auth } : {}),
      ...(options.logger ? { logger: options.logger } : {}),
      ...(options.memoryBudget ? { memoryBudget: options.memoryBudget } : {}),
    });
  }

  /** Sends one request with the next CSeq. */
  async send(
    conn: RtspConnection,
    method: string,
    url: string,
    headers: Record<string, string> = {},
    body?: string,
  ): Promise<RtspResponse> {
    const all = { CSeq: String(++this.#cseq), ...headers };
    const req = request(method, url, all, body ? new TextEncoder().encode(body) : undefined);
    // As the shell does: answer, queue the response, then tell the handler it is queued.
    const res = await this.svc.handle(req, conn);
    this.svc.responseSent(req, res, conn);
    return res;
  }

  /** SETUP of one track; asserts 200 and returns the session id. */
  async setup(conn: RtspConnection, url: string, transport: string, session?: string): Promise<string> {
    const res = await this.send(conn, "SETUP", url, {
      Transport: transport,
      ...(session ? { Session: session } : {}),
    });
    equal(res.status, 200, `SETUP ${url} ${transport}`);
    return parseSession(res.headers.get("Session")!).id;
  }

  /** A TCP reader of track 0 of `path`, playing; returns its session id. */
  async tcpReader(conn: RtspConnection, path: string): Promise<string> {
    const id = await this.setup(conn, `${BASE}/${path}/trackID=0`, "RTP/AVP/TCP;unicast;interleaved=0-1");
    equal((await this.send(conn, "PLAY", `${BASE}/${path}/`, { Session: id })).status, 200);
    return id;
  }

  stream(path: string): Stream {
    const s = this.hub.get(path);
    ok(s, `no stream at "${path}"`);
    return s;
  }

  ids(): string[] {
    return this.svc.sessions().map((s) => s.id).sort();
  }

  async close(): Promise<void> {
    this.svc.stop();
    await this.hub.close();
    // Let the UDP receive loops see their sockets closed.
    await new Promise((r) => setTimeout(r, 0));
  }
}

/** One H.264 RTP packet, a frame of its own; NAL header 0x65 is an IDR slice, 0x41 a P slice. */
function rtp(seq: number, ssrc = 0x1234, nal = 0x65): Uint8Array {
  const p = new Uint8Array(14);
  writeRtpHeader(p, 0, { marker: true, payloadType: 96, sequence: seq, timestamp: seq * 3600, ssrc });
  p[12] = nal;
  p[13] = 0x88;
  return p;
}

async function tick(ms = 0): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

Deno.test("RtspService answers OPTIONS with the methods it implements, echoing CSeq", async () => {
  const h = new Harness();
  try {
    const res = await h.svc.handle(request("OPTIONS", "*", { CSeq: " 17 " }), new FakeConn());
    equal(res.status, 200);
    equal(res.headers.get("CSeq"), "17");
    equal(res.headers.get("Server"), "msm-relay");
    equal(res.headers.get("Session"), undefined);
    const methods = res.headers.get("Public")!.split(",").map((m) => m.trim()).sort();
    assertEquals(methods, [
      "ANNOUNCE",
      "DESCRIBE",
      "GET_PARAMETER",
      "OPTIONS",
      "PAUSE",
      "PLAY",
      "RECORD",
      "SETUP",
      "SET_PARAMETER",
      "TEARDOWN",
    ]);
    assertEquals(h.answered, [["OPTIONS", 200]]);
  } finally {
    await h.close();
  }
});

Deno.test("RtspService refuses a missing or malformed CSeq with 400 and unknown methods with 501", async () => {
  const h = new Harness();
  try {
    const conn = new FakeConn();
    equal((await h.svc.handle(request("OPTIONS", "*"), conn)).status, 400);
    const bad = await h.svc.handle(request("OPTIONS", "*", { CSeq: "abc" }), conn);
    equal(bad.status, 400);
    equal(bad.headers.get("CSeq"), "abc");
    const res = await h.send(conn, "REDIRECT", `${BASE}/cam`);
    equal(res.status, 501);
    equal(res.reason, "Not Implemented");
    equal((await h.send(conn, "FLY", `${BASE}/cam`)).status, 501);
    assertEquals(h.answered, [["OPTIONS", 400], ["OPTIONS", 400], ["REDIRECT", 501], ["FLY", 501]]);
    equal(h.hub.streams().length, 0);
  } finally {
    await h.close();
  }
});

Deno.test("RtspService answers DESCRIBE of an unknown path with 404", async () => {
  const h = new Harness();
  try {
    const conn = new FakeConn();
    equal((await h.send(conn, "DESCRIBE", `${BASE}/nope`)).status, 404);
    equal((await h.send(conn, "DESCRIBE", `${BASE}/demo`)).status, 404); // demo disabled
    equal(h.hub.streams().length, 0);
    equal(h.sources.length, 0);
  } finally {
    await h.close();
  }
});

Deno.test("RtspService answers DESCRIBE with the served SDP and Content-Base", async () => {
  const h = new Harness();
  try {
    const res = await h.send(new FakeConn(), "DESCRIBE", `${BASE}/cam`, { Accept: "application/sdp" });
    equal(res.status, 200);
    equal(res.headers.get("Content-Type"), "application/sdp");
    equal(res.headers.get("Content-Base"), `${BASE}/cam/`);
    const sdp = parseSdp(new TextDecoder().decode(res.body));
    assertEquals(sdp.medias.map((m) => [m.type, m.encoding, m.clockRate, m.control]), [
      ["video", "H264", 90_000, "trackID=0"],
      ["audio", "PCMU", 8000, "trackID=1"],
    ]);
    equal(sdp.raw.name, "cam");
    equal(sdp.raw.origin?.address, HOST); // not the camera's 10.0.0.9
    equal(h.sources.length, 1);
    equal(h.sources[0]!.starts, 1);
    equal(h.stream("cam").refs, 0); // DESCRIBE holds the stream only while answering
  } finally {
    await h.close();
  }
});

Deno.test("RtspService answers 503 when the upstream is not ready in time, and lets the stream go", async () => {
  const h = new Harness({ sourceWaitMs: 20 });
  try {
    const conn = new FakeConn();
    equal((await h.send(conn, "DESCRIBE", `${BASE}/dead`)).status, 503);
    equal(h.stream("dead").refs, 0);
    const setup = await h.send(conn, "SETUP", `${BASE}/dead/trackID=0`, {
      Transport: "RTP/AVP/TCP;unicast;interleaved=0-1",
    });
    equal(setup.status, 503);
    assertEquals(h.ids(), []);
    equal(h.stream("dead").refs, 0);
  } finally {
    await h.close();
  }
});

Deno.test("RtspService answers SETUP of a track the stream does not have with 404", async () => {
  const h = new Harness();
  try {
    const conn = new FakeConn();
    const tcp = { Transport: "RTP/AVP/TCP;unicast;interleaved=0-1" };
    equal((await h.send(conn, "SETUP", `${BASE}/cam/trackID=2`, tcp)).status, 404);
    equal((await h.send(conn, "SETUP", `${BASE}/cam/trackID=99`, tcp)).status, 404);
    equal((await h.send(conn, "SETUP", `${BASE}/cam/other`, tcp)).status, 404);
    equal((await h.send(conn, "SETUP", `${BASE}/nope/trackID=0`, tcp)).status, 404);
    assertEquals(h.ids(), []);
    equal(h.stream("cam").refs, 0);
  } finally {
    await h.close();
  }
});

Deno.test("RtspService answers SETUP with an unsupported transport with 461", async () => {
  const h = new Harness();
  try {
    const conn = new FakeConn();
    const url = `${BASE}/cam/trackID=0`;
    for (
      const transport of [
        "RTP/AVP;multicast;destination=232.0.0.1;port=5000-5001;ttl=4",
        "RTP/AVP/UNKNOWN;unicast;client_port=5000-5001",
        "RTP/AVP;unicast", // UDP without client_port
        "RTP/AVP;unicast;client_port=5000-5001;mode=bogus",
      ]
    ) {
      equal((await h.send(conn, "SETUP", url, { Transport: transport })).status, 461, transport);
    }
    equal((await h.send(conn, "SETUP", url)).status, 461); // no Transport at all
    assertEquals(h.ids(), []);
    equal(h.stream("cam").refs, 0);
    // The first supported offer of a list wins.
    const res = await h.send(conn, "SETUP", url, {
      Transport: "RTP/AVP;multicast;port=5000-5001, RTP/AVP/TCP;unicast;interleaved=4-5",
    });
    equal(res.status, 200);
    assertEquals(parseTransport(res.headers.get("Transport")!).interleaved, [4, 5]);
  } finally {
    await h.close();
  }
});

Deno.test("RtspService SETUP over UDP answers the stream's server ports and output SSRC", async () => {
  const h = new Harness();
  try {
    const res = await h.send(new FakeConn(), "SETUP", `${BASE}/cam/trackID=1`, {
      Transport: "RTP/AVP;unicast;client_port=6970-6971",
    });
    equal(res.status, 200);
    const session = parseSession(res.headers.get("Session")!);
    match(session.id, /^[0-9a-f]{16}$/);
    equal(session.timeout, TIMEOUT_S);
    const stream = h.stream("cam");
    const t = parseTransport(res.headers.get("Transport")!);
    equal(t.lowerTransport, "UDP");
    equal(t.delivery, "unicast");
    assertEquals(t.clientPort, [6970, 6971]);
    assertEquals(t.serverPort, [stream.pairOf(1)!.rtpPort, stream.pairOf(1)!.rtcpPort]);
    equal(t.ssrc, stream.tracks[1]!.outputSsrc);
    equal(stream.refs, 1);
    assertEquals(h.ids(), [session.id]);
    const s = h.svc.sessions()[0]!;
    equal(s.role, "reader");
    equal(s.state, "ready");
  } finally {
    await h.close();
  }
});

Deno.test("RtspService answers PLAY without a session with 454 and PLAY/RECORD out of state with 455", async () => {
  const h = new Harness();
  try {
    const conn = new FakeConn();
    equal((await h.send(conn, "PLAY", `${BASE}/cam/`)).status, 454);
    equal((await h.send(conn, "PAUSE", `${BASE}/cam/`)).status, 454);
    equal((await h.send(conn, "RECORD", `${BASE}/cam/`)).status, 454);
    equal((await h.send(conn, "TEARDOWN", `${BASE}/cam/`)).status, 454);
    const id = await h.setup(conn, `${BASE}/cam/trackID=0`, "RTP/AVP/TCP;unicast;interleaved=0-1");
    equal((await h.send(conn, "RECORD", `${BASE}/cam/`, { Session: id })).status, 455); // a reader
    equal((await h.send(conn, "PLAY", `${BASE}/cam/`, { Session: id })).status, 200);
    // SETUP while playing is not allowed for readers (RFC 2326 A.2)
    const setup = await h.send(conn, "SETUP", `${BASE}/cam/trackID=1`, {
      Session: id,
      Transport: "RTP/AVP/TCP;unicast;interleaved=2-3",
    });
    equal(setup.status, 455);
    equal(h.svc.sessions()[0]!.tracks.size, 1);
  } finally {
    await h.close();
  }
});

Deno.test("RtspService answers a request naming an unknown Session with 454", async () => {
  const h = new Harness();
  try {
    const conn = new FakeConn();
    await h.setup(conn, `${BASE}/cam/trackID=0`, "RTP/AVP/TCP;unicast;interleaved=0-1");
    const unknown = { Session: "00000000deadbeef" };
    for (const method of ["PLAY", "PAUSE", "TEARDOWN", "GET_PARAMETER", "SET_PARAMETER", "OPTIONS"]) {
      const res = await h.send(conn, method, `${BASE}/cam/`, unknown);
      equal(res.status, 454, method);
      equal(res.reason, "Session Not Found");
      match(new TextDecoder().decode(res.body), /00000000deadbeef/); // the reason names the session
    }
    const setup = await h.send(conn, "SETUP", `${BASE}/cam/trackID=1`, {
      ...unknown,
      Transport: "RTP/AVP/TCP;unicast;interleaved=2-3",
    });
    equal(setup.status, 454);
    equal(h.ids().length, 1);
    equal(h.stream("cam").refs, 1);
  } finally {
    await h.close();
  }
});

Deno.test("RtspService aggregates a second track into the session, refusing another path (459) or a repeat (455)", async () => {
  const h = new Harness();
  try {
    const conn = new FakeConn();
    const id = await h.setup(conn, `${BASE}/cam/trackID=0`, "RTP/AVP/TCP;unicast;interleaved=0-1");
    const other = await h.send(conn, "SETUP", `${BASE}/cam2/trackID=1`, {
      Session: id,
      Transport: "RTP/AVP/TCP;unicast;interleaved=2-3",
    });
    equal(other.status, 459);
    const again = await h.send(conn, "SETUP", `${BASE}/cam/trackID=0`, {
      Session: id,
      Transport: "RTP/AVP/TCP;unicast;interleaved=0-1",
    });
    equal(again.status, 455);
    equal(await h.setup(conn, `${BASE}/cam/trackID=1`, "RTP/AVP/TCP;unicast;interleaved=2-3", id), id);
    const s = h.svc.sessions();
    equal(s.length, 1);
    assertEquals([...s[0]!.tracks.keys()].sort(), [0, 1]);
    equal(h.stream("cam").refs, 1); // one session, one reference
    equal(h.hub.get("cam2")?.refs ?? 0, 0);

    const play = await h.send(conn, "PLAY", `${BASE}/cam/`, { Session: id });
    equal(play.status, 200);
    equal(play.headers.get("Range"), "npt=0.000-");
    assertEquals(parseRtpInfo(play.headers.get("RTP-Info")!).map((e) => e.url), [
      `${BASE}/cam/trackID=0`,
      `${BASE}/cam/trackID=1`,
    ]);
  } finally {
    await h.close();
  }
});

Deno.test("RtspService PLAY forwards the track to the reader's interleaved channels with RTP-Info", async () => {
  const h = new Harness();
  try {
    const conn = new FakeConn();
    const id = await h.setup(conn, `${BASE}/cam/trackID=0`, "RTP/AVP/TCP;unicast;interleaved=6-7");
    const track = h.stream("cam").tracks[0]!;
    track.ingestRtp(rtp(100)); // before PLAY: not for this reader
    const play = await h.send(conn, "PLAY", `${BASE}/cam/`, { Session: id });
    assertEquals(parseRtpInfo(play.headers.get("RTP-Info")!), [
      { url: `${BASE}/cam/trackID=0`, seq: 101, rtptime: 360_000 },
    ]);
    track.ingestRtp(rtp(101));
    const frames = await conn.frames();
    assertEquals(frames.map((f) => f.channel), [6]);
    equal(rtpSequence(frames[0]!.payload), 101);
    equal(rtpSsrc(frames[0]!.payload), track.outputSsrc);
    equal(h.svc.sessions()[0]!.state, "playing");
  } finally {
    await h.close();
  }
});

Deno.test("RtspService PLAY starts media only once the reply is queued (responseSent)", async () => {
  const h = new Harness();
  try {
    const conn = new FakeConn();
    const id = await h.setup(conn, `${BASE}/cam/trackID=0`, "RTP/AVP/TCP;unicast;interleaved=0-1");
    const track = h.stream("cam").tracks[0]!;
    const req = request("PLAY", `${BASE}/cam/`, { CSeq: "9", Session: id });
    const res = await h.svc.handle(req, conn);
    equal(res.status, 200);
    track.ingestRtp(rtp(1)); // sent before the reply reached the wire: must not reach the reader
    equal(track.egresses.length, 0);
    h.svc.responseSent(req, res, conn);
    track.ingestRtp(rtp(2));
    assertEquals((await conn.frames()).map((f) => rtpSequence(f.payload)), [2]);
  } finally {
    await h.close();
  }
});

Deno.test("RtspService PLAY replays the cached GOP after the reply and names its first packet in RTP-Info", async () => {
  const h = new Harness({ gopCacheBytes: 64 * 1024 });
  try {
    const conn = new FakeConn();
    const id = await h.setup(conn, `${BASE}/cam/trackID=0`, "RTP/AVP/TCP;unicast;interleaved=0-1");
    const stream = h.stream("cam");
    const video = stream.tracks[0]!;
    ok(video.gopCache, "H.264 track has a GOP cache");
    equal(stream.tracks[1]!.gopCache, undefined); // PCMU: none
    video.ingestRtp(rtp(10, 0x1234, 0x41)); // P slice before any keyframe: not cached
    video.ingestRtp(rtp(11, 0x1234, 0x65)); // IDR: the GOP starts here
    video.ingestRtp(rtp(12, 0x1234, 0x41));

    const play = await h.send(conn, "PLAY", `${BASE}/cam/`, { Session: id });
    assertEquals(parseRtpInfo(play.headers.get("RTP-Info")!), [
      { url: `${BASE}/cam/trackID=0`, seq: 11, rtptime: 11 * 3600 },
    ]);
    video.ingestRtp(rtp(13, 0x1234, 0x41));
    assertEquals((await conn.frames()).map((f) => rtpSequence(f.payload)), [11, 12, 13]);
    equal(video.counters.burstPackets, 2);
  } finally {
    await h.close();
  }
});

Deno.test("RtspService PAUSE and PLAY of one reader leave another reader alone", async () => {
  const h = new Harness();
  try {
    const a = new FakeConn();
    const b = new FakeConn();
    const idA = await h.tcpReader(a, "cam");
    const idB = await h.tcpReader(b, "cam");
    notEqual(idA, idB);
    const track = h.stream("cam").tracks[0]!;
    equal(h.stream("cam").refs, 2);
    equal(track.egresses.length, 2);

    track.ingestRtp(rtp(1));
    equal((await h.send(a, "PAUSE", `${BASE}/cam/`, { Session: idA })).status, 200);
    assertEquals(track.egresses.map((e) => e.id), [`${idB}:0`]);
    track.ingestRtp(rtp(2));
    equal((await h.send(a, "PLAY", `${BASE}/cam/`, { Session: idA })).status, 200);
    track.ingestRtp(rtp(3));

    assertEquals((await a.frames()).map((f) => rtpSequence(f.payload)), [1, 3]);
    assertEquals((await b.frames()).map((f) => rtpSequence(f.payload)), [1, 2, 3]);
    assertEquals(h.svc.sessions().map((s) => s.state), ["playing", "playing"]);
    equal(h.stream("cam").refs, 2); // pausing keeps the reader's interest
  } finally {
    await h.close();
  }
});

Deno.test("RtspService TEARDOWN ends the session and releases the stream, which goes idle after the linger", async () => {
  const h = new Harness({ lingerSeconds: 0 });
  try {
    const a = new FakeConn();
    const b = new FakeConn();
    const idA = await h.tcpReader(a, "cam");
    const idB = await h.tcpReader(b, "cam");
    const stream = h.stream("cam");
    equal(stream.refs, 2);

    const res = await h.send(a, "TEARDOWN", `${BASE}/cam/`, { Session: idA });
    equal(res.status, 200);
    assertEquals(h.ids(), [idB]);
    equal(stream.refs, 1);
    assertEquals(stream.tracks[0]!.egresses.map((e) => e.id), [`${idB}:0`]);
    equal(a.closed, false); // TEARDOWN does not close the connection
    equal((await h.send(a, "PLAY", `${BASE}/cam/`, { Session: idA })).status, 454);

    await tick(5);
    equal(h.hub.get("cam"), stream); // still a reader

    equal((await h.send(b, "TEARDOWN", `${BASE}/cam/`, { Session: idB })).status, 200);
    equal(stream.refs, 0);
    for (let i = 0; i < 50 && !stream.closed; i++) await tick(1);
    equal(stream.closed, true);
    equal(h.hub.get("cam"), undefined);
    equal(h.sources[0]!.stopped, true);
  } finally {
    await h.close();
  }
});

Deno.test("RtspService.sweep() ends silent sessions and keeps those refreshed by requests or RTCP", async () => {
  const h = new Harness();
  try {
    const conn = new FakeConn();
    const silent = await h.setup(conn, `${BASE}/cam/trackID=0`, "RTP/AVP;unicast;client_port=7000-7001");
    const keepalive = await h.setup(conn, `${BASE}/cam/trackID=0`, "RTP/AVP;unicast;client_port=7002-7003");
    const rtcp = await h.setup(conn, `${BASE}/cam/trackID=0`, "RTP/AVP;unicast;client_port=7004-7005");
    const stream = h.stream("cam");
    equal(stream.refs, 3);

    h.clock.now += ENFORCED_MS - 5000;
    h.svc.sweep();
    equal(h.ids().length, 3);
    const ka = await h.send(conn, "GET_PARAMETER", `${BASE}/cam/`, { Session: keepalive });
    equal(ka.status, 200);
    equal(ka.headers.get("Session"), `${keepalive};timeout=${TIMEOUT_S}`);
    // the reader's RTCP port sent a report: v=2, p=0, count=0, RR, length=1 word; reporter SSRC 1
    (stream.pairOf(0) as FakePortPair).receiveRtcp(
      new Uint8Array([0x80, 201, 0x00, 0x01, 0, 0, 0, 1]),
      HOST,
      7005,
    );

    h.clock.now += 5001;
    h.svc.sweep();
    assertEquals(h.ids(), [keepalive, rtcp].sort());
    equal(stream.refs, 2);
    const reportsBefore = stream.tracks[0]!.counters.readerReports;
    (stream.pairOf(0) as FakePortPair).receiveRtcp(
      new Uint8Array([0x80, 201, 0x00, 0x01, 0, 0, 0, 1]),
      HOST,
      7001,
    );
    equal(
      stream.tracks[0]!.counters.readerReports,
      reportsBefore,
      "RTCP listener of the ended session removed",
    );
    equal((await h.send(conn, "PLAY", `${BASE}/cam/`, { Session: silent })).status, 454);

    h.clock.now += ENFORCED_MS + 1;
    h.svc.sweep();
    assertEquals(h.ids(), []);
    equal(stream.refs, 0);
  } finally {
    await h.close();
  }
});

Deno.test("RtspService.sweep() keeps interleaved sessions alive while their connection is active", async () => {
  const h = new Harness();
  try {
    const busy = new FakeConn();
    const idle = new FakeConn();
    busy.lastActivity = idle.lastActivity = h.clock.now;
    const idBusy = await h.tcpReader(busy, "cam");
    await h.tcpReader(idle, "cam");
    h.clock.now += ENFORCED_MS + 1;
    busy.lastActivity = h.clock.now - 1000; // RTCP frames or requests arrived a second ago
    h.svc.sweep();
    assertEquals(h.ids(), [idBusy]);
    equal(idle.closed, false); // sweeping ends the session, the shell owns the connection
  } finally {
    await h.close();
  }
});

Deno.test("RtspService times sessions on the monotonic clock: wall-clock jumps neither end nor keep them", async () => {
  using clocks = shiftClocks();
  const h = new Harness({ realClocks: true });
  try {
    const udp = new FakeConn();
    const tcp = new FakeConn();
    tcp.lastActivity = monotonicMs(); // as the shell stamps it, on the same clock
    const wallAtSetup = Date.now();
    const udpId = await h.setup(udp, `${BASE}/cam/trackID=0`, "RTP/AVP;unicast;client_port=7200-7201");
    const tcpId = await h.tcpReader(tcp, "cam");
    const udpSession = h.svc.sessions().find((s) => s.id === udpId)!;
    ok(Math.abs(udpSession.createdAt - wallAtSetup) < 1000, "createdAt is a wall-clock time");

    // NTP steps the wall clock an hour forward, then two hours back: no session ends.
    clocks.wallMs += 3_600_000;
    h.svc.sweep();
    assertEquals(h.ids(), [udpId, tcpId].sort());
    clocks.wallMs -= 7_200_000;
    h.svc.sweep();
    assertEquals(h.ids(), [udpId, tcpId].sort());

    // With the wall clock an hour behind, silence is still timed: the UDP reader ends after the enforced
    // timeout, the interleaved one lives on while its connection shows activity.
    clocks.monotonicMs += ENFORCED_MS - 5000;
    h.svc.sweep();
    equal(h.ids().length, 2);
    tcp.lastActivity = monotonicMs();
    clocks.monotonicMs += 5001;
    h.svc.sweep();
    assertEquals(h.ids(), [tcpId]);
    clocks.monotonicMs += ENFORCED_MS + 1;
    h.svc.sweep();
    assertEquals(h.ids(), []);
  } finally {
    await h.close();
  }
});

Deno.test("RtspService stamps createdAt and reader reports with the wall clock, not the monotonic one", async () => {
  const h = new Harness();
  try {
    const tcp = new FakeConn();
    const id = await h.tcpReader(tcp, "cam");
    const session = h.svc.sessions().find((s) => s.id === id)!;
    equal(session.createdAt, h.wall.now);
    equal(session.timer.lastActivity, h.clock.now);
    h.wall.now -= 3_600_000; // the wall clock steps back an hour: the report says so, the session lives on
    tcp.onFrame!(1, readerRr({ ssrc: h.stream("cam").tracks[0]!.outputSsrc, cumulativeLost: 1 }));
    equal(session.reports.get(0)!.at, h.wall.now);
    h.clock.now += ENFORCED_MS - 1000;
    tcp.lastActivity = h.clock.now;
    h.svc.sweep();
    assertEquals(h.ids(), [id]);
  } finally {
    await h.close();
  }
});

Deno.test("RtspService serves a publisher: ANNOUNCE, SETUP (record), RECORD, then media reaches readers", async () => {
  const h = new Harness();
  try {
    const pub = new FakeConn();
    const announce = await h.send(
      pub,
      "ANNOUNCE",
      `${BASE}/live/x`,
      { "Content-Type": "application/sdp" },
      PUBLISHER_SDP,
    );
    equal(announce.status, 200);
    const stream = h.stream("live/x");
    equal(stream.kind, "publish");
    equal(stream.state, "connecting");

    const setup = await h.send(pub, "SETUP", `${BASE}/live/x/streamid=0`, {
      Transport: "RTP/AVP/TCP;unicast;interleaved=0-1;mode=record",
    });
    equal(setup.status, 200);
    const id = parseSession(setup.headers.get("Session")!).id;
    const t = parseTransport(setup.headers.get("Transport")!);
    equal(t.mode, "RECORD");
    assertEquals(t.interleaved, [0, 1]);
    equal(h.svc.sessions()[0]!.role, "publisher");

    pub.onFrame!(0, rtp(1)); // before RECORD: ignored
    equal(stream.tracks[0]!.counters.packetsIn, 0);
    equal((await h.send(pub, "RECORD", `${BASE}/live/x`, { Session: id })).status, 200);
    equal(stream.state, "ready");
    equal((await h.send(pub, "PLAY", `${BASE}/live/x`, { Session: id })).status, 455);

    const reader = new FakeConn();
    const describe = await h.send(reader, "DESCRIBE", `${BASE}/live/x`);
    equal(describe.status, 200);
    equal(describe.headers.get("Content-Base"), `${BASE}/live/x/`);
    await h.tcpReader(reader, "live/x");

    // The shell hands `$` frames over as views of its read buffer: the relay rewrites and keeps its own copy.
    const frame = rtp(500, 0xfeed);
    const sent = frame.slice();
    pub.onFrame!(0, frame);
    assertEquals(frame, sent);
    frame.fill(0);
    const got = await reader.frames();
    equal(got.length, 1);
    equal(rtpSequence(got[0]!.payload), 500);
    equal(rtpSsrc(got[0]!.payload), stream.tracks[0]!.outputSsrc);
    equal(got[0]!.payload[12], 0x65);
    equal(stream.tracks[0]!.counters.packetsIn, 1);
  } finally {
    await h.close();
  }
});

Deno.test("RtspService refuses a second publisher on a busy path with 455", async () => {
  const h = new Harness();
  try {
    const first = new FakeConn();
    equal((await h.send(first, "ANNOUNCE", `${BASE}/pub`, {}, PUBLISHER_SDP)).status, 200);
    const second = new FakeConn();
    equal((await h.send(second, "ANNOUNCE", `${BASE}/pub`, {}, PUBLISHER_SDP)).status, 455);
    // One connection announces one stream.
    equal((await h.send(first, "ANNOUNCE", `${BASE}/other`, {}, PUBLISHER_SDP)).status, 455);
    equal(h.hub.get("other"), undefined);
    // The refused publisher changed nothing.
    equal(h.stream("pub").refs, 1);
    h.svc.connectionClosed(second);
    equal(h.stream("pub").source !== null, true);
  } finally {
    await h.close();
  }
});

Deno.test("RtspService refuses publishing on configured pull paths, and everywhere with publish off", async () => {
  const h = new Harness();
  try {
    const conn = new FakeConn();
    const res = await h.send(
      conn,
      "ANNOUNCE",
      `${BASE}/cam`,
      { "Content-Type": "application/sdp" },
      PUBLISHER_SDP,
    );
    equal(res.status, 403);
    equal(h.hub.get("cam"), undefined);
    equal(h.sources.length, 0);
    const notSdp = await h.send(
      conn,
      "ANNOUNCE",
      `${BASE}/x`,
      { "Content-Type": "text/plain" },
      PUBLISHER_SDP,
    );
    equal(notSdp.status, 415);
  } finally {
    await h.close();
  }
  const off = new Harness({ publish: false });
  try {
    equal((await off.send(new FakeConn(), "ANNOUNCE", `${BASE}/free`, {}, PUBLISHER_SDP)).status, 403);
    equal(off.hub.streams().length, 0);
  } finally {
    await off.close();
  }
});

Deno.test("RtspService answers RECORD before every announced track is set up with 455", async () => {
  const h = new Harness();
  try {
    const pub = new FakeConn();
    equal((await h.send(pub, "ANNOUNCE", `${BASE}/two`, {}, CAMERA_SDP)).status, 200);
    const id = await h.setup(pub, `${BASE}/two/video`, "RTP/AVP/TCP;unicast;interleaved=0-1;mode=record");
    equal((await h.send(pub, "RECORD", `${BASE}/two`, { Session: id })).status, 455);
    equal(h.stream("two").state, "connecting");
    await h.setup(pub, `${BASE}/two/audio`, "RTP/AVP/TCP;unicast;interleaved=2-3;mode=record", id);
    equal((await h.send(pub, "RECORD", `${BASE}/two`, { Session: id })).status, 200);
    equal(h.stream("two").state, "ready");
  } finally {
    await h.close();
  }
});

Deno.test("RtspService frees the path when the publisher's connection closes; readers wait for the next one", async () => {
  const h = new Harness();
  try {
    const pub = new FakeConn();
    equal((await h.send(pub, "ANNOUNCE", `${BASE}/p`, {}, PUBLISHER_SDP)).status, 200);
    const id = await h.setup(pub, `${BASE}/p/streamid=0`, "RTP/AVP/TCP;unicast;interleaved=0-1;mode=record");
    equal((await h.send(pub, "RECORD", `${BASE}/p`, { Session: id })).status, 200);
    const reader = new FakeConn();
    const readerId = await h.tcpReader(reader, "p");
    const stream = h.stream("p");
    equal(stream.refs, 2);

    h.svc.connectionClosed(pub);
    assertEquals(h.ids(), [readerId]);
    equal(stream.source, null);
    equal(stream.state, "idle");
    equal(stream.refs, 1);

    // The next publisher takes the path over; the reader's track carries on.
    const next = new FakeConn();
    equal((await h.send(next, "ANNOUNCE", `${BASE}/p`, {}, PUBLISHER_SDP)).status, 200);
    equal(h.stream("p"), stream);
  } finally {
    await h.close();
  }
});

Deno.test("RtspService.connectionClosed() ends interleaved sessions and keeps UDP ones", async () => {
  const h = new Harness();
  try {
    const conn = new FakeConn();
    await h.tcpReader(conn, "cam");
    const udp = await h.setup(conn, `${BASE}/cam2/trackID=0`, "RTP/AVP;unicast;client_port=7010-7011");
    equal((await h.send(conn, "PLAY", `${BASE}/cam2/`, { Session: udp })).status, 200);
    h.svc.connectionClosed(conn);
    assertEquals(h.ids(), [udp]);
    equal(h.stream("cam").refs, 0);
    equal(h.stream("cam").tracks[0]!.egresses.length, 0);
    equal(h.stream("cam2").refs, 1);
  } finally {
    await h.close();
  }
});

Deno.test("RtspService.kick() ends exactly the named session", async () => {
  const h = new Harness();
  try {
    const a = new FakeConn();
    const b = new FakeConn();
    const c = new FakeConn();
    const idA = await h.tcpReader(a, "cam");
    const idB = await h.tcpReader(b, "cam");
    const idC = await h.setup(c, `${BASE}/cam/trackID=0`, "RTP/AVP;unicast;client_port=7020-7021");

    equal(h.svc.kick(idA), true);
    assertEquals(h.ids(), [idB, idC].sort());
    equal(a.closed, true); // an interleaved reader loses its connection
    equal(b.closed, false);
    equal(h.stream("cam").refs, 2);
    assertEquals(h.stream("cam").tracks[0]!.egresses.map((e) => e.id), [`${idB}:0`]);

    equal(h.svc.kick(idC), true);
    equal(c.closed, false); // a UDP reader's connection is not the session
    assertEquals(h.ids(), [idB]);
    equal(h.svc.kick(idC), false);
    equal(h.svc.kick("ffffffffffffffff"), false);
    assertEquals(h.ids(), [idB]);
  } finally {
    await h.close();
  }
});

Deno.test("RtspService.stop() ends every session", async () => {
  const h = new Harness();
  try {
    await h.tcpReader(new FakeConn(), "cam");
    await h.setup(new FakeConn(), `${BASE}/cam2/trackID=1`, "RTP/AVP;unicast;client_port=7030-7031");
    h.svc.stop();
    assertEquals(h.ids(), []);
    equal(h.stream("cam").refs, 0);
    equal(h.stream("cam2").refs, 0);
  } finally {
    await h.close();
  }
});

Deno.test("RtspService PLAY over UDP sends RTP to the client port and counts the reader's RTCP", async () => {
  const h = new Harness();
  try {
    const conn = new FakeConn();
    const id = await h.setup(conn, `${BASE}/cam/trackID=0`, "RTP/AVP;unicast;client_port=7200-7201");
    equal((await h.send(conn, "PLAY", `${BASE}/cam/`, { Session: id })).status, 200);
    const stream = h.stream("cam");
    const track = stream.tracks[0]!;
    const pair = stream.pairOf(0) as FakePortPair;

    track.ingestRtp(rtp(42));
    const sent = pair.sent.filter((d) => d.port === "rtp");
    equal(sent.length, 1, "RTP to the client port, from the track's RTP port");
    equal(sent[0]!.to.port, 7200);
    equal(rtpSequence(sent[0]!.packet), 42);
    equal(rtpSsrc(sent[0]!.packet), track.outputSsrc);

    // A receiver report from the reader's RTCP port refreshes the session and is counted, not forwarded.
    // v=2, p=0, count=0, RR, length=1 word; reporter SSRC 1
    h.clock.now += 3000;
    pair.receiveRtcp(new Uint8Array([0x80, 201, 0x00, 0x01, 0, 0, 0, 1]), HOST, 7201);
    equal(track.counters.readerReports, 1);
    equal(h.svc.sessions()[0]!.timer.lastActivity, h.clock.now);
    equal(pair.sent.filter((d) => d.port === "rtcp").length, 0, "not forwarded");
    // The same report from another port of the client is not the reader's.
    pair.receiveRtcp(new Uint8Array([0x80, 201, 0x00, 0x01, 0, 0, 0, 1]), HOST, 7203);
    equal(track.counters.readerReports, 1);
  } finally {
    await h.close();
  }
});

Deno.test({
  // A refused SETUP must not leave an "init" session behind holding the stream until the sweep.
  name: "RtspService leaves no session behind when SETUP is refused for an interleaved channel in use",
  async fn() {
    const h = new Harness();
    try {
      const conn = new FakeConn();
      const id = await h.tcpReader(conn, "cam");
      const res = await h.send(conn, "SETUP", `${BASE}/cam2/trackID=0`, {
        Transport: "RTP/AVP/TCP;unicast;interleaved=0-1",
      });
      equal(res.status, 461);
      assertEquals(h.ids(), [id]);
      equal(h.stream("cam2").refs, 0);
    } finally {
      await h.close();
    }
  },
});

/** An RR compound from a reader (SSRC 0x5eade5) with the given report blocks, then its SDES CNAME. */
function readerRr(...blocks: Array<Partial<ReportBlock> & { ssrc: number }>): Uint8Array {
  return buildReceiverReportCompound(
    0x5eade5,
    "reader",
    blocks.map((b) => ({
      fractionLost: 0,
      cumulativeLost: 0,
      highestSeq: 0,
      jitter: 0,
      lsr: 0,
      dlsr: 0,
      ...b,
    })),
  );
}

Deno.test("RtspService keeps each reader's latest RTCP report per track on its session, over TCP and UDP", async () => {
  const h = new Harness();
  try {
    const tcp = new FakeConn();
    const tcpId = await h.tcpReader(tcp, "cam");
    const stream = h.stream("cam");
    const [video, audio] = [stream.tracks[0]!, stream.tracks[1]!];
    equal(audio.clockRate, 8000);
    const session = (id: string) => h.svc.sessions().find((s) => s.id === id)!;

    // RTCP channel 1 of the interleaved reader: fraction 64/256, 12 lost, jitter 900 units at 90 kHz = 10 ms.
    tcp.onFrame!(1, readerRr({ ssrc: video.outputSsrc, fractionLost: 64, cumulativeLost: 12, jitter: 900 }));
    const expected = {
      fractionLost: 0.25,
      cumulativeLost: 12,
      jitterSeconds: 0.01,
      highestSeq: 0,
      at: h.wall.now,
    };
    assertEquals(session(tcpId).reports.get(0), expected);
    assertEquals(video.readerReports.get(tcpId), expected);
    equal(video.counters.readerReports, 1);

    // A later report replaces the earlier one; a block about a track the reader did not set up is ignored.
    h.clock.now += 5000;
    h.wall.now += 5000;
    tcp.onFrame!(
      1,
      readerRr(
        { ssrc: video.outputSsrc, fractionLost: 0, cumulativeLost: 13, jitter: 450, highestSeq: 70_000 },
        { ssrc: audio.outputSsrc, cumulativeLost: 99 },
      ),
    );
    assertEquals(session(tcpId).reports.get(0), {
      fractionLost: 0,
      cumulativeLost: 13,
      jitterSeconds: 0.005,
      highestSeq: 70_000,
      at: h.wall.now,
    });
    equal(session(tcpId).reports.has(1), false);
    equal(audio.readerReports.size, 0);
    tcp.onFrame!(1, new Uint8Array([0x80, 201, 0x00, 0x09])); // length says 40 bytes, has 4: ignored
    equal(session(tcpId).reports.get(0)!.cumulativeLost, 13);

    // A UDP reader of both tracks: blocks go to the track whose SSRC they name, whichever port they came on.
    const udp = new FakeConn();
    const udpId = await h.setup(udp, `${BASE}/cam/trackID=0`, "RTP/AVP;unicast;client_port=7100-7101");
    await h.setup(udp, `${BASE}/cam/trackID=1`, "RTP/AVP;unicast;client_port=7102-7103", udpId);
    (stream.pairOf(0) as FakePortPair).receiveRtcp(
      readerRr({ ssrc: audio.outputSsrc, fractionLost: 128, cumulativeLost: 3, jitter: 80 }),
      HOST,
      7101,
    );
    assertEquals(session(udpId).reports.get(1), {
      fractionLost: 0.5,
      cumulativeLost: 3,
      jitterSeconds: 0.01,
      highestSeq: 0,
      at: h.wall.now,
    });
    // A block naming no SSRC of the stream (a client that has not learnt it) is about the port's track.
    (stream.pairOf(1) as FakePortPair).receiveRtcp(readerRr({ ssrc: 0, cumulativeLost: 4 }), HOST, 7103);
    equal(session(udpId).reports.get(1)!.cumulativeLost, 4);
    equal(session(udpId).reports.has(0), false);

    // Ending a session forgets its reports on the tracks.
    equal((await h.send(tcp, "TEARDOWN", `${BASE}/cam/`, { Session: tcpId })).status, 200);
    equal(video.readerReports.has(tcpId), false);
    equal(audio.readerReports.get(udpId)!.cumulativeLost, 4);
  } finally {
    await h.close();
  }
});

Deno.test("RtspService sends a recording publisher RTCP receiver reports on its RTCP channel", async () => {
  const h = new Harness();
  try {
    const pub = new FakeConn();
    equal(
      (await h.send(pub, "ANNOUNCE", `${BASE}/live/rr`, { "Content-Type": "application/sdp" }, PUBLISHER_SDP))
        .status,
      200,
    );
    const setup = await h.send(pub, "SETUP", `${BASE}/live/rr/streamid=0`, {
      Transport: "RTP/AVP/TCP;unicast;interleaved=0-1;mode=record",
    });
    const id = parseSession(setup.headers.get("Session")!).id;
    equal((await h.send(pub, "RECORD", `${BASE}/live/rr`, { Session: id })).status, 200);
    for (let seq = 100; seq <= 110; seq++) if (seq !== 105) pub.onFrame!(0, rtp(seq, 0xfeed));

    h.svc.sweep(); // first seen recording: the first report is due half an interval later
    h.clock.now += 2499;
    h.svc.sweep();
    equal((await pub.frames()).length, 0);
    h.clock.now += 1;
    h.svc.sweep();
    const frames = await pub.frames();
    equal(frames.length, 1);
    equal(frames[0]!.channel, 1);
    const types: number[] = [];
    let block: ReportBlock | undefined;
    forEachRtcpPacket(frames[0]!.payload, (type, pkt) => {
      types.push(type);
      if (type === RTCP_RR) block = parseReceiverReport(pkt)!.reports[0];
    });
    assertEquals(types, [RTCP_RR, RTCP_SDES]);
    // Probation takes 100; 101..110 expected, 105 missing.
    assertEquals(block, {
      ssrc: 0xfeed,
      fractionLost: Math.floor(256 / 10),
      cumulativeLost: 1,
      highestSeq: 110,
      jitter: block!.jitter,
      lsr: 0,
      dlsr: 0,
    });

    h.clock.now += 4999;
    h.svc.sweep();
    equal((await pub.frames()).length, 1, "not before the interval");
    h.clock.now += 1;
    h.svc.sweep();
    equal((await pub.frames()).length, 2);
  } finally {
    await h.close();
  }
});

const TCP01 = "RTP/AVP/TCP;unicast;interleaved=0-1";
const text = (res: RtspResponse) => new TextDecoder().decode(res.body);

Deno.test("RtspService bills a client's rate for new connections and failures only; past it, 503 with Retry-After", async () => {
  const h = new Harness({ limits: { requestsPerSecond: 2 } });
  try {
    const a = new FakeConn();
    const b = new FakeConn("10.0.0.2");
    const options = (conn: FakeConn) => h.send(conn, "OPTIONS", `${BASE}/cam`);
    const unknown = (conn: FakeConn) => h.send(conn, "DESCRIBE", `${BASE}/nothing`);
    for (let i = 0; i < 20; i++) equal((await options(a)).status, 200, `successful request ${i} is free`);
    // The connection cost one token of the burst of 4; three failures spend the rest.
    for (let i = 0; i < 3; i++) equal((await unknown(a)).status, 404);
    const res = await options(a);
    equal(res.status, 503);
    equal(res.headers.get("Retry-After"), "1");
    equal(res.headers.get("CSeq"), "24");
    match(
      text(res),
      /More than 2 failed requests or new connections per second from this client; retry after 1 s/,
    );
    equal((await options(b)).status, 200, "another address has its own bucket");
    h.clock.now += 500; // one token back at 2/s
    equal((await options(a)).status, 200);
    equal((await unknown(a)).status, 404);
    equal((await options(a)).status, 503);
    assertEquals(h.refused.filter((r) => r === "request_rate"), ["request_rate", "request_rate"]);
  } finally {
    await h.close();
  }
});

Deno.test("requestCost() bills failures, a quarter for a handshake's 401, nothing for success", () => {
  const req = (auth?: string) =>
    request("DESCRIBE", `${BASE}/cam`, { CSeq: "1", ...(auth ? { Authorization: auth } : {}) });
  equal(requestCost(req(), response(200)), 0);
  equal(requestCost(req(), response(401)), 0.25);
  equal(requestCost(req("Digest x"), response(401)), 1);
  equal(requestCost(req(), response(404)), 1);
  equal(requestCost(req(), response(503)), 1);
});

Deno.test("RtspService answers 503 to a SETUP opening more sessions than a client may hold, before starting a camera", async () => {
  const h = new Harness({ limits: { maxSessionsPerIp: 2 } });
  try {
    const [a, b, c] = [new FakeConn(), new FakeConn(), new FakeConn()];
    const first = await h.setup(a, `${BASE}/cam/trackID=0`, TCP01); // a session counts from its SETUP
    await h.tcpReader(b, "cam");
    const sources = h.sources.length;
    const res = await h.send(c, "SETUP", `${BASE}/cam2/trackID=0`, { Transport: TCP01 });
    equal(res.status, 503);
    match(text(res), /This client already holds 2 sessions, the most allowed per client/);
    equal(h.sources.length, sources, "the refused reader started no camera");
    equal(h.svc.sessions().length, 2, "and left no session behind");
    // A second track of a session it holds is no new session; another address has its own count.
    await h.setup(a, `${BASE}/cam/trackID=1`, "RTP/AVP/TCP;unicast;interleaved=2-3", first);
    await h.tcpReader(new FakeConn("10.0.0.9"), "cam2");
    // A session ended is a slot free.
    equal((await h.send(a, "TEARDOWN", `${BASE}/cam/`, { Session: first })).status, 200);
    await h.tcpReader(c, "cam2");
    assertEquals(h.refused, ["max_sessions_per_ip"]);
  } finally {
    await h.close();
  }
});

Deno.test("RtspService answers 453 to a SETUP or PLAY beyond the readers a path may have", async () => {
  const h = new Harness({ limits: { maxReadersPerPath: 1 } });
  try {
    const [a, b, c] = [new FakeConn(), new FakeConn(), new FakeConn()];
    const sa = await h.setup(a, `${BASE}/cam/trackID=0`, TCP01);
    const sb = await h.setup(b, `${BASE}/cam/trackID=0`, TCP01); // set up, not playing: no reader yet
    equal((await h.send(a, "PLAY", `${BASE}/cam/`, { Session: sa })).status, 200);
    const play = await h.send(b, "PLAY", `${BASE}/cam/`, { Session: sb });
    equal(play.status, 453);
    match(text(play), /Path "cam" already has 1 playing reader, the most allowed/);
    equal((await h.send(c, "SETUP", `${BASE}/cam/trackID=0`, { Transport: TCP01 })).status, 453);
    equal(
      (await h.send(a, "PLAY", `${BASE}/cam/`, { Session: sa })).status,
      200,
      "a playing reader may PLAY again",
    );
    await h.tcpReader(c, "cam2"); // another path has its own count
    equal((await h.send(a, "TEARDOWN", `${BASE}/cam/`, { Session: sa })).status, 200);
    equal((await h.send(b, "PLAY", `${BASE}/cam/`, { Session: sb })).status, 200, "the slot freed is taken");
    assertEquals(h.refused, ["max_readers_per_path", "max_readers_per_path"]);
    equal(h.svc.readersByPath().get("cam"), 1);
  } finally {
    await h.close();
  }
});

Deno.test("RtspService logs bad credentials once per client per 10 s, never the password, and counts each", async () => {
  const lines: Array<Record<string, unknown>> = [];
  const h = new Harness({
    auth: new RtspAuthenticator({
      users: [{ name: "u", password: "p-secret", rights: "read", paths: "*" }],
      schemes: ["basic"],
    }),
    logger: createLogger({ level: "info", write: (l) => lines.push(JSON.parse(l)) }),
  });
  try {
    const conn = new FakeConn();
    equal((await h.send(conn, "DESCRIBE", `${BASE}/cam`)).status, 401, "the handshake's first step");
    const wrong = { Authorization: `Basic ${btoa("u:wrong-secret")}` };
    for (let i = 0; i < 30; i++) {
      h.clock.now += 10;
      equal((await h.send(conn, "DESCRIBE", `${BASE}/cam`, wrong)).status, 401);
    }
    assertEquals(h.refused, ["auth_required", ...Array(30).fill("unauthorized")]);
    const refused = lines.filter((l) => l.msg === "rtsp request refused");
    assertEquals(refused.map((l) => [l.level, l.reason, l.remote, l.status, l.path, l.suppressed]), [
      ["warn", "unauthorized", HOST, 401, "cam", 0],
    ]);
    h.clock.now += 10_000;
    h.svc.sweep();
    const summary = lines.filter((l) => l.msg === "rtsp refusals suppressed");
    assertEquals(summary.map((l) => [l.reason, l.remote, l.suppressed]), [["unauthorized", HOST, 29]]);
    const log = JSON.stringify(lines);
    ok(!log.includes("wrong-secret") && !log.includes(btoa("u:wrong-secret")), "credentials logged");
  } finally {
    await h.close();
  }
});

Deno.test("RtspService counts framing errors and the server's connection limits under their reasons", async () => {
  const lines: Array<Record<string, unknown>> = [];
  const h = new Harness({ logger: createLogger({ level: "info", write: (l) => lines.push(JSON.parse(l)) }) });
  try {
    const conn = new FakeConn();
    h.svc.protocolError(conn, new RtspProtocolError("Message head exceeds 8192 bytes", 431, 8192));
    h.svc.protocolError(conn, new RtspProtocolError('Content-Length "9" exceeds 4 bytes', 413, 4));
    h.svc.protocolError(conn, new RtspProtocolError("Request incomplete after 10000 ms", 408, 10_000));
    h.svc.protocolError(conn, new RtspProtocolError("Malformed request line"));
    h.svc.limitHit(conn.remote, { reason: "max_connections", status: 503, limit: 1024, method: "OPTIONS" });
    h.svc.limitHit(conn.remote, { reason: "idle_timeout", status: null, limit: 60_000 });
    assertEquals(h.refused, [
      "header_too_large",
      "body_too_large",
      "request_timeout",
      "bad_request",
      "max_connections",
      "idle_timeout",
    ]);
    assertEquals(
      lines.map((l) => [l.msg, l.reason, l.status, l.limit]),
      [
        ["rtsp request refused", "header_too_large", 431, 8192],
        ["rtsp request refused", "body_too_large", 413, 4],
        ["rtsp request refused", "request_timeout", 408, 10],
        ["rtsp request refused", "bad_request", 400, undefined],
        ["rtsp request refused", "max_connections", 503, 1024],
        ["rtsp connection closed", "idle_timeout", null, 60],
      ],
    );
    ok(h.answered.some(([m, s]) => m === "OPTIONS" && s === 503), "the 503 is an answered request too");
    // The idle timeout spares a connection holding a session.
    equal(h.svc.holdsSession(conn), false);
    const id = await h.tcpReader(conn, "cam");
    equal(h.svc.holdsSession(conn), true);
    await h.send(conn, "TEARDOWN", `${BASE}/cam/`, { Session: id });
    equal(h.svc.holdsSession(conn), false);
  } finally {
    await h.close();
  }
});

Deno.test("RtspService refuses new sessions with 503 while the memory budget is nearly used up", async () => {
  const budget = new MemoryBudget(1000);
  const h = new Harness({ memoryBudget: budget });
  try {
    const conn = new FakeConn();
    equal((await h.send(conn, "DESCRIBE", `${BASE}/cam`)).status, 200);
    budget.force("gop_cache", 950);
    const refused = await h.send(conn, "SETUP", `${BASE}/cam/trackID=0`, {
      Transport: "RTP/AVP/TCP;unicast;interleaved=0-1",
    });
    equal(refused.status, 503);
    match(new TextDecoder().decode(refused.body), /memory budget is nearly used up \(0 of 0 MiB/);
    ok(h.refused.includes("memory_budget"));
    budget.release("gop_cache", 950);
    await h.tcpReader(conn, "cam");
  } finally {
    await h.close();
  }
});

Deno.test("RtspService closes a TCP reader that has taken no packet for the slow-reader timeout", async () => {
  const h = new Harness();
  try {
    const conn = new FakeConn();
    const id = await h.tcpReader(conn, "cam");
    // The reader's queue refuses every frame: it stopped reading.
    const writer = conn.writer as unknown as { droppingSince: number | null };
    Object.defineProperty(writer, "droppingSince", { value: h.clock.now, configurable: true });
    h.clock.now += 9_000;
    h.svc.sweep();
    ok(h.ids().includes(id), "closed before the timeout");
    h.clock.now += 2_000;
    h.svc.sweep();
    ok(!h.ids().includes(id), "still open after the timeout");
    ok(conn.closed, "its connection was not closed");
    ok(h.refused.includes("slow_reader"));
  } finally {
    await h.close();
  }
});

Deno.test("RtspService sends a reader the cached GOP once: PAUSE/PLAY does not replay it", async () => {
  const h = new Harness({ gopCacheBytes: 64 * 1024 });
  try {
    const pub = new FakeConn();
    equal((await h.send(pub, "DESCRIBE", `${BASE}/cam`)).status, 200);
    const video = h.stream("cam").tracks[0]!;
    video.ingestRtp(rtp(1));
    video.ingestRtp(rtp(2, 0x1234, 0x41));
    const conn = new FakeConn();
    const id = await h.tcpReader(conn, "cam");
    await tick();
    equal(video.counters.burstPackets, 2);
    for (let i = 0; i < 5; i++) {
      equal((await h.send(conn, "PAUSE", `${BASE}/cam/`, { Session: id })).status, 200);
      equal((await h.send(conn, "PLAY", `${BASE}/cam/`, { Session: id })).status, 200);
      await tick();
    }
    equal(video.counters.burstPackets, 2, "the same GOP was replayed");
    // A new keyframe: the next PLAY after a PAUSE may have it.
    video.ingestRtp(rtp(3));
    equal((await h.send(conn, "PAUSE", `${BASE}/cam/`, { Session: id })).status, 200);
    equal((await h.send(conn, "PLAY", `${BASE}/cam/`, { Session: id })).status, 200);
    await tick();
    equal(video.counters.burstPackets, 3);
  } finally {
    await h.close();
  }
});
