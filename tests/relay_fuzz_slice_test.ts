/**
 * CI-sized slices of the fuzz targets that need a relay's parts (tests/support/fuzz_targets_relay.ts): the peer
 * protocol as the admin app serves it, open and keyed, and SDPs with many media sections installed on a stream.
 * A documented status (never a 500), a JSON error, no throw. The million-input runs are
 * `deno task bench:fuzz --target mesh-http,mesh-http-keyed,sdp-many-media`.
 * @module
 */
import { ok as assert } from "node:assert/strict";
import { type AsyncFuzzTarget, manyMediaTarget, meshHttpTarget } from "./support/fuzz_targets_relay.ts";
import type { FuzzTarget } from "./support/fuzz_targets.ts";
import { hex, mutate } from "./support/mutator.ts";
import { seededRandom } from "./support/seeded_random.ts";

async function slice(target: FuzzTarget | AsyncFuzzTarget, inputs: number): Promise<{ accepted: number }> {
  let accepted = 0;
  try {
    // The corpus as is first: valid requests must be taken (or refused for what they are, e.g. a replay).
    for (const input of target.corpus) {
      if ((await target.run(input.slice(), Math.random)).accepted) accepted++;
    }
    for (let seed = 1; seed <= inputs; seed++) {
      const input = mutate(target.corpus, seededRandom(seed), target.mutateOptions);
      const kept = input.slice();
      try {
        if ((await target.run(input, seededRandom(seed))).accepted) accepted++;
      } catch (e) {
        throw new Error(`${target.name} seed ${seed}: ${e}\ninput hex: ${hex(kept)}`);
      }
    }
  } finally {
    if ("close" in target) await target.close();
  }
  return { accepted };
}

Deno.test("fuzz slice: the open peer protocol answers 4 000 mutated requests with documented statuses", async () => {
  const { accepted } = await slice(meshHttpTarget({ keyed: false }), 4000);
  console.log(`mesh-http slice: ${accepted} of 4006 requests taken`);
  assert(accepted > 0, "no request was taken: the slice never reaches the handlers");
});

Deno.test("fuzz slice: the keyed peer protocol answers 4 000 mutated signed requests with documented statuses", async () => {
  const { accepted } = await slice(meshHttpTarget({ keyed: true }), 4000);
  console.log(`mesh-http-keyed slice: ${accepted} of 4006 requests taken`);
  assert(accepted > 0, "no signed request was taken: the slice never passes the signature check");
});

Deno.test("fuzz slice: 2 000 SDPs with many media sections are refused unparsed or installed without ports", async () => {
  const { accepted } = await slice(manyMediaTarget(), 2000);
  console.log(`sdp-many-media slice: ${accepted} of 2005 descriptions installed`);
  assert(accepted > 0 && accepted < 2005, `${accepted} installed: the inputs miss one side`);
});
