/**
 * Gives the C heap's free pages back to the system every so often (glibc's `malloc_trim`; Linux with
 * `--allow-ffi`, as `deno task start` runs the relay).
 *
 * Why: the backing store of every ArrayBuffer (each packet the relay keeps, each batch between the fast plane's
 * threads, each connection's buffers) comes from malloc, and glibc gives freed memory back to the system only from
 * the top of a heap. Readers joining and leaving, GOP bursts and queues that fill and drain leave free chunks
 * below live ones, so the resident size keeps the peak of every burst and climbs in steps while the JavaScript
 * heap stays flat. `malloc_trim(0)` releases the free pages wherever they are, in every arena (a few milliseconds
 * for a heap of 100 MiB).
 * @module
 */
import { openLibcWherePermitted } from "./_libc.ts";

/** Period of {@linkcode startHeapTrim}. */
export const HEAP_TRIM_INTERVAL_MS = 10_000;

/** A running heap trim. */
export interface HeapTrim {
  /** Trims now. @returns whether glibc released memory */
  trim(): boolean;
  /** Trims done so far, and the time the last one took in milliseconds. */
  readonly stats: { trims: number; lastMs: number };
  /** Stops the timer and closes the library. */
  stop(): void;
}

/**
 * Starts trimming the C heap every `intervalMs`.
 * @param intervalMs period @default HEAP_TRIM_INTERVAL_MS
 * @returns null where it cannot run: not Linux, FFI not permitted, or no glibc (musl has no `malloc_trim`)
 */
export function startHeapTrim(intervalMs = HEAP_TRIM_INTERVAL_MS): HeapTrim | null {
  const lib = openLibcWherePermitted({ malloc_trim: { parameters: ["usize"], result: "i32" } });
  if (!lib) return null;
  const stats = { trims: 0, lastMs: 0 };
  const trim = (): boolean => {
    const t0 = performance.now();
    const released = lib.symbols.malloc_trim(0n) === 1;
    stats.lastMs = performance.now() - t0;
    stats.trims++;
    return released;
  };
  const timer = setInterval(trim, intervalMs);
  Deno.unrefTimer(timer);
  let stopped = false;
  return {
    trim,
    stats,
    stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(timer);
      lib.close();
    },
  };
}
