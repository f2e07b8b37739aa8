import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import fc from "fast-check";
import { splitAnnexB } from "./h264.ts";
import { hevcDecoderConfig, parseH265Sps } from "./h265_sps.ts";

/** libx265's parameter sets for a picture of `w` x `h` (a size with a conformance window when not a multiple of 8). */
async function x265Sets(w: number, h: number, extra: string[] = ["-pix_fmt", "yuv420p"]) {
  const out = await new Deno.Command("ffmpeg", {
    args: ["-v", "error", "-f", "lavfi", "-i", `testsrc=size=${w}x${h}:rate=25`, "-frames:v", "1", ...extra]
      .concat(["-c:v", "libx265", "-x265-params", "log-level=error", "-f", "hevc", "-"]),
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert(out.code === 0, new TextDecoder().decode(out.stderr));
  const nals = splitAnnexB(out.stdout);
  const of = (t: number) => nals.find((n) => ((n[0]! >> 1) & 0x3f) === t)!;
  return { vps: of(32), sps: of(33), pps: of(34) };
}

Deno.test("parseH265Sps() reads libx265's SPS: size after the conformance window, profile, bit depth", async () => {
  const main = await x265Sets(416, 240);
  const info = parseH265Sps(main.sps)!;
  assertEquals([info.width, info.height, info.chromaFormatIdc, info.bitDepthLuma], [416, 240, 1, 8]);
  assert(/^hvc1\.1\.6\.L\d+\.90$/.test(info.codec), info.codec);
  const odd = parseH265Sps((await x265Sets(322, 178)).sps)!;
  assertEquals([odd.width, odd.height], [322, 178], "cropped by the conformance window");
  const main10 = parseH265Sps((await x265Sets(320, 240, ["-pix_fmt", "yuv420p10le"])).sps)!;
  assertEquals([main10.bitDepthLuma, main10.codec.split(".").slice(0, 3).join(".")], [10, "hvc1.2.4"]);
  // 4:4:4 (what libx265 makes of RGB): the range extensions profile, chroma format 3.
  const rext = parseH265Sps((await x265Sets(320, 240, [])).sps)!;
  assertEquals([rext.chromaFormatIdc, rext.codec.split(".")[1]], [3, "4"]);
  const hvcc = hevcDecoderConfig(main.vps, main.sps, main.pps, info);
  assertEquals([hvcc[0], hvcc[1], hvcc[21]! & 3, hvcc[22]], [1, info.profileByte, 3, 3]);
});

Deno.test("parseH265Sps() gives null, never a throw, for any bytes", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
      const sps = Uint8Array.of(0x42, 0x01, ...bytes);
      const info = parseH265Sps(sps);
      if (info) assert(info.width > 0 && info.height > 0 && info.width <= 16384);
    }),
    { numRuns: 5000, seed: 5 },
  );
  assertEquals(parseH265Sps(Uint8Array.of(0x40, 0x01, 0, 0)), null, "a VPS is not an SPS");
});
