/**
 * A small Kubernetes API client: authenticated GETs over TLS with the cluster CA, and a reflector that keeps a
 * LIST+WATCH of one collection current (resume from the last resourceVersion, relist on 410, capped exponential
 * backoff with jitter on errors, the last view kept while the API is unreachable).
 * @module
 */

import { type Clock, monotonicMs } from "../clock.ts";
import type { Logger } from "../log.ts";

/** Object metadata fields the relay reads. */
export interface KubeObjectMeta {
  readonly name?: string;
  readonly namespace?: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly resourceVersion?: string;
  readonly uid?: string;
  readonly creationTimestamp?: string;
  readonly deletionTimestamp?: string;
}

/** Any Kubernetes object (only metadata is common). */
export interface KubeObject {
  readonly metadata?: KubeObjectMeta;
}

/** A `Status` object, as errors and watch ERROR events carry it. */
export interface KubeStatus {
  readonly kind?: string;
  readonly status?: string;
  readonly code?: number;
  readonly reason?: string;
  readonly message?: string;
}

/** Event types of a watch stream. */
export type WatchEventType = "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR";

/** Capped exponential backoff. */
export interface Backoff {
  /** First delay. @default 500 */
  readonly initialMs: number;
  /** Largest delay. @default 30000 */
  readonly maxMs: number;
}

/** The default backoff of the reflectors. */
export const DEFAULT_BACKOFF: Backoff = { initialMs: 500, maxMs: 30_000 };

/** How long a LIST may take, and a WATCH may wait for its response headers, before it counts as failed. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;

/** While requests keep failing, the outage is logged again (at warn) this often, with its duration. */
export const DEFAULT_OUTAGE_REMINDER_MS = 300_000;

/** Longest watch event line accepted (a Node object with many images is tens of KB). */
export const MAX_WATCH_LINE = 8 * 1024 * 1024;

/** A failed API request: an HTTP status (with the Status object the server sent) or a watch ERROR event. */
export class KubeApiError extends Error {
  /** HTTP status, or the Status code of an ERROR event. */
  readonly status: number;
  /** `reason` of the Status object ("Expired", "Forbidden"...), or "". */
  readonly reason: string;
  constructor(action: string, status: number, body: KubeStatus | undefined) {
    const detail = body?.message ? `: ${body.message}` : "";
    super(`${action} failed with status ${status}${body?.reason ? ` (${body.reason})` : ""}${detail}`);
    this.name = "KubeApiError";
    this.status = status;
    this.reason = body?.reason ?? "";
  }
}

/** Options of {@linkcode KubeApi}. */
export interface KubeApiOptions {
  /** Base URL of the API server, e.g. `https://10.96.0.1:443`. */
  readonly apiUrl: URL;
  /** File holding the bearer token; read again for every request (it rotates). */
  readonly tokenFile: string;
  /** PEM of the CA that signs the API server's certificate. */
  readonly caCertPem: string;
  /** Logger for token read failures. */
  readonly logger: Logger;
}

/**
 * Authenticated GETs against the API server. Every request reads the token file again (bound service account
 * tokens rotate), falling back to the last token read when the file is briefly missing.
 * @example
 * const api = new KubeApi({ apiUrl, tokenFile, caCertPem, logger });
 * const res = await api.get("/api/v1/namespaces/msm/pods", { labelSelector: "app=x" }, signal);
 */
export class KubeApi {
  readonly #options: KubeApiOptions;
  readonly #client: Deno.HttpClient;
  #token = "";
  #tokenWarned = false;

  constructor(options: KubeApiOptions) {
    this.#options = options;
    this.#client = Deno.createHttpClient({ caCerts: [options.caCertPem] });
  }

  /** Reads the token file (keeping the last token if it cannot be read). @returns the token */
  async readToken(): Promise<string> {
    try {
      const token = (await Deno.readTextFile(this.#options.tokenFile)).trim();
      this.#token = token;
      this.#tokenWarned = false;
    } catch (e) {
      if (!this.#tokenWarned) {
        this.#options.logger.warn("reading the service account token failed; keeping the last one", {
          file: this.#options.tokenFile,
          error: String(e),
        });
        this.#tokenWarned = true;
      }
    }
    return this.#token;
  }

  /**
   * GETs `path` with `query`. @returns the response when its status is 2xx
   * @throws {KubeApiError} on any other status (the body's Status object in the message)
   */
  async get(path: string, query: Record<string, string>, signal: AbortSignal): Promise<Response> {
    const url = new URL(path, this.#options.apiUrl);
    for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
    const token = await this.readToken();
    const headers: Record<string, string> = { accept: "application/json" };
    if (token) headers.authorization = `Bearer ${token}`;
    const res = await fetch(url, { client: this.#client, headers, signal });
    if (res.ok) return res;
    let body: KubeStatus | undefined;
    try {
      body = await res.json() as KubeStatus;
    } catch {
      body = undefined;
    }
    throw new KubeApiError(`GET ${path}`, res.status, body);
  }

  /** Closes the HTTP client (pooled connections). */
  close(): void {
    this.#client.close();
  }
}

/**
 * Splits a byte stream into lines (without `\n`, a trailing `\r` removed), handling lines split across chunks.
 * A last line without a newline is yielded at the end of the stream. Cancels the stream when the consumer stops.
 * @throws when a line exceeds `maxLine` characters
 */
export async function* readLines(
  body: ReadableStream<Uint8Array>,
  maxLine = MAX_WATCH_LINE,
): AsyncGenerator<string> {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let finished = false;
  try {
    while (true) {
      const { value, done } = await reader.read();
      if (done) {
        finished = true;
        break;
      }
      let searchFrom = buffer.length;
      buffer += value;
      let start = 0;
      let nl: number;
      while ((nl = buffer.indexOf("\n", searchFrom)) >= 0) {
        const line = buffer.slice(start, nl);
        yield line.endsWith("\r") ? line.slice(0, -1) : line;
        start = nl + 1;
        searchFrom = start;
      }
      buffer = buffer.slice(start);
      if (buffer.length > maxLine) {
        throw new Error(`Reading a watch stream failed: a line exceeds ${maxLine} characters`);
      }
    }
    if (buffer !== "") yield buffer;
  } finally {
    if (!finished) await reader.cancel().catch(() => {});
    reader.releaseLock();
  }
}

/**
 * Delay before retry number `attempt` (0-based): `min(maxMs, initialMs * 2^attempt)`, jittered down to between
 * half and all of it.
 * @param random a number in [0, 1) @default Math.random()
 */
export function backoffDelay(attempt: number, backoff: Backoff, random: number = Math.random()): number {
  const ceiling = Math.min(backoff.maxMs, backoff.initialMs * 2 ** Math.min(attempt, 30));
  return ceiling / 2 + (ceiling / 2) * random;
}

/** Sleeps `ms`, ending early (without error) when `signal` aborts. The timer never outlives the call. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}

/** What a {@linkcode Reflector} feeds its store with. */
export interface ReflectorStore<T extends KubeObject> {
  /** A complete LIST: replace every object with `items`. */
  replace(items: readonly T[]): void;
  /** One watch event. */
  apply(type: "ADDED" | "MODIFIED" | "DELETED", object: T): void;
}

/** Options of {@linkcode Reflector}. */
export interface ReflectorOptions<T extends KubeObject> {
  readonly api: KubeApi;
  /** Collection path, e.g. `/api/v1/namespaces/msm/pods`. */
  readonly path: string;
  readonly labelSelector?: string;
  readonly fieldSelector?: string;
  readonly store: ReflectorStore<T>;
  readonly logger: Logger;
  /** @default {@linkcode DEFAULT_BACKOFF} */
  readonly backoff?: Backoff;
  /** Server-side watch duration; the client gives up 30 s after it. @default 300 */
  readonly watchTimeoutSeconds?: number;
  /** Random source of the jitter. @default Math.random */
  readonly random?: () => number;
  /**
   * Called with every failed attempt (before the backoff). Return true when it was logged by the caller; the
   * reflector then logs nothing for it.
   */
  readonly onError?: (error: unknown) => boolean;
  /**
   * Longest a LIST may take, and a WATCH may wait for its response headers (a silently partitioned API server
   * would otherwise hold the request for minutes). @default {@linkcode DEFAULT_REQUEST_TIMEOUT_MS}
   */
  readonly requestTimeoutMs?: number;
  /** Period of the reminder warnings while failures go on. @default {@linkcode DEFAULT_OUTAGE_REMINDER_MS} */
  readonly outageReminderMs?: number;
  /** Monotonic clock in milliseconds (outage durations, idle watches). @default {@linkcode monotonicMs} */
  readonly now?: Clock;
}

/** How a watch ended. */
type WatchEnd = "closed" | "expired" | "idle";

/**
 * Keeps one collection's objects current in a {@linkcode ReflectorStore} with LIST then WATCH from the list's
 * resourceVersion. A closed watch resumes from the last resourceVersion seen (events and BOOKMARKs); 410 Expired
 * (HTTP or ERROR event) relists; other failures retry after a capped, jittered exponential backoff without
 * touching the store, so the last view survives an API outage. The backoff starts over once the API served a
 * LIST or a watch that streamed, so a short outage after a long healthy run is retried at once. An outage is
 * logged once when it starts (warn), again every {@linkcode ReflectorOptions.outageReminderMs} while it lasts,
 * and once when it ends (info, with its duration); single retries are debug.
 * @example
 * const r = new Reflector({ api, path: "/api/v1/nodes", store, logger });
 * r.start();
 * await r.firstAttempt;
 * await r.stop();
 */
export class Reflector<T extends KubeObject> {
  readonly #o: ReflectorOptions<T>;
  readonly #abort = new AbortController();
  readonly #backoff: Backoff;
  readonly #random: () => number;
  readonly #watchTimeoutSeconds: number;
  readonly #requestTimeoutMs: number;
  readonly #reminderMs: number;
  readonly #now: Clock;
  #resourceVersion: string | undefined;
  #synced = false;
  #running: Promise<void> | undefined;
  /** Since when requests fail (monotonic ms), or undefined while the API answers. */
  #failingSince: number | undefined;
  #failures = 0;
  #lastWarnAt = 0;
  /** Set when the current watch got its answer and streamed at least one line: the API was healthy. */
  #streamed = false;
  #resolveSynced!: () => void;
  #resolveAttempt!: () => void;
  /** Resolves after the first complete LIST. */
  readonly firstSync: Promise<void>;
  /** Resolves after the first LIST attempt, whether it succeeded or failed. */
  readonly firstAttempt: Promise<void>;

  constructor(options: ReflectorOptions<T>) {
    this.#o = options;
    this.#backoff = options.backoff ?? DEFAULT_BACKOFF;
    this.#random = options.random ?? Math.random;
    this.#watchTimeoutSeconds = options.watchTimeoutSeconds ?? 300;
    this.#requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.#reminderMs = options.outageReminderMs ?? DEFAULT_OUTAGE_REMINDER_MS;
    this.#now = options.now ?? monotonicMs;
    this.firstSync = new Promise((resolve) => (this.#resolveSynced = resolve));
    this.firstAttempt = new Promise((resolve) => (this.#resolveAttempt = resolve));
  }

  /** True once a LIST completed (stays true through relists and outages). */
  get synced(): boolean {
    return this.#synced;
  }

  /** The last resourceVersion seen, or undefined before the first LIST and while a relist is due. */
  get resourceVersion(): string | undefined {
    return this.#resourceVersion;
  }

  /** True while requests fail (from the first failure until a request succeeds again). */
  get failing(): boolean {
    return this.#failingSince !== undefined;
  }

  /** Starts the list/watch loop (once). */
  start(): void {
    this.#running ??= this.#run();
  }

  /** Aborts the current request and any backoff, and waits for the loop to end. */
  async stop(): Promise<void> {
    this.#abort.abort();
    await this.#running;
  }

  #query(extra: Record<string, string>): Record<string, string> {
    const q: Record<string, string> = {};
    if (this.#o.labelSelector) q.labelSelector = this.#o.labelSelector;
    if (this.#o.fieldSelector) q.fieldSelector = this.#o.fieldSelector;
    return { ...q, ...extra };
  }

  async #run(): Promise<void> {
    const signal = this.#abort.signal;
    let attempt = 0;
    while (!signal.aborted) {
      let listed = false;
      try {
        if (this.#resourceVersion === undefined) {
          await this.#list(signal);
          listed = true;
          attempt = 0;
        }
        const end = await this.#watch(signal);
        if (end === "expired") {
          this.#o.logger.info("watch resourceVersion expired; relisting", { path: this.#o.path });
          this.#resourceVersion = undefined;
          // expired straight after a fresh LIST: a confused server or proxy; do not relist in a tight loop
          if (listed) await sleep(backoffDelay(attempt++, this.#backoff, this.#random()), signal);
          else attempt = 0;
        } else if (end === "idle") {
          // the stream ended at once with nothing in it: back off so a misbehaving proxy cannot spin us
          await sleep(backoffDelay(attempt++, this.#backoff, this.#random()), signal);
        } else {
          attempt = 0;
        }
      } catch (e) {
        if (signal.aborted) break;
        if (e instanceof KubeApiError && e.status === 410) {
          this.#o.logger.info("watch resourceVersion expired; relisting", { path: this.#o.path });
          this.#resourceVersion = undefined;
          continue;
        }
        this.#resolveAttempt();
        // A watch that streamed was a healthy API: this failure starts a new outage, retried at once.
        if (this.#streamed) attempt = 0;
        this.#streamed = false;
        const delay = backoffDelay(attempt++, this.#backoff, this.#random());
        const handled = this.#o.onError?.(e) ?? false;
        if (!handled) this.#logFailure(e, delay);
        else this.#failingSince ??= this.#now();
        this.#failures++;
        await sleep(delay, signal);
      }
    }
  }

  async #list(signal: AbortSignal): Promise<void> {
    const ac = new AbortController();
    const abortList = () => ac.abort();
    signal.addEventListener("abort", abortList, { once: true });
    const timer = setTimeout(abortList, this.#requestTimeoutMs);
    let list: { metadata?: { resourceVersion?: string }; items?: T[] };
    try {
      const res = await this.#o.api.get(this.#o.path, this.#query({}), ac.signal);
      list = await res.json();
    } catch (e) {
      if (ac.signal.aborted && !signal.aborted) {
        throw new Error(
          `Listing "${this.#o.path}" failed: no complete answer within ${this.#requestTimeoutMs} ms`,
        );
      }
      throw e;
    } finally {
      clearTimeout(timer);
      signal.removeEventListener("abort", abortList);
    }
    const rv = list.metadata?.resourceVersion;
    if (!rv || !Array.isArray(list.items)) {
      throw new Error(`Listing "${this.#o.path}" failed: the answer has no resourceVersion or items`);
    }
    this.#o.store.replace(list.items);
    this.#resourceVersion = rv;
    this.#recovered();
    if (!this.#synced) {
      this.#synced = true;
      this.#resolveSynced();
    }
    this.#resolveAttempt();
  }

  /** Logs a failed attempt: warn when an outage starts and every reminder period, debug otherwise. */
  #logFailure(e: unknown, delay: number): void {
    const now = this.#now();
    const fields = { path: this.#o.path, error: String(e), retryInMs: Math.round(delay) };
    if (this.#failingSince === undefined) {
      this.#failingSince = now;
      this.#failures = 0;
      this.#lastWarnAt = now;
      this.#o.logger.warn("Kubernetes API request failed; keeping the last view and retrying", fields);
    } else if (now - this.#lastWarnAt >= this.#reminderMs) {
      this.#lastWarnAt = now;
      this.#o.logger.warn("Kubernetes API still failing; keeping the last view and retrying", {
        ...fields,
        failingForS: Math.round((now - this.#failingSince) / 1000),
        failedAttempts: this.#failures + 1,
      });
    } else {
      this.#o.logger.debug("Kubernetes API request failed again", fields);
    }
  }

  #recovered(): void {
    if (this.#failingSince !== undefined) {
      this.#o.logger.info("Kubernetes API reachable again", {
        path: this.#o.path,
        outageS: Math.round((this.#now() - this.#failingSince) / 100) / 10,
        failedAttempts: this.#failures,
      });
    }
    this.#failingSince = undefined;
    this.#failures = 0;
  }

  async #watch(signal: AbortSignal): Promise<WatchEnd> {
    const ac = new AbortController();
    const abortWatch = () => ac.abort();
    signal.addEventListener("abort", abortWatch, { once: true });
    // the server ends the watch after timeoutSeconds; a silent network partition would not, so give up later
    const deadline = setTimeout(abortWatch, (this.#watchTimeoutSeconds + 30) * 1000);
    // ...and its headers come at once: an answer that does not is a dead connection
    let headersTimedOut = false;
    const headersDeadline = setTimeout(() => {
      headersTimedOut = true;
      abortWatch();
    }, this.#requestTimeoutMs);
    const started = this.#now();
    let received = false;
    this.#streamed = false;
    try {
      const res = await this.#o.api.get(
        this.#o.path,
        this.#query({
          watch: "1",
          allowWatchBookmarks: "true",
          resourceVersion: this.#resourceVersion!,
          timeoutSeconds: String(this.#watchTimeoutSeconds),
        }),
        ac.signal,
      );
      clearTimeout(headersDeadline);
      this.#recovered();
      for await (const line of readLines(res.body!)) {
        if (line.trim() === "") continue;
        received = true;
        const event = JSON.parse(line) as { type?: WatchEventType; object?: T & KubeStatus };
        const object = event.object;
        switch (event.type) {
          case "ADDED":
          case "MODIFIED":
          case "DELETED":
            if (!object) {
              throw new Error(`Watching "${this.#o.path}" failed: a ${event.type} event has no object`);
            }
            this.#o.store.apply(event.type, object);
            this.#resourceVersion = object.metadata?.resourceVersion ?? this.#resourceVersion;
            this.#streamed = true;
            break;
          case "BOOKMARK":
            this.#resourceVersion = object?.metadata?.resourceVersion ?? this.#resourceVersion;
            this.#streamed = true;
            break;
          case "ERROR":
            if (object?.code === 410) return "expired";
            throw new KubeApiError(`Watching "${this.#o.path}"`, object?.code ?? 500, object);
          default:
            this.#o.logger.debug("ignoring an unknown watch event", { path: this.#o.path, type: event.type });
        }
      }
      if (signal.aborted) return "closed";
      return !received && this.#now() - started < 1000 ? "idle" : "closed";
    } catch (e) {
      if (headersTimedOut && !signal.aborted) {
        throw new Error(`Watching "${this.#o.path}" failed: no answer within ${this.#requestTimeoutMs} ms`);
      }
      // our own deadline (not stop()): the stream went silent past the server's timeout; resume
      if (ac.signal.aborted && !signal.aborted) return "closed";
      throw e;
    } finally {
      clearTimeout(headersDeadline);
      clearTimeout(deadline);
      signal.removeEventListener("abort", abortWatch);
      ac.abort();
    }
  }
}
