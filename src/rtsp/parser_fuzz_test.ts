/**
 * A CI-sized fuzz slice of the RTSP parser (issue 7): 50 000 inputs mutated from valid traffic (bit flips, byte
 * inserts and deletes, repeats, truncation, junk) pushed in random chunks. The parser may only answer with an
 * RtspProtocolError carrying a 4xx/5xx status, and it never buffers more than a head, a body and a frame.
 * Seeded: a failure prints the seed and the input to replay.
 */
import { ok as assert } from "node:assert/strict";
import { RtspParser } from "./parser.ts";
import { RtspProtocolError } from "./errors.ts";
import { RTSP_MAX_BODY_BYTES, RTSP_MAX_FRAME_BYTES, RTSP_MAX_HEAD_BYTES } from "./limits.ts";
import { seededRandom as rng } from "../../tests/support/seeded_random.ts";
import { hex, mutate, RTSP_CORPUS } from "../../tests/support/mutator.ts";

/** One input: a few corpus entries glued together, then 1-8 mutations (tests/support/mutator.ts). */
function mutatedInput(seed: number): Uint8Array {
  return mutate(RTSP_CORPUS, rng(seed));
}

/** Inputs the parser refused (to show the mutations reach the error paths, not only the happy ones). */
let refused = 0;

/** Feeds `input` in random chunks and drains; returns the most bytes the parser held. */
function fuzzOne(input: Uint8Array, seed: number): number {
  const r = rng(seed ^ 0x9e3779b9);
  const parser = new RtspParser();
  let most = 0;
  for (let off = 0; off < input.length;) {
    const n = 1 + Math.floor(r() * 200);
    parser.push(input.subarray(off, off + n));
    off += n;
    most = Math.max(most, parser.buffered);
    try {
      while (parser.next() !== null) { /* drain */ }
    } catch (e) {
      if (!(e instanceof RtspProtocolError) || e.status < 400 || e.status > 599) throw e;
      refused++;
      return most;
    }
  }
  return most;
}

Deno.test("RTSP parser fuzz slice: 50 000 mutated inputs, only 4xx/5xx protocol errors, bounded buffer", () => {
  const bound = RTSP_MAX_HEAD_BYTES + RTSP_MAX_BODY_BYTES + RTSP_MAX_FRAME_BYTES + 4 + 200;
  let most = 0;
  for (let seed = 1; seed <= 50_000; seed++) {
    const input = mutatedInput(seed);
    try {
      most = Math.max(most, fuzzOne(input, seed));
    } catch (e) {
      throw new Error(
        `seed ${seed}: ${e}\ninput: ${JSON.stringify(new TextDecoder().decode(input))}\nhex: ${hex(input)}`,
      );
    }
  }
  assert(most <= bound, `the parser held ${most} bytes (bound ${bound})`);
  console.log(`fuzz slice: ${refused} of 50000 inputs refused with 4xx/5xx, at most ${most} bytes buffered`);
  assert(
    refused > 5_000 && refused < 45_000,
    `${refused} refused: the mutations miss one side of the parser`,
  );
});
