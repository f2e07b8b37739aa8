/**
 * The relay's session to a camera as a sans-I/O state machine: events in (start, stop, connected, an answer to
 * request N, media arrived, connection closed, a timer fired; each with the time on one monotonic clock),
 * outputs out (connect, send a request, close, arm or cancel a timer, route interleaved channels, send a
 * receiver report, log a line). No sockets, timers or promises here: {@linkcode PullSource} is the shell that
 * performs the outputs. The stream is driven through the narrow {@linkcode PullSink} (set description, state and
 * UDP sources, bind port pairs, read report blocks): in-memory calls whose answers (a bound pair's ports) and
 * failures (too many tracks, no free ports) the handshake needs on the spot.
 *
 * One attempt: connect, DESCRIBE, one SETUP per track (UDP client ports, or TCP interleaved channels), PLAY.
 * While it plays, exact deadlines rather than polling: the media timeout (re-armed to the latest media plus the
 * timeout when it fires early), the UDP fallback (auto: no RTP within `udpFallbackMs` after PLAY, or a 461 to
 * the UDP SETUP, means TEARDOWN and try again over TCP at once), a GET_PARAMETER keepalive every half session
 * timeout, and the receiver reports of {@linkcode ReceiverReporter}. Any failure closes the connection, leaves the
 * error (redacted) on the stream and retries after the {@linkcode RetrySchedule} backoff, logged through
 * {@linkcode OutageLog}. A stop ends every phase cleanly, with a best-effort TEARDOWN (given 300 ms) when a
 * connection is open.
 * @module
 */
import type { RtspResponse } from "../../rtsp/message.ts";
import { parseSdp } from "../../rtsp/sdp.ts";
import { redactUrl, resolveControl } from "../../rtsp/url.ts";
import { ReceiverReporter, type ReportRoute, type ReportSender } from "../receiver_reporter.ts";
import type { ChannelRoute, PullEvent, PullOutput, PullTimer } from "./pull_events.ts";
import {
  answerProblem,
  DEFAULT_SESSION_TIMEOUT_S,
  failureMessage,
  keepaliveMs,
  readSetupAnswer,
  setupOffer,
} from "./pull_handshake.ts";
import type { PullMachineOptions } from "./pull_options.ts";
import { type LogLine, OutageLog } from "./pull_outage_log.ts";
import { RetrySchedule } from "./pull_retry.ts";
import type { PullSink } from "./pull_sink.ts";

/** How long a stop waits for the camera's answer to its TEARDOWN before closing anyway. */
export const TEARDOWN_WAIT_MS = 300;

/**
 * Where the machine is: `idle` (not started), `connecting`, `describing`, `setting-up` (one SETUP per track),
 * `starting` (PLAY sent), `playing`, `backoff` (waiting to retry), `stopping` (TEARDOWN sent), `stopped`.
 */
export type PullPhase =
  | "idle"
  | "connecting"
  | "describing"
  | "setting-up"
  | "starting"
  | "playing"
  | "backoff"
  | "stopping"
  | "stopped";

/** One attempt: a connection and the RTSP session on it. */
interface Attempt {
  readonly conn: number;
  readonly tcp: boolean;
  host: string;
  /** Aggregate control URL (Content-Base) once described. */
  base: string;
  /** Control URL per track. */
  controls: string[];
  /** The track the pending SETUP is for. */
  setupIndex: number;
  sessionId: string | undefined;
  timeoutS: number;
  channels: ChannelRoute[];
  reportRoutes: (ReportRoute | null)[];
  /** The request whose answer the handshake waits for. */
  pending: { id: number; method: string } | null;
  /** When PLAY was answered, or null before. */
  playAt: number | null;
  /** The latest media (or when PLAY was sent, before any). */
  lastMedia: number;
  /** Media arrived since PLAY was sent. */
  mediaSeen: boolean;
}

/** Thrown inside a step: ends the attempt with the message (never leaves the machine). */
class AttemptFailed extends Error {}

/** The pull's state machine: feed it {@linkcode PullEvent}s, perform the {@linkcode PullOutput}s it returns. */
export class PullMachine {
  readonly #o: PullMachineOptions;
  readonly #sink: PullSink;
  readonly #retry: RetrySchedule;
  readonly #outage: OutageLog;
  readonly #reporter: ReceiverReporter;
  /** Deadlines armed now, by timer. */
  readonly #timers = new Map<PullTimer, number>();
  #phase: PullPhase = "idle";
  #useTcp: boolean;
  #attempt: Attempt | null = null;
  #connSeq = 0;
  #requestSeq = 0;
  /** The stop's TEARDOWN, while waiting for its answer. */
  #teardownId = -1;
  #out: PullOutput[] = [];

  /**
   * @param sink the stream the camera's media goes to
   * @param options camera URL, transport and timings
   */
  constructor(sink: PullSink, options: PullMachineOptions) {
    this.#o = options;
    this.#sink = sink;
    this.#useTcp = options.transport === "tcp";
    this.#retry = new RetrySchedule({
      initialMs: options.backoffInitialMs,
      maxMs: options.backoffMaxMs,
      waitingRetryMs: options.waitingRetryMs,
    });
    this.#outage = new OutageLog(options.reminderMs);
    this.#reporter = new ReceiverReporter({
      intervalMs: options.rtcpIntervalMs,
      cname: options.cname,
      ...(options.ssrc !== undefined ? { ssrc: options.ssrc } : {}),
    });
  }

  /** Where the machine is. */
  get phase(): PullPhase {
    return this.#phase;
  }

  /** The transport of the attempt in progress, once the camera described itself; null between attempts. */
  get transport(): "udp" | "tcp" | null {
    const described = this.#phase === "setting-up" || this.#phase === "starting" || this.#phase === "playing";
    return described && this.#attempt ? (this.#attempt.tcp ? "tcp" : "udp") : null;
  }

  /** Consecutive failed attempts since the camera last played. */
  get failures(): number {
    return this.#outage.failures;
  }

  /** When the next attempt is due (monotonic ms), while waiting for it; else null. */
  get retryAt(): number | null {
    return this.#phase === "backoff" ? this.#retry.retryAt : null;
  }

  /** The relay's SSRC in its receiver reports to the camera. */
  get ssrc(): number {
    return this.#reporter.ssrc;
  }

  /**
   * Takes one event.
   * @returns what to do, in order (empty when the event changes nothing)
   */
  handle(event: PullEvent): PullOutput[] {
    this.#out = [];
    const now = event.now;
    switch (event.kind) {
      case "start":
        this.#onStart(now);
        break;
      case "stop":
        this.#onStop(now);
        break;
      case "connected":
        if (this.#phase === "connecting" && this.#attempt?.conn === event.conn) {
          this.#step(now, () => this.#describe(event.host));
        }
        break;
      case "connectFailed":
        if (this.#phase === "connecting" && this.#attempt?.conn === event.conn) {
          this.#fail(now, failureMessage(event.error, this.#o.authSchemes));
        }
        break;
      case "response":
      case "requestFailed":
        this.#onAnswer(event);
        break;
      case "media":
        this.#onMedia(event.at);
        break;
      case "closed":
        this.#onClosed(now, event.conn);
        break;
      case "timer":
        this.#onTimer(now, event.timer);
        break;
    }
    return this.#out;
  }

  #onStart(now: number): void {
    if (this.#phase === "idle") this.#begin(now);
    else if (this.#phase === "backoff") {
      // A reader arrived while the camera is down: retry no later than waitingRetryMs after the last attempt.
      const at = this.#retry.hurry();
      if (at !== null) this.#setTimer("retry", at);
    }
  }

  /** Starts an attempt. Retries of an unreachable camera stay in "error": no state change per attempt. */
  #begin(now: number): void {
    this.#retry.clear();
    if (this.#sink.state !== "error") this.#sink.setState("connecting");
    const conn = ++this.#connSeq;
    this.#attempt = {
      conn,
      tcp: this.#useTcp,
      host: "",
      base: this.#o.url,
      controls: [],
      setupIndex: 0,
      sessionId: undefined,
      timeoutS: DEFAULT_SESSION_TIMEOUT_S,
      channels: [],
      reportRoutes: [],
      pending: null,
      playAt: null,
      lastMedia: now,
      mediaSeen: false,
    };
    this.#phase = "connecting";
    this.#emit({ kind: "connect", conn, url: this.#o.url });
  }

  /** Runs one handshake step; what it throws ends the attempt. */
  #step(now: number, step: () => void): void {
    try {
      step();
    } catch (err) {
      this.#fail(now, failureMessage(err, this.#o.authSchemes));
    }
  }

  #describe(host: string): void {
    const a = this.#attempt!;
    a.host = host;
    this.#phase = "describing";
    this.#request("DESCRIBE", this.#o.url, { Accept: "application/sdp" }, true);
  }

  #onAnswer(event: Extract<PullEvent, { kind: "response" | "requestFailed" }>): void {
    const now = event.now;
    if (this.#phase === "stopping") {
      if (event.id === this.#teardownId) this.#finishStop();
      return;
    }
    const a = this.#attempt;
    // Answers to keepalives, and to requests of a connection given up, change nothing.
    if (!a?.pending || a.pending.id !== event.id) return;
    const method = a.pending.method;
    a.pending = null;
    if (event.kind === "requestFailed") {
      this.#fail(now, failureMessage(event.error, this.#o.authSchemes));
      return;
    }
    const res = event.response;
    this.#step(now, () => {
      if (method === "SETUP" && res.status === 461 && !a.tcp && this.#o.transport === "auto") {
        this.#fallBackToTcp(now, false);
        return;
      }
      const problem = answerProblem(res, method);
      if (problem) throw new AttemptFailed(problem);
      if (method === "DESCRIBE") this.#onDescribed(now, res);
      else if (method === "SETUP") this.#onSetUp(now, res);
      else this.#onPlaying(now);
    });
  }

  #onDescribed(now: number, res: RtspResponse): void {
    const a = this.#attempt!;
    a.base = res.headers.get("Content-Base") ?? res.headers.get("Content-Location") ?? this.#o.url;
    const desc = parseSdp(new TextDecoder().decode(res.body));
    this.#sink.setDescription(desc);
    a.controls = desc.medias.map((m) => resolveControl(a.base, m.control ?? ""));
    this.#phase = "setting-up";
    this.#setup(now, 0);
  }

  /** SETUP of track `index`, or PLAY once every track is set up. */
  #setup(now: number, index: number): void {
    const a = this.#attempt!;
    if (index >= a.controls.length) {
      this.#play(now);
      return;
    }
    a.setupIndex = index;
    // UDP ports are bound for a track only now, when the camera is asked to send there.
    const headers: Record<string, string> = {
      Transport: setupOffer(index, a.tcp ? null : this.#sink.pairFor(index)),
    };
    if (a.sessionId) headers.Session = a.sessionId;
    this.#request("SETUP", a.controls[index]!, headers, true);
  }

  #onSetUp(now: number, res: RtspResponse): void {
    const a = this.#attempt!;
    const index = a.setupIndex;
    const setup = readSetupAnswer(res, index, a.tcp, a.host);
    if (setup.sessionId !== undefined) a.sessionId = setup.sessionId;
    if (setup.timeoutS) a.timeoutS = setup.timeoutS;
    this.#sink.setUdpSource(index, setup.udpSource);
    a.channels.push(...setup.channels);
    a.reportRoutes[index] = setup.reportRoute;
    this.#setup(now, index + 1);
  }

  #play(now: number): void {
    const a = this.#attempt!;
    this.#phase = "starting";
    a.lastMedia = now;
    this.#emit({ kind: "watchMedia", channels: a.channels });
    this.#request("PLAY", a.base, { Session: a.sessionId ?? "", Range: "npt=0.000-" }, true);
  }

  #onPlaying(now: number): void {
    const a = this.#attempt!;
    a.playAt = now;
    this.#phase = "playing";
    this.#sink.setState("ready");
    this.#log({
      level: "info",
      msg: "camera session playing",
      fields: {
        path: this.#sink.path,
        url: redactUrl(this.#o.url),
        transport: a.tcp ? "tcp" : "udp",
        tracks: a.controls.length,
        ...this.#outage.recovered(now),
      },
    });
    this.#setTimer("media", a.lastMedia + this.#o.mediaTimeoutMs);
    if (!a.tcp && this.#o.transport === "auto" && !a.mediaSeen) {
      this.#setTimer("fallback", now + this.#o.udpFallbackMs);
    }
    this.#setTimer("keepalive", now + keepaliveMs(a.timeoutS));
    this.#reporter.start(now);
    this.#setTimer("report", now + this.#o.rtcpIntervalMs / 2);
  }

  #onMedia(at: number): void {
    const a = this.#attempt;
    if (!a || (this.#phase !== "starting" && this.#phase !== "playing")) return;
    a.mediaSeen = true;
    if (at > a.lastMedia) a.lastMedia = at;
  }

  #onClosed(now: number, conn: number): void {
    if (this.#attempt?.conn !== conn) return;
    if (this.#phase === "stopping") this.#finishStop();
    else if (this.#phase !== "connecting") this.#fail(now, "Camera closed the connection");
  }

  #onTimer(now: number, timer: PullTimer): void {
    const at = this.#timers.get(timer);
    if (at === undefined) return; // cancelled: a late fire changes nothing
    if (now < at) {
      this.#setTimer(timer, at); // early: wait for the deadline
      return;
    }
    this.#timers.delete(timer);
    const a = this.#attempt;
    switch (timer) {
      case "retry":
        if (this.#phase === "backoff") this.#begin(now);
        return;
      case "teardown":
        if (this.#phase === "stopping") this.#finishStop();
        return;
    }
    if (this.#phase !== "playing" || !a) return;
    switch (timer) {
      case "media": {
        const silentMs = now - a.lastMedia;
        if (silentMs >= this.#o.mediaTimeoutMs) {
          this.#fail(now, `No media from the camera for ${Math.round(silentMs / 1000)} s`);
        } else this.#setTimer("media", a.lastMedia + this.#o.mediaTimeoutMs);
        return;
      }
      case "fallback":
        if (!a.mediaSeen) this.#fallBackToTcp(now, true);
        return;
      case "keepalive":
        this.#request("GET_PARAMETER", a.base, { Session: a.sessionId ?? "" }, false);
        this.#setTimer("keepalive", now + keepaliveMs(a.timeoutS));
        return;
      case "report":
        this.#sendReports(now, a);
        return;
    }
  }

  #sendReports(now: number, a: Attempt): void {
    const out = this.#out;
    const sender: ReportSender = {
      udp: (track, packet, host, port) => {
        out.push({ kind: "sendRtcp", track, route: { kind: "udp", host, port }, packet });
        return true;
      },
      tcp: (channel, packet) => {
        const track = a.channels.find((c) => c.channel === channel)?.track ?? -1;
        out.push({ kind: "sendRtcp", track, route: { kind: "tcp", channel }, packet });
        return true;
      },
    };
    this.#reporter.poll(now, this.#sink.tracks, a.reportRoutes, sender);
    this.#setTimer("report", now + this.#o.rtcpIntervalMs);
  }

  /** No RTP over UDP (or a 461 to its SETUP): leave this session and try TCP at once. */
  #fallBackToTcp(now: number, teardown: boolean): void {
    const a = this.#attempt!;
    this.#log({
      level: "warn",
      msg: "no RTP over UDP, falling back to TCP",
      fields: { path: this.#sink.path },
    });
    if (teardown) this.#request("TEARDOWN", a.base, { Session: a.sessionId ?? "" }, false);
    this.#endAttempt();
    this.#useTcp = true;
    this.#begin(now);
  }

  /** Ends the attempt with `error`: close, leave the error on the stream, log, and schedule the retry. */
  #fail(now: number, error: string): void {
    const playAt = this.#attempt?.playAt ?? null;
    this.#endAttempt();
    const played = playAt !== null;
    // A session that played long enough: the camera was up, the next failure starts the backoff over.
    const stable = playAt !== null && now - playAt >= this.#o.stableMs;
    // Readers are waiting (DESCRIBE, a mesh join): keep trying often enough to catch the camera coming up.
    const delay = this.#retry.schedule(now, stable, this.#sink.waiting > 0);
    const fields = { path: this.#sink.path, url: redactUrl(this.#o.url), error, retryInMs: delay };
    this.#log(played ? this.#outage.sessionEnded(fields) : this.#outage.failed(now, fields));
    this.#sink.setState("error", error);
    this.#phase = "backoff";
    this.#setTimer("retry", now + delay);
  }

  /** Closes the attempt's connection and stops its timers. */
  #endAttempt(): void {
    const a = this.#attempt;
    if (!a) return;
    this.#emit({ kind: "close", conn: a.conn });
    for (const timer of ["media", "fallback", "keepalive", "report"] as const) this.#cancelTimer(timer);
    this.#reporter.stop();
    this.#attempt = null;
  }

  #onStop(now: number): void {
    if (this.#phase === "stopping" || this.#phase === "stopped") return;
    for (const timer of [...this.#timers.keys()]) this.#cancelTimer(timer);
    this.#retry.clear();
    const a = this.#attempt;
    if (a && this.#phase !== "connecting") {
      // Best effort: tell the camera we are leaving, but do not wait for it long.
      this.#phase = "stopping";
      const session: Record<string, string> = a.sessionId ? { Session: a.sessionId } : {};
      this.#teardownId = this.#request("TEARDOWN", this.#o.url, session, false);
      this.#setTimer("teardown", now + TEARDOWN_WAIT_MS);
      return;
    }
    this.#finishStop();
  }

  #finishStop(): void {
    this.#cancelTimer("teardown");
    this.#endAttempt();
    this.#phase = "stopped";
    this.#emit({ kind: "stopped" });
  }

  /** Emits a request; `awaited` ones are the handshake step whose answer moves the machine on. */
  #request(method: string, url: string, headers: Record<string, string>, awaited: boolean): number {
    const a = this.#attempt!;
    const id = ++this.#requestSeq;
    if (awaited) a.pending = { id, method };
    this.#emit({ kind: "request", conn: a.conn, id, method, url, headers });
    return id;
  }

  #setTimer(timer: PullTimer, at: number): void {
    this.#timers.set(timer, at);
    this.#emit({ kind: "setTimer", timer, at });
  }

  #cancelTimer(timer: PullTimer): void {
    if (this.#timers.delete(timer)) this.#emit({ kind: "cancelTimer", timer });
  }

  #log(line: LogLine): void {
    this.#emit({ kind: "log", ...line });
  }

  #emit(output: PullOutput): void {
    this.#out.push(output);
  }
}
