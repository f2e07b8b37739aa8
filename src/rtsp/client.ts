/**
 * RTSP client connection: a thin TCP shell around the parser that sends requests, matches responses by CSeq,
 * answers Digest (and, only when allowed, Basic) challenges with the URL's credentials and hands `$` frames to a
 * callback. Requests and outgoing `$` frames (RTCP receiver reports) share one queued writer, so they never
 * interleave mid-message and partial writes are completed.
 * @module
 */
import { answerChallenge, type AuthSchemeName, chooseChallenge, parseChallenges } from "./auth/mod.ts";
import { InterleavedWriter } from "./interleaved_writer.ts";
import { RtspHeaders, type RtspResponse } from "./message.ts";
import { RtspParser } from "./parser.ts";
import { serializeRequest } from "./serializer.ts";
import { parseRtspUrl, redactUrl, withoutCredentials } from "./url.ts";

/** Options of {@linkcode RtspClientConnection.connect}. */
export interface RtspClientOptions {
  /** Connect and per-request timeout. @default 5000 */
  timeoutMs?: number;
  /** User-Agent header. @default "msm-relay" */
  userAgent?: string;
  /**
   * Schemes the URL's credentials may be sent with. Basic sends the password in clear to whoever answers on the
   * server's address, so it is off unless asked for.
   * @default ["digest"]
   */
  authSchemes?: readonly AuthSchemeName[];
}

interface Pending {
  resolve: (res: RtspResponse) => void;
  reject: (err: Error) => void;
  timer: ReturnType<typeof setTimeout>;
}

/** A client connection to one RTSP server. */
export class RtspClientConnection {
  /** Server address actually connected (media arrives from it). */
  readonly remote: Deno.NetAddr;
  /** Resolves when the connection ends, for whatever reason. */
  readonly closed: Promise<void>;
  /** Receives `$` frames; the payload is valid only during the call. */
  onFrame: (channel: number, payload: Uint8Array) => void = () => {};
  readonly #conn: Deno.TcpConn;
  readonly #writer: InterleavedWriter;
  readonly #user: string | undefined;
  readonly #password: string | undefined;
  readonly #timeoutMs: number;
  readonly #userAgent: string;
  readonly #authSchemes: readonly AuthSchemeName[];
  readonly #pending = new Map<number, Pending>();
  #cseq = 0;
  #authorize: ((method: string, uri: string) => string) | null = null;
  #isClosed = false;
  #resolveClosed!: () => void;

  private constructor(conn: Deno.TcpConn, url: string, options: RtspClientOptions) {
    this.#conn = conn;
    // Frames are small RTCP reports: a bound of 64 KiB drops them only when the server stopped reading.
    this.#writer = new InterleavedWriter(conn, { maxQueuedBytes: 64 * 1024, onError: () => this.close() });
    this.remote = conn.remoteAddr;
    const parsed = parseRtspUrl(url);
    this.#user = parsed.user;
    this.#password = parsed.password;
    this.#timeoutMs = options.timeoutMs ?? 5000;
    this.#userAgent = options.userAgent ?? "msm-relay";
    this.#authSchemes = options.authSchemes ?? ["digest"];
    this.closed = new Promise((r) => (this.#resolveClosed = r));
    void this.#read();
  }

  /**
   * Opens a TCP connection to the server of `url`.
   * @throws Error when the connection fails or times out
   */
  static async connect(url: string, options: RtspClientOptions = {}): Promise<RtspClientConnection> {
    const { host, port, scheme } = parseRtspUrl(url);
    if (scheme === "rtsps") {
      throw new Error(`Cannot pull "${redactUrl(url)}": rtsps is not supported yet`);
    }
    const timeoutMs = options.timeoutMs ?? 5000;
    const conn = await withTimeout(
      Deno.connect({ hostname: host, port, transport: "tcp" }),
      timeoutMs,
      `Connecting to ${host}:${port} timed out after ${timeoutMs} ms`,
    );
    conn.setNoDelay(true);
    return new RtspClientConnection(conn, url, options);
  }

  /**
   * Sends a request and waits for its response; answers one 401 challenge with the URL's credentials.
   * @throws {UnusableChallengesError} (from `./auth/answer.ts`) when a 401 offers only schemes not allowed by
   *   {@linkcode RtspClientOptions.authSchemes}: the credentials are not sent
   * @param method RTSP method
   * @param url Request-URI (credentials are stripped before sending)
   * @param headers extra headers
   * @param body optional body
   */
  async request(
    method: string,
    url: string,
    headers: Record<string, string> = {},
    body?: Uint8Array,
  ): Promise<RtspResponse> {
    const uri = withoutCredentials(url);
    let res = await this.#send(method, uri, headers, body);
    if (res.status === 401 && this.#user !== undefined) {
      const challenges = parseChallenges(res.headers.getAll("WWW-Authenticate"));
      if (challenges.length) {
        const user = this.#user;
        const password = this.#password ?? "";
        const schemes = this.#authSchemes;
        const chosen = [chooseChallenge(challenges, schemes)]; // throws before anything is sent
        let nc = 0;
        const cnonce = Array.from(
          crypto.getRandomValues(new Uint8Array(8)),
          (b) => b.toString(16).padStart(2, "0"),
        )
          .join("");
        this.#authorize = (m, u) => answerChallenge(chosen, m, u, user, password, cnonce, ++nc, schemes);
        res = await this.#send(method, uri, headers, body);
      }
    }
    return res;
  }

  /**
   * Queues an interleaved frame (RTCP receiver reports over TCP) behind what is already queued. The payload is
   * copied. A write error closes the connection.
   * @returns false when the connection is closed or its queue is full (the frame is dropped)
   */
  sendFrame(channel: number, payload: Uint8Array): boolean {
    if (this.#isClosed) return false;
    return this.#writer.enqueueFrame(channel, payload, true);
  }

  /** Resolves when everything queued so far is written (or the connection closed). */
  flushed(): Promise<void> {
    return this.#writer.flushed();
  }

  /** Closes the connection and fails pending requests. */
  close(): void {
    if (this.#isClosed) return;
    this.#isClosed = true;
    this.#writer.close();
    try {
      this.#conn.close();
    } catch { /* already closed */ }
    for (const p of this.#pending.values()) {
      clearTimeout(p.timer);
      p.reject(new Error("Connection closed"));
    }
    this.#pending.clear();
    this.#resolveClosed();
  }

  #send(
    method: string,
    uri: string,
    extra: Record<string, string>,
    body?: Uint8Array,
  ): Promise<RtspResponse> {
    if (this.#isClosed) return Promise.reject(new Error(`Cannot send ${method}: connection closed`));
    const cseq = ++this.#cseq;
    const headers = new RtspHeaders({ CSeq: String(cseq), "User-Agent": this.#userAgent, ...extra });
    if (this.#authorize) headers.set("Authorization", this.#authorize(method, uri));
    const bytes = serializeRequest({
      kind: "request",
      method,
      url: uri,
      headers,
      body: body ?? new Uint8Array(0),
    });
    const done = new Promise<RtspResponse>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(cseq);
        // The URI may carry a token the camera needs (`?token=`): the message shows it redacted.
        reject(new Error(`${method} ${redactUrl(uri)} timed out after ${this.#timeoutMs} ms`));
      }, this.#timeoutMs);
      this.#pending.set(cseq, { resolve, reject, timer });
    });
    // A failed write closes the connection, which rejects `done`.
    this.#writer.enqueueMessage(bytes);
    return done;
  }

  async #read(): Promise<void> {
    const parser = new RtspParser({ maxBodyBytes: 1024 * 1024 });
    const buf = new Uint8Array(64 * 1024);
    try {
      while (!this.#isClosed) {
        const n = await this.#conn.read(buf);
        if (n === null) break;
        parser.push(buf.subarray(0, n));
        for (let ev = parser.next(); ev !== null; ev = parser.next()) {
          if (ev.kind === "frame") this.onFrame(ev.channel, ev.payload);
          else if (ev.kind === "response") this.#onResponse(ev);
          // Server-to-client requests (rare: ANNOUNCE, GET_PARAMETER) are not answered.
        }
      }
    } catch {
      // A reset connection or bytes that break framing: closing below is the answer either way.
    } finally {
      this.close();
    }
  }

  #onResponse(res: RtspResponse): void {
    const cseq = Number(res.headers.get("CSeq"));
    const pending = this.#pending.get(cseq);
    if (!pending) return;
    this.#pending.delete(cseq);
    clearTimeout(pending.timer);
    pending.resolve(res);
  }
}

function withTimeout<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout>;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(message)), ms))),
  ]).finally(() => clearTimeout(timer));
}
