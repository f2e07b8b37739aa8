/**
 * Event-loop lag: how late a timer fires. A timer is armed every `intervalMs`; its lateness is how long the
 * loop was busy elsewhere (a long synchronous handler, garbage collection, a starved process).
 *
 * ```ts
 * const lag = new EventLoopLagMonitor();
 * lag.start();
 * gauge.set(undefined, lag.takeMaxSeconds()); // at each scrape: the worst lateness since the previous one
 * lag.stop();
 * ```
 * @module
 */

/** Options of {@link EventLoopLagMonitor}. */
export interface EventLoopLagOptions {
  /** Period of the probe timer in milliseconds. @default 250 */
  intervalMs?: number;
  /** Clock in milliseconds. @default performance.now */
  now?: () => number;
}

/** Measures event-loop lag with a self-rearming timer that does not keep the process alive. */
export class EventLoopLagMonitor {
  /** Probe period in milliseconds. */
  readonly intervalMs: number;
  readonly #now: () => number;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #expected = 0;
  #last = 0;
  #max = 0;
  #samples = 0;

  /** @param options probe period and clock */
  constructor(options: EventLoopLagOptions = {}) {
    this.intervalMs = options.intervalMs ?? 250;
    this.#now = options.now ?? (() => performance.now());
  }

  /** True while the probe runs. */
  get running(): boolean {
    return this.#timer !== undefined;
  }

  /** Lateness of the latest probe, in seconds. */
  get lastSeconds(): number {
    return this.#last / 1000;
  }

  /** Probes taken since start. */
  get samples(): number {
    return this.#samples;
  }

  /** Starts probing (idempotent). The timer is unreferenced: it never holds the process open. */
  start(): void {
    if (this.#timer !== undefined) return;
    this.#arm();
  }

  /** Stops probing. */
  stop(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /**
   * Records one probe that fired at `firedAt` when due at `dueAt` (milliseconds); what the timer does, exposed
   * for tests.
   */
  record(dueAt: number, firedAt: number): void {
    const late = Math.max(0, firedAt - dueAt);
    this.#last = late;
    if (late > this.#max) this.#max = late;
    this.#samples++;
  }

  /**
   * The largest lateness since the previous call (or since start), in seconds, then starts a new span. A span
   * without probes reports the latest probe's lateness.
   */
  takeMaxSeconds(): number {
    const v = Math.max(this.#max, this.#last);
    this.#max = 0;
    return v / 1000;
  }

  #arm(): void {
    this.#expected = this.#now() + this.intervalMs;
    const id = setTimeout(() => {
      this.record(this.#expected, this.#now());
      if (this.#timer === id) this.#arm();
    }, this.intervalMs);
    unref(id);
    this.#timer = id;
  }
}

/** Lets a timer not hold the process open (Deno 2.9 returns a Node-style Timeout with `unref`). */
function unref(id: ReturnType<typeof setTimeout>): void {
  const t = id as unknown as { unref?: () => void };
  if (typeof t.unref === "function") t.unref();
  else Deno.unrefTimer(id as unknown as number);
}
