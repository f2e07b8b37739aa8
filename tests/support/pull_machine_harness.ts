/**
 * Test support for {@linkcode PullMachine}: a recording fake of the stream ({@linkcode FakeSink}), a fake clock
 * that fires the machine's timers in deadline order, and helpers that script a camera's answers. No sockets, no
 * real timers: a whole camera session runs in microseconds and every time in it is exact.
 * @module
 */
import type { ReportBlock } from "../../src/rtp/rtcp.ts";
import { RtspHeaders, type RtspResponse, STATUS_REASONS } from "../../src/rtsp/message.ts";
import type { SessionDescription } from "../../src/rtsp/sdp.ts";
import type { UdpSourceAddress } from "../../src/relay/source_latch.ts";
import type { SourceState } from "../../src/relay/stream.ts";
import type { PullEvent, PullOutput, PullTimer } from "../../src/relay/sources/pull_events.ts";
import { PullMachine } from "../../src/relay/sources/pull_machine.ts";
import { PULL_TIMING_DEFAULTS, type PullMachineOptions } from "../../src/relay/sources/pull_options.ts";
import type { PullPortPair, PullSink, PullTrack } from "../../src/relay/sources/pull_sink.ts";

/** The camera of the scripted sessions, with a password that must never show. */
export const CAMERA_URL = "rtsp://viewer:s3cret@10.0.0.5:554/cam";
/** The address the fake connection reports for the camera. */
export const CAMERA_HOST = "10.0.0.5";
/** The camera's Content-Base. */
export const CAMERA_BASE = "rtsp://10.0.0.5:554/cam/";

/** A track that records what it is given. */
export class FakeTrack implements PullTrack {
  readonly counters = { packetsIn: 0 };
  lastArrival = 0;
  /** The block {@linkcode receiverReportBlock} returns. */
  block: ReportBlock | null = null;
  readonly rtp: Uint8Array[] = [];
  readonly rtcp: Uint8Array[] = [];

  receiverReportBlock(): ReportBlock | null {
    return this.block;
  }

  ingestRtp(packet: Uint8Array): void {
    this.counters.packetsIn++;
    this.rtp.push(packet);
  }

  ingestRtcp(packet: Uint8Array): void {
    this.rtcp.push(packet);
  }
}

/** A stream that records the calls the machine makes, as short lines. */
export class FakeSink implements PullSink {
  readonly path = "cam";
  state: SourceState = "idle";
  lastError: string | undefined;
  tracks: FakeTrack[] = [];
  waiting = 0;
  sourceSessions = 0;
  /** Most tracks a description may have. */
  maxTracks = 16;
  /** When set, binding a port pair throws. */
  portsExhausted = false;
  /** Every call, in order: `state error: ...`, `describe 2 tracks`, `pair 0`, `udp source 0 ...`. */
  readonly calls: string[] = [];
  readonly #pairs = new Map<number, PullPortPair>();

  setDescription(desc: SessionDescription): void {
    if (desc.medias.length > this.maxTracks) {
      throw new Error(`The SDP has ${desc.medias.length} media sections`);
    }
    this.calls.push(`describe ${desc.medias.length} tracks`);
    if (this.tracks.length !== desc.medias.length) this.tracks = desc.medias.map(() => new FakeTrack());
  }

  setState(state: SourceState, error?: string): void {
    this.calls.push(`state ${state}${error ? `: ${error}` : ""}`);
    this.state = state;
    this.lastError = error;
    if (state === "ready") this.sourceSessions++;
  }

  setUdpSource(index: number, source: UdpSourceAddress | null): void {
    this.calls.push(
      `udp source ${index} ${
        source ? `${source.host} ${source.rtpPort ?? "?"}-${source.rtcpPort ?? "?"}` : "none"
      }`,
    );
  }

  pairFor(index: number): PullPortPair {
    if (this.portsExhausted) throw new Error("No free UDP port pair in 5000-5001");
    this.calls.push(`pair ${index}`);
    let pair = this.#pairs.get(index);
    if (!pair) {
      pair = { rtpPort: 5000 + 2 * index, rtcpPort: 5001 + 2 * index, sendRtcp: () => {} };
      this.#pairs.set(index, pair);
    }
    return pair;
  }

  pairOf(index: number): PullPortPair | undefined {
    return this.#pairs.get(index);
  }
}

/** An event without its time: the harness stamps it with its clock. */
export type UntimedEvent = PullEvent extends infer E ? E extends PullEvent ? Omit<E, "now"> : never : never;

/** A request the machine asked for. */
export type RequestOutput = Extract<PullOutput, { kind: "request" }>;

/** Options of the harness' machine, by default a UDP-first camera with the shell's default timings. */
export function machineOptions(options: Partial<PullMachineOptions> = {}): PullMachineOptions {
  return {
    ...PULL_TIMING_DEFAULTS,
    url: CAMERA_URL,
    transport: "auto",
    authSchemes: ["digest"],
    cname: "relay-test",
    ssrc: 0x5e1f0001,
    ...options,
  };
}

/** A machine with a fake stream and a fake clock that fires its timers. */
export class MachineHarness {
  /** The fake clock (monotonic ms). */
  now = 1000;
  readonly sink = new FakeSink();
  readonly machine: PullMachine;
  /** Timers armed now, by deadline. */
  readonly timers = new Map<PullTimer, number>();
  /** Every output so far. */
  readonly outputs: PullOutput[] = [];
  /** Connections open (asked for and not closed). */
  readonly open = new Set<number>();

  /** @param options machine settings over {@linkcode machineOptions}' */
  constructor(options: Partial<PullMachineOptions> = {}) {
    this.machine = new PullMachine(this.sink, machineOptions(options));
  }

  /** Feeds one event at the current time. */
  send(event: UntimedEvent): PullOutput[] {
    const outputs = this.machine.handle({ ...event, now: this.now } as PullEvent);
    for (const out of outputs) {
      if (out.kind === "setTimer") this.timers.set(out.timer, out.at);
      else if (out.kind === "cancelTimer") this.timers.delete(out.timer);
      else if (out.kind === "connect") this.open.add(out.conn);
      else if (out.kind === "close") this.open.delete(out.conn);
    }
    this.outputs.push(...outputs);
    return outputs;
  }

  /** Moves the clock `ms` on, firing each timer that falls due on the way, at its deadline. */
  advance(ms: number): PullOutput[] {
    const until = this.now + ms;
    const outputs: PullOutput[] = [];
    while (true) {
      let next: [PullTimer, number] | null = null;
      for (const entry of this.timers) if (entry[1] <= until && (!next || entry[1] < next[1])) next = entry;
      if (!next) break;
      this.timers.delete(next[0]);
      this.now = Math.max(this.now, next[1]);
      outputs.push(...this.send({ kind: "timer", timer: next[0] }));
    }
    this.now = until;
    return outputs;
  }

  /** The latest connection asked for. */
  get conn(): number {
    const connects = this.outputs.filter((o) => o.kind === "connect");
    return connects.at(-1)?.conn ?? -1;
  }

  /** Every request so far. */
  get requests(): RequestOutput[] {
    return this.outputs.filter((o): o is RequestOutput => o.kind === "request");
  }

  /** The latest request. */
  get lastRequest(): RequestOutput {
    const last = this.requests.at(-1);
    if (!last) throw new Error("No request was sent");
    return last;
  }

  /** The camera answers the latest request. */
  answer(status: number, headers: Record<string, string> = {}, body = ""): PullOutput[] {
    return this.send({
      kind: "response",
      id: this.lastRequest.id,
      response: response(status, headers, body),
    });
  }

  /** The latest connection opens. */
  connect(): PullOutput[] {
    return this.send({ kind: "connected", conn: this.conn, host: CAMERA_HOST });
  }

  /** Starts the machine and opens its connection: its DESCRIBE is the latest request. */
  startConnected(): PullOutput[] {
    return [...this.send({ kind: "start" }), ...this.connect()];
  }

  /** The latest request fails (a timeout, a closed connection, a challenge the client may not answer). */
  failRequest(error: unknown): PullOutput[] {
    return this.send({ kind: "requestFailed", id: this.lastRequest.id, error });
  }

  /** Log lines so far, as `level msg`. */
  get logLines(): string[] {
    return this.outputs.flatMap((o) => o.kind === "log" ? [`${o.level} ${o.msg}`] : []);
  }

  /** The fields of the log lines with message `msg`. */
  logFields(msg: string): Record<string, unknown>[] {
    return this.outputs.flatMap((o) => o.kind === "log" && o.msg === msg ? [o.fields] : []);
  }

  /**
   * Runs a handshake to PLAY's answer: connect, DESCRIBE (`tracks` video tracks), SETUPs answered with
   * `transport(i, offered)`, PLAY.
   */
  play(
    options: {
      tracks?: number;
      session?: string;
      transport?: (index: number, offered: string) => string;
    } = {},
  ): void {
    if (this.machine.phase === "idle") this.send({ kind: "start" });
    this.connect();
    this.answer(
      200,
      { "Content-Base": CAMERA_BASE, "Content-Type": "application/sdp" },
      sdp(options.tracks ?? 1),
    );
    for (let i = 0; i < (options.tracks ?? 1); i++) {
      const offered = this.lastRequest.headers.Transport!;
      const transport = options.transport?.(i, offered) ?? echoTransport(i, offered);
      this.answer(200, { Session: options.session ?? "1234;timeout=60", Transport: transport });
    }
    this.answer(200, { Session: "1234" });
  }
}

/** A Transport answer that accepts the offer (server ports 7000+2i over UDP, the offered channels over TCP). */
export function echoTransport(index: number, offered: string): string {
  return offered.includes("client_port")
    ? `${offered};server_port=${7000 + 2 * index}-${7001 + 2 * index}`
    : offered;
}

/** An RTSP response. */
export function response(status: number, headers: Record<string, string> = {}, body = ""): RtspResponse {
  return {
    kind: "response",
    status,
    reason: STATUS_REASONS[status] ?? "Unknown",
    headers: new RtspHeaders(headers),
    body: new TextEncoder().encode(body),
  };
}

/** An SDP with `tracks` H.264 video sections, controls `trackID=i`. */
export function sdp(tracks: number): string {
  let text = "v=0\r\no=- 1 1 IN IP4 10.0.0.5\r\ns=cam\r\nt=0 0\r\n";
  for (let i = 0; i < tracks; i++) {
    text += `m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=control:trackID=${i}\r\n`;
  }
  return text;
}
