/**
 * Tests of the demo source's pure pieces: grouping the committed clip (assets/demo.h264) into access units
 * and the SDP built from its parameter sets; plus the error state when a clip cannot be used.
 * @module
 */
import { deepStrictEqual as assertEquals, equal, match, ok } from "node:assert/strict";
import { nalType, splitAnnexB } from "../../rtp/h264.ts";
import { parseSdp } from "../../rtsp/sdp.ts";
import { silentLogger } from "../../log.ts";
import { FakePortPairs } from "../../../tests/support/fake_port_pairs.ts";
import { Stream } from "../stream.ts";
import { accessUnits, DEMO_FPS, demoSdp, DemoSource, loadDemoClip } from "./demo.ts";
import { configDefaults } from "../../config/schema.ts";

async function clipNals(): Promise<Uint8Array[]> {
  return splitAnnexB(await loadDemoClip());
}

function base64Bytes(text: string): Uint8Array {
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}

Deno.test("accessUnits() turns the demo clip into 100 pictures", async () => {
  const units = accessUnits(await clipNals());
  equal(units.length, 100);
  equal(DEMO_FPS, 25);
  // One slice per picture in this clip.
  for (const [i, unit] of units.entries()) {
    equal(unit.filter((n) => nalType(n) >= 1 && nalType(n) <= 5).length, 1, `unit ${i}`);
  }
});

Deno.test("accessUnits() puts SPS, PPS and the IDR in the first unit and one keyframe per second", async () => {
  const units = accessUnits(await clipNals());
  assertEquals(units[0]!.map(nalType), [7, 8, 6, 5]); // SPS PPS SEI IDR
  for (const i of [25, 50, 75]) assertEquals(units[i]!.map(nalType), [7, 8, 5], `unit ${i}`);
  const keyframes = units.flatMap((u, i) => (u.some((n) => nalType(n) === 5) ? [i] : []));
  assertEquals(keyframes, [0, 25, 50, 75]);
  assertEquals(units[1]!.map(nalType), [1]);
});

Deno.test("accessUnits() keeps later slices of a picture together and skips empty units", () => {
  const sps = new Uint8Array([0x67, 0x42]);
  const idrFirst = new Uint8Array([0x65, 0x88]); // first_mb_in_slice = 0 (ue "1")
  const idrSecond = new Uint8Array([0x65, 0x24]); // first_mb_in_slice > 0
  const p = new Uint8Array([0x41, 0x9a]);
  const aud = new Uint8Array([0x09, 0xf0]);
  const pSecond = new Uint8Array([0x41, 0x40]);
  const units = accessUnits([sps, idrFirst, idrSecond, new Uint8Array(0), p, pSecond, aud, p]);
  assertEquals(units.map((u) => u.map((n) => n[0])), [[0x67, 0x65, 0x65], [0x41, 0x41], [0x09, 0x41]]);
  assertEquals(accessUnits([]), []);
});

Deno.test("demoSdp() describes H264/90000 with the clip's parameter sets", async () => {
  const nals = await clipNals();
  const sps = nals.find((n) => nalType(n) === 7)!;
  const pps = nals.find((n) => nalType(n) === 8)!;
  const text = demoSdp(sps, pps);
  match(text, /^v=0\r\n/);
  const desc = parseSdp(text);
  equal(desc.medias.length, 1);
  const media = desc.medias[0]!;
  equal(media.type, "video");
  equal(media.encoding, "H264");
  equal(media.clockRate, 90_000);
  equal(media.payloadType, 96);
  equal(media.control, "trackID=0");

  const fmtp = Object.fromEntries(
    media.fmtp!.split(";").map((kv) => kv.trim().split("=", 2) as [string, string]),
  );
  equal(fmtp["packetization-mode"], "1");
  equal(fmtp["profile-level-id"], "42c00d"); // Constrained Baseline, level 1.3
  // sprop values are base64 and may end in "=": split on the first "=" only.
  const sprop = media.fmtp!.match(/sprop-parameter-sets=([^;]+)/)![1]!;
  const [spsB64, ppsB64] = sprop.split(",");
  assertEquals(base64Bytes(spsB64!), sps);
  assertEquals(base64Bytes(ppsB64!), pps);
  ok(sps.length > 4 && pps.length > 1);
});

Deno.test("DemoSource sets the stream to error when the clip has no parameter sets", async () => {
  const stream = new Stream({
    path: "demo",
    kind: "demo",
    logger: silentLogger,
    bindPair: new FakePortPairs(1).bind,
    lingerSeconds: 0,
    gopCacheBytes: 0,
    maxTracks: configDefaults().maxTracksPerStream,
    onIdle: () => {},
  });
  // An Annex B stream with one P slice only.
  const source = new DemoSource({
    stream,
    logger: silentLogger,
    load: () => Promise.resolve(new Uint8Array([0, 0, 0, 1, 0x41, 0x9a, 0x00])),
  });
  source.start();
  for (let i = 0; i < 50 && stream.state !== "error"; i++) await new Promise((r) => setTimeout(r, 1));
  equal(stream.state, "error");
  equal(stream.lastError, "Demo clip has no SPS/PPS");
  equal(stream.tracks.length, 0); // no description, no sockets
  assertEquals(source.info(), { clip: "assets/demo.h264", fps: 25, frames: 0 });
  await source.stop();
  await stream.close();
});
