/**
 * The steady-state memory figures of `bench/dataplane.ts`'s footprint trial: a fresh relay's RSS idle, 30 s
 * into a 60 s trial at 20k in x 10 and at its end, and whether it still grew between the two (issue 16 asks
 * <= 100 MiB after 60 s, flat from 30 s on). Pure: the bench hands it the samples it read from /proc.
 * @module
 */

/** What a footprint trial shows. */
export interface Footprint {
  /** RSS once started, before any stream, bytes. */
  idle: number;
  /** RSS read closest to `halfMs` into the offered load, bytes (NaN without a sample). */
  atHalf: number;
  /** RSS at the end of the window (the offered load and its drain), bytes. */
  atEnd: number;
  /** Highest RSS seen (samples and the end), bytes. */
  peak: number;
  /** `atEnd - atHalf`, bytes: near zero in steady state. */
  growth: number;
}

/**
 * Reads a trial's RSS samples.
 * @param idle RSS before the trial, bytes
 * @param samples RSS every `everyMs` from the start of the offered load (the first at `everyMs`), bytes
 * @param end RSS when the window closed, bytes
 * @param everyMs interval of the samples
 * @param halfMs the time whose RSS is compared with the end's (30 s of a 60 s trial)
 * @returns the figures
 * @example footprint(60 << 20, [70 << 20, 80 << 20], 80 << 20, 5000, 10_000).growth // 0
 */
export function footprint(
  idle: number,
  samples: readonly number[],
  end: number,
  everyMs: number,
  halfMs: number,
): Footprint {
  const index = Math.round(halfMs / everyMs) - 1;
  const atHalf = samples[Math.min(Math.max(index, 0), samples.length - 1)] ?? NaN;
  return { idle, atHalf, atEnd: end, peak: Math.max(end, ...samples), growth: end - atHalf };
}

const mib = (b: number) => (Number.isFinite(b) ? `${(b / 2 ** 20).toFixed(1)} MiB` : "-");

/**
 * One printed line of a footprint: idle, at half, at the end, peak and growth.
 * @example formatFootprint("msm-relay-fast", f, 60) // "  msm-relay-fast   idle 62.0 MiB, 30 s ..."
 */
export function formatFootprint(impl: string, f: Footprint, seconds: number): string {
  const sign = f.growth >= 0 ? "+" : "";
  return `    ${impl.padEnd(15)} idle ${mib(f.idle)}, ${seconds / 2} s ${mib(f.atHalf)}, ${seconds} s ${
    mib(f.atEnd)
  }, peak ${mib(f.peak)}; ${seconds / 2} s -> ${seconds} s ${sign}${mib(f.growth)}`;
}
