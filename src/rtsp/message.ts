/**
 * Wire types of RTSP/1.0: requests, responses, headers and `$`-interleaved binary frames.
 * @module
 */

/**
 * An ordered, case-insensitive RTSP header list that keeps repeated headers apart
 * (WWW-Authenticate may appear once per challenge) and preserves the sender's spelling.
 */
export class RtspHeaders {
  #entries: Array<[string, string]> = [];

  /** @param init pairs of name and value, kept in order */
  constructor(init?: Iterable<readonly [string, string]> | Record<string, string>) {
    if (!init) return;
    const pairs = Symbol.iterator in init
      ? init as Iterable<readonly [string, string]>
      : Object.entries(init as Record<string, string>);
    for (const [k, v] of pairs) this.append(k, v);
  }

  /** First value of `name`, or undefined. */
  get(name: string): string | undefined {
    const key = name.toLowerCase();
    for (const [k, v] of this.#entries) if (k.toLowerCase() === key) return v;
    return undefined;
  }

  /** Every value of `name`, in order. */
  getAll(name: string): string[] {
    const key = name.toLowerCase();
    return this.#entries.filter(([k]) => k.toLowerCase() === key).map(([, v]) => v);
  }

  /** True when `name` is present. */
  has(name: string): boolean {
    return this.get(name) !== undefined;
  }

  /** Replaces every value of `name` with one value. */
  set(name: string, value: string): this {
    this.delete(name);
    this.#entries.push([name, value]);
    return this;
  }

  /** Adds a value, keeping existing ones. */
  append(name: string, value: string): this {
    this.#entries.push([name, value]);
    return this;
  }

  /** Removes every value of `name`. */
  delete(name: string): void {
    const key = name.toLowerCase();
    this.#entries = this.#entries.filter(([k]) => k.toLowerCase() !== key);
  }

  /** Pairs in order, with the sender's spelling. */
  entries(): IterableIterator<[string, string]> {
    return this.#entries[Symbol.iterator]();
  }

  /** Number of header lines. */
  get size(): number {
    return this.#entries.length;
  }
}

/** An RTSP request. `url` is the Request-URI as sent (absolute `rtsp://` URL or `*`). */
export interface RtspRequest {
  readonly kind: "request";
  method: string;
  url: string;
  headers: RtspHeaders;
  body: Uint8Array;
}

/** An RTSP response. */
export interface RtspResponse {
  readonly kind: "response";
  status: number;
  reason: string;
  headers: RtspHeaders;
  body: Uint8Array;
}

/**
 * A `$`-interleaved binary frame (RFC 2326 §10.12). `payload` is a view into the parser's buffer, valid only
 * until the next `push()`: copy it to keep it.
 */
export interface InterleavedFrame {
  readonly kind: "frame";
  channel: number;
  payload: Uint8Array;
}

/** Any RTSP message. */
export type RtspMessage = RtspRequest | RtspResponse;

/** What the incremental parser yields. */
export type RtspEvent = RtspRequest | RtspResponse | InterleavedFrame;

/** Standard reason phrases (RFC 2326 §7.1.1). */
export const STATUS_REASONS: Readonly<Record<number, string>> = {
  100: "Continue",
  200: "OK",
  201: "Created",
  250: "Low on Storage Space",
  300: "Multiple Choices",
  301: "Moved Permanently",
  302: "Moved Temporarily",
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  406: "Not Acceptable",
  408: "Request Timeout",
  413: "Request Entity Too Large",
  414: "Request-URI Too Large",
  415: "Unsupported Media Type",
  429: "Too Many Requests",
  431: "Request Header Fields Too Large",
  451: "Parameter Not Understood",
  453: "Not Enough Bandwidth",
  454: "Session Not Found",
  455: "Method Not Valid in This State",
  456: "Header Field Not Valid for Resource",
  457: "Invalid Range",
  459: "Aggregate Operation Not Allowed",
  460: "Only Aggregate Operation Allowed",
  461: "Unsupported Transport",
  500: "Internal Server Error",
  501: "Not Implemented",
  503: "Service Unavailable",
  505: "RTSP Version Not Supported",
  551: "Option Not Supported",
};

/**
 * Builds a response with the standard reason phrase.
 * @example response(200, { CSeq: "1" })
 */
export function response(
  status: number,
  headers: Record<string, string> | RtspHeaders = {},
  body: Uint8Array = new Uint8Array(0),
): RtspResponse {
  return {
    kind: "response",
    status,
    reason: STATUS_REASONS[status] ?? "Unknown",
    headers: headers instanceof RtspHeaders ? headers : new RtspHeaders(headers),
    body,
  };
}

/** Builds a request. */
export function request(
  method: string,
  url: string,
  headers: Record<string, string> | RtspHeaders = {},
  body: Uint8Array = new Uint8Array(0),
): RtspRequest {
  return {
    kind: "request",
    method,
    url,
    headers: headers instanceof RtspHeaders ? headers : new RtspHeaders(headers),
    body,
  };
}
