/**
 * Thin TCP shell of the RTSP server: accepts connections, feeds bytes to the sans-I/O parser, hands requests
 * to a handler one at a time per connection (RTSP answers in order) and `$` frames to the connection's frame
 * listener as they arrive, and writes responses through a bounded writer.
 *
 * Connection-level limits live here: the number of connections (more are answered 503 and closed), the size of
 * a request head and body (431, 413), the time to complete a request (408, slowloris) and the time a connection
 * without a session may stay silent (closed). The handler hears of each through `protocolError` or `limitHit`.
 * @module
 */
import { type Clock, monotonicMs } from "../clock.ts";
import { RtspProtocolError } from "./errors.ts";
import { InterleavedWriter, type QueueBudget } from "./interleaved_writer.ts";
import { contained } from "../contain.ts";
import { response, type RtspRequest, type RtspResponse } from "./message.ts";
import { RtspParser, type RtspParserOptions } from "./parser.ts";
import { serializeResponse } from "./serializer.ts";

/** One client connection as the handler sees it. */
export interface RtspConnection {
  /** Connection id (for logs and session ownership). */
  readonly id: string;
  /** Client address. */
  readonly remote: Deno.NetAddr;
  /** Server address the client reached (for Content-Base). */
  readonly local: Deno.NetAddr;
  /** Writer shared by responses and interleaved frames. */
  readonly writer: InterleavedWriter;
  /**
   * When the last bytes were received, in ms on the server's monotonic clock ({@linkcode RtspServerOptions.now}):
   * only differences with that clock's readings mean anything, it is no wall-clock time.
   */
  readonly lastActivity: number;
  /** Receives `$` frames; the payload is valid only during the call. */
  onFrame: ((channel: number, payload: Uint8Array) => void) | null;
  /** Closes the connection. */
  close(): void;
}

/** A connection-level limit the server enforced, as the handler hears of it. */
export interface RtspConnectionLimit {
  /**
   * `max_connections`: a connection beyond the limit; `max_connections_per_ip`: one more from a client address
   * that holds its share; `idle_timeout`: a connection without a session fell silent.
   */
  reason: "max_connections" | "max_connections_per_ip" | "idle_timeout";
  /** Status answered (503), or null when the connection was closed without an answer. */
  status: number | null;
  /** The limit: connections for `max_connections`, milliseconds for `idle_timeout`. */
  limit: number;
  /** Method of the request answered, when one arrived. */
  method?: string;
}

/** What the relay implements to serve RTSP. */
export interface RtspHandler {
  /**
   * Answers one request. Throwing answers 500. An answer known at once should be returned as is, not as a promise:
   * it is then queued without waiting behind the other work of the event loop's turn (other connections' packets).
   */
  handle(req: RtspRequest, conn: RtspConnection): RtspResponse | Promise<RtspResponse>;
  /** The connection closed (either side). */
  connectionClosed(conn: RtspConnection): void;
  /**
   * A request could not be parsed, or exceeded a size or time limit (431, 413, 408 with `err.limit`); for logs and
   * counters. The server answers `err.status` and closes.
   */
  protocolError?(conn: RtspConnection, err: RtspProtocolError): void;
  /** A connection-level limit was hit (see {@linkcode RtspConnectionLimit}); for logs and counters. */
  limitHit?(remote: Deno.NetAddr, hit: RtspConnectionLimit): void;
  /**
   * True while the connection holds an RTSP session: the idle timeout then leaves it to the session timeout.
   * Absent: no connection is ever closed for being idle.
   */
  holdsSession?(conn: RtspConnection): boolean;
  /**
   * The response to `req` is queued on the connection: what the handler sends now follows it on the wire
   * (media a PLAY starts must not precede the PLAY reply, or clients discard it).
   */
  responseSent?(req: RtspRequest, res: RtspResponse, conn: RtspConnection): void;
}

/** Options of {@linkcode RtspServer}. */
export interface RtspServerOptions {
  hostname: string;
  port: number;
  handler: RtspHandler;
  /** Per-connection queue bound for interleaved frames, in bytes. */
  maxQueuedBytes: number;
  /** A bound every connection's queued bytes count against too (the relay's memory budget). */
  queueBudget?: QueueBudget;
  /** Most open connections; one more gets 503 to its first request and is closed. */
  maxConnections: number;
  /** Most open connections from one client address (503 likewise); 0: no limit. */
  maxConnectionsPerIp: number;
  /** Largest request head (start line and headers) in bytes; larger gets 431. */
  maxHeadBytes: number;
  /** Largest request body in bytes; a larger Content-Length gets 413. */
  maxBodyBytes: number;
  /**
   * Answer 408 and close a connection that has sent an incomplete request for this long (slowloris); a new
   * connection must complete its first request within it.
   */
  headTimeoutMs: number;
  /**
   * Close a connection that holds no session (see {@linkcode RtspHandler.holdsSession}), has no request in
   * progress and has sent nothing for this long.
   */
  idleTimeoutMs: number;
  /**
   * Monotonic clock of the head and idle timeouts and of {@linkcode RtspConnection.lastActivity}; a handler that
   * compares `lastActivity` with its own clock must use the same one. @default monotonicMs
   */
  now?: Clock;
}

/** The read buffer of a new connection, in bytes (an RTSP request and a receiver report fit). */
export const READ_BUFFER_FIRST = 2048;
/** The largest read buffer a connection grows (see {@linkcode READ_BUFFER_FIRST}). */
export const READ_BUFFER_MAX = 64 * 1024;
/** Connections beyond the limit waited on at once for their first request; more are closed unanswered. */
const MAX_REFUSING = 64;
/** How long a connection beyond the limit may take to send its first request (capped by the head timeout). */
const REFUSE_WAIT_MS = 2000;
/** Requests read ahead of the one being answered; beyond it the connection is not read until they are answered. */
export const MAX_PIPELINED_REQUESTS = 32;

class Connection implements RtspConnection {
  readonly id: string;
  readonly remote: Deno.NetAddr;
  readonly local: Deno.NetAddr;
  readonly writer: InterleavedWriter;
  lastActivity: number;
  /**
   * When the parser started holding an incomplete message (null: none; never 0, a monotonic clock can read 0).
   * A new connection counts as one until its first request is complete: it must send it within the head timeout.
   */
  partialSince: number | null;
  /** A request is being handled (never idle meanwhile). */
  busy = false;
  /** Closing after a final answer: the sweeper leaves it alone. */
  closing = false;
  onFrame: ((channel: number, payload: Uint8Array) => void) | null = null;
  readonly #conn: Deno.TcpConn;
  #closed = false;

  constructor(
    id: string,
    conn: Deno.TcpConn,
    writer: { maxQueuedBytes: number; budget: QueueBudget | undefined; now: () => number },
    now: number,
  ) {
    this.id = id;
    this.lastActivity = now;
    this.partialSince = now;
    this.#conn = conn;
    this.remote = conn.remoteAddr;
    this.local = conn.localAddr;
    this.writer = new InterleavedWriter(conn, {
      maxQueuedBytes: writer.maxQueuedBytes,
      ...(writer.budget ? { budget: writer.budget } : {}),
      now: writer.now,
      onError: () => this.close(),
    });
  }

  get closed(): boolean {
    return this.#closed;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.writer.close();
    try {
      this.#conn.close();
    } catch { /* already closed */ }
  }

  /** Sends what is queued, then closes. */
  async closeAfterFlush(): Promise<void> {
    this.closing = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([this.writer.flushed(), new Promise((r) => (timer = setTimeout(r, 1000)))]);
    clearTimeout(timer);
    this.close();
  }
}

/** The RTSP TCP listener. */
export class RtspServer {
  readonly #opts: RtspServerOptions;
  readonly #maxConnections: number;
  readonly #headTimeoutMs: number;
  readonly #idleTimeoutMs: number;
  readonly #now: Clock;
  readonly #parserLimits: RtspParserOptions;
  #listener: Deno.TcpListener | null = null;
  readonly #conns = new Set<Connection>();
  /** Open connections per client address. */
  readonly #perIp = new Map<string, number>();
  /** Connections beyond the limit waiting for their 503. */
  #refusing = 0;
  #nextId = 1;
  #sweeper: ReturnType<typeof setInterval> | undefined;

  /**
   * @param options address, port, handler and limits
   * @throws RangeError when a limit is not positive
   */
  constructor(options: RtspServerOptions) {
    this.#opts = options;
    this.#maxConnections = options.maxConnections;
    this.#headTimeoutMs = options.headTimeoutMs;
    this.#idleTimeoutMs = options.idleTimeoutMs;
    this.#now = options.now ?? monotonicMs;
    for (
      const [name, v] of [
        ["maxConnections", this.#maxConnections],
        ["headTimeoutMs", this.#headTimeoutMs],
        ["idleTimeoutMs", this.#idleTimeoutMs],
      ] as const
    ) {
      if (!(v > 0)) throw new RangeError(`${name} must be positive, got ${v}`);
    }
    this.#parserLimits = { maxHeadBytes: options.maxHeadBytes, maxBodyBytes: options.maxBodyBytes };
    new RtspParser(this.#parserLimits); // validates the size limits now rather than per connection
  }

  /** The bound port (after {@linkcode RtspServer.listen}). */
  get port(): number {
    return (this.#listener?.addr as Deno.NetAddr | undefined)?.port ?? 0;
  }

  /** Number of open connections. */
  get connections(): number {
    return this.#conns.size;
  }

  /** Binds and starts accepting. */
  listen(): void {
    this.#listener = Deno.listen({ hostname: this.#opts.hostname, port: this.#opts.port, transport: "tcp" });
    void this.#accept(this.#listener);
    const period = Math.max(50, Math.min(1000, this.#headTimeoutMs / 2, this.#idleTimeoutMs / 2));
    this.#sweeper ??= setInterval(() => contained("rtsp connection sweep", () => this.#sweep()), period);
  }

  /**
   * Answers 408 and closes connections that sat on an incomplete request too long (slowloris); closes
   * connections without a session that stayed silent too long.
   */
  #sweep(): void {
    const now = this.#now();
    const handler = this.#opts.handler;
    for (const c of this.#conns) {
      if (c.closed || c.closing) continue;
      if (c.partialSince !== null) {
        if (now - c.partialSince <= this.#headTimeoutMs) continue;
        c.partialSince = null;
        const ms = this.#headTimeoutMs;
        handler.protocolError?.(c, new RtspProtocolError(`Request incomplete after ${ms} ms`, 408, ms));
        c.writer.enqueueMessage(serializeResponse(response(408, { Connection: "close" })));
        void c.closeAfterFlush();
        continue;
      }
      if (c.busy || now - c.lastActivity <= this.#idleTimeoutMs || !handler.holdsSession) continue;
      if (handler.holdsSession(c)) continue;
      handler.limitHit?.(c.remote, { reason: "idle_timeout", status: null, limit: this.#idleTimeoutMs });
      c.close();
    }
  }

  /** Stops accepting new connections; existing ones continue. */
  stopAccepting(): void {
    try {
      this.#listener?.close();
    } catch { /* already closed */ }
    this.#listener = null;
  }

  /** Stops accepting and closes every connection. */
  close(): void {
    this.stopAccepting();
    clearInterval(this.#sweeper);
    this.#sweeper = undefined;
    for (const c of this.#conns) c.close();
  }

  async #accept(listener: Deno.TcpListener): Promise<void> {
    while (true) {
      let conn: Deno.TcpConn;
      try {
        conn = await listener.accept();
      } catch (err) {
        if (this.#listener !== listener) return;
        if (err instanceof Deno.errors.BadResource) return;
        await new Promise((r) => setTimeout(r, 10)); // EMFILE and friends: back off, keep serving
        continue;
      }
      try {
        conn.setNoDelay(true);
      } catch { /* not fatal */ }
      if (this.#conns.size >= this.#maxConnections) {
        void this.#refuse(conn, "max_connections", this.#maxConnections);
        continue;
      }
      const ip = conn.remoteAddr.hostname;
      const perIp = this.#opts.maxConnectionsPerIp;
      if (perIp > 0 && (this.#perIp.get(ip) ?? 0) >= perIp) {
        void this.#refuse(conn, "max_connections_per_ip", perIp);
        continue;
      }
      const c = new Connection(`c${this.#nextId++}`, conn, {
        maxQueuedBytes: this.#opts.maxQueuedBytes,
        budget: this.#opts.queueBudget,
        now: this.#now,
      }, this.#now());
      void this.#serve(c, conn);
    }
  }

  /**
   * A connection beyond `maxConnections`: its first request is answered 503 (its CSeq echoed, so clients show
   * the status), then it is closed. It never reaches the handler, and waits at most a couple of seconds; when
   * too many such connections are waiting, it is closed unanswered.
   */
  async #refuse(
    conn: Deno.TcpConn,
    reason: "max_connections" | "max_connections_per_ip",
    limit: number,
  ): Promise<void> {
    const remote = conn.remoteAddr;
    const report = (status: number | null, method?: string) => {
      try {
        this.#opts.handler.limitHit?.(remote, {
          reason,
          status,
          limit,
          ...(method !== undefined ? { method } : {}),
        });
      } catch { /* the handler logs its own failures */ }
    };
    const close = () => {
      try {
        conn.close();
      } catch { /* already closed */ }
    };
    if (this.#refusing >= MAX_REFUSING) {
      close();
      report(null);
      return;
    }
    this.#refusing++;
    const timer = setTimeout(close, Math.min(REFUSE_WAIT_MS, this.#headTimeoutMs));
    let answered = false;
    try {
      const parser = new RtspParser(this.#parserLimits);
      const buf = new Uint8Array(4096);
      reading: while (true) {
        const n = await conn.read(buf);
        if (n === null) break;
        parser.push(buf.subarray(0, n));
        for (let ev = parser.next(); ev !== null; ev = parser.next()) {
          if (ev.kind !== "request") continue;
          const what = reason === "max_connections" ? "connections" : "connections from your address";
          const body = new TextEncoder().encode(`Too many ${what} (limit ${limit}); try again later\r\n`);
          const bytes = serializeResponse(response(503, {
            CSeq: ev.headers.get("CSeq")?.trim() ?? "0",
            "Retry-After": "5",
            Connection: "close",
            "Content-Type": "text/plain",
          }, body));
          for (let off = 0; off < bytes.length;) off += await conn.write(bytes.subarray(off));
          answered = true;
          report(503, ev.method);
          break reading;
        }
      }
    } catch {
      /* closed by the timer, reset by the peer, or bytes that are not RTSP */
    } finally {
      clearTimeout(timer);
      this.#refusing--;
      close();
      if (!answered) report(null);
    }
  }

  async #serve(c: Connection, conn: Deno.TcpConn): Promise<void> {
    this.#conns.add(c);
    const ip = conn.remoteAddr.hostname;
    this.#perIp.set(ip, (this.#perIp.get(ip) ?? 0) + 1);
    const parser = new RtspParser(this.#parserLimits);
    const requests: RtspRequest[] = [];
    let processing = false;

    const maxQueued = this.#opts.maxQueuedBytes;
    let processed: Promise<void> = Promise.resolve();
    // Where the last response ends in the connection's byte stream: unwritten while bytesWritten is below it.
    let lastResponseEnd = 0;
    const processQueue = (): Promise<void> => {
      if (processing) return processed;
      processed = drainRequests();
      return processed;
    };
    const drainRequests = async () => {
      processing = true;
      c.busy = true;
      while (requests.length && !c.closed) {
        // A client that does not read its answers gets no more of them queued than the writer's bound.
        while (!c.closed && c.writer.queuedBytes > maxQueued && c.writer.bytesWritten < lastResponseEnd) {
          let timer: ReturnType<typeof setTimeout> | undefined;
          await Promise.race([c.writer.flushed(), new Promise((r) => (timer = setTimeout(r, 20)))]);
          clearTimeout(timer);
        }
        const req = requests.shift()!;
        let res: RtspResponse;
        try {
          const answer = this.#opts.handler.handle(req, c);
          res = answer instanceof Promise ? await answer : answer;
        } catch (err) {
          res = response(err instanceof RtspProtocolError ? err.status : 500, {
            CSeq: req.headers.get("CSeq") ?? "0",
          });
        }
        c.writer.enqueueMessage(serializeResponse(res));
        lastResponseEnd = c.writer.bytesWritten + c.writer.queuedBytes;
        try {
          this.#opts.handler.responseSent?.(req, res, c);
        } catch { /* the handler logs its own failures; the connection carries on */ }
      }
      processing = false;
      c.busy = false;
    };

    // Every connection holds its read buffer while it waits for bytes: a small one, doubled while reads fill it (a
    // publisher's media), so the connection of a reader, which sends a few requests and reports, stays small.
    let buf = new Uint8Array(READ_BUFFER_FIRST);
    try {
      while (!c.closed) {
        const n = await conn.read(buf);
        if (n === null) break;
        const filled = n === buf.length;
        const now = this.#now();
        c.lastActivity = now;
        parser.push(buf.subarray(0, n));
        let progressed = false;
        for (let ev = parser.next(); ev !== null; ev = parser.next()) {
          progressed = true;
          if (ev.kind === "frame") c.onFrame?.(ev.channel, ev.payload);
          else if (ev.kind === "request") {
            requests.push(ev);
            // Back-pressure: beyond this many unanswered requests the rest of the input waits in the parser and
            // the connection is not read (TCP slows the client down), so no queue grows without bound.
            if (requests.length >= MAX_PIPELINED_REQUESTS) await processQueue();
          }
          // Responses from a client (to server requests we never send) are ignored.
        }
        // A message split over reads is normal; one that makes no progress for too long is closed by #sweep.
        if (parser.buffered === 0) c.partialSince = null;
        else if (progressed) c.partialSince = now;
        else c.partialSince ??= now;
        if (filled && buf.length < READ_BUFFER_MAX) buf = new Uint8Array(buf.length * 2); // the parser copied
        void processQueue();
      }
    } catch (err) {
      if (err instanceof RtspProtocolError) {
        this.#opts.handler.protocolError?.(c, err);
        await processQueue();
        c.writer.enqueueMessage(serializeResponse(response(err.status, { Connection: "close" })));
        await c.closeAfterFlush();
      }
    } finally {
      c.close();
      this.#conns.delete(c);
      const left = (this.#perIp.get(ip) ?? 1) - 1;
      if (left > 0) this.#perIp.set(ip, left);
      else this.#perIp.delete(ip);
      this.#opts.handler.connectionClosed(c);
    }
  }
}
