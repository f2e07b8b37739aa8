/**
 * The simulation's clock and timers: one queue of events in deadline order (ties in the order they were set), run
 * one at a time; after each, the promise work it started is drained (one macrotask later, which the runtime
 * gives only once the microtask queue is empty), so the real async code of every simulated relay runs to
 * quiescence before the clock moves. Nothing here touches a socket or a real timer: a seed gives the same run.
 *
 * Timers belong to an owner (a simulated process): a SIGKILLed process's timers never fire, and it cannot set
 * new ones ({@linkcode SimScheduler.timersFor}).
 * @module
 */
import type { TimerHandle, Timers } from "../../../src/clock.ts";
import { MinHeap } from "../../../src/cluster/min_heap.ts";
import { setImmediate } from "node:timers";

/** Whose timer an event is: its callbacks run only while it is alive. */
export interface SimOwner {
  readonly alive: boolean;
}

/** The owner of timers that belong to no simulated process (the network, the fault schedule). */
export const WORLD: SimOwner = { alive: true };

interface SimEvent {
  at: number;
  seq: number;
  fn: () => void;
  owner: SimOwner;
  cancelled: boolean;
}

/** The simulation ran away: more events than allowed before the deadline (a timer loop with no delay). */
export class RunawayError extends Error {
  constructor(events: number, at: number) {
    super(`simulation ran away: ${events} events without reaching the deadline (sim time ${at} ms)`);
    this.name = "RunawayError";
  }
}

/** The simulated time and its event queue. */
export class SimScheduler {
  #now = 0;
  #seq = 0;
  readonly #queue = new MinHeap<SimEvent>((a, b) => a.at < b.at || (a.at === b.at && a.seq < b.seq));
  #closed = false;
  /** Events run so far. */
  events = 0;
  /** Called with what a callback threw (a real process would have died of it, or contained it). */
  onError: (err: unknown) => void = (err) => {
    throw err;
  };

  /** Simulated milliseconds since the start. */
  readonly now = (): number => this.#now;

  /** Events waiting (cancelled ones included until they come up). */
  get pending(): number {
    return this.#queue.size;
  }

  /** Runs `fn` at `now + ms` if `owner` is still alive then. @returns a handle for {@linkcode clear} */
  at(ms: number, fn: () => void, owner: SimOwner = WORLD): TimerHandle {
    if (!owner.alive) return undefined;
    const event: SimEvent = {
      at: this.#now + Math.max(0, Number.isFinite(ms) ? ms : 0),
      seq: this.#seq++,
      fn,
      owner,
      cancelled: false,
    };
    this.#queue.push(event);
    return event;
  }

  /** Cancels a pending event (unknown handles are ignored). */
  clear(handle: TimerHandle): void {
    if (handle && typeof handle === "object" && "cancelled" in handle) (handle as SimEvent).cancelled = true;
  }

  /** {@linkcode Timers} whose callbacks belong to `owner`. */
  timersFor(owner: SimOwner): Timers {
    return {
      setTimeout: (fn, ms) => this.at(ms, fn, owner),
      clearTimeout: (handle) => this.clear(handle),
    };
  }

  /**
   * Runs every event due by `until` (sim ms), draining promise work after each; the clock ends at `until`.
   * @param maxEvents bound on the events of this call (a runaway loop throws {@linkcode RunawayError})
   */
  async runUntil(until: number, maxEvents = 50_000_000): Promise<void> {
    let ran = 0;
    await this.drain();
    for (;;) {
      const next = this.#queue.peek();
      if (!next || next.at > until) break;
      this.#queue.pop();
      if (next.cancelled || !next.owner.alive) continue;
      if (++ran > maxEvents) throw new RunawayError(ran, this.#now);
      this.#now = next.at;
      this.events++;
      try {
        next.fn();
      } catch (err) {
        this.onError(err);
      }
      await this.drain();
    }
    if (until > this.#now) this.#now = until;
  }

  /** Runs for `ms` more simulated milliseconds. */
  async runFor(ms: number, maxEvents?: number): Promise<void> {
    await this.runUntil(this.#now + ms, maxEvents);
  }

  /**
   * Resolves once the microtask queue is empty: one macrotask later (`setImmediate`; a message channel does not
   * do, its port may answer within the same microtask checkpoint, and `setTimeout(0)` is clamped to 1-4 ms).
   */
  drain(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    return new Promise((resolve) => setImmediate(resolve));
  }

  /** Drops every pending event. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    while (this.#queue.size > 0) this.#queue.pop();
  }
}
