/**
 * The RTSP service's sessions and connections: every live session by id and per connection, the admission
 * limits a new session or a new playing reader must pass (memory budget, sessions per client address, readers
 * per path), who may act on a session (its connection, or the same client and user for a UDP session), the
 * timeout sweep, and the end of a session, which gives back everything it held.
 * @module
 */
import type { Clock } from "../clock.ts";
import { RtspProtocolError } from "../rtsp/errors.ts";
import type { RtspRequest } from "../rtsp/message.ts";
import type { RtspConnection } from "../rtsp/server.ts";
import type { Refusal } from "../rtsp/refusals.ts";
import { newSessionId, type SessionRole, SessionTimer } from "../rtsp/server_session.ts";
import { parseSession } from "../rtsp/headers/session.ts";
import type { ClientLogBudget } from "./client_log_budget.ts";
import type { StreamHub } from "./hub.ts";
import { InterleavedRoutes, routeFrame } from "./interleaved_routes.ts";
import type { MemoryBudget } from "./memory_budget.ts";
import { isInterleaved, type RelaySession } from "./relay_session.ts";
import type { RtspAccess } from "./rtsp_access.ts";
import type { Stream, StreamSource } from "./stream.ts";

/** A stream announced on a connection, waiting for its publisher's SETUPs. */
export interface Announced {
  path: string;
  stream: Stream;
  source: StreamSource;
  user: string | null;
}

/** Per-connection state: its sessions, interleaved channels and a pending ANNOUNCE. */
export interface ConnState {
  readonly routes: InterleavedRoutes;
  announced: Announced | null;
  readonly sessions: Set<RelaySession>;
  /** Work to do once the current response is queued (see {@linkcode SessionRegistry.responseSent}). */
  readonly afterResponse: Array<() => void>;
}

/** Limits and dependencies of {@linkcode SessionRegistry}. */
export interface SessionRegistryOptions {
  hub: StreamHub;
  access: RtspAccess;
  /** Counts and logs a refusal. */
  refuse: (refusal: Refusal) => void;
  /** Lines about sessions, rationed per client address. */
  sessionLog: ClientLogBudget;
  now: Clock;
  wallClock: Clock;
  /** Advertised session timeout in seconds. */
  timeoutSeconds: number;
  /** Sessions one client address may hold; 0: no limit. */
  maxSessionsPerIp: number;
  /** Readers playing one path; 0: no limit. */
  maxReadersPerPath: number;
  /** The relay-wide memory budget, when there is one. */
  memoryBudget: MemoryBudget | undefined;
  /** A TCP reader whose every packet has been dropped this long is closed. */
  slowReaderTimeoutMs: number;
  /** A reader's RTCP compound arrived on track `index` (interleaved or UDP). */
  onReaderRtcp: (s: RelaySession, packet: Uint8Array, index: number) => void;
  /** A recording publisher's sweep tick (receiver reports). */
  onRecordingTick: (s: RelaySession, now: number) => void;
}

/** The sessions of the RTSP service. */
export class SessionRegistry {
  readonly #o: SessionRegistryOptions;
  readonly #sessions = new Map<string, RelaySession>();
  readonly #conns = new WeakMap<RtspConnection, ConnState>();

  /** @param options limits and dependencies */
  constructor(options: SessionRegistryOptions) {
    this.#o = options;
  }

  /** Live sessions. */
  all(): IterableIterator<RelaySession> {
    return this.#sessions.values();
  }

  /** True while the session has not ended. */
  isLive(s: RelaySession): boolean {
    return this.#sessions.get(s.id) === s;
  }

  /** A session by id. */
  byId(id: string): RelaySession | undefined {
    return this.#sessions.get(id);
  }

  /** The connection's state, if it ever made one (a session, an ANNOUNCE, a deferred action). */
  peek(conn: RtspConnection): ConnState | undefined {
    return this.#conns.get(conn);
  }

  /** The connection's state, made on first use (it then routes the connection's `$` frames). */
  conn(conn: RtspConnection): ConnState {
    let s = this.#conns.get(conn);
    if (!s) {
      const state: ConnState = {
        routes: new InterleavedRoutes(),
        announced: null,
        sessions: new Set(),
        afterResponse: [],
      };
      conn.onFrame = (channel, payload) => routeFrame(state.routes, channel, payload, this.#o.onReaderRtcp);
      this.#conns.set(conn, state);
      s = state;
    }
    return s;
  }

  /** Runs `action` once the response to the current request is queued on `conn`. */
  afterResponse(conn: RtspConnection, action: () => void): void {
    this.conn(conn).afterResponse.push(action);
  }

  /** Runs what a request deferred until its response was queued. */
  responseSent(conn: RtspConnection): void {
    const state = this.#conns.get(conn);
    if (!state || state.afterResponse.length === 0) return;
    for (const action of state.afterResponse.splice(0)) action();
  }

  /**
   * The session named by the request, or undefined when it names none. A session belongs to the connection that
   * set it up; another connection may act on it only from the same client address, only for a session without
   * interleaved tracks (those live and die with their connection), and, with users, only with the credentials of
   * the user that set it up. Knowing a session id (the admin API lists them) is not enough.
   * @throws 454 for an unknown session, or one that is not the caller's; AuthRefusal to ask for credentials
   */
  named(req: RtspRequest, conn: RtspConnection): RelaySession | undefined {
    const header = req.headers.get("Session");
    if (header === undefined) return undefined;
    const { id } = parseSession(header);
    const s = this.#sessions.get(id);
    if (!s || !this.#mayUse(s, req, conn)) throw new RtspProtocolError(`Session "${id}" not found`, 454);
    s.timer.touch(this.#o.now());
    return s;
  }

  /**
   * The session named by the request.
   * @throws 454 when it names none (or one that is not the caller's)
   */
  required(req: RtspRequest, conn: RtspConnection): RelaySession {
    const s = this.named(req, conn);
    if (!s) throw new RtspProtocolError(`${req.method} needs a Session header`, 454);
    return s;
  }

  #mayUse(s: RelaySession, req: RtspRequest, conn: RtspConnection): boolean {
    if (s.conn === conn) return true;
    if (s.remote !== conn.remote.hostname) return false;
    if (isInterleaved(s)) return false;
    if (!this.#o.access.requiresCredentials) return true;
    return this.#o.access.authorize(req, conn, s.path, s.role === "publisher" ? "publish" : "read") ===
      s.user;
  }

  /**
   * Checks that `remote` may open one more session, and, for a reader of `readerPath`, that the path may have one
   * more reader.
   * @throws 503 while the memory budget is nearly used up or over the sessions per client, 453 over the readers
   *   per path
   */
  admit(req: RtspRequest, remote: string, readerPath: string | null): void {
    const pathField = readerPath !== null ? { path: readerPath } : {};
    const budget = this.#o.memoryBudget;
    if (budget && !budget.admitting) {
      const mib = (n: number) => Math.round(n / (1024 * 1024));
      throw this.#limitError({
        reason: "memory_budget",
        remote,
        status: 503,
        limit: budget.limit,
        method: req.method,
        ...pathField,
        detail: `The relay's memory budget is nearly used up (${mib(budget.used)} of ${
          mib(budget.limit)
        } MiB held for GOP caches and reader queues); retry later`,
      });
    }
    const maxSessions = this.#o.maxSessionsPerIp;
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
          ...pathField,
          detail: `This client already holds ${held} session${
            held === 1 ? "" : "s"
          }, the most allowed per client`,
        });
      }
    }
    if (readerPath !== null) this.admitReader(req, remote, readerPath, null);
  }

  /**
   * Checks that `path` may have one more playing reader besides `self`.
   * @throws 453 Not Enough Bandwidth when it has the most allowed
   */
  admitReader(req: RtspRequest, remote: string, path: string, self: RelaySession | null): void {
    const max = this.#o.maxReadersPerPath;
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

  #limitError(refusal: Refusal & { status: number; detail: string }): RtspProtocolError {
    this.#o.refuse(refusal);
    return new RtspProtocolError(refusal.detail, refusal.status, refusal.limit);
  }

  /** Creates a session on `conn` (state `init`); admission was checked before. */
  create(
    role: SessionRole,
    path: string,
    stream: Stream,
    conn: RtspConnection,
    user: string | null,
  ): RelaySession {
    const now = this.#o.now();
    const s: RelaySession = {
      id: newSessionId(),
      role,
      path,
      stream,
      conn,
      remote: conn.remote.hostname,
      user,
      createdAt: this.#o.wallClock(),
      state: "init",
      timer: new SessionTimer(now, this.#o.timeoutSeconds),
      tracks: new Map(),
      udpReaderPorts: [],
      source: null,
      reports: new Map(),
    };
    this.#sessions.set(s.id, s);
    this.conn(conn).sessions.add(s);
    const userField = user !== null ? { user } : {};
    this.#o.sessionLog.info(s.remote, "session started", {
      session: s.id,
      role,
      path,
      remote: s.remote,
      ...userField,
    }, now);
    return s;
  }

  /** Stops a session's egresses (PAUSE, end). */
  detachEgresses(s: RelaySession): void {
    for (const t of s.tracks.values()) {
      if (t.egress) s.stream.tracks[t.index]?.removeEgress(t.egress.id);
      t.egress = null;
    }
  }

  /** Ends a session: its egresses, listeners and channels go, a reader's stream is released, a publisher's unpublished. */
  end(s: RelaySession, reason: string): void {
    if (!this.#sessions.delete(s.id)) return;
    this.detachEgresses(s);
    for (const unregister of s.udpReaderPorts) unregister();
    for (const track of s.stream.tracks) track.forgetReader(s.id);
    const cs = this.#conns.get(s.conn);
    if (cs) {
      cs.sessions.delete(s);
      cs.routes.release(s);
    }
    if (s.role === "reader") {
      s.stream.release();
    } else if (s.source) {
      if (cs?.announced?.source === s.source) cs.announced = null;
      this.#o.hub.unpublish(s.stream, s.source);
    }
    const fields = { session: s.id, role: s.role, path: s.path, reason };
    this.#o.sessionLog.info(s.remote, "session ended", fields, this.#o.now());
  }

  /** Ends the connection's interleaved, publishing and never set-up sessions, and its pending ANNOUNCE. */
  connectionClosed(conn: RtspConnection): void {
    const state = this.#conns.get(conn);
    if (!state) return;
    for (const s of state.sessions) {
      if (isInterleaved(s) || s.role === "publisher" || s.state === "init") this.end(s, "connection closed");
    }
    if (state.announced) {
      this.#o.hub.unpublish(state.announced.stream, state.announced.source);
      state.announced = null;
    }
  }

  /**
   * Ends sessions that stayed silent past their timeout, and TCP readers that stopped reading; gives recording
   * publishers their tick.
   */
  sweep(now: number): void {
    for (const s of this.#sessions.values()) {
      // TCP-interleaved and publishing sessions live as long as their connection shows activity.
      const tcp = s.role === "publisher" || isInterleaved(s);
      if (tcp) s.timer.touch(s.conn.lastActivity);
      if (s.timer.expired(now)) this.end(s, "timeout");
      else if (s.role === "publisher" && s.state === "recording") this.#o.onRecordingTick(s, now);
      else if (tcp && s.role === "reader") this.#closeIfNotReading(s, now);
    }
  }

  /** Lets a TCP reader go once it has taken no packet for the slow-reader timeout: its queue is held for nothing. */
  #closeIfNotReading(s: RelaySession, now: number): void {
    const since = s.conn.writer.droppingSince;
    const limitMs = this.#o.slowReaderTimeoutMs;
    if (since === null || now - since < limitMs) return;
    this.#o.refuse({
      reason: "slow_reader",
      remote: s.remote,
      status: null,
      limit: limitMs / 1000,
      path: s.path,
      detail: `The reader took no packet for ${Math.round((now - since) / 1000)} s: its connection is closed`,
    });
    this.end(s, "not reading");
    s.conn.close();
  }
}
