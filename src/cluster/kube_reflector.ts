/**
 * The reflector: keeps one collection of the Kubernetes API current in a store with LIST+WATCH (resume from the
 * last resourceVersion, relist on 410, capped exponential backoff with jitter on errors, the last view kept
 * while the API is unreachable), and {@linkcode ObjectStore}, the store keyed by `namespace/name` it usually
 * fills. The wire format of the watch is {@link ./kube_watch.ts}; the retry policy {@link ./kube_retry.ts}.
 * @module
 */

import { type Clock, monotonicMs } from "../clock.ts";
import type { Logger } from "../log.ts";
import { type KubeApi, KubeApiError, type KubeObject } from "./kube_client.ts";
import { decodeWatchEvent, readLines } from "./kube_watch.ts";
import { type Backoff, backoffDelay } from "../backoff.ts";
import { type FailureReport, OutageTracker } from "../outage.ts";
import { DEFAULT_BACKOFF, DEFAULT_OUTAGE_REMINDER_MS, sleep } from "./kube_retry.ts";

/** How long a LIST may take, and a WATCH may wait for its response headers, before it counts as failed. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;

/** What a {@linkcode Reflector} feeds its store with. */
export interface ReflectorStore<T extends KubeObject> {
  /** A complete LIST: replace every object with `items`. */
  replace(items: readonly T[]): void;
  /** One watch event. */
  apply(type: "ADDED" | "MODIFIED" | "DELETED", object: T): void;
}

/**
 * A {@linkcode ReflectorStore} keyed by `namespace/name` (`/name` for cluster-scoped objects) that calls
 * `changed` after every LIST and event. Watch events only update it; the view is computed from its objects.
 * @example const pods = new ObjectStore<PodObject>(() => refresh());
 */
export class ObjectStore<T extends KubeObject> implements ReflectorStore<T> {
  /** The objects by key. */
  readonly objects = new Map<string, T>();
  readonly #changed: () => void;
  /** @param changed called after every change */
  constructor(changed: () => void) {
    this.#changed = changed;
  }
  /** The key of an object: `namespace/name`. */
  static key(o: KubeObject): string {
    return `${o.metadata?.namespace ?? ""}/${o.metadata?.name ?? ""}`;
  }
  /** Replaces every object with `items`. */
  replace(items: readonly T[]): void {
    this.objects.clear();
    for (const o of items) this.objects.set(ObjectStore.key(o), o);
    this.#changed();
  }
  /** Applies one watch event. */
  apply(type: "ADDED" | "MODIFIED" | "DELETED", object: T): void {
    if (type === "DELETED") this.objects.delete(ObjectStore.key(object));
    else this.objects.set(ObjectStore.key(object), object);
    this.#changed();
  }
}

/** Options of {@linkcode Reflector}. */
export interface ReflectorOptions<T extends KubeObject> {
  /** The API client the requests go through. */
  readonly api: KubeApi;
  /** Collection path, e.g. `/api/v1/namespaces/msm/pods`. */
  readonly path: string;
  /** `labelSelector` of the LIST and WATCH, if any. */
  readonly labelSelector?: string;
  /** `fieldSelector` of the LIST and WATCH, if any. */
  readonly fieldSelector?: string;
  /** Where the objects go. */
  readonly store: ReflectorStore<T>;
  /** Outages, relists and unknown events are logged here. */
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
  readonly #outage: OutageTracker;
  readonly #now: Clock;
  #resourceVersion: string | undefined;
  #synced = false;
  #running: Promise<void> | undefined;
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
    this.#outage = new OutageTracker(options.outageReminderMs ?? DEFAULT_OUTAGE_REMINDER_MS);
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
    return this.#outage.failing;
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
        this.#logFailure(this.#outage.failed(this.#now(), !handled), e, delay);
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

  /** Logs a failed attempt as the outage tracker says: warn when an outage starts and every reminder period. */
  #logFailure(report: FailureReport | undefined, e: unknown, delay: number): void {
    if (report === undefined) return; // the caller's onError logged it
    const fields = { path: this.#o.path, error: String(e), retryInMs: Math.round(delay) };
    if (report.kind === "started") {
      this.#o.logger.warn("Kubernetes API request failed; keeping the last view and retrying", fields);
    } else if (report.kind === "reminder") {
      this.#o.logger.warn("Kubernetes API still failing; keeping the last view and retrying", {
        ...fields,
        failingForS: Math.round(report.failingForMs / 1000),
        failedAttempts: report.failedAttempts,
      });
    } else {
      this.#o.logger.debug("Kubernetes API request failed again", fields);
    }
  }

  #recovered(): void {
    const end = this.#outage.recovered(this.#now());
    if (end === undefined) return;
    this.#o.logger.info("Kubernetes API reachable again", {
      path: this.#o.path,
      outageS: Math.round(end.outageMs / 100) / 10,
      failedAttempts: end.failedAttempts,
    });
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
      const context = `Watching "${this.#o.path}"`;
      for await (const line of readLines(res.body!)) {
        const event = decodeWatchEvent<T>(line, context);
        if (event === undefined) continue;
        received = true;
        switch (event.type) {
          case "ADDED":
          case "MODIFIED":
          case "DELETED":
            this.#o.store.apply(event.type, event.object);
            this.#resourceVersion = event.object.metadata?.resourceVersion ?? this.#resourceVersion;
            this.#streamed = true;
            break;
          case "BOOKMARK":
            this.#resourceVersion = event.object?.metadata?.resourceVersion ?? this.#resourceVersion;
            this.#streamed = true;
            break;
          case "ERROR":
            if (event.status?.code === 410) return "expired";
            throw new KubeApiError(context, event.status?.code ?? 500, event.status);
          case "UNKNOWN":
            this.#o.logger.debug("ignoring an unknown watch event", { path: this.#o.path, type: event.sent });
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
