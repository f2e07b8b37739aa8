/**
 * A CI-sized fuzz slice of the mesh UDP framing: 50 000 seeded mutations of valid frames (RTP, RTCP, heartbeats)
 * and 10 000 fast-check datagrams into `decodeMeshPacket` and `heartbeatNode`. Decoding never throws; it gives a
 * reason, or a packet whose fields are in range, whose payload is the datagram's tail (by view) and which
 * re-encodes to the datagram. The million-input run is `deno task bench:fuzz --target mesh-frame`.
 * @module
 */
import { ok as assert } from "node:assert/strict";
import fc from "fast-check";
import { decodeMeshPacket } from "./mesh_frame.ts";
import { meshCorpus, meshFrameTarget, meshSealedTarget } from "../../tests/support/fuzz_targets.ts";
import { hex, mutate } from "../../tests/support/mutator.ts";
import { seededRandom } from "../../tests/support/seeded_random.ts";

const MUTATED = 50_000;
const GENERATED = 10_000;

Deno.test("mesh framing fuzz slice: 60 000 datagrams decode to a packet in range or a reason, never a throw", () => {
  const target = meshFrameTarget("mesh-frame", meshCorpus(), decodeMeshPacket);
  let refused = 0;
  const t0 = performance.now();
  for (let seed = 1; seed <= MUTATED; seed++) {
    const input = mutate(target.corpus, seededRandom(seed), target.mutateOptions);
    const kept = input.slice();
    try {
      if (!target.run(input, seededRandom(seed)).accepted) refused++;
    } catch (e) {
      throw new Error(`seed ${seed}: ${e}\ninput hex: ${hex(kept)}`);
    }
  }
  fc.assert(
    fc.property(target.arbitrary!, (input) => {
      if (!target.run(input, Math.random).accepted) refused++;
    }),
    { seed: 7, numRuns: GENERATED },
  );
  const ms = performance.now() - t0;
  const total = MUTATED + GENERATED;
  console.log(`mesh fuzz slice: ${refused} of ${total} datagrams refused with a reason, ${ms.toFixed(0)} ms`);
  assert(refused > 0.05 * total && refused < 0.95 * total, `${refused} refused: the inputs miss one side`);
});

Deno.test("sealed mesh fuzz slice: 50 000 mutated sealed datagrams: no throw, no forgery opens", () => {
  const target = meshSealedTarget();
  let accepted = 0;
  const t0 = performance.now();
  for (let seed = 1; seed <= MUTATED; seed++) {
    const input = mutate(target.corpus, seededRandom(seed), target.mutateOptions);
    const kept = input.slice();
    try {
      if (target.run(input, seededRandom(seed)).accepted) accepted++;
    } catch (e) {
      throw new Error(`seed ${seed}: ${e}\ninput hex: ${hex(kept)}`);
    }
  }
  // Every sealed corpus datagram itself opens (the target would refuse a forgery with an invariant error).
  for (const datagram of target.corpus) assert(target.run(datagram.slice(), Math.random).accepted);
  const ms = performance.now() - t0;
  console.log(
    `sealed mesh fuzz slice: ${MUTATED - accepted} of ${MUTATED} refused, ${accepted} untouched, ${
      ms.toFixed(0)
    } ms`,
  );
});
