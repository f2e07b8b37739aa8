/**
 * Time from opening a stream's player page to its first decoded frame (issue 18), in headless Chromium, against a
 * GStreamer camera with a keyframe every 2 s, over WebRTC (WHEP) and MSE, each with the relay's GOP cache (the
 * default) and without it (`--no-gop-cache`): the stream is live already (an RTSP reader holds it), the page is
 * opened BENCH_VIEWER_TRIALS times (12) at spread moments of the GOP. Prints the median, p90 and worst per mode.
 * `deno run -A bench/viewer_first_frame.ts` (`deno task bench:viewer`).
 * @module
 */
import { chromium, type Page } from "playwright-core";
import { delay, startGstCamera } from "../tests/support/processes.ts";
import { startRelayProcess } from "../tests/support/relay.ts";
import { startRtspReader } from "../tests/support/rtsp_peers.ts";

const TRIALS = Number(Deno.env.get("BENCH_VIEWER_TRIALS") ?? 12);
const FPS = 25;
const GOP = 50;

async function firstFrame(page: Page, url: string): Promise<number> {
  await page.goto(url);
  const frames = page.getByTestId("viewer-frames");
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    const ms = await frames.getAttribute("data-first-frame-ms");
    if (ms !== null) return Number(ms);
    await delay(20);
  }
  throw new Error(`no frame decoded within 15 s (${await frames.textContent()})`);
}

async function trial(cache: boolean, via: "webrtc" | "mse"): Promise<number[]> {
  await using camera = await startGstCamera({ fps: FPS, gop: GOP });
  await using relay = await startRelayProcess([
    "--path",
    `cam=${camera.url}`,
    ...(cache ? [] : ["--no-gop-cache"]),
  ]);
  await using _reader = await startRtspReader(relay.url("cam"), { transport: "tcp", onRtp: () => {} });
  await delay(3000);
  const browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: [
      "--no-sandbox",
      "--autoplay-policy=no-user-gesture-required",
      "--allow-loopback-in-peer-connection",
    ],
  });
  const out: number[] = [];
  try {
    for (let i = 0; i < TRIALS; i++) {
      const page = await browser.newPage();
      out.push(await firstFrame(page, `http://${relay.host}:${relay.adminPort}/watch/cam?via=${via}`));
      await page.close();
      // Spread the openings over the GOP (2 s) so the no-cache figure is not one moment of it.
      await delay(((i * 7) % 10) * (GOP * 1000 / FPS) / 10 + 300);
    }
  } finally {
    await browser.close();
  }
  return out;
}

function summary(ms: number[]): string {
  const s = [...ms].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
  return `median ${at(0.5)} ms, p90 ${at(0.9)} ms, worst ${s.at(-1)} ms (${s.join(" ")})`;
}

if (import.meta.main) {
  console.log(
    `bench/viewer_first_frame.ts: a GStreamer camera at ${FPS} fps, a keyframe every ${
      GOP / FPS
    } s; ${TRIALS} page ` +
      `openings per mode; load avg ${Deno.loadavg().join(" ")}`,
  );
  for (const via of ["webrtc", "mse"] as const) {
    for (const cache of [true, false]) {
      console.log(
        `  ${via.padEnd(6)} ${cache ? "GOP cache (default)" : "--no-gop-cache     "}: first decoded frame ${
          summary(await trial(cache, via))
        }`,
      );
    }
  }
}
