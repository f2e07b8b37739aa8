/**
 * The runtime's clocks, timers and randomness, replaced by the simulation's while a run lasts: what the relay's
 * code still reads or sets without injection (a track's arrival clock, the shared GOP-burst pacing timer, random
 * SSRCs, stream ids and epoch ids) then follows the simulated clock and the seed, so a run repeats exactly.
 *
 * Every timer set through the globals is counted ({@linkcode VirtualGlobals.timersSet}): the mesh and the streams
 * take injected timers, so these are the places that do not (yet).
 * @module
 */
import { type SimScheduler, WORLD } from "./scheduler.ts";

/** What {@linkcode installVirtualGlobals} replaced, and what went through it. */
export interface VirtualGlobals {
  /** Timers set through the global setTimeout/setInterval during the run. */
  readonly timersSet: number;
  /** Global intervals still running. */
  readonly liveIntervals: number;
  /** Puts the runtime's own functions back. */
  restore(): void;
}

type Callback = (...args: unknown[]) => void;

/** Wall-clock ms the simulation starts at (2030-01-01T00:00:00Z): Date.now() = this + sim ms. */
export const SIM_EPOCH_MS = Date.UTC(2030, 0, 1);

/**
 * Replaces setTimeout, setInterval, their clears, performance.now, Date.now, crypto.getRandomValues and
 * Deno.unrefTimer with the scheduler's and `random`'s.
 * @param scheduler the simulated clock and timers
 * @param random uniform in [0, 1), seeded
 */
export function installVirtualGlobals(scheduler: SimScheduler, random: () => number): VirtualGlobals {
  const g = globalThis as unknown as Record<string, unknown>;
  const saved = {
    setTimeout: g.setTimeout,
    setInterval: g.setInterval,
    clearTimeout: g.clearTimeout,
    clearInterval: g.clearInterval,
    dateNow: Date.now,
    getRandomValues: crypto.getRandomValues,
    unrefTimer: Deno.unrefTimer,
  };
  const handles = new Map<number, unknown>();
  const intervals = new Set<number>();
  let nextId = 1;
  let timersSet = 0;
  const clear = (id: unknown) => {
    if (typeof id !== "number") return;
    scheduler.clear(handles.get(id));
    handles.delete(id);
    intervals.delete(id);
  };
  g.setTimeout = (fn: Callback, ms = 0, ...args: unknown[]) => {
    const id = nextId++;
    timersSet++;
    handles.set(
      id,
      scheduler.at(Number(ms) || 0, () => {
        handles.delete(id);
        fn(...args);
      }, WORLD),
    );
    return id;
  };
  g.setInterval = (fn: Callback, ms = 0, ...args: unknown[]) => {
    const id = nextId++;
    timersSet++;
    intervals.add(id);
    const period = Math.max(1, Number(ms) || 0);
    const arm = () => {
      handles.set(
        id,
        scheduler.at(period, () => {
          if (!intervals.has(id)) return;
          arm();
          fn(...args);
        }, WORLD),
      );
    };
    arm();
    return id;
  };
  g.clearTimeout = clear;
  g.clearInterval = clear;
  performance.now = () => scheduler.now();
  Date.now = () => SIM_EPOCH_MS + Math.floor(scheduler.now());
  (crypto as { getRandomValues: unknown }).getRandomValues = <T extends ArrayBufferView | null>(
    array: T,
  ): T => {
    if (!array) return array;
    const bytes = new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
    for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(random() * 256);
    return array;
  };
  (Deno as { unrefTimer: unknown }).unrefTimer = () => {};
  return {
    get timersSet() {
      return timersSet;
    },
    get liveIntervals() {
      return intervals.size;
    },
    restore() {
      g.setTimeout = saved.setTimeout;
      g.setInterval = saved.setInterval;
      g.clearTimeout = saved.clearTimeout;
      g.clearInterval = saved.clearInterval;
      delete (performance as { now?: unknown }).now;
      Date.now = saved.dateNow;
      (crypto as { getRandomValues: unknown }).getRandomValues = saved.getRandomValues;
      (Deno as { unrefTimer: unknown }).unrefTimer = saved.unrefTimer;
    },
  };
}
