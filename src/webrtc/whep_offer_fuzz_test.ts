/**
 * A CI-sized fuzz slice of WHEP's offer handling: 3,000 seeded mutations of Chromium's offers and 1,000 fast-check
 * offers into `negotiate()`: a 400 or 422 with a reason, or an answer that parses and bundles exactly what it sends;
 * never a throw. The longer run is `deno task bench:fuzz --target whep-offer`.
 * @module
 */
import { ok as assert } from "node:assert/strict";
import fc from "fast-check";
import { whepOfferTarget } from "../../tests/support/fuzz_targets.ts";
import { mutate } from "../../tests/support/mutator.ts";
import { seededRandom } from "../../tests/support/seeded_random.ts";

Deno.test("WHEP offer fuzz slice: 4,000 offers, a reasoned refusal or a consistent answer, never a throw", () => {
  const target = whepOfferTarget();
  let accepted = 0;
  for (let seed = 1; seed <= 3_000; seed++) {
    const input = mutate(target.corpus, seededRandom(seed), target.mutateOptions);
    const text = new TextDecoder().decode(input);
    try {
      if (target.run(input, seededRandom(seed)).accepted) accepted++;
    } catch (e) {
      throw new Error(`seed ${seed}: ${e}\noffer:\n${text}`);
    }
  }
  fc.assert(fc.property(target.arbitrary!, (input) => void target.run(input, Math.random)), {
    seed: 17,
    numRuns: 1_000,
  });
  console.log(`WHEP offer fuzz slice: ${accepted} of 3,000 mutated offers answered`);
  // Mutations that leave the offer valid must be answered: the slice tests the answers, not only refusals.
  assert(accepted > 100, `only ${accepted} mutated offers were answered`);
});
