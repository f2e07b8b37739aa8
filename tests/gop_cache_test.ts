/**
 * The GOP cache with real decoders: a reader that joins right after a keyframe (the worst point of a 2 s GOP)
 * gets a picture from the cached GOP instead of waiting for the next keyframe. The same join without the cache
 * waits about a GOP, which shows the check can fail. Exact figures are printed by `deno task bench:readers`.
 */
import { ok as assert } from "node:assert/strict";
import { startGstCamera } from "./support/processes.ts";
import { startRelayProcess } from "./support/relay.ts";
import { ffmpegFirstFrameMs, playToKeyframe, waitForKeyframeEnd } from "./support/keyframe_probe.ts";

const FPS = 25;
const GOP_FRAMES = 50; // 2 s
/** ffmpeg options for a fast start: decode from the first packets instead of analysing seconds of stream. */
const FAST_START = ["-analyzeduration", "0", "-probesize", "32"];

Deno.test("GOP cache: joining right after a keyframe, ffmpeg decodes at once; without the cache it waits a GOP", async () => {
  await using camera = await startGstCamera({ fps: FPS, gop: GOP_FRAMES });
  for (const cache of [true, false]) {
    await using relay = await startRelayProcess([
      "--path",
      `cam=${camera.url}`,
      "--linger",
      "30",
      ...(cache ? [] : ["--no-gop-cache"]),
    ]);
    const url = relay.url("cam");
    await waitForKeyframeEnd(url); // the relay pulls now
    const samples: number[] = [];
    for (let i = 0; i < 2; i++) {
      await waitForKeyframeEnd(url);
      samples.push(await ffmpegFirstFrameMs(url, FAST_START));
    }
    await waitForKeyframeEnd(url);
    const own = await playToKeyframe(url);
    console.log(
      `GOP cache ${cache ? "on" : "off"}: ffmpeg first frame after ${samples.map((s) => s.toFixed(0))} ms; ` +
        `PLAY -> complete keyframe ${own.ms.toFixed(0)} ms (${own.packets} packets)`,
    );
    const gopMs = (GOP_FRAMES / FPS) * 1000;
    for (const ms of samples) {
      // Half a GOP apart either way: with the cache ~0.1 s, without ~1.9 s (the next keyframe).
      if (cache) assert(ms < gopMs / 2, `cache on: first frame after ${ms.toFixed(0)} ms`);
      else {assert(
          ms > gopMs / 2,
          `cache off: first frame after ${ms.toFixed(0)} ms, sooner than the next keyframe`,
        );}
    }
    if (cache) assert(own.ms < gopMs / 2, `cache on: keyframe complete ${own.ms.toFixed(0)} ms after PLAY`);
    else assert(own.ms > gopMs / 2, `cache off: keyframe complete ${own.ms.toFixed(0)} ms after PLAY`);
  }
});
