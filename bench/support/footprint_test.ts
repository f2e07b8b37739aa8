import { deepStrictEqual as assertEquals, match } from "node:assert/strict";
import { footprint, formatFootprint } from "./footprint.ts";

const MiB = 2 ** 20;

Deno.test("footprint() compares the sample at half the trial with the end", () => {
  // Samples every 5 s of a 60 s trial: 5 s, 10 s, ... 60 s; the 30 s one is the sixth.
  const samples = [70, 72, 74, 76, 78, 80, 80, 81, 80, 82, 81, 81].map((m) => m * MiB);
  assertEquals(footprint(60 * MiB, samples, 83 * MiB, 5000, 30_000), {
    idle: 60 * MiB,
    atHalf: 80 * MiB,
    atEnd: 83 * MiB,
    peak: 83 * MiB,
    growth: 3 * MiB,
  });
});

Deno.test("footprint() takes the last sample when the trial ended before its half was sampled", () => {
  const f = footprint(60 * MiB, [90 * MiB, 70 * MiB], 71 * MiB, 5000, 30_000);
  assertEquals([f.atHalf, f.peak, f.growth], [70 * MiB, 90 * MiB, 1 * MiB]);
});

Deno.test("footprint() has no half figure without samples", () => {
  const f = footprint(60 * MiB, [], 71 * MiB, 5000, 30_000);
  assertEquals([Number.isNaN(f.atHalf), Number.isNaN(f.growth), f.peak], [true, true, 71 * MiB]);
});

Deno.test("formatFootprint() prints each figure in MiB with the growth's sign", () => {
  const line = formatFootprint("msm-relay-fast", footprint(62 * MiB, [90 * MiB], 88 * MiB, 5000, 5000), 60);
  match(
    line,
    /msm-relay-fast +idle 62\.0 MiB, 30 s 90\.0 MiB, 60 s 88\.0 MiB, peak 90\.0 MiB; 30 s -> 60 s -2\.0 MiB/,
  );
});
