/**
 * Batched renewals: a member renews all its joins to one root in one call per lease (`POST /mesh/v1/renew`), not
 * one call per path, so the control load at a root grows with its members, not members x paths (the nonce cache
 * and the signatures cost per call).
 *
 * Each mesh source asks for its renewal when it is due; the batcher holds the request until its root's next call:
 * a root's calls are at least a lease apart, and the first after a quiet spell waits a moment for the others of
 * the same instant. Sources ask again as soon as their answer arrives, so every path of a root shares one call per
 * lease whenever it joined. Long lists are split to keep each body well under the peer protocol's body limit.
 * Time and timers are passed in; the mesh does the sending.
 * @module
 */
import type { Clock, TimerHandle, Timers } from "../clock.ts";
import type { PeerRef, RenewItem, RenewResult } from "./mesh_protocol.ts";
import { MAX_RENEW_PATHS } from "./mesh_protocol.ts";

/** Options of {@linkcode RenewBatcher}. */
export interface RenewBatcherOptions {
  /**
   * Sends one call to `root` listing `items`.
   * @returns the root's answer per path
   * @throws when the root did not answer (every item of the call fails with the error)
   */
  send(root: PeerRef, items: RenewItem[]): Promise<Record<string, RenewResult>>;
  timers: Timers;
  now: Clock;
  /** Shortest time between two calls to one root: the join lease. */
  periodMs: number;
  /** How long the first request to a quiet root waits for others. @default 20 */
  gatherMs?: number;
  /** Bytes of the path list per call at most (the peer protocol takes bodies up to 64 KiB). @default 49152 */
  maxBytes?: number;
}

interface Waiter {
  resolve(result: RenewResult): void;
  reject(error: unknown): void;
}

interface Pending {
  item: RenewItem;
  waiters: Waiter[];
}

interface RootQueue {
  root: PeerRef;
  queue: Map<string, Pending>;
  timer: TimerHandle | null;
  /** When the last call left, or -Infinity. */
  lastCall: number;
}

/** Queues renewals per root and sends them in one call per lease. */
export class RenewBatcher {
  readonly #opts: Required<RenewBatcherOptions>;
  readonly #roots = new Map<string, RootQueue>();
  #closed = false;
  /** Calls sent so far. */
  calls = 0;
  /** Paths renewed so far (over all calls). */
  items = 0;

  /** @param options sending, time and the period */
  constructor(options: RenewBatcherOptions) {
    this.#opts = { gatherMs: 20, maxBytes: 48 * 1024, ...options };
  }

  /**
   * Renews `item` with `root` in the root's next call.
   * @param signal aborts the wait (a stopping source): the item leaves the queue when nobody else waits for it
   * @returns the root's answer for the path
   * @throws the send's error, the signal's reason, or an error once the batcher is closed
   */
  renew(root: PeerRef, item: RenewItem, signal?: AbortSignal): Promise<RenewResult> {
    if (this.#closed) return Promise.reject(new Error("Renewals are closed"));
    if (signal?.aborted) return Promise.reject(signal.reason);
    const q = this.#queueOf(root);
    return new Promise<RenewResult>((resolve, reject) => {
      const pending = q.queue.get(item.path) ?? { item, waiters: [] };
      pending.item = item; // the latest readers count
      const waiter: Waiter = { resolve, reject };
      pending.waiters.push(waiter);
      q.queue.set(item.path, pending);
      signal?.addEventListener("abort", () => {
        const i = pending.waiters.indexOf(waiter);
        if (i < 0) return;
        pending.waiters.splice(i, 1);
        if (pending.waiters.length === 0 && q.queue.get(item.path) === pending) q.queue.delete(item.path);
        reject(signal.reason);
      }, { once: true });
      this.#schedule(q);
    });
  }

  /** Paths waiting for their root's next call. */
  get queued(): number {
    let n = 0;
    for (const q of this.#roots.values()) n += q.queue.size;
    return n;
  }

  /** Fails every waiting renewal and refuses new ones. */
  close(): void {
    this.#closed = true;
    for (const q of this.#roots.values()) {
      if (q.timer !== null) this.#opts.timers.clearTimeout(q.timer);
      q.timer = null;
      const error = new Error("Renewals are closed");
      for (const p of q.queue.values()) for (const w of p.waiters) w.reject(error);
      q.queue.clear();
    }
    this.#roots.clear();
  }

  #queueOf(root: PeerRef): RootQueue {
    let q = this.#roots.get(root.node);
    if (!q) {
      if (this.#roots.size >= 1024) this.#forgetIdle();
      q = { root, queue: new Map(), timer: null, lastCall: -Infinity };
      this.#roots.set(root.node, q);
    }
    q.root = root; // the address discovery gives now
    return q;
  }

  #schedule(q: RootQueue): void {
    if (q.timer !== null || q.queue.size === 0) return;
    const now = this.#opts.now();
    const at = Math.max(now + this.#opts.gatherMs, q.lastCall + this.#opts.periodMs);
    q.timer = this.#opts.timers.setTimeout(() => this.#flush(q), at - now);
  }

  #flush(q: RootQueue): void {
    q.timer = null;
    if (this.#closed || q.queue.size === 0) return;
    q.lastCall = this.#opts.now();
    const batch = [...q.queue.values()];
    q.queue.clear();
    for (const chunk of this.#chunks(batch)) void this.#send(q.root, chunk);
  }

  async #send(root: PeerRef, chunk: Pending[]): Promise<void> {
    this.calls++;
    this.items += chunk.length;
    let answers: Record<string, RenewResult>;
    try {
      answers = await this.#opts.send(root, chunk.map((p) => p.item));
    } catch (err) {
      for (const p of chunk) for (const w of p.waiters) w.reject(err);
      return;
    }
    for (const p of chunk) {
      const result = Object.hasOwn(answers, p.item.path)
        ? answers[p.item.path]!
        : { status: 502, error: `${root.node} renew: no answer for "${p.item.path}"` };
      for (const w of p.waiters) w.resolve(result);
    }
  }

  /** Splits a batch so that each call's list stays under the byte budget and the protocol's count. */
  *#chunks(batch: Pending[]): Generator<Pending[]> {
    let chunk: Pending[] = [];
    let bytes = 0;
    for (const p of batch) {
      const size = utf8Length(JSON.stringify(p.item)) + 1;
      if (chunk.length > 0 && (bytes + size > this.#opts.maxBytes || chunk.length >= MAX_RENEW_PATHS)) {
        yield chunk;
        chunk = [];
        bytes = 0;
      }
      chunk.push(p);
      bytes += size;
    }
    if (chunk.length > 0) yield chunk;
  }

  /** Forgets roots with nothing queued whose last call is over a period ago. */
  #forgetIdle(): void {
    const now = this.#opts.now();
    for (const [node, q] of this.#roots) {
      if (q.queue.size === 0 && q.timer === null && now - q.lastCall >= this.#opts.periodMs) {
        this.#roots.delete(node);
      }
    }
  }
}

/** Bytes of `text` in UTF-8. */
function utf8Length(text: string): number {
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    // A surrogate pair (4 bytes) is two units of 2.
    n += c < 0x80 ? 1 : c < 0x800 || (c >= 0xd800 && c <= 0xdfff) ? 2 : 3;
  }
  return n;
}
