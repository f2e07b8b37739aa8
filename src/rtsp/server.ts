/**
 * Thin TCP shell of the RTSP server: accepts connections, feeds bytes to the sans-I/O parser, hands requests
 * to a handler one at a time per connection (RTSP answers in order) and `$` frames to the connection's frame
 * listener as they arrive, and writes responses through a bounded writer.
 * @module
 */
import { RtspProtocolError } from "./errors.ts";
import { InterleavedWriter } from "./interleaved_writer.ts";
import { response, type RtspRequest, type RtspResponse } from "./message.ts";
import { RtspParser } from "./parser.ts";
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
  /** Wall-clock ms of the last bytes received. */
  readonly lastActivity: number;
  /** Receives `$` frames; the payload is valid only during the call. */
  onFrame: ((channel: number, payload: Uint8Array) => void) | null;
  /** Closes the connection. */
  close(): void;
}

/** What the relay implements to serve RTSP. */
export interface RtspHandler {
  /** Answers one request. Throwing answers 500. */
  handle(req: RtspRequest, conn: RtspConnection): Promise<RtspResponse>;
  /** The connection closed (either side). */
  connectionClosed(conn: RtspConnection): void;
  /** A request could not be parsed; for logs and counters. */
  protocolError?(conn: RtspConnection, err: RtspProtocolError): void;
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
  /** Per-connection queue bound for interleaved frames. */
  maxQueuedBytes?: number;
  /** Close a connection that has sent an incomplete request for this long (slowloris). @default 10000 */
  headTimeoutMs?: number;
}

class Connection implements RtspConnection {
  readonly id: string;
  readonly remote: Deno.NetAddr;
  readonly local: Deno.NetAddr;
  readonly writer: InterleavedWriter;
  lastActivity = Date.now();
  /** When the parser started holding an incomplete message (0: none). */
  partialSince = 0;
  onFrame: ((channel: number, payload: Uint8Array) => void) | null = null;
  readonly #conn: Deno.TcpConn;
  #closed = false;

  constructor(id: string, conn: Deno.TcpConn, maxQueuedBytes: number | undefined) {
    this.id = id;
    this.#conn = conn;
    this.remote = conn.remoteAddr;
    this.local = conn.localAddr;
    this.writer = new InterleavedWriter(conn, {
      ...(maxQueuedBytes ? { maxQueuedBytes } : {}),
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
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([this.writer.flushed(), new Promise((r) => (timer = setTimeout(r, 1000)))]);
    clearTimeout(timer);
    this.close();
  }
}

/** The RTSP TCP listener. */
export class RtspServer {
  readonly #opts: RtspServerOptions;
  #listener: Deno.TcpListener | null = null;
  readonly #conns = new Set<Connection>();
  #nextId = 1;
  #sweeper: ReturnType<typeof setInterval> | undefined;

  /** @param options address, port and handler */
  constructor(options: RtspServerOptions) {
    this.#opts = options;
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
    const headTimeout = this.#opts.headTimeoutMs ?? 10_000;
    this.#sweeper ??= setInterval(() => this.#closeSlow(headTimeout), Math.min(1000, headTimeout / 2));
  }

  /** Answers 408 and closes connections that sat on an incomplete request too long (slowloris). */
  #closeSlow(headTimeout: number): void {
    const now = Date.now();
    for (const c of this.#conns) {
      if (c.closed || c.partialSince === 0 || now - c.partialSince <= headTimeout) continue;
      c.partialSince = 0;
      const err = new RtspProtocolError(`Request incomplete after ${headTimeout} ms`, 408);
      this.#opts.handler.protocolError?.(c, err);
      c.writer.enqueueMessage(serializeResponse(response(408, { Connection: "close" })));
      void c.closeAfterFlush();
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
      void this.#serve(new Connection(`c${this.#nextId++}`, conn, this.#opts.maxQueuedBytes), conn);
    }
  }

  async #serve(c: Connection, conn: Deno.TcpConn): Promise<void> {
    this.#conns.add(c);
    const parser = new RtspParser();
    const requests: RtspRequest[] = [];
    let processing = false;

    const processQueue = async () => {
      if (processing) return;
      processing = true;
      while (requests.length && !c.closed) {
        const req = requests.shift()!;
        let res: RtspResponse;
        try {
          res = await this.#opts.handler.handle(req, c);
        } catch (err) {
          res = response(err instanceof RtspProtocolError ? err.status : 500, {
            CSeq: req.headers.get("CSeq") ?? "0",
          });
        }
        c.writer.enqueueMessage(serializeResponse(res));
        try {
          this.#opts.handler.responseSent?.(req, res, c);
        } catch { /* the handler logs its own failures; the connection carries on */ }
      }
      processing = false;
    };

    const buf = new Uint8Array(64 * 1024);
    try {
      while (!c.closed) {
        const n = await conn.read(buf);
        if (n === null) break;
        c.lastActivity = Date.now();
        parser.push(buf.subarray(0, n));
        let progressed = false;
        for (let ev = parser.next(); ev !== null; ev = parser.next()) {
          progressed = true;
          if (ev.kind === "frame") c.onFrame?.(ev.channel, ev.payload);
          else if (ev.kind === "request") requests.push(ev);
          // Responses from a client (to server requests we never send) are ignored.
        }
        // A message split over reads is normal; one that makes no progress for too long is closed by #closeSlow.
        if (parser.buffered === 0) c.partialSince = 0;
        else if (progressed) c.partialSince = Date.now();
        else c.partialSince ||= Date.now();
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
      this.#opts.handler.connectionClosed(c);
    }
  }
}
