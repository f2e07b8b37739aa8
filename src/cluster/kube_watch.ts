/**
 * The watch stream's wire format, sans-I/O: a Kubernetes watch answers with newline-delimited JSON events
 * `{type, object}` (ADDED, MODIFIED, DELETED, BOOKMARK, ERROR). {@linkcode LineSplitter} cuts decoded text into
 * lines whatever the chunking, {@linkcode decodeWatchEvent} turns one line into a typed event, and
 * {@linkcode readLines} is the thin shell that feeds a response body through the splitter. What to do with the
 * events (store, resourceVersion, relist on 410) is the reflector's ({@link ./kube_reflector.ts}).
 * @module
 */

import type { KubeObject, KubeStatus } from "./kube_client.ts";

/** Event types of a watch stream. */
export type WatchEventType = "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR";

/** Longest watch event line accepted (a Node object with many images is tens of KB). */
export const MAX_WATCH_LINE = 8 * 1024 * 1024;

/**
 * Cuts text into lines (without `\n`, a trailing `\r` removed), keeping a line split across chunks until its
 * end comes. Push text, then pull lines with {@linkcode LineSplitter.next} until it returns undefined.
 * @example
 * const s = new LineSplitter();
 * s.push('{"type":"ADD');
 * s.next(); // undefined
 * s.push('ED"}\n');
 * s.next(); // '{"type":"ADDED"}'
 */
export class LineSplitter {
  readonly #maxLine: number;
  #buffer = "";
  /** Where the first unreturned line starts in #buffer. */
  #start = 0;
  /** Where to look for the next newline (the text before it has none). */
  #searchFrom = 0;

  /** @param maxLine longest line accepted, in characters @default {@linkcode MAX_WATCH_LINE} */
  constructor(maxLine: number = MAX_WATCH_LINE) {
    this.#maxLine = maxLine;
  }

  /** Adds text. */
  push(text: string): void {
    this.#buffer += text;
  }

  /**
   * The next complete line, or undefined until more text comes.
   * @throws when no line is complete and the unfinished one exceeds the limit
   */
  next(): string | undefined {
    const nl = this.#buffer.indexOf("\n", this.#searchFrom);
    if (nl >= 0) {
      const line = this.#buffer.slice(this.#start, nl);
      this.#start = this.#searchFrom = nl + 1;
      return line.endsWith("\r") ? line.slice(0, -1) : line;
    }
    this.#buffer = this.#buffer.slice(this.#start);
    this.#start = 0;
    this.#searchFrom = this.#buffer.length;
    if (this.#buffer.length > this.#maxLine) {
      throw new Error(`Reading a watch stream failed: a line exceeds ${this.#maxLine} characters`);
    }
    return undefined;
  }

  /**
   * Ends the text; call it once {@linkcode LineSplitter.next} returned undefined.
   * @returns the last line when it had no newline, else undefined
   */
  end(): string | undefined {
    const rest = this.#buffer.slice(this.#start);
    this.#buffer = "";
    this.#start = this.#searchFrom = 0;
    return rest === "" ? undefined : rest;
  }
}

/**
 * Splits a byte stream into lines with a {@linkcode LineSplitter}; a last line without a newline is yielded at
 * the end of the stream. Cancels the stream when the consumer stops early or a line is too long.
 * @param maxLine longest line accepted, in characters @default {@linkcode MAX_WATCH_LINE}
 * @throws when a line exceeds `maxLine` characters
 * @example for await (const line of readLines(res.body!)) console.log(decodeWatchEvent(line, "Watching nodes"));
 */
export async function* readLines(
  body: ReadableStream<Uint8Array>,
  maxLine = MAX_WATCH_LINE,
): AsyncGenerator<string> {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  const splitter = new LineSplitter(maxLine);
  let finished = false;
  try {
    while (true) {
      const { value, done } = await reader.read();
      if (done) {
        finished = true;
        break;
      }
      splitter.push(value);
      for (let line = splitter.next(); line !== undefined; line = splitter.next()) yield line;
    }
    const last = splitter.end();
    if (last !== undefined) yield last;
  } finally {
    if (!finished) await reader.cancel().catch(() => {});
    reader.releaseLock();
  }
}

/** One decoded watch event. */
export type WatchEvent<T extends KubeObject> =
  | {
    /** An object was added, changed or deleted. */
    readonly type: "ADDED" | "MODIFIED" | "DELETED";
    /** The object (its state after the change; before the deletion). */
    readonly object: T;
  }
  | {
    /** Nothing changed, but the collection is now at this resourceVersion. */
    readonly type: "BOOKMARK";
    /** The object carrying only `metadata.resourceVersion`, if sent. */
    readonly object: KubeObject | undefined;
  }
  | {
    /** The watch failed; a Status with code 410 means the resourceVersion expired. */
    readonly type: "ERROR";
    /** The Status object, if sent. */
    readonly status: KubeStatus | undefined;
  }
  | {
    /** A type this client does not know (ignored). */
    readonly type: "UNKNOWN";
    /** The type as sent. */
    readonly sent: unknown;
  };

/**
 * Decodes one line of a watch stream. Pure.
 * @param line one line, as {@linkcode readLines} yields it
 * @param context what is being watched, to start error messages (e.g. `Watching "/api/v1/nodes"`)
 * @returns the event, or undefined for a blank line
 * @throws a SyntaxError when the line is not JSON, an Error when an ADDED, MODIFIED or DELETED event has no
 * object
 * @example decodeWatchEvent('{"type":"BOOKMARK","object":{"metadata":{"resourceVersion":"7"}}}', "Watching")
 */
export function decodeWatchEvent<T extends KubeObject>(
  line: string,
  context: string,
): WatchEvent<T> | undefined {
  if (line.trim() === "") return undefined;
  const event = JSON.parse(line) as { type?: unknown; object?: T & KubeStatus };
  const object = event.object;
  switch (event.type) {
    case "ADDED":
    case "MODIFIED":
    case "DELETED":
      if (!object) throw new Error(`${context} failed: a ${event.type} event has no object`);
      return { type: event.type, object };
    case "BOOKMARK":
      return { type: "BOOKMARK", object };
    case "ERROR":
      return { type: "ERROR", status: object };
    default:
      return { type: "UNKNOWN", sent: event.type };
  }
}
