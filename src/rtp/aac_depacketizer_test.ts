import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import fc from "fast-check";
import {
  AAC_FRAME_SAMPLES,
  AacDepacketizer,
  aacParameters,
  MAX_AU_BYTES,
  readAacConfig,
} from "./aac_depacketizer.ts";

/** ffmpeg's fmtp for 48 kHz stereo AAC-LC. */
const FMTP = "profile-level-id=1;mode=AAC-hbr;sizelength=13;indexlength=3;indexdeltalength=3; config=1190";

/** An AAC-hbr payload (13-bit sizes, 3-bit indexes) of whole units. */
function hbr(units: Uint8Array[]): Uint8Array {
  const headersBits = units.length * 16;
  const out = new Uint8Array(2 + units.length * 2 + units.reduce((n, u) => n + u.length, 0));
  out[0] = headersBits >> 8;
  out[1] = headersBits & 0xff;
  units.forEach((u, i) => {
    out[2 + 2 * i] = u.length >> 5;
    out[3 + 2 * i] = (u.length & 0x1f) << 3;
  });
  let at = 2 + units.length * 2;
  for (const u of units) out.set(u, at), at += u.length;
  return out;
}

Deno.test("aacParameters() and readAacConfig() read ffmpeg's fmtp and config", () => {
  const p = aacParameters(FMTP)!;
  assertEquals([p.sizeLength, p.indexLength, p.indexDeltaLength, [...p.config]], [13, 3, 3, [0x11, 0x90]]);
  assertEquals(readAacConfig(p.config), {
    objectType: 2,
    sampleRate: 48000,
    channels: 2,
    codec: "mp4a.40.2",
  });
  assertEquals(readAacConfig(Uint8Array.of(0x14, 0x08)), {
    objectType: 2,
    sampleRate: 16000,
    channels: 1,
    codec: "mp4a.40.2",
  });
  assertEquals(aacParameters("mode=generic;config=1190"), null, "not AAC-hbr/lbr");
  assertEquals(aacParameters("mode=AAC-hbr;sizelength=13"), null, "no config");
  assertEquals(aacParameters("mode=AAC-hbr;sizelength=99;config=1190"), null);
  assertEquals(readAacConfig(Uint8Array.of(0)), null);
});

Deno.test("AacDepacketizer gives each unit of a packet its timestamp, and joins a fragmented unit", () => {
  const d = new AacDepacketizer(aacParameters(FMTP)!);
  const a = new Uint8Array(300).fill(1);
  const b = new Uint8Array(200).fill(2);
  const frames = d.push(hbr([a, b]), 1000, true);
  assertEquals(frames.map((f) => [f.timestamp, f.data.length, f.data[0]]), [[1000, 300, 1], [
    1000 + AAC_FRAME_SAMPLES,
    200,
    2,
  ]]);
  // A unit of 3,000 bytes in three packets: the header says 3,000 in each, the marker on the last.
  const big = Uint8Array.from({ length: 3000 }, (_, i) => i & 0xff);
  const part = (from: number, to: number) => {
    const p = hbr([big]);
    return new Uint8Array([...p.subarray(0, 4), ...big.subarray(from, to)]);
  };
  assertEquals(d.push(part(0, 1200), 5000, false), []);
  assertEquals(d.push(part(1200, 2400), 5000, false), []);
  const joined = d.push(part(2400, 3000), 5000, true);
  assertEquals(joined.length, 1);
  assertEquals([...joined[0]!.data], [...big]);
  // A fragment lost in the middle: the unit is dropped, the next packet plays.
  assertEquals(d.push(part(0, 1200), 9000, false), []);
  assertEquals(d.push(part(2400, 3000), 9000, true), []);
  assertEquals(d.dropped, 1);
  assertEquals(d.push(hbr([a]), 10000, true).length, 1);
});

Deno.test("AacDepacketizer never throws, never gives more bytes than it got nor a unit over its bound", () => {
  const d = new AacDepacketizer(aacParameters(FMTP)!);
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 3000 }), fc.nat(), fc.boolean(), (payload, ts, marker) => {
      const frames = d.push(payload, ts >>> 0, marker);
      for (const f of frames) assert(f.data.length <= MAX_AU_BYTES && f.data.length > 0);
    }),
    { numRuns: 5000, seed: 3 },
  );
});
