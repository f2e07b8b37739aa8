/**
 * A clock and timers that move only when the test says so: {@linkcode ManualTimers.advance} runs every timer due
 * by then, in deadline order (ties in the order they were set), with the clock at each timer's deadline.
 * @module
 */
import type { TimerHandle, Timers } from "../../src/clock.ts";

interface Pending {
  id: number;
  at: number;
  fn: () => void;
}

/** Manual time for sans-I/O tests. */
export class ManualTimers implements Timers {
  #now: number;
  #nextId = 1;
  #pending: Pending[] = [];

  /** @param start the clock's first reading in ms */
  constructor(start = 0) {
    this.#now = start;
  }

  /** The clock (a {@linkcode Clock}). */
  readonly now = (): number => this.#now;

  /** Timers not yet run. */
  get pending(): number {
    return this.#pending.length;
  }

  /** @inheritdoc */
  setTimeout(fn: () => void, ms: number): number {
    const id = this.#nextId++;
    this.#pending.push({ id, at: this.#now + Math.max(0, ms), fn });
    return id;
  }

  /** @inheritdoc */
  clearTimeout(handle: TimerHandle): void {
    this.#pending = this.#pending.filter((p) => p.id !== handle);
  }

  /** Moves the clock `ms` forward, running the timers due on the way (timers they set run too when due). */
  advance(ms: number): void {
    const end = this.#now + ms;
    for (;;) {
      let next: Pending | undefined;
      for (const p of this.#pending) if (p.at <= end && (!next || p.at < next.at)) next = p;
      if (!next) break;
      this.#pending = this.#pending.filter((p) => p !== next);
      this.#now = next.at;
      next.fn();
    }
    this.#now = end;
  }
}
