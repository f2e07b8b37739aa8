/**
 * The relay's RTSP service: what each request does to streams, readers and publishers. The TCP shell
 * (src/rtsp/server.ts) delivers requests; the state table (src/rtsp/server_session.ts) says what is allowed.
 * @module
 */
import type { AuthAction, RtspAuthenticator } from "./rtsp_auth.ts";
import { hostForUrl } from "../address.ts";
import { type Clock, monotonicMs } from "../clock.ts";
import { contained } from "../contain.ts";
import type { Logger } from "../log.ts";
import { RtspProtocolError } from "../rtsp/errors.ts";
import { PUBLIC_METHODS } from "../rtsp/methods.ts";
import { response, type RtspRequest, type RtspResponse } from "../rtsp/message.ts";
import type { RtspConnection, RtspConnectionLimit } from "../rtsp/server.ts";
import { RateLimiter } from "../rtsp/rate_limiter.ts";
import {
  newSessionId,
  nextSessionState,
  type SessionMethod,
  type SessionRole,
  type SessionState,
  SessionTimer,
} from "../rtsp/server_session.ts";
import { formatTransport, parseTransports, type Transport } from "../rtsp/headers/transport.ts";
import { parseSession } from "../rtsp/headers/session.ts";
import { formatRtpInfo, type RtpInfoEntry } from "../rtsp/headers/rtp_info.ts";
import { countMediaSections, parseSdp, rewriteSdpForServing, type SessionDescription } from "../rtsp/sdp.ts";
import { redactUrl, resolveControl, splitTrackUrl, streamPathOf } from "../rtsp/url.ts";
import { type Egress, TcpEgress, UdpEgress } from "./egress.ts";
import type { StreamHub } from "./hub.ts";
import {
  PortsExhausted,
  type Stream,
  type StreamSource,
  StreamUnavailable,
  TooManyTracks,
} from "./stream.ts";
import type { UdpPortPair } from "./udp_pair.ts";
import { type ReaderReport, readerReportsOf } from "../rtp/reader_reports.ts";
import { ReceiverReporter, type ReportRoute } from "./receiver_reporter.ts";
import { RefusalLog } from "./limits.ts";
import type { Refusal, RefusalReason } from "../rtsp/refusals.ts";
import type { MemoryBudget } from "./memory_budget.ts";
import { ClientLogBudget } from "./client_log_budget.ts";

const SERVER_NAME = "msm-relay";

/**
 * What an answered request costs its client's rate: nothing when it succeeded, a quarter token for the 401 that
 * starts every Digest handshake (a request without credentials), a whole token for any other failure or refusal.
 */
export function requestCost(req: RtspRequest, res: RtspResponse): number {
  if (res.status < 400) return 0;
  if (res.status === 401 && req.headers.get("Authorization") === undefined) return 0.25;
  return 1;
}
const decoder = new TextDecoder();

/** One set-up track of a session. */
interface SessionTrack {
  index: number;
  transport: "udp" | "tcp";
  /** Client ports (UDP) or interleaved channels (TCP). */
  ports: [number, number];
  egress: Egress | null;
  /** The GOP this reader was last sent from the cache: a PLAY after PAUSE does not get it again. */
  burstGeneration: number;
}

/** A reader or publisher session. */
export interface RelaySession {
  readonly id: string;
  readonly role: SessionRole;
  readonly path: string;
  readonly stream: Stream;
  readonly conn: RtspConnection;
  readonly remote: string;
  /** The user that set the session up (null without users): only that user may act on it elsewhere. */
  readonly user: string | null;
  /** When the session was created: wall-clock ms since the Unix epoch (shown in the admin API). */
  readonly createdAt: number;
  state: SessionState;
  timer: SessionTimer;
  tracks: Map<number, SessionTrack>;
  /** RTCP listener keys registered on the stream (UDP readers). */
  rtcpKeys: string[];
  /** `host:port` of this reader's RTP ports, registered on the stream (NAT hole-punch packets land there). */
  rtpKeys: string[];
  /** Publisher source handle (publishers). */
  source: StreamSource | null;
  /**
   * Readers: the latest RTCP receiver report block per set-up track index (what the reader says it lost and
   * its jitter, in seconds); empty until the reader reports. Publishers: always empty.
   */
  reports: Map<number, ReaderReport>;
}

/** Per-connection state: interleaved channel routing and a pending ANNOUNCE. */
interface ConnState {
  channels: Map<number, { session: RelaySession; index: number; rtcp: boolean }>;
  announced: { path: string; stream: Stream; source: StreamSource; user: string | null } | null;
  sessions: Set<RelaySession>;
  /** Work to do once the current response is queued (see {@linkcode RtspService.responseSent}). */
  afterResponse: Array<() => void>;
}

/** Per-client limits of {@linkcode RtspService}; each absent or 0 means no limit (the CLI sets defaults). */
export interface RtspServiceLimits {
  /** Sessions (readers and publishers) one client address may hold; a SETUP creating one more gets 503. */
  maxSessionsPerIp?: number;
  /** Readers playing one path; a SETUP or PLAY of one more gets 453 Not Enough Bandwidth. */
  maxReadersPerPath?: number;
  /**
   * Failed requests and new connections per second per client address (token bucket, burst twice the rate;
   * successful requests and `$` frames cost nothing, see {@linkcode requestCost}); over it, any request gets 503
   * with Retry-After until the client is back under the rate.
   */
  requestsPerSecond?: number;
}

/** Options of {@linkcode RtspService}. */
export interface RtspServiceOptions {
  hub: StreamHub;
  logger: Logger;
  /** Advertised session timeout in seconds. */
  sessionTimeoutSeconds: number;
  /** How long DESCRIBE/SETUP wait for an upstream to become ready. @default 10000 */
  sourceWaitMs?: number;
  /** Counts every answered request (metrics). */
  onRequest?: (method: string, status: number) => void;
  /**
   * Monotonic clock of session timeouts, receiver-report timing, the request rate limiter and the refusal log.
   * Sessions are refreshed from {@linkcode RtspConnection.lastActivity}, so it must be the TCP shell's clock
   * (`RtspServerOptions.now`). @default monotonicMs
   */
  now?: Clock;
  /** Wall clock of timestamps shown to people: sessions' `createdAt`, reader reports' `at`. @default Date.now */
  wallClock?: Clock;
  /** Seconds between RTCP receiver reports sent to publishers. @default 5 */
  rtcpIntervalSeconds?: number;
  /** CNAME of those receiver reports. @default "msm-relay" */
  rtcpCname?: string;
  /** Who may read and publish what; absent: everyone may. */
  auth?: RtspAuthenticator;
  /** Per-client limits. @default no limits */
  limits?: RtspServiceLimits;
  /** Counts every refusal, per reason (metrics); the log shows them throttled. */
  onRefused?: (reason: RefusalReason) => void;
  /** The relay-wide memory budget: while it is nearly used up, new sessions get 503. @default none */
  memoryBudget?: MemoryBudget;
  /**
   * A TCP reader whose every packet has been dropped for this long (it does not read) is closed, giving back its
   * queue. @default 10000
   */
  slowReaderTimeoutMs?: number;
}

/** Publisher-side source: it produces nothing itself, the publisher's packets arrive through the server. */
class PublisherSource implements StreamSource {
  readonly kind = "publish" as const;
  readonly #remote: string;
  constructor(remote: string) {
    this.#remote = remote;
  }
  start(): void {}
  stop(): Promise<void> {
    return Promise.resolve();
  }
  info(): Record<string, unknown> {
    return { publisher: this.#remote };
  }
}

/** A request the authenticator refused: the answer to give (401 with fresh challenges, or 403). */
class AuthRefusal extends Error {
  constructor(readonly response: RtspResponse) {
    super(`Refused with ${response.status}`);
    this.name = "AuthRefusal";
  }
}

/** Implements the RTSP methods for readers and publishers. */
export class RtspService {
  readonly #hub: StreamHub;
  readonly #log: Logger;
  readonly #timeout: number;
  readonly #waitMs: number;
  readonly #now: Clock;
  readonly #wallClock: Clock;
  readonly #onRequest: (method: string, status: number) => void;
  readonly #sessions = new Map<string, RelaySession>();
  readonly #conns = new WeakMap<RtspConnection, ConnState>();
  readonly #rtcpIntervalMs: number;
  readonly #rtcpCname: string;
  /** The relay's receiver reports to each recording publisher. */
  readonly #reporters = new WeakMap<RelaySession, ReceiverReporter>();
  #sweeper: ReturnType<typeof setInterval> | undefined;
  readonly #auth: RtspAuthenticator | undefined;
  readonly #maxSessionsPerIp: number;
  readonly #maxReadersPerPath: number;
  readonly #requestRate: number;
  readonly #rate: RateLimiter | null;
  /** Connections already billed their token (see {@linkcode RtspService.handle}). */
  readonly #billedConns = new WeakSet<RtspConnection>();
  readonly #refusals: RefusalLog;
  readonly #budget: MemoryBudget | undefined;
  readonly #slowReaderMs: number;
  /** Lines about sessions, rationed per client address. */
  readonly #sessionLog: ClientLogBudget;

  /** @param options hub, logger, timeouts and limits */
  constructor(options: RtspServiceOptions) {
    this.#hub = options.hub;
    this.#log = options.logger;
    this.#timeout = options.sessionTimeoutSeconds;
    this.#waitMs = options.sourceWaitMs ?? 10_000;
    this.#now = options.now ?? monotonicMs;
    this.#wallClock = options.wallClock ?? Date.now;
    this.#onRequest = options.onRequest ?? (() => {});
    this.#rtcpIntervalMs = (options.rtcpIntervalSeconds ?? 5) * 1000;
    this.#rtcpCname = options.rtcpCname ?? "msm-relay";
    this.#auth = options.auth;
    this.#maxSessionsPerIp = options.limits?.maxSessionsPerIp ?? 0;
    this.#maxReadersPerPath = options.limits?.maxReadersPerPath ?? 0;
    this.#requestRate = options.limits?.requestsPerSecond ?? 0;
    this.#rate = this.#requestRate > 0 ? new RateLimiter({ ratePerSecond: this.#requestRate }) : null;
    this.#budget = options.memoryBudget;
    this.#sessionLog = new ClientLogBudget(this.#log);
    this.#slowReaderMs = options.slowReaderTimeoutMs ?? 10_000;
    this.#refusals = new RefusalLog({
      logger: this.#log,
      ...(options.onRefused ? { onRefused: options.onRefused } : {}),
    });
  }

  /** Reader sessions per path. */
  readersByPath(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const s of this.#sessions.values()) {
      if (s.role === "reader") counts.set(s.path, (counts.get(s.path) ?? 0) + 1);
    }
    return counts;
  }

  /** Live sessions. */
  sessions(): RelaySession[] {
    return [...this.#sessions.values()];
  }

  /** Starts the periodic timeout sweep. */
  start(): void {
    this.#sweeper ??= setInterval(() => contained("rtsp sweep", () => this.sweep()), 1000);
  }

  /** Stops the sweep and ends every session. */
  stop(): void {
    if (this.#sweeper !== undefined) clearInterval(this.#sweeper);
    this.#sweeper = undefined;
    for (const s of this.sessions()) this.#endSession(s, "relay stopping");
  }

  /**
   * Ends sessions that stayed silent past their timeout; sends publishers their due receiver reports; forgets
   * idle clients' rate buckets and writes the refusal log's due summaries.
   */
  sweep(): void {
    const now = this.#now();
    this.#rate?.prune(now);
    this.#refusals.flush(now);
    this.#sessionLog.flush(now);
    for (const s of this.#sessions.values()) {
      // TCP-interleaved and publishing sessions live as long as their connection shows activity.
      const tcp = s.role === "publisher" || [...s.tracks.values()].some((t) => t.transport === "tcp");
      if (tcp) s.timer.touch(s.conn.lastActivity);
      if (s.timer.expired(now)) this.#endSession(s, "timeout");
      else if (s.role === "publisher" && s.state === "recording") this.#reportToPublisher(s, now);
      else if (tcp && s.role === "reader") this.#closeIfNotReading(s, now);
    }
  }

  /** Lets a TCP reader go once it has taken no packet for the slow-reader timeout: its queue is held for nothing. */
  #closeIfNotReading(s: RelaySession, now: number): void {
    const since = s.conn.writer.droppingSince;
    if (since === null || now - since < this.#slowReaderMs) return;
    this.#refuse({
      reason: "slow_reader",
      remote: s.remote,
      status: null,
      limit: this.#slowReaderMs / 1000,
      path: s.path,
      detail: `The reader took no packet for ${Math.round((now - since) / 1000)} s: its connection is closed`,
    });
    this.#endSession(s, "not reading");
    s.conn.close();
  }

  /**
   * Sends a recording publisher its due RTCP receiver reports (RR + SDES CNAME) per track: over UDP from the
   * track's RTCP port to the publisher's client RTCP port, over TCP on the track's RTCP channel.
   */
  #reportToPublisher(s: RelaySession, now: number): void {
    const reporter = this.#reporters.get(s);
    if (!reporter) return;
    const routes: ReportRoute[] = [];
    for (const t of s.tracks.values()) {
      routes[t.index] = t.transport === "tcp"
        ? { kind: "tcp", channel: t.ports[1] }
        : { kind: "udp", host: s.remote, port: t.ports[1] };
    }
    reporter.poll(now, s.stream.tracks, routes, {
      udp: (index, packet, hostname, port) => {
        const pair = s.stream.pairOf(index);
        pair?.sendRtcp(packet, { transport: "udp", hostname, port });
        return pair !== undefined;
      },
      tcp: (channel, packet) => s.conn.writer.enqueueFrame(channel, packet, true),
    });
  }

  /** Keeps the report blocks of a reader's RTCP compound on its session and on the tracks they describe. */
  #readerRtcp(s: RelaySession, packet: Uint8Array, index: number): void {
    const reports = readerReportsOf(packet, s.stream.tracks, index, this.#wallClock());
    if (!reports) return;
    for (const [i, report] of reports) {
      if (!s.tracks.has(i)) continue; // a track this reader did not set up
      s.reports.set(i, report);
      s.stream.tracks[i]?.setReaderReport(s.id, report);
    }
  }

  /** Ends a session by id (admin kick). @returns false when unknown */
  kick(id: string): boolean {
    const s = this.#sessions.get(id);
    if (!s) return false;
    this.#endSession(s, "kicked");
    if ([...s.tracks.values()].some((t) => t.transport === "tcp")) s.conn.close();
    return true;
  }

  /** Ends the connection's interleaved and publishing sessions (RFC 2326 §10.12). */
  connectionClosed(conn: RtspConnection): void {
    const state = this.#conns.get(conn);
    if (!state) return;
    for (const s of state.sessions) {
      const tcp = [...s.tracks.values()].some((t) => t.transport === "tcp");
      if (tcp || s.role === "publisher" || s.state === "init") this.#endSession(s, "connection closed");
    }
    if (state.announced) {
      this.#hub.unpublish(state.announced.stream, state.announced.source);
      state.announced = null;
    }
  }

  /** Runs what a request deferred until its response was queued. */
  responseSent(_req: RtspRequest, _res: RtspResponse, conn: RtspConnection): void {
    const state = this.#conns.get(conn);
    if (!state || state.afterResponse.length === 0) return;
    for (const action of state.afterResponse.splice(0)) action();
  }

  #afterResponse(conn: RtspConnection, action: () => void): void {
    this.#connState(conn).afterResponse.push(action);
  }

  /** Logs (throttled) and counts input the server could not frame or that exceeded a size or time limit. */
  protocolError(conn: RtspConnection, err: RtspProtocolError): void {
    const reason: RefusalReason = err.status === 431
      ? "header_too_large"
      : err.status === 413
      ? "body_too_large"
      : err.status === 408
      ? "request_timeout"
      : "bad_request";
    const limit = err.limit === undefined
      ? {}
      : { limit: reason === "request_timeout" ? err.limit / 1000 : err.limit };
    this.#refuse({ reason, remote: conn.remote.hostname, status: err.status, ...limit, detail: err.message });
    this.#onRequest("INVALID", err.status);
  }

  /** Logs (throttled) and counts a connection beyond the limit, or one closed for being idle. */
  limitHit(remote: Deno.NetAddr, hit: RtspConnectionLimit): void {
    if (hit.reason === "max_connections" || hit.reason === "max_connections_per_ip") {
      this.#refuse({
        reason: hit.reason,
        remote: remote.hostname,
        status: hit.status,
        limit: hit.limit,
        ...(hit.method !== undefined ? { method: hit.method } : {}),
        detail: hit.reason === "max_connections"
          ? "Too many connections"
          : "Too many connections from the address",
      });
      if (hit.method !== undefined && hit.status !== null) this.#onRequest(hit.method, hit.status);
      return;
    }
    this.#refuse({
      reason: "idle_timeout",
      remote: remote.hostname,
      status: null,
      limit: hit.limit / 1000,
      detail: "No session and nothing received",
    });
  }

  /** True while the connection holds a session: its idle time is the session timeout's business. */
  holdsSession(conn: RtspConnection): boolean {
    return (this.#conns.get(conn)?.sessions.size ?? 0) > 0;
  }

  #refuse(refusal: Refusal): void {
    this.#refusals.report(refusal, this.#now());
  }

  /**
   * Reports a refusal and returns the error to throw: the handler answers its status with the detail as body.
   * @returns the error, with `refusal.status`
   */
  #limitError(refusal: Refusal & { status: number; detail: string }): RtspProtocolError {
    this.#refuse(refusal);
    return new RtspProtocolError(refusal.detail, refusal.status, refusal.limit);
  }

  /** 503 with Retry-After for a client over its request rate. */
  #rateLimited(req: RtspRequest, remote: string, waitMs: number): RtspResponse {
    const seconds = Math.max(1, Math.ceil(waitMs / 1000));
    const detail = `More than ${this.#requestRate} failed requests or new connections per second from this ` +
      `client; retry after ${seconds} s`;
    this.#refuse({
      reason: "request_rate",
      remote,
      status: 503,
      limit: this.#requestRate,
      method: req.method,
      detail,
    });
    return response(
      503,
      { "Retry-After": String(seconds), "Content-Type": "text/plain" },
      new TextEncoder().encode(detail + "\r\n"),
    );
  }

  /** Answers one request. */
  async handle(req: RtspRequest, conn: RtspConnection): Promise<RtspResponse> {
    const cseq = req.headers.get("CSeq");
    const remote = conn.remote.hostname;
    // The rate is spent on what looks like abuse, not on a client's work: a new connection and every failed or
    // refused request cost a token, a successful one nothing (a recorder setting up 64 streams at once is served,
    // a client probing unknown paths or passwords is held to the rate). Over it, anything gets 503 for a while.
    if (this.#rate && !this.#billedConns.has(conn)) {
      this.#billedConns.add(conn);
      this.#rate.charge(remote, this.#now(), 1);
    }
    const waitMs = this.#rate?.waitMs(remote, this.#now()) ?? 0;
    const res = waitMs > 0 ? this.#rateLimited(req, remote, waitMs) : await this.#answer(req, conn);
    if (waitMs === 0) this.#rate?.charge(remote, this.#now(), requestCost(req, res));
    if (cseq !== undefined) res.headers.set("CSeq", cseq.trim());
    res.headers.set("Server", SERVER_NAME);
    this.#log.debug("rtsp request", {
      method: req.method,
      url: redactUrl(req.url),
      status: res.status,
      remote: conn.remote.hostname,
    });
    this.#onRequest(req.method, res.status);
    return res;
  }

  /** The answer to a request within its client's rate: the method's, or the error it threw as a status. */
  async #answer(req: RtspRequest, conn: RtspConnection): Promise<RtspResponse> {
    const cseq = req.headers.get("CSeq");
    try {
      if (cseq === undefined || !/^\d{1,10}$/.test(cseq.trim())) {
        throw new RtspProtocolError(`Missing or invalid CSeq "${cseq ?? ""}"`, 400);
      }
      return await this.#dispatch(req, conn);
    } catch (err) {
      if (err instanceof AuthRefusal) return err.response;
      const status = err instanceof RtspProtocolError ? err.status : 500;
      if (!(err instanceof RtspProtocolError)) {
        this.#log.error("request failed", { method: req.method, error: String(err) });
      } else {
        this.#log.debug("request refused", { method: req.method, status, error: err.message });
      }
      // The reason in a text body: RTSP clients log it, and it names what was wrong with the request.
      const reason = err instanceof RtspProtocolError ? err.message : "Internal error";
      return response(status, { "Content-Type": "text/plain" }, new TextEncoder().encode(reason + "\r\n"));
    }
  }

  /**
   * Checks that the client may `action` on `path`, with the credentials of the request, from the same facts the
   * handler acts on (the path it will serve, the role its session will have).
   * @returns the user (null when no users are configured)
   * @throws AuthRefusal: 401 with fresh challenges, or 403
   */
  #authorize(req: RtspRequest, conn: RtspConnection, path: string, action: AuthAction): string | null {
    const auth = this.#auth;
    if (!auth) return null;
    const decision = auth.check(
      req.method,
      path,
      action,
      req.headers.getAll("Authorization"),
      conn.remote.hostname,
      req.url,
    );
    if (decision.kind === "allow") return decision.user;
    // A first request without credentials is how every handshake starts: counted apart, logged at debug.
    const reason: RefusalReason = decision.kind === "forbidden"
      ? "forbidden"
      : req.headers.get("Authorization") === undefined
      ? "auth_required"
      : "unauthorized";
    this.#refuse({
      reason,
      remote: conn.remote.hostname,
      status: decision.kind === "forbidden" ? 403 : 401,
      method: req.method,
      path,
      detail: decision.reason,
    });
    const body = new TextEncoder().encode(decision.reason + "\r\n");
    if (decision.kind === "forbidden") {
      throw new AuthRefusal(response(403, { "Content-Type": "text/plain" }, body));
    }
    const res = response(401, { "Content-Type": "text/plain" }, body);
    for (const c of auth.challenges(decision.stale, conn.remote.hostname)) {
      res.headers.append("WWW-Authenticate", c);
    }
    throw new AuthRefusal(res);
  }

  /** Clients outside `--rtsp-allow` get 403 for every method, before anything else. */
  #checkAllowList(req: RtspRequest, conn: RtspConnection): void {
    const auth = this.#auth;
    const address = conn.remote.hostname;
    if (!auth || auth.allows(address)) return;
    const detail = `Client address ${address} is not allowed`;
    this.#refuse({ reason: "forbidden", remote: address, status: 403, method: req.method, detail });
    throw new AuthRefusal(
      response(403, { "Content-Type": "text/plain" }, new TextEncoder().encode(detail + "\r\n")),
    );
  }

  #dispatch(req: RtspRequest, conn: RtspConnection): Promise<RtspResponse> | RtspResponse {
    this.#checkAllowList(req, conn);
    switch (req.method) {
      case "OPTIONS":
        return this.#touchIfSession(req, conn, response(200, { Public: PUBLIC_METHODS.join(", ") }));
      case "GET_PARAMETER":
      case "SET_PARAMETER":
        return this.#touchIfSession(req, conn, response(200));
      case "DESCRIBE":
        return this.#describe(req, conn);
      case "ANNOUNCE":
        return this.#announce(req, conn);
      case "SETUP":
        return this.#setup(req, conn);
      case "PLAY":
        return this.#play(req, conn);
      case "RECORD":
        return this.#record(req, conn);
      case "PAUSE":
        return this.#pause(req, conn);
      case "TEARDOWN":
        return this.#teardown(req, conn);
      default:
        throw new RtspProtocolError(`Method "${req.method}" is not implemented`, 501);
    }
  }

  #connState(conn: RtspConnection): ConnState {
    let s = this.#conns.get(conn);
    if (!s) {
      s = { channels: new Map(), announced: null, sessions: new Set(), afterResponse: [] };
      this.#conns.set(conn, s);
      conn.onFrame = (channel, payload) => this.#onFrame(s!, channel, payload);
    }
    return s;
  }

  /**
   * The session named by the request, or undefined when it names none. A session belongs to the connection that
   * set it up; another connection may act on it only from the same client address, only for a session without
   * interleaved tracks (those live and die with their connection), and, with users, only with the credentials of
   * the user that set it up. Knowing a session id (the admin API lists them) is not enough.
   * @throws 454 for an unknown session, or one that is not the caller's; AuthRefusal to ask for credentials
   */
  #sessionOf(req: RtspRequest, conn: RtspConnection): RelaySession | undefined {
    const header = req.headers.get("Session");
    if (header === undefined) return undefined;
    const { id } = parseSession(header);
    const s = this.#sessions.get(id);
    if (!s || !this.#mayUse(s, req, conn)) throw new RtspProtocolError(`Session "${id}" not found`, 454);
    s.timer.touch(this.#now());
    return s;
  }

  #mayUse(s: RelaySession, req: RtspRequest, conn: RtspConnection): boolean {
    if (s.conn === conn) return true;
    if (s.remote !== conn.remote.hostname) return false;
    if ([...s.tracks.values()].some((t) => t.transport === "tcp")) return false;
    if (!this.#auth?.requiresCredentials) return true;
    return this.#authorize(req, conn, s.path, s.role === "publisher" ? "publish" : "read") === s.user;
  }

  #requireSession(req: RtspRequest, conn: RtspConnection): RelaySession {
    const s = this.#sessionOf(req, conn);
    if (!s) throw new RtspProtocolError(`${req.method} needs a Session header`, 454);
    return s;
  }

  #touchIfSession(req: RtspRequest, conn: RtspConnection, res: RtspResponse): RtspResponse {
    const s = this.#sessionOf(req, conn);
    if (s) res.headers.set("Session", `${s.id};timeout=${this.#timeout}`);
    return res;
  }

  /**
   * Checks that an aggregate request's URL (PLAY, PAUSE, RECORD, TEARDOWN) names the session's path.
   * @throws 400 for a URL that is no RTSP URL, 459 for another path
   */
  #checkSessionUrl(req: RtspRequest, s: RelaySession): void {
    if (req.url === "*") return;
    const path = streamPathOf(req.url);
    if (path !== s.path && !path.startsWith(s.path + "/")) {
      throw new RtspProtocolError(`Session "${s.id}" belongs to "${s.path}", not "${path}"`, 459);
    }
  }

  #transition(s: RelaySession, method: SessionMethod): SessionState | "closed" {
    const next = nextSessionState(s.role, s.state, method);
    if (next === null) {
      throw new RtspProtocolError(
        `${method} is not valid for a ${s.role} session in state "${s.state}"`,
        455,
      );
    }
    return next;
  }

  /** `rtsp://host:port/path/` as the client reached us (Content-Base and RTP-Info URLs). */
  #baseUrl(conn: RtspConnection, path: string): string {
    const host = hostForUrl(conn.local.hostname);
    return `rtsp://${host}:${conn.local.port}/${path}/`;
  }

  async #readyStream(path: string): Promise<Stream> {
    const stream = this.#hub.forReader(path);
    if (!stream) throw new RtspProtocolError(`No stream at path "${path}"`, 404);
    stream.retain();
    try {
      await stream.whenReady(this.#waitMs);
    } catch (err) {
      stream.release();
      const status = err instanceof StreamUnavailable ? err.status : stream.kind === "publish" ? 404 : 503;
      throw new RtspProtocolError((err as Error).message, status);
    }
    return stream;
  }

  async #describe(req: RtspRequest, conn: RtspConnection): Promise<RtspResponse> {
    const path = streamPathOf(req.url);
    this.#authorize(req, conn, path, "read");
    const stream = await this.#readyStream(path);
    try {
      const sdp = rewriteSdpForServing(stream.description!, {
        sessionName: path,
        originAddress: conn.local.hostname,
      });
      return response(200, {
        "Content-Base": this.#baseUrl(conn, path),
        "Content-Type": "application/sdp",
      }, new TextEncoder().encode(sdp));
    } finally {
      stream.release();
    }
  }

  #announce(req: RtspRequest, conn: RtspConnection): RtspResponse {
    const path = streamPathOf(req.url);
    const user = this.#authorize(req, conn, path, "publish");
    const type = req.headers.get("Content-Type");
    if (type !== undefined && !/^application\/sdp\b/i.test(type)) {
      throw new RtspProtocolError(`ANNOUNCE body must be application/sdp, got "${type}"`, 415);
    }
    const text = decoder.decode(req.body);
    const medias = countMediaSections(text);
    if (medias > this.#hub.maxTracks) {
      throw new RtspProtocolError(new TooManyTracks(medias, this.#hub.maxTracks).message, 400);
    }
    const desc = parseSdp(text);
    const cs = this.#connState(conn);
    if (cs.announced) throw new RtspProtocolError("This connection already announced a stream", 455);
    const source = new PublisherSource(conn.remote.hostname);
    let stream: Stream | "not_allowed" | "busy";
    try {
      stream = this.#hub.forPublisher(path, desc, source);
    } catch (err) {
      if (err instanceof TooManyTracks) throw new RtspProtocolError(err.message, 400);
      throw err;
    }
    if (stream === "not_allowed") {
      throw new RtspProtocolError(`Publishing to "${path}" is not allowed`, 403);
    }
    if (stream === "busy") throw new RtspProtocolError(`Path "${path}" already has a publisher`, 455);
    stream.setState("connecting");
    cs.announced = { path, stream, source, user };
    this.#sessionLog.info(conn.remote.hostname, "publisher announced", {
      path,
      remote: conn.remote.hostname,
      tracks: desc.medias.length,
    }, this.#now());
    return response(200);
  }

  /** Finds which track a SETUP URL names. */
  #trackIndex(url: string, path: string, desc: SessionDescription, conn: RtspConnection): number {
    const { trackId } = splitTrackUrl(url);
    if (trackId !== null) return trackId;
    // Publishers use the controls of their own SDP (ffmpeg: "streamid=0").
    const reqPath = streamPathOf(url);
    const base = this.#baseUrl(conn, path);
    for (let i = 0; i < desc.medias.length; i++) {
      const control = desc.medias[i]!.control;
      if (control === undefined) continue;
      if (streamPathOf(resolveControl(base, control)) === reqPath) return i;
    }
    if (desc.medias.length === 1 && reqPath === path) return 0;
    throw new RtspProtocolError(`SETUP URL "${url}" names no track of "${path}"`, 404);
  }

  async #setup(req: RtspRequest, conn: RtspConnection): Promise<RtspResponse> {
    const header = req.headers.get("Transport");
    if (!header) throw new RtspProtocolError("SETUP needs a Transport header", 461);
    const offers = parseTransports(header);
    const cs = this.#connState(conn);
    let session = this.#sessionOf(req, conn);
    const urlPath = splitTrackUrl(req.url).path;
    const announced = cs.announced;
    const publishing = session?.role === "publisher" ||
      (!session && announced !== null &&
        (urlPath === announced.path || streamPathOf(req.url).startsWith(announced.path + "/")));
    if (!publishing && offers.some((o) => o.mode === "RECORD")) {
      throw new RtspProtocolError(
        "SETUP with mode=record needs an ANNOUNCE of the path on this connection",
        455,
      );
    }
    // The right the session will use, on the path it will serve; a session's own requests were checked when it
    // was set up, and an announced path when it was announced.
    const user = session
      ? session.user
      : publishing
      ? announced!.user
      : this.#authorize(req, conn, urlPath, "read");
    // Before the stream is touched: a refused reader must not start a camera.
    if (!session) this.#admitSession(req, conn.remote.hostname, publishing ? null : urlPath);

    let stream: Stream;
    let path: string;
    let created = false;
    if (session) {
      stream = session.stream;
      path = session.path;
      if (urlPath !== path && !streamPathOf(req.url).startsWith(path + "/")) {
        throw new RtspProtocolError(`Session "${session.id}" belongs to "${path}", not "${urlPath}"`, 459);
      }
    } else if (publishing) {
      stream = announced!.stream;
      path = announced!.path;
    } else {
      path = urlPath;
      stream = await this.#readyStream(path);
      created = true;
    }
    try {
      const index = this.#trackIndex(req.url, path, stream.description!, conn);
      if (index < 0 || index >= stream.tracks.length) {
        throw new RtspProtocolError(`Track ${index} does not exist in "${path}"`, 404);
      }
      if (session?.tracks.has(index)) throw new RtspProtocolError(`Track ${index} is already set up`, 455);
      const offer = this.#pickTransport(offers, publishing);
      // Refuse before a session exists: a refused SETUP must not leave one behind.
      const channels = offer.lowerTransport === "TCP" ? this.#interleavedChannels(offer, cs, session) : null;
      // UDP ports are bound for a track only by the first UDP SETUP of it (a refused one holds none).
      const pair = channels ? null : this.#pairFor(stream, index);
      if (!session) {
        session = this.#createSession(publishing ? "publisher" : "reader", path, stream, conn, cs, user);
        if (publishing) session.source = announced!.source;
        created = false; // the session now owns the stream reference (readers) or the announce (publishers)
      }
      const next = this.#transition(session, "SETUP");
      const reply = this.#applyTransport(session, index, offer, channels ?? pair!, cs, conn);
      session.state = next as SessionState;
      return response(200, {
        Session: `${session.id};timeout=${this.#timeout}`,
        Transport: formatTransport(reply),
      });
    } finally {
      if (created) stream.release();
    }
  }

  /**
   * Checks that `remote` may open one more session, and, for a reader of `readerPath`, that the path may have one
   * more reader.
   * @throws 503 over the sessions per client, 453 over the readers per path
   */
  #admitSession(req: RtspRequest, remote: string, readerPath: string | null): void {
    const budget = this.#budget;
    if (budget && !budget.admitting) {
      const mib = (n: number) => Math.round(n / (1024 * 1024));
      throw this.#limitError({
        reason: "memory_budget",
        remote,
        status: 503,
        limit: budget.limit,
        method: req.method,
        ...(readerPath !== null ? { path: readerPath } : {}),
        detail: `The relay's memory budget is nearly used up (${mib(budget.used)} of ${
          mib(budget.limit)
        } MiB held for GOP caches and reader queues); retry later`,
      });
    }
    const maxSessions = this.#maxSessionsPerIp;
    if (maxSessions > 0) {
      let held = 0;
      for (const s of this.#sessions.values()) if (s.remote === remote) held++;
      if (held >= maxSessions) {
        throw this.#limitError({
          reason: "max_sessions_per_ip",
          remote,
          status: 503,
          limit: maxSessions,
          method: req.method,
          ...(readerPath !== null ? { path: readerPath } : {}),
          detail: `This client already holds ${held} session${
            held === 1 ? "" : "s"
          }, the most allowed per client`,
        });
      }
    }
    if (readerPath !== null) this.#admitReader(req, remote, readerPath, null);
  }

  /**
   * Checks that `path` may have one more playing reader besides `self`.
   * @throws 453 Not Enough Bandwidth when it has the most allowed
   */
  #admitReader(req: RtspRequest, remote: string, path: string, self: RelaySession | null): void {
    const max = this.#maxReadersPerPath;
    if (max <= 0) return;
    let playing = 0;
    for (const s of this.#sessions.values()) {
      if (s !== self && s.role === "reader" && s.path === path && s.state === "playing") playing++;
    }
    if (playing < max) return;
    throw this.#limitError({
      reason: "max_readers_per_path",
      remote,
      status: 453,
      limit: max,
      method: req.method,
      path,
      detail: `Path "${path}" already has ${playing} playing reader${
        playing === 1 ? "" : "s"
      }, the most allowed`,
    });
  }

  #pickTransport(offers: Transport[], publishing: boolean): Transport {
    for (const t of offers) {
      if (t.delivery === "multicast") continue;
      if (t.lowerTransport === "TCP") return t;
      if (t.clientPort) return t;
      if (publishing && t.lowerTransport === "UDP") continue;
    }
    throw new RtspProtocolError(
      "No supported transport offered (unicast UDP with client_port, or TCP interleaved)",
      461,
    );
  }

  #createSession(
    role: SessionRole,
    path: string,
    stream: Stream,
    conn: RtspConnection,
    cs: ConnState,
    user: string | null,
  ): RelaySession {
    const now = this.#now();
    const s: RelaySession = {
      id: newSessionId(),
      role,
      path,
      stream,
      conn,
      remote: conn.remote.hostname,
      user,
      createdAt: this.#wallClock(),
      state: "init",
      timer: new SessionTimer(now, this.#timeout),
      tracks: new Map(),
      rtcpKeys: [],
      rtpKeys: [],
      source: null,
      reports: new Map(),
    };
    this.#sessions.set(s.id, s);
    cs.sessions.add(s);
    this.#sessionLog.info(s.remote, "session started", {
      session: s.id,
      role,
      path,
      remote: s.remote,
      ...(user !== null ? { user } : {}),
    }, now);
    return s;
  }

  #applyTransport(
    s: RelaySession,
    index: number,
    offer: Transport,
    via: [number, number] | UdpPortPair,
    cs: ConnState,
    conn: RtspConnection,
  ): Transport {
    const track = s.stream.tracks[index]!;
    if (Array.isArray(via)) {
      const channels = via;
      cs.channels.set(channels[0], { session: s, index, rtcp: false });
      cs.channels.set(channels[1], { session: s, index, rtcp: true });
      s.tracks.set(index, { index, transport: "tcp", ports: channels, egress: null, burstGeneration: -2 });
      if (s.role === "publisher") s.stream.setUdpSource(index, null);
      return {
        protocol: "RTP/AVP",
        lowerTransport: "TCP",
        delivery: "unicast",
        interleaved: channels,
        ...(s.role === "reader" ? { ssrc: track.outputSsrc } : {}),
        ...(s.role === "publisher" ? { mode: "RECORD" as const } : {}),
        other: [],
      };
    }
    const clientPort = offer.clientPort!;
    const pair = via;
    s.tracks.set(index, { index, transport: "udp", ports: clientPort, egress: null, burstGeneration: -2 });
    if (s.role === "publisher") {
      s.stream.setUdpSource(index, {
        host: conn.remote.hostname,
        rtpPort: clientPort[0],
        rtcpPort: clientPort[1],
      });
    } else {
      const key = `${conn.remote.hostname}:${clientPort[1]}`;
      s.stream.readerRtcp.set(key, (packet, i) => {
        s.timer.touch(this.#now());
        this.#readerRtcp(s, packet, i);
      });
      s.rtcpKeys.push(key);
      const rtpKey = `${conn.remote.hostname}:${clientPort[0]}`;
      s.stream.readerRtp.add(rtpKey);
      s.rtpKeys.push(rtpKey);
    }
    return {
      protocol: "RTP/AVP",
      lowerTransport: "UDP",
      delivery: "unicast",
      clientPort,
      serverPort: [pair.rtpPort, pair.rtcpPort],
      ...(s.role === "reader" ? { ssrc: track.outputSsrc } : {}),
      ...(s.role === "publisher" ? { mode: "RECORD" as const } : {}),
      other: [],
    };
  }

  /** The port pair of a stream's track, bound now if needed. @throws 503 when the UDP port range is in use */
  #pairFor(stream: Stream, index: number): UdpPortPair {
    try {
      return stream.pairFor(index);
    } catch (err) {
      if (!(err instanceof PortsExhausted)) throw err;
      throw new RtspProtocolError(
        "No UDP port pair is free on the relay: use RTP over TCP (RTP/AVP/TCP) or retry later",
        503,
      );
    }
  }

  /** Channels for a TCP offer. @throws 461 when another session holds one, 453 when none is free */
  #interleavedChannels(offer: Transport, cs: ConnState, s: RelaySession | undefined): [number, number] {
    const channels = offer.interleaved ?? this.#freeChannels(cs);
    for (const ch of channels) {
      const taken = cs.channels.get(ch);
      if (taken && taken.session !== s) {
        throw new RtspProtocolError(`Interleaved channel ${ch} is already in use on this connection`, 461);
      }
    }
    return channels;
  }

  #freeChannels(cs: ConnState): [number, number] {
    for (let ch = 0; ch < 254; ch += 2) {
      if (!cs.channels.has(ch) && !cs.channels.has(ch + 1)) return [ch, ch + 1];
    }
    throw new RtspProtocolError("No free interleaved channels on this connection", 453);
  }

  #play(req: RtspRequest, conn: RtspConnection): RtspResponse {
    const s = this.#requireSession(req, conn);
    this.#checkSessionUrl(req, s);
    if (s.tracks.size === 0) throw new RtspProtocolError("PLAY before any SETUP", 455);
    const next = this.#transition(s, "PLAY");
    if (s.state !== "playing") this.#admitReader(req, s.remote, s.path, s);
    const url = this.#baseUrl(s.conn, s.path);
    const info: RtpInfoEntry[] = [];
    for (const t of s.tracks.values()) {
      const track = s.stream.tracks[t.index];
      if (!track) continue;
      let next = track.nextRtpInfo;
      if (!t.egress) {
        const id = `${s.id}:${t.index}`;
        let egress: Egress;
        if (t.transport === "tcp") {
          egress = new TcpEgress(
            id,
            s.conn.writer,
            t.ports,
            s.stream.description?.medias[t.index]?.type === "video",
          );
        } else {
          const pair = this.#pairFor(s.stream, t.index);
          egress = new UdpEgress(id, s.remote, t.ports, pair.sendRtp, pair.sendRtcp);
        }
        t.egress = egress;
        next = track.startRtpInfo;
        // Media (the cached GOP first, unless this reader already had that GOP: a PAUSE/PLAY loop must not make
        // the relay replay it again and again) flows once the PLAY reply is on the wire, unless the session ended.
        const burst = t.burstGeneration !== track.gopGeneration;
        if (!burst) next = track.nextRtpInfo;
        this.#afterResponse(s.conn, () => {
          if (t.egress !== egress || !this.#sessions.has(s.id)) return;
          t.burstGeneration = track.gopGeneration;
          track.addEgress(egress, { burst });
        });
      }
      info.push({
        url: `${url}trackID=${t.index}`,
        ...(next ? { seq: next.seq, rtptime: next.rtptime } : {}),
      });
    }
    s.state = next as SessionState;
    this.#sessionLog.info(
      s.remote,
      "reader playing",
      { session: s.id, path: s.path, tracks: s.tracks.size },
      this.#now(),
    );
    return response(200, {
      Session: `${s.id};timeout=${this.#timeout}`,
      Range: "npt=0.000-",
      "RTP-Info": formatRtpInfo(info),
    });
  }

  #record(req: RtspRequest, conn: RtspConnection): RtspResponse {
    const s = this.#requireSession(req, conn);
    this.#checkSessionUrl(req, s);
    const next = this.#transition(s, "RECORD");
    if (s.tracks.size !== s.stream.tracks.length) {
      throw new RtspProtocolError(
        `RECORD before every track was set up (${s.tracks.size} of ${s.stream.tracks.length})`,
        455,
      );
    }
    s.state = next as SessionState;
    s.stream.setState("ready");
    const reporter = new ReceiverReporter({ intervalMs: this.#rtcpIntervalMs, cname: this.#rtcpCname });
    reporter.start(this.#now());
    this.#reporters.set(s, reporter);
    this.#sessionLog.info(s.remote, "publisher recording", { session: s.id, path: s.path }, this.#now());
    return response(200, { Session: `${s.id};timeout=${this.#timeout}` });
  }

  #pause(req: RtspRequest, conn: RtspConnection): RtspResponse {
    const s = this.#requireSession(req, conn);
    this.#checkSessionUrl(req, s);
    const next = this.#transition(s, "PAUSE");
    this.#detachEgresses(s);
    s.state = next as SessionState;
    return response(200, { Session: `${s.id};timeout=${this.#timeout}` });
  }

  #teardown(req: RtspRequest, conn: RtspConnection): RtspResponse {
    const s = this.#requireSession(req, conn);
    this.#checkSessionUrl(req, s);
    this.#endSession(s, "teardown");
    return response(200);
  }

  #detachEgresses(s: RelaySession): void {
    for (const t of s.tracks.values()) {
      if (t.egress) s.stream.tracks[t.index]?.removeEgress(t.egress.id);
      t.egress = null;
    }
  }

  #endSession(s: RelaySession, reason: string): void {
    if (!this.#sessions.delete(s.id)) return;
    this.#detachEgresses(s);
    for (const key of s.rtcpKeys) s.stream.readerRtcp.delete(key);
    for (const key of s.rtpKeys) s.stream.readerRtp.delete(key);
    for (const track of s.stream.tracks) track.forgetReader(s.id);
    const cs = this.#conns.get(s.conn);
    if (cs) {
      cs.sessions.delete(s);
      for (const [ch, route] of cs.channels) if (route.session === s) cs.channels.delete(ch);
    }
    if (s.role === "reader") {
      s.stream.release();
    } else if (s.source) {
      if (cs?.announced?.source === s.source) cs.announced = null;
      this.#hub.unpublish(s.stream, s.source);
    }
    this.#sessionLog.info(
      s.remote,
      "session ended",
      { session: s.id, role: s.role, path: s.path, reason },
      this.#now(),
    );
  }

  /** Routes a `$` frame: publisher media into its track, reader RTCP into counters and reports. */
  #onFrame(cs: ConnState, channel: number, payload: Uint8Array): void {
    const route = cs.channels.get(channel);
    if (!route) return;
    const track = route.session.stream.tracks[route.index];
    if (!track) return;
    if (route.session.role === "publisher") {
      if (route.session.state !== "recording") return;
      // The parser's view dies with the next read; the track keeps (and rewrites) its own copy.
      if (route.rtcp) track.ingestRtcp(payload.slice());
      else track.ingestRtp(payload.slice());
    } else if (route.rtcp) {
      track.noteReaderReport();
      this.#readerRtcp(route.session, payload, route.index);
    }
  }
}
