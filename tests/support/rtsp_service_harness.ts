/**
 * The harness of the RTSP service's tests (src/relay/rtsp_service_test.ts, rtsp_reader_methods_test.ts,
 * rtsp_publisher_methods_test.ts, session_registry_test.ts): the service driven through its handler interface, as
 * the TCP shell (src/rtsp/server.ts) drives it: request objects in, responses out, `$` frames through the
 * connection's `onFrame`. The hub is real, with fake sources that install an SDP on demand, fake connections
 * that record interleaved frames, fake port pairs (fake_port_pairs.ts) and fake clocks: no sockets.
 * @module
 */
import { equal, ok } from "node:assert/strict";
import { silentLogger } from "../../src/log.ts";
import { writeRtpHeader } from "../../src/rtp/packet.ts";
import { buildReceiverReportCompound, type ReportBlock } from "../../src/rtp/rtcp.ts";
import { parseSession } from "../../src/rtsp/headers/session.ts";
import { InterleavedWriter } from "../../src/rtsp/interleaved_writer.ts";
import { request, type RtspResponse } from "../../src/rtsp/message.ts";
import { parseSdp } from "../../src/rtsp/sdp.ts";
import type { MemoryBudget } from "../../src/relay/memory_budget.ts";
import type { RtspConnection } from "../../src/rtsp/server.ts";
import { StreamHub } from "../../src/relay/hub.ts";
import { FakePortPairs } from "./fake_port_pairs.ts";
import { NO_RTSP_LIMITS, RtspService, type RtspServiceLimits } from "../../src/relay/rtsp_service.ts";
import type { RefusalReason } from "../../src/rtsp/refusals.ts";
import type { RtspAuthenticator } from "../../src/relay/rtsp_auth.ts";
import type { Logger } from "../../src/log.ts";
import type { Stream, StreamSource } from "../../src/relay/stream.ts";
import { configDefaults } from "../../src/config/schema.ts";

export const TIMEOUT_S = 60;
/** Advertised timeout plus the SessionTimer's grace. */
export const ENFORCED_MS = (TIMEOUT_S + 10) * 1000;
export const HOST = "127.0.0.1";
export const BASE = `rtsp://${HOST}:8554`;

/** Two tracks: H.264 video and G.711 audio. */
export const CAMERA_SDP = [
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
export const PUBLISHER_SDP = [
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
export class FakeSource implements StreamSource {
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
export class FakeConn implements RtspConnection {
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
    }, { maxQueuedBytes: configDefaults().readerQueueBytes });
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

export interface HarnessOptions {
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
export class Harness {
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
      maxTracks: configDefaults().maxTracksPerStream,
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
      limits: options.limits ?? NO_RTSP_LIMITS,
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
export function rtp(seq: number, ssrc = 0x1234, nal = 0x65): Uint8Array {
  const p = new Uint8Array(14);
  writeRtpHeader(p, 0, { marker: true, payloadType: 96, sequence: seq, timestamp: seq * 3600, ssrc });
  p[12] = nal;
  p[13] = 0x88;
  return p;
}

export async function tick(ms = 0): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

export const TCP01 = "RTP/AVP/TCP;unicast;interleaved=0-1";
export const text = (res: RtspResponse) => new TextDecoder().decode(res.body);

/** An RR compound from a reader (SSRC 0x5eade5) with the given report blocks, then its SDES CNAME. */
export function readerRr(...blocks: Array<Partial<ReportBlock> & { ssrc: number }>): Uint8Array {
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
