/**
 * A raw HTTP/1.1 client for attack tests: it sends exactly the headers given, `Host` included (Deno's `fetch`
 * replaces a `Host` header with the URL's), on a fresh TCP connection, and reads the answer with its own small
 * parser (Content-Length or chunked bodies), independent of the relay's HTTP stack.
 * @module
 */

/** An answer as read off the wire. */
export interface RawHttpResponse {
  status: number;
  /** Header names in lower case; a repeated header keeps its last value. */
  headers: Record<string, string>;
  body: string;
}

/** One request of {@linkcode rawHttp}. */
export interface RawHttpRequest {
  hostname: string;
  port: number;
  method: string;
  /** Request target, e.g. `/api/v1/sessions`. */
  path: string;
  /** Sent as given, in order; `Content-Length` is added for a body unless given. */
  headers?: Record<string, string>;
  body?: string;
  /** Give up after this long. @default 10000 */
  timeoutMs?: number;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

function indexOfSeq(buf: Uint8Array, seq: number[], from = 0): number {
  outer: for (let i = from; i <= buf.length - seq.length; i++) {
    for (let j = 0; j < seq.length; j++) if (buf[i + j] !== seq[j]) continue outer;
    return i;
  }
  return -1;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** Decodes a chunked body, or null when it is not complete yet. */
function dechunk(buf: Uint8Array): Uint8Array<ArrayBuffer> | null {
  let out: Uint8Array<ArrayBuffer> = new Uint8Array(0);
  let pos = 0;
  while (true) {
    const eol = indexOfSeq(buf, [13, 10], pos);
    if (eol < 0) return null;
    const size = parseInt(dec.decode(buf.subarray(pos, eol)).split(";")[0]!.trim(), 16);
    if (!Number.isFinite(size)) throw new Error("malformed chunk size");
    pos = eol + 2;
    if (size === 0) return out;
    if (buf.length < pos + size + 2) return null;
    out = concat(out, buf.subarray(pos, pos + size));
    pos += size + 2;
  }
}

function parseHead(text: string): { status: number; headers: Record<string, string> } {
  const lines = text.split("\r\n");
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? "")?.[1]);
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(":");
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { status, headers };
}

/**
 * Sends one request with `Connection: close` and reads the answer.
 * @throws Error on timeout or when the server closes before a whole answer
 * @example await rawHttp({ hostname: "127.0.0.1", port, method: "GET", path: "/", headers: { Host: "evil.example" } })
 */
export async function rawHttp(req: RawHttpRequest): Promise<RawHttpResponse> {
  const headers: Record<string, string> = { ...req.headers };
  const has = (name: string) => Object.keys(headers).some((k) => k.toLowerCase() === name);
  if (!has("host")) headers.Host = `${req.hostname}:${req.port}`;
  if (req.body !== undefined && !has("content-length")) {
    headers["Content-Length"] = String(enc.encode(req.body).length);
  }
  if (!has("connection")) headers.Connection = "close";
  const head = `${req.method} ${req.path} HTTP/1.1\r\n` +
    Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join("") + "\r\n";
  const conn = await Deno.connect({ hostname: req.hostname, port: req.port });
  const timer = setTimeout(() => conn.close(), req.timeoutMs ?? 10_000);
  try {
    const bytes = enc.encode(head + (req.body ?? ""));
    for (let off = 0; off < bytes.length;) off += await conn.write(bytes.subarray(off));
    let buf: Uint8Array<ArrayBuffer> = new Uint8Array(0);
    const chunk = new Uint8Array(16 * 1024);
    while (true) {
      const end = indexOfSeq(buf, [13, 10, 13, 10]);
      const head = end >= 0 ? parseHead(dec.decode(buf.subarray(0, end))) : null;
      const rest = buf.subarray(end + 4);
      if (head) {
        const { status, headers: hs } = head;
        if (req.method === "HEAD" || status === 204 || status === 304) return { ...head, body: "" };
        if (hs["transfer-encoding"]?.toLowerCase() === "chunked") {
          const body = dechunk(rest);
          if (body) return { ...head, body: dec.decode(body) };
        } else if (hs["content-length"] !== undefined) {
          const length = Number(hs["content-length"]);
          if (rest.length >= length) return { ...head, body: dec.decode(rest.subarray(0, length)) };
        }
      }
      let n: number | null;
      try {
        n = await conn.read(chunk);
      } catch (err) {
        throw new Error(`reading the answer to ${req.method} ${req.path} failed: ${err}`);
      }
      if (n === null) {
        if (head) return { ...head, body: dec.decode(rest) }; // a body delimited by the close
        throw new Error(`connection closed before an answer to ${req.method} ${req.path}`);
      }
      buf = concat(buf, chunk.subarray(0, n));
    }
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch { /* closed by the timer */ }
  }
}
