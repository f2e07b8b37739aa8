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

const enc = new TextEncoder();
const SEEDS = [
  "OPTIONS rtsp://cam/live RTSP/1.0\r\nCSeq: 1\r\n\r\n",
  "DESCRIBE rtsp://relay/cam1 RTSP/1.0\r\nCSeq: 2\r\nAccept: application/sdp\r\nAuthorization: Digest " +
  'username="u", realm="r", nonce="n", uri="rtsp://relay/cam1", response="0123"\r\n\r\n',
  "ANNOUNCE rtsp://relay/p RTSP/1.0\r\nCSeq: 3\r\nContent-Type: application/sdp\r\nContent-Length: 20\r\n\r\n" +
  "v=0\r\ns=x\r\nt=0 0\r\n\r\n",
  "SETUP rtsp://relay/p/trackID=0 RTSP/1.0\r\nCSeq: 4\r\nTransport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n\r\n",
  "RTSP/1.0 200 OK\r\nCSeq: 5\r\nSession: 12345678;timeout=60\r\nContent-Length: 5\r\n\r\nhello",
  "$\x00\x00\x08\x80\x60\x00\x01\x00\x00\x00\x01",
  "PLAY rtsp://relay/p RTSP/1.0\r\nCSeq: 6\r\nSession: 12345678\r\nRange: npt=0.000-\r\n\r\n",
].map((s) => enc.encode(s));

/** One input: a few seeds glued together, then 1-8 mutations. */
function mutatedInput(seed: number): Uint8Array {
  const r = rng(seed);
  const int = (n: number) => Math.floor(r() * n);
  let bytes: number[] = [];
  for (let k = 1 + int(3); k > 0; k--) bytes.push(...SEEDS[int(SEEDS.length)]!);
  for (let m = 1 + int(8); m > 0; m--) {
    const at = int(bytes.length + 1);
    switch (int(6)) {
      case 0:
        if (bytes.length) bytes[at % bytes.length]! ^= 1 << int(8);
        break;
      case 1:
        bytes.splice(at, 0, int(256));
        break;
      case 2:
        bytes.splice(at, 1 + int(8));
        break;
      case 3: // repeat a slice (long headers, many headers)
        bytes.splice(at, 0, ...bytes.slice(at, at + 1 + int(64)).flatMap((b) => Array(1 + int(4)).fill(b)));
        break;
      case 4:
        bytes = bytes.slice(0, at);
        break;
      default: // special bytes where parsers slip
        bytes.splice(at, 0, [0x24, 0x0d, 0x0a, 0x3a, 0x20, 0x00, 0xff, 0x7f][int(8)]!);
    }
  }
  return Uint8Array.from(bytes);
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
      throw new Error(`seed ${seed}: ${e}\ninput: ${JSON.stringify(new TextDecoder().decode(input))}`);
    }
  }
  assert(most <= bound, `the parser held ${most} bytes (bound ${bound})`);
  console.log(`fuzz slice: ${refused} of 50000 inputs refused with 4xx/5xx, at most ${most} bytes buffered`);
  assert(
    refused > 5_000 && refused < 45_000,
    `${refused} refused: the mutations miss one side of the parser`,
  );
});
