/**
 * Tests of the fragmented MP4 writer against ffprobe (a real reader): the demo clip, one fragment per picture after
 * the initialization segment, reads back as H.264 of the clip's size with every picture, at 25 fps.
 * @module
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { splitAnnexB } from "../rtp/h264.ts";
import { accessUnits, DEMO_FPS, loadDemoClip } from "../relay/sources/demo.ts";
import { Fmp4Fragments, initSegment } from "./fmp4.ts";

Deno.test("fmp4: the demo clip, a fragment per picture, reads back in ffprobe with every picture", async () => {
  const nals = splitAnnexB(await loadDemoClip());
  const sps = nals.find((n) => (n[0]! & 0x1f) === 7)!;
  const pps = nals.find((n) => (n[0]! & 0x1f) === 8)!;
  const init = initSegment(sps, pps)!;
  assertEquals([init.width, init.height, init.mime], [320, 240, 'video/mp4; codecs="avc1.42c00d"']);
  const pictures = accessUnits(nals);
  const fragments = new Fmp4Fragments();
  const parts = [init.bytes];
  pictures.forEach((units, i) => {
    const keyframe = units.some((n) => (n[0]! & 0x1f) === 5);
    // RTP timestamps of a 25 fps stream, across the 32-bit wrap.
    parts.push(fragments.fragment({ timestamp: (0xffff0000 + i * 3600) >>> 0, nals: units, keyframe }));
  });
  const file = await Deno.makeTempFile({ suffix: ".mp4" });
  try {
    const bytes = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) {
      bytes.set(p, at);
      at += p.length;
    }
    await Deno.writeFile(file, bytes);
    const out = await new Deno.Command("ffprobe", {
      args: [
        "-v",
        "error",
        "-count_frames",
        "-select_streams",
        "v:0",
        "-show_entries",
        "stream=codec_name,width,height,nb_read_frames,avg_frame_rate",
        "-of",
        "json",
        file,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert(out.code === 0 && stderr.trim() === "", `ffprobe: ${stderr}`);
    const [stream] = JSON.parse(new TextDecoder().decode(out.stdout)).streams;
    assertEquals(
      [stream.codec_name, stream.width, stream.height, Number(stream.nb_read_frames)],
      ["h264", 320, 240, pictures.length],
    );
    // Each picture lasts until the next; the first one's length is a guess (nothing came before it).
    const [num, den] = String(stream.avg_frame_rate).split("/").map(Number);
    assert(Math.abs(num! / den! - DEMO_FPS) < 0.1, `frame rate ${stream.avg_frame_rate}`);
  } finally {
    await Deno.remove(file);
  }
});

Deno.test("fmp4: a picture out of order or a far jump keeps the decode time moving at the last distance", () => {
  const f = new Fmp4Fragments();
  const nals = [Uint8Array.of(0x65, 1, 2)];
  const decodeTime = (b: Uint8Array) => Number(new DataView(b.buffer).getBigUint64(8 + 16 + 8 + 16 + 12));
  assertEquals(decodeTime(f.fragment({ timestamp: 1000, nals, keyframe: true })), 0);
  assertEquals(decodeTime(f.fragment({ timestamp: 4000, nals, keyframe: false })), 3000);
  assertEquals(decodeTime(f.fragment({ timestamp: 2000, nals, keyframe: false })), 6000, "backwards");
  assertEquals(
    decodeTime(f.fragment({ timestamp: 9_000_000, nals, keyframe: false })),
    9000,
    "a jump of 100 s",
  );
});
