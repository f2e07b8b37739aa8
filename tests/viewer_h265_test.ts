/**
 * The MSE player's H.265 (issue 18: the fallback carries what WebRTC in Chromium lacks), with real peers: ffmpeg
 * publishes HEVC (libx265, packed by ffmpeg's RFC 7798 packetizer: aggregation packets and fragments) to the
 * relay, a client reads the `/watch/v1/fmp4/{path}` WebSocket as the page would, and ffprobe and ffmpeg read what
 * it got: an `hvc1` track of the picture's size whose every picture decodes. (Debian's Chromium has no HEVC decoder
 * for MSE, so no browser plays it here; browsers with one play the same bytes.)
 * @module
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { delay, ffmpegPublish, waitPublishing, withTimeout } from "./support/processes.ts";
import { startRelayProcess } from "./support/relay.ts";

Deno.test("an H.265 stream plays as hvc1 fragmented MP4 that ffprobe and ffmpeg decode picture for picture", async () => {
  await using relay = await startRelayProcess();
  await using publisher = ffmpegPublish("lavfi:testsrc=size=416x240:rate=25", relay.url("live/hevc"), "tcp", {
    // Re-encode as HEVC instead of the helper's H.264, a keyframe a second, parameter sets in band.
    extraArgs: [
      "-c:v",
      "libx265",
      "-preset",
      "ultrafast",
      "-x265-params",
      "keyint=25:repeat-headers=1:log-level=error",
    ],
  });
  await waitPublishing(publisher, 20_000);
  const ws = new WebSocket(`ws://${relay.host}:${relay.adminPort}/watch/v1/fmp4/live/hevc`);
  ws.binaryType = "arraybuffer";
  const parts: Uint8Array[] = [];
  let init: { mime?: string; width?: number; height?: number } = {};
  ws.onmessage = (e) => {
    if (typeof e.data === "string") init = JSON.parse(e.data);
    else parts.push(new Uint8Array(e.data as ArrayBuffer));
  };
  await withTimeout(
    (async () => {
      while (parts.length < 60) await delay(100);
    })(),
    20_000,
    `only ${parts.length} messages from the viewer (${JSON.stringify(init)})`,
  );
  // What came until now is what is checked: messages still arriving while the socket closes (during the awaits
  // below) would be counted without being in the file.
  ws.onmessage = null;
  ws.close();
  const fragments = parts.slice();
  assert(/^video\/mp4; codecs="hvc1\.1\.6\.L\d+(\.[0-9A-F]+)*"$/.test(init.mime ?? ""), `MIME ${init.mime}`);
  assertEquals([init.width, init.height], [416, 240]);
  const file = await Deno.makeTempFile({ suffix: ".mp4" });
  try {
    await Deno.writeFile(file, new Uint8Array(fragments.flatMap((p) => [...p])));
    const probe = await new Deno.Command("ffprobe", {
      args: ["-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries"]
        .concat(["stream=codec_name,codec_tag_string,width,height,nb_read_frames", "-of", "json", file]),
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(probe.stderr);
    assert(probe.code === 0 && stderr.trim() === "", `ffprobe: ${stderr}`);
    const [stream] = JSON.parse(new TextDecoder().decode(probe.stdout)).streams;
    console.log(
      `H.265 over MSE: ${init.mime}, ${
        fragments.length - 1
      } fragments, ffprobe read ${stream.nb_read_frames}`,
    );
    assertEquals([stream.codec_name, stream.codec_tag_string, stream.width, stream.height], [
      "hevc",
      "hvc1",
      416,
      240,
    ]);
    assertEquals(
      Number(stream.nb_read_frames),
      fragments.length - 1,
      "a picture per fragment, every one read",
    );
    const decode = await new Deno.Command("ffmpeg", {
      args: ["-v", "error", "-i", file, "-f", "null", "-"],
      stderr: "piped",
    }).output();
    assertEquals(new TextDecoder().decode(decode.stderr).trim(), "", "every picture decodes");
  } finally {
    await Deno.remove(file);
  }
});
