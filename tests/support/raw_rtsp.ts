/**
 * A deliberately dumb RTSP client for tests that send what no real client would: raw bytes on a TCP
 * connection, responses read back as text with a minimal, independent parser (not the relay's own).
 * @module
 */

/** A response as read off the wire. */
export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

/** One TCP connection to an RTSP server. */
export class RawRtspConnection implements AsyncDisposable {
  readonly conn: Deno.TcpConn;
  #buf = new Uint8Array(0);
  #closed = false;

  private constructor(conn: Deno.TcpConn) {
    this.conn = conn;
  }

  /** Connects to `hostname`:`port` (127.0.0.1 by default). */
  static async open(port: number, hostname = "127.0.0.1"): Promise<RawRtspConnection> {
    return new RawRtspConnection(await Deno.connect({ hostname, port }));
  }

  /** Writes raw bytes or text. */
  async send(data: string | Uint8Array): Promise<void> {
    const bytes = typeof data === "string" ? enc.encode(data) : data;
    let off = 0;
    while (off < bytes.length) off += await this.conn.write(bytes.subarray(off));
  }

  /**
   * Reads the next response, skipping `$` interleaved frames, or null when the server closed first.
   * @throws Error after `timeoutMs`
   */
  async response(timeoutMs = 5000): Promise<RawResponse | null> {
    const deadline = Date.now() + timeoutMs;
    while (true) {
      while (this.#buf[0] === 0x24 && this.#buf.length >= 4) {
        const len = (this.#buf[2]! << 8) | this.#buf[3]!;
        if (this.#buf.length < 4 + len) break;
        this.#buf = this.#buf.slice(4 + len);
      }
      const parsed = this.#tryParse();
      if (parsed) return parsed;
      if (Date.now() > deadline) throw new Error(`no RTSP response within ${timeoutMs} ms`);
      if (!await this.#fill(deadline - Date.now())) return null;
    }
  }

  /** Sends `text` and reads one response. */
  async request(text: string, timeoutMs = 5000): Promise<RawResponse | null> {
    await this.send(text);
    return await this.response(timeoutMs);
  }

  /** True when the server closed the connection (reads EOF) within `timeoutMs`. */
  async closedByServer(timeoutMs = 5000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (!await this.#fill(deadline - Date.now())) return true;
    }
    return false;
  }

  #tryParse(): RawResponse | null {
    if (this.#buf[0] === 0x24) return null;
    const text = dec.decode(this.#buf);
    const end = text.indexOf("\r\n\r\n");
    if (end < 0) return null;
    const lines = text.slice(0, end).split("\r\n");
    const m = lines[0]!.match(/^RTSP\/1\.0 (\d{3}) /);
    if (!m) throw new Error(`not an RTSP response: ${JSON.stringify(lines[0])}`);
    const headers: Record<string, string> = {};
    for (const line of lines.slice(1)) {
      const i = line.indexOf(":");
      headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
    }
    const length = Number(headers["content-length"] ?? 0);
    const headBytes = enc.encode(text.slice(0, end + 4)).length;
    if (this.#buf.length < headBytes + length) return null;
    const body = dec.decode(this.#buf.subarray(headBytes, headBytes + length));
    this.#buf = this.#buf.slice(headBytes + length);
    return { status: Number(m[1]), headers, body };
  }

  /** A read in flight survives a timeout, so no bytes are lost to an abandoned read. */
  #pending: Promise<Uint8Array | null> | null = null;

  async #fill(timeoutMs: number): Promise<boolean> {
    if (this.#closed) return false;
    this.#pending ??= (async () => {
      const chunk = new Uint8Array(64 * 1024);
      try {
        const n = await this.conn.read(chunk);
        return n === null ? null : chunk.subarray(0, n);
      } catch {
        return null;
      }
    })();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<"timeout">((
      r,
    ) => (timer = setTimeout(() => r("timeout"), Math.max(1, timeoutMs))));
    try {
      const got = await Promise.race([this.#pending, timeout]);
      if (got === "timeout") return true;
      this.#pending = null;
      if (got === null) {
        this.#closed = true;
        return false;
      }
      const next = new Uint8Array(this.#buf.length + got.length);
      next.set(this.#buf);
      next.set(got, this.#buf.length);
      this.#buf = next;
      return true;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Closes the connection. */
  close(): void {
    try {
      this.conn.close();
    } catch { /* already closed */ }
  }

  [Symbol.asyncDispose](): Promise<void> {
    this.close();
    return Promise.resolve();
  }
}
