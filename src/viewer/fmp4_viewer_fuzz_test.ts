/**
 * A CI-sized fuzz slice of the browser viewer's input path: 30,000 seeded mutations of RTP packets (the demo clip's
 * and hand-made ones) and 5,000 fast-check packets, one after the other into one viewer (state carried, reset every
 * 500): it never throws, and what it sends is an init message, the initialization segment and whole fragments. The
 * million-input run is `deno task bench:fuzz --target h264-viewer`.
 * @module
 */
import { ok as assert } from "node:assert/strict";
import fc from "fast-check";
import { viewerTarget } from "../../tests/support/fuzz_targets.ts";
import { hex, mutate } from "../../tests/support/mutator.ts";
import { seededRandom } from "../../tests/support/seeded_random.ts";

Deno.test("browser viewer fuzz slice: 35 000 RTP packets, whole boxes out, never a throw", () => {
  const target = viewerTarget();
  let accepted = 0;
  for (let seed = 1; seed <= 30_000; seed++) {
    if (seed % 500 === 0) target.reset!();
    const input = mutate(target.corpus, seededRandom(seed), target.mutateOptions);
    const kept = input.slice();
    try {
      if (target.run(input, seededRandom(seed)).accepted) accepted++;
    } catch (e) {
      throw new Error(`seed ${seed}: ${e}\ninput hex: ${hex(kept)}`);
    }
  }
  fc.assert(fc.property(target.arbitrary!, (input) => void target.run(input, Math.random)), {
    seed: 11,
    numRuns: 5_000,
  });
  assert(accepted > 1000, `only ${accepted} inputs were RTP at all`);
  // The inputs reach the muxer, not only the parsers: pictures were whole often enough to be sent.
  console.log(`viewer fuzz slice: ${accepted} RTP packets, ${target.fragments()} fragments sent`);
  assert(target.fragments() > 0, "no fragment was ever sent: the slice tests the refusals only");
});
