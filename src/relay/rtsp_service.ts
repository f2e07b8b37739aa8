/**
 * The relay's RTSP service, its front door: every request the TCP shell (src/rtsp/server.ts) delivers passes the
 * client's request rate and the allow-list, then goes to its method (readers: rtsp_reader_methods.ts,
 * publishers: rtsp_publisher_methods.ts, SETUP for both: rtsp_setup.ts); errors become status codes with the
 * reason in the body. The sessions, their limits and timeouts are the registry's (session_registry.ts); the
 * connection events (closed, idle, malformed input) end up here too.
 * @module
 */
import { type Clock, monotonicMs } from "../clock.ts";
import { contained } from "../contain.ts";
import type { Logger } from "../log.ts";
import { RtspProtocolError } from "../rtsp/errors.ts";
import { PUBLIC_METHODS } from "../rtsp/methods.ts";
import { response, type RtspRequest, type RtspResponse } from "../rtsp/message.ts";
import type { RtspConnection, RtspConnectionLimit } from "../rtsp/server.ts";
import { RateLimiter } from "../rtsp/rate_limiter.ts";
import type { Refusal, RefusalReason } from "../rtsp/refusals.ts";
import { redactUrl } from "../rtsp/url.ts";
import { ClientLogBudget } from "./client_log_budget.ts";
import type { StreamHub } from "./hub.ts";
import { RefusalLog } from "./limits.ts";
import type { MemoryBudget } from "./memory_budget.ts";
import {
  checkSessionUrl,
  isInterleaved,
  noteReaderRtcp,
  type RelaySession,
  sessionHeader,
} from "./relay_session.ts";
import { AuthRefusal, RtspAccess } from "./rtsp_access.ts";
import type { RtspAuthenticator } from "./rtsp_auth.ts";
import type { RtspContext } from "./rtsp_context.ts";
import { announce, PublisherReports, record } from "./rtsp_publisher_methods.ts";
import { describe, pause, play } from "./rtsp_reader_methods.ts";
import { setup } from "./rtsp_setup.ts";
import { SessionRegistry } from "./session_registry.ts";

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
export type { RelaySession } from "./relay_session.ts";

/** Per-client limits of {@linkcode RtspService} (from the config); 0 means no limit. */
export interface RtspServiceLimits {
  /** Sessions (readers and publishers) one client address may hold; a SETUP creating one more gets 503. */
  maxSessionsPerIp: number;
  /** Readers playing one path; a SETUP or PLAY of one more gets 453 Not Enough Bandwidth. */
  maxReadersPerPath: number;
  /**
   * Failed requests and new connections per second per client address (token bucket, burst twice the rate;
   * successful requests and `$` frames cost nothing, see {@linkcode requestCost}); over it, any request gets 503
   * with Retry-After until the client is back under the rate.
   */
  requestsPerSecond: number;
}

/** Limits that limit nothing (tests, tools): every field 0. */
export const NO_RTSP_LIMITS: RtspServiceLimits = {
  maxSessionsPerIp: 0,
  maxReadersPerPath: 0,
  requestsPerSecond: 0,
};

/** Options of {@linkcode RtspService}. */
export interface RtspServiceOptions {
  hub: StreamHub;
  logger: Logger;
  /** Advertised session timeout in seconds. */
  sessionTimeoutSeconds: number;
  /** How long DESCRIBE/SETUP wait for an upstream to become ready. */
  sourceWaitMs: number;
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
  /** Per-client limits. */
  limits: RtspServiceLimits;
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

/** Implements the RTSP methods for readers and publishers. */
export class RtspService {
  readonly #log: Logger;
  readonly #now: Clock;
  readonly #wallClock: Clock;
  readonly #onRequest: (method: string, status: number) => void;
  readonly #registry: SessionRegistry;
  readonly #ctx: RtspContext;
  readonly #publisherReports: PublisherReports;
  #sweeper: ReturnType<typeof setInterval> | undefined;
  readonly #requestRate: number;
  readonly #rate: RateLimiter | null;
  /** Connections already billed their token (see {@linkcode RtspService.handle}). */
  readonly #billedConns = new WeakSet<RtspConnection>();
  readonly #refusals: RefusalLog;
  readonly #sessionLog: ClientLogBudget;

  /** @param options hub, logger, timeouts and limits */
  constructor(options: RtspServiceOptions) {
    this.#log = options.logger;
    this.#now = options.now ?? monotonicMs;
    this.#wallClock = options.wallClock ?? Date.now;
    this.#onRequest = options.onRequest ?? (() => {});
    this.#requestRate = options.limits.requestsPerSecond;
    this.#rate = this.#requestRate > 0 ? new RateLimiter({ ratePerSecond: this.#requestRate }) : null;
    this.#sessionLog = new ClientLogBudget(this.#log);
    this.#refusals = new RefusalLog({
      logger: this.#log,
      ...(options.onRefused ? { onRefused: options.onRefused } : {}),
    });
    this.#publisherReports = new PublisherReports(
      (options.rtcpIntervalSeconds ?? 5) * 1000,
      options.rtcpCname ?? "msm-relay",
    );
    const refuse = (refusal: Refusal) => this.#refuse(refusal);
    const access = new RtspAccess(options.auth, refuse);
    this.#registry = new SessionRegistry({
      hub: options.hub,
      access,
      refuse,
      sessionLog: this.#sessionLog,
      now: this.#now,
      wallClock: this.#wallClock,
      timeoutSeconds: options.sessionTimeoutSeconds,
      maxSessionsPerIp: options.limits.maxSessionsPerIp,
      maxReadersPerPath: options.limits.maxReadersPerPath,
      memoryBudget: options.memoryBudget,
      slowReaderTimeoutMs: options.slowReaderTimeoutMs ?? 10_000,
      onReaderRtcp: this.#onReaderRtcp,
      onRecordingTick: (s, now) => this.#publisherReports.tick(s, now),
    });
    this.#ctx = {
      hub: options.hub,
      sessions: this.#registry,
      access,
      now: this.#now,
      timeoutSeconds: options.sessionTimeoutSeconds,
      sourceWaitMs: options.sourceWaitMs,
      sessionLog: this.#sessionLog,
    };
  }

  readonly #onReaderRtcp = (s: RelaySession, packet: Uint8Array, index: number): void => {
    noteReaderRtcp(s, packet, index, this.#wallClock());
  };

  /** Reader sessions per path. */
  readersByPath(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const s of this.#registry.all()) {
      if (s.role === "reader") counts.set(s.path, (counts.get(s.path) ?? 0) + 1);
    }
    return counts;
  }

  /** Live sessions. */
  sessions(): RelaySession[] {
    return [...this.#registry.all()];
  }

  /** Starts the periodic timeout sweep. */
  start(): void {
    this.#sweeper ??= setInterval(() => contained("rtsp sweep", () => this.sweep()), 1000);
  }

  /** Stops the sweep and ends every session. */
  stop(): void {
    if (this.#sweeper !== undefined) clearInterval(this.#sweeper);
    this.#sweeper = undefined;
    for (const s of this.sessions()) this.#registry.end(s, "relay stopping");
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
    this.#registry.sweep(now);
  }

  /** Ends a session by id (admin kick). @returns false when unknown */
  kick(id: string): boolean {
    const s = this.#registry.byId(id);
    if (!s) return false;
    this.#registry.end(s, "kicked");
    if (isInterleaved(s)) s.conn.close();
    return true;
  }

  /** Ends the connection's interleaved and publishing sessions (RFC 2326 §10.12). */
  connectionClosed(conn: RtspConnection): void {
    this.#registry.connectionClosed(conn);
  }

  /** Runs what a request deferred until its response was queued. */
  responseSent(_req: RtspRequest, _res: RtspResponse, conn: RtspConnection): void {
    this.#registry.responseSent(conn);
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
    return (this.#registry.peek(conn)?.sessions.size ?? 0) > 0;
  }

  #refuse(refusal: Refusal): void {
    this.#refusals.report(refusal, this.#now());
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

  /**
   * Answers one request: at once when its method can (everything but a DESCRIBE or SETUP that waits for its
   * stream), so the answer leaves without waiting for the rest of the event loop's turn.
   */
  handle(req: RtspRequest, conn: RtspConnection): RtspResponse | Promise<RtspResponse> {
    const remote = conn.remote.hostname;
    // The rate is spent on what looks like abuse, not on a client's work: a new connection and every failed or
    // refused request cost a token, a successful one nothing (a recorder setting up 64 streams at once is served,
    // a client probing unknown paths or passwords is held to the rate). Over it, anything gets 503 for a while.
    if (this.#rate && !this.#billedConns.has(conn)) {
      this.#billedConns.add(conn);
      this.#rate.charge(remote, this.#now(), 1);
    }
    const waitMs = this.#rate?.waitMs(remote, this.#now()) ?? 0;
    if (waitMs > 0) return this.#answered(req, conn, this.#rateLimited(req, remote, waitMs), false);
    const res = this.#answer(req, conn);
    return res instanceof Promise
      ? res.then((r) => this.#answered(req, conn, r, true))
      : this.#answered(req, conn, res, true);
  }

  /** Bills, stamps, logs and counts an answer. */
  #answered(req: RtspRequest, conn: RtspConnection, res: RtspResponse, billed: boolean): RtspResponse {
    const cseq = req.headers.get("CSeq");
    if (billed) this.#rate?.charge(conn.remote.hostname, this.#now(), requestCost(req, res));
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
  #answer(req: RtspRequest, conn: RtspConnection): RtspResponse | Promise<RtspResponse> {
    const cseq = req.headers.get("CSeq");
    try {
      if (cseq === undefined || !/^\d{1,10}$/.test(cseq.trim())) {
        throw new RtspProtocolError(`Missing or invalid CSeq "${cseq ?? ""}"`, 400);
      }
      const res = this.#dispatch(req, conn);
      return res instanceof Promise ? res.catch((err) => this.#failed(req, err)) : res;
    } catch (err) {
      return this.#failed(req, err);
    }
  }

  /** The answer to a request whose method threw: the status it names, with the reason in the body. */
  #failed(req: RtspRequest, err: unknown): RtspResponse {
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

  #dispatch(req: RtspRequest, conn: RtspConnection): Promise<RtspResponse> | RtspResponse {
    const ctx = this.#ctx;
    ctx.access.checkAllowList(req, conn);
    switch (req.method) {
      case "OPTIONS":
        return this.#touchIfSession(req, conn, response(200, { Public: PUBLIC_METHODS.join(", ") }));
      case "GET_PARAMETER":
      case "SET_PARAMETER":
        return this.#touchIfSession(req, conn, response(200));
      case "DESCRIBE":
        return describe(ctx, req, conn);
      case "ANNOUNCE":
        return announce(ctx, req, conn);
      case "SETUP":
        return setup(ctx, req, conn, this.#onReaderRtcp);
      case "PLAY":
        return play(ctx, req, conn);
      case "RECORD":
        return record(ctx, this.#publisherReports, req, conn);
      case "PAUSE":
        return pause(ctx, req, conn);
      case "TEARDOWN":
        return this.#teardown(req, conn);
      default:
        throw new RtspProtocolError(`Method "${req.method}" is not implemented`, 501);
    }
  }

  /** A keepalive (OPTIONS, GET/SET_PARAMETER) naming a session refreshes it and says its timeout. */
  #touchIfSession(req: RtspRequest, conn: RtspConnection, res: RtspResponse): RtspResponse {
    const s = this.#registry.named(req, conn);
    if (s) res.headers.set("Session", sessionHeader(s, this.#ctx.timeoutSeconds));
    return res;
  }

  #teardown(req: RtspRequest, conn: RtspConnection): RtspResponse {
    const s = this.#registry.required(req, conn);
    checkSessionUrl(req, s);
    this.#registry.end(s, "teardown");
    return response(200);
  }
}
