/**
 * Tests of the fragmented MP4 writer against ffprobe (a real reader): the demo clip, one fragment per picture after
 * the initialization segment, reads back as H.264 of the clip's size with every picture, at 25 fps.
 * @module
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { splitAnnexB } from "../rtp/h264.ts";
import { accessUnits, DEMO_FPS, loadDemoClip } from "../relay/sources/demo.ts";
import { aacInitSegment, AUDIO_TRACK_ID, Fmp4Fragments, initSegment } from "./fmp4.ts";

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

/** AAC frames of an ADTS stream (7- or 9-byte headers) and its AudioSpecificConfig. */
function adtsFrames(adts: Uint8Array): { frames: Uint8Array[]; config: Uint8Array } {
  const frames: Uint8Array[] = [];
  let config = new Uint8Array(0);
  for (let at = 0; at + 7 <= adts.length;) {
    const length = ((adts[at + 3]! & 0x03) << 11) | (adts[at + 4]! << 3) | (adts[at + 5]! >> 5);
    const header = (adts[at + 1]! & 0x01) ? 7 : 9;
    const profile = (adts[at + 2]! >> 6) + 1;
    const rate = (adts[at + 2]! >> 2) & 0x0f;
    const channels = ((adts[at + 2]! & 0x01) << 2) | (adts[at + 3]! >> 6);
    config = Uint8Array.of((profile << 3) | (rate >> 1), ((rate & 1) << 7) | (channels << 3));
    frames.push(adts.slice(at + header, at + length));
    at += length;
  }
  return { frames, config };
}

Deno.test("fmp4: AAC frames, a fragment each after mp4box's init with our esds, decode in ffmpeg sample for sample", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const adtsFile = `${dir}/tone.aac`;
    const made = await new Deno.Command("ffmpeg", {
      args: [
        "-v",
        "error",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:sample_rate=48000",
        "-t",
        "2",
        "-ac",
        "2",
      ]
        .concat(["-c:a", "aac", "-b:a", "96k", "-f", "adts", adtsFile]),
      stderr: "piped",
    }).output();
    assert(made.code === 0, new TextDecoder().decode(made.stderr));
    const { frames, config } = adtsFrames(await Deno.readFile(adtsFile));
    const init = aacInitSegment(config)!;
    assertEquals([init.mime, init.sampleRate], ['audio/mp4; codecs="mp4a.40.2"', 48000]);
    const fragments = new Fmp4Fragments(48000, 1024, AUDIO_TRACK_ID);
    const parts = [
      init.bytes,
      ...frames.map((f, i) => fragments.fragmentFrame((0xfffff000 + i * 1024) >>> 0, f)),
    ];
    const file = `${dir}/tone.mp4`;
    await Deno.writeFile(file, new Uint8Array(parts.flatMap((p) => [...p])));
    const probe = await new Deno.Command("ffprobe", {
      args: [
        "-v",
        "error",
        "-count_frames",
        "-show_entries",
        "stream=codec_name,sample_rate,channels,nb_read_frames",
      ]
        .concat(["-of", "json", file]),
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(probe.stderr);
    assert(probe.code === 0 && stderr.trim() === "", `ffprobe: ${stderr}`);
    const [stream] = JSON.parse(new TextDecoder().decode(probe.stdout)).streams;
    assertEquals(
      [stream.codec_name, Number(stream.sample_rate), stream.channels, Number(stream.nb_read_frames)],
      ["aac", 48000, 2, frames.length],
    );
    // Decoded whole, without a decoder error.
    const decode = await new Deno.Command("ffmpeg", {
      args: ["-v", "error", "-i", file, "-f", "null", "-"],
      stderr: "piped",
    }).output();
    assertEquals(new TextDecoder().decode(decode.stderr).trim(), "");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
