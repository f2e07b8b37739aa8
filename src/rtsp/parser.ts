/**
 * Incremental, sans-I/O parser of the RTSP/1.0 byte stream: requests, responses and `$`-interleaved frames.
 *
 * The caller owns the socket: it `push()`es whatever bytes arrived and then calls `next()` until it
 * returns null. The parser never reads, writes or sets timers.
 * @module
 */

import { RtspProtocolError } from "./errors.ts";
import { RTSP_MAX_BODY_BYTES, RTSP_MAX_HEAD_BYTES, RTSP_MAX_HEADER_COUNT } from "./limits.ts";
import {
  type InterleavedFrame,
  type RtspEvent,
  RtspHeaders,
  type RtspRequest,
  type RtspResponse,
} from "./message.ts";

/** Options of {@linkcode RtspParser}. */
export interface RtspParserOptions {
  /** Largest head (start line, headers and the blank line), in bytes; default {@linkcode RTSP_MAX_HEAD_BYTES}. */
  maxHeadBytes?: number;
  /** Largest Content-Length accepted, in bytes; default {@linkcode RTSP_MAX_BODY_BYTES}. */
  maxBodyBytes?: number;
}

const CR = 0x0d;
const LF = 0x0a;
const DOLLAR = 0x24;
const INITIAL_CAPACITY = 4096;
/** An empty buffer larger than this is given back on the next push. */
const SHRINK_ABOVE = 256 * 1024;

/** Bytes that may start a method (`A-Z 0-9 _ -`); status lines start with `R`, also in the set. */
const METHOD_BYTE = new Uint8Array(256);
for (let c = 0x41; c <= 0x5a; c++) METHOD_BYTE[c] = 1;
for (let c = 0x30; c <= 0x39; c++) METHOD_BYTE[c] = 1;
METHOD_BYTE[0x5f] = 1;
METHOD_BYTE[0x2d] = 1;

const REQUEST_LINE = /^([A-Z0-9_-]+) (\S+) ([A-Za-z]+\/\d+\.\d+)$/;
const STATUS_LINE = /^RTSP\/(\d+\.\d+) (\d{3})(?: (.*))?$/;
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
// deno-lint-ignore no-control-regex
const FORBIDDEN_IN_LINE = /[\x00-\x08\x0a-\x1f\x7f]/;
const decoder = new TextDecoder();

type StartLine =
  | { kind: "request"; method: string; url: string }
  | { kind: "response"; status: number; reason: string };

/** Shows a string in an error message without flooding the log. */
function excerpt(s: string): string {
  return JSON.stringify(s.length > 80 ? `${s.slice(0, 80)}…` : s);
}

function parseStartLine(line: string): StartLine {
  if (FORBIDDEN_IN_LINE.test(line)) {
    throw new RtspProtocolError(`Start line ${excerpt(line)} contains a control character`);
  }
  if (line.startsWith("RTSP/")) {
    const m = STATUS_LINE.exec(line);
    if (!m) throw new RtspProtocolError(`Malformed status line ${excerpt(line)}`);
    if (m[1] !== "1.0") throw new RtspProtocolError(`Unsupported version RTSP/${m[1]}`, 505);
    return { kind: "response", status: Number(m[2]), reason: m[3] ?? "" };
  }
  const m = REQUEST_LINE.exec(line);
  if (!m) throw new RtspProtocolError(`Malformed request line ${excerpt(line)}`);
  if (m[3] !== "RTSP/1.0") throw new RtspProtocolError(`Unsupported version ${excerpt(m[3] ?? "")}`, 505);
  return { kind: "request", method: m[1] ?? "", url: m[2] ?? "" };
}

/** `line.slice(from)` without leading and trailing spaces and tabs (linear, unlike a `/[ \t]+$/` regex). */
function trimOws(line: string, from: number): string {
  let a = from;
  let b = line.length;
  while (a < b && (line.charCodeAt(a) === 0x20 || line.charCodeAt(a) === 0x09)) a++;
  while (b > a && (line.charCodeAt(b - 1) === 0x20 || line.charCodeAt(b - 1) === 0x09)) b--;
  return line.slice(a, b);
}

/** Strips one trailing CR (lines may end in CRLF or a bare LF). */
function chomp(line: string): string {
  return line.endsWith("\r") ? line.slice(0, -1) : line;
}

/**
 * Incremental RTSP/1.0 parser in the style of h11: bytes in with {@linkcode RtspParser.push}, events out
 * with {@linkcode RtspParser.next}.
 *
 * It understands requests, responses (Content-Length bodies), `$`-interleaved binary frames before,
 * between and after messages, stray CRLFs between messages, pipelining and any split of the stream.
 * Line endings may be CRLF or a bare LF; obsolete header line folding is rejected.
 *
 * Lifetimes: a frame's `payload` is a view into the parser's buffer, valid until the next `push()`
 * (copy it to keep it). Request and response bodies are copies and can be kept.
 *
 * Errors: `next()` throws {@linkcode RtspProtocolError} with the status to answer: 400 bad syntax,
 * 431 head larger than `maxHeadBytes` (checked while the head is still incomplete) or too many headers,
 * 413 Content-Length larger than `maxBodyBytes`, 505 an RTSP version other than 1.0. Framing is then lost,
 * so the parser is poisoned: every later `next()` throws the same error.
 *
 * @example
 * ```ts
 * const parser = new RtspParser();
 * parser.push(new TextEncoder().encode("OPTIONS * RTSP/1.0\r\nCSeq: 1\r\n\r\n"));
 * for (let ev = parser.next(); ev !== null; ev = parser.next()) {
 *   if (ev.kind === "request") console.log(ev.method, ev.headers.get("CSeq"));
 * }
 * ```
 */
export class RtspParser {
  #buf: Uint8Array = new Uint8Array(0);
  /** First unconsumed byte. */
  #start = 0;
  /** One past the last buffered byte. */
  #end = 0;
  /** True once a head has begun at `#start` (no more stray-CRLF skipping or `$` detection). */
  #inHead = false;
  /** Bytes of the current head, from `#start`, already searched for the blank line. */
  #scanned = 0;
  /** The start line of the current head, parsed as soon as its LF arrives. */
  #startLine: StartLine | null = null;
  /** A message whose head is parsed and whose body is still arriving. */
  #pending: { message: RtspRequest | RtspResponse; length: number } | null = null;
  #error: RtspProtocolError | null = null;
  readonly #maxHead: number;
  readonly #maxBody: number;

  /**
   * Creates a parser with an empty buffer.
   * @param options limits; both default to the constants of `limits.ts`
   * @throws RangeError when a limit is not a positive integer
   */
  constructor(options: RtspParserOptions = {}) {
    const maxHead = options.maxHeadBytes ?? RTSP_MAX_HEAD_BYTES;
    const maxBody = options.maxBodyBytes ?? RTSP_MAX_BODY_BYTES;
    if (!Number.isSafeInteger(maxHead) || maxHead < 1) {
      throw new RangeError(`maxHeadBytes must be a positive integer, got ${maxHead}`);
    }
    if (!Number.isSafeInteger(maxBody) || maxBody < 0) {
      throw new RangeError(`maxBodyBytes must be a non-negative integer, got ${maxBody}`);
    }
    this.#maxHead = maxHead;
    this.#maxBody = maxBody;
  }

  /**
   * Number of bytes pushed but not yet consumed by `next()`.
   * @returns the buffered byte count
   */
  get buffered(): number {
    return this.#end - this.#start;
  }

  /**
   * True once `next()` has thrown: the stream can no longer be framed and the connection should close.
   * @returns whether the parser is poisoned
   */
  get poisoned(): boolean {
    return this.#error !== null;
  }

  /**
   * Appends bytes received from the peer. The bytes are copied (the caller may reuse `data`); earlier
   * frame payload views become invalid. Amortised O(data.length).
   * @param data bytes in stream order
   */
  push(data: Uint8Array): void {
    const n = data.length;
    if (n === 0) return;
    const live = this.#end - this.#start;
    if (live === 0) {
      this.#start = this.#end = 0;
      if (this.#buf.length > SHRINK_ABOVE && n * 2 < this.#buf.length) {
        this.#buf = new Uint8Array(Math.max(INITIAL_CAPACITY, n * 2));
      }
    }
    if (this.#end + n > this.#buf.length) {
      const need = live + n;
      if (need <= this.#buf.length >>> 1) {
        // Compacting leaves at least `live` bytes free, so the copy is paid for by later pushes.
        this.#buf.copyWithin(0, this.#start, this.#end);
      } else {
        const grown = new Uint8Array(Math.max(INITIAL_CAPACITY, need * 2));
        grown.set(this.#buf.subarray(this.#start, this.#end));
        this.#buf = grown;
      }
      this.#start = 0;
      this.#end = live;
    }
    this.#buf.set(data, this.#end);
    this.#end += n;
  }

  /**
   * Parses the next complete event from the buffered bytes.
   * @returns a request, a response, an interleaved frame, or null when more bytes are needed
   * @throws RtspProtocolError on bytes that break RTSP framing; the parser is then poisoned
   */
  next(): RtspEvent | null {
    if (this.#error) throw this.#error;
    try {
      return this.#next();
    } catch (e) {
      if (e instanceof RtspProtocolError) this.#error = e;
      throw e;
    }
  }

  #next(): RtspEvent | null {
    if (this.#pending) return this.#finishBody(this.#pending.message, this.#pending.length);
    const buf = this.#buf;
    const end = this.#end;
    if (!this.#inHead) {
      let s = this.#start;
      while (s < end && (buf[s] === CR || buf[s] === LF)) s++;
      this.#start = s;
      if (s === end) return null;
      const first = buf[s] as number;
      if (first === DOLLAR) return this.#frame(s);
      if (METHOD_BYTE[first] !== 1) {
        throw new RtspProtocolError(
          `Unexpected byte 0x${first.toString(16).padStart(2, "0")} at the start of a message`,
        );
      }
      this.#inHead = true;
      this.#scanned = 0;
      this.#startLine = null;
    }
    return this.#head();
  }

  #frame(s: number): InterleavedFrame | null {
    const buf = this.#buf;
    if (this.#end - s < 4) return null;
    const length = ((buf[s + 2] as number) << 8) | (buf[s + 3] as number);
    const stop = s + 4 + length;
    if (stop > this.#end) return null;
    this.#start = stop;
    return { kind: "frame", channel: buf[s + 1] as number, payload: buf.subarray(s + 4, stop) };
  }

  #head(): RtspEvent | null {
    const buf = this.#buf;
    const s = this.#start;
    const end = this.#end;
    const avail = end - s;
    const stop = s + Math.min(avail, this.#maxHead);
    let headEnd = -1;
    let i = s + this.#scanned;
    for (; i < stop; i++) {
      if (buf[i] !== LF) continue;
      if (this.#startLine === null) {
        // Validate the start line early so that garbage is refused before the head completes.
        this.#startLine = parseStartLine(chomp(decoder.decode(buf.subarray(s, i))));
      }
      if (i + 1 >= end) break;
      const after = buf[i + 1];
      if (after === LF) {
        headEnd = i + 2;
        break;
      }
      if (after === CR) {
        if (i + 2 >= end) break;
        if (buf[i + 2] === LF) {
          headEnd = i + 3;
          break;
        }
      }
    }
    if (headEnd < 0) {
      this.#scanned = i - s;
      if (avail >= this.#maxHead) {
        throw new RtspProtocolError(`Message head exceeds ${this.#maxHead} bytes`, 431, this.#maxHead);
      }
      return null;
    }
    if (headEnd - s > this.#maxHead) {
      throw new RtspProtocolError(`Message head exceeds ${this.#maxHead} bytes`, 431, this.#maxHead);
    }
    const startLine = this.#startLine;
    if (startLine === null) throw new Error("unreachable: head without start line");
    const headers = this.#headers(decoder.decode(buf.subarray(s, headEnd)));
    const length = this.#contentLength(headers);
    this.#start = headEnd;
    this.#inHead = false;
    this.#scanned = 0;
    this.#startLine = null;
    const message: RtspRequest | RtspResponse = startLine.kind === "request"
      ? { kind: "request", method: startLine.method, url: startLine.url, headers, body: new Uint8Array(0) }
      : {
        kind: "response",
        status: startLine.status,
        reason: startLine.reason,
        headers,
        body: new Uint8Array(0),
      };
    if (length === 0) return message;
    return this.#finishBody(message, length);
  }

  #finishBody(message: RtspRequest | RtspResponse, length: number): RtspEvent | null {
    if (this.#end - this.#start < length) {
      this.#pending = { message, length };
      return null;
    }
    this.#pending = null;
    message.body = this.#buf.slice(this.#start, this.#start + length);
    this.#start += length;
    return message;
  }

  #headers(head: string): RtspHeaders {
    const lines = head.split("\n");
    const headers = new RtspHeaders();
    // lines[0] is the start line, already parsed; the head ends with an empty line.
    for (let k = 1; k < lines.length; k++) {
      const line = chomp(lines[k] ?? "");
      if (line === "") break;
      if (FORBIDDEN_IN_LINE.test(line)) {
        throw new RtspProtocolError(`Header line ${excerpt(line)} contains a control character`);
      }
      const c0 = line.charCodeAt(0);
      if (c0 === 0x20 || c0 === 0x09) {
        throw new RtspProtocolError(`Obsolete header line folding in ${excerpt(line)}`);
      }
      const colon = line.indexOf(":");
      if (colon < 0) throw new RtspProtocolError(`Header line ${excerpt(line)} has no colon`);
      const name = line.slice(0, colon);
      if (!HEADER_NAME.test(name)) throw new RtspProtocolError(`Invalid header name ${excerpt(name)}`);
      if (headers.size >= RTSP_MAX_HEADER_COUNT) {
        throw new RtspProtocolError(
          `More than ${RTSP_MAX_HEADER_COUNT} header lines`,
          431,
          RTSP_MAX_HEADER_COUNT,
        );
      }
      headers.append(name, trimOws(line, colon + 1));
    }
    return headers;
  }

  #contentLength(headers: RtspHeaders): number {
    const values = headers.getAll("Content-Length");
    const value = values[0];
    if (value === undefined) return 0;
    if (values.some((v) => v !== value)) {
      throw new RtspProtocolError(`Conflicting Content-Length values ${excerpt(values.join(", "))}`);
    }
    if (!/^\d+$/.test(value)) throw new RtspProtocolError(`Invalid Content-Length ${excerpt(value)}`);
    const length = value.length > 15 ? Infinity : Number(value);
    if (length > this.#maxBody) {
      throw new RtspProtocolError(
        `Content-Length ${excerpt(value)} exceeds ${this.#maxBody} bytes`,
        413,
        this.#maxBody,
      );
    }
    return length;
  }
}
