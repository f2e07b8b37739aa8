/**
 * Watching in a browser (issue 18) with real peers: headless Chromium (Debian's, driven by playwright-core) opens a
 * relay's `/watch/{path}` page, which plays the stream over WebRTC (WHEP) or with Media Source Extensions from the
 * relay's fragmented MP4 WebSocket (`?via=`, each case both ways); the video element's decoded frames must rise
 * (`getVideoPlaybackQuality().totalVideoFrames`), for the demo path and for a GStreamer camera the relay pulls.
 * Over WebRTC the browser's receiver reports must reach the relay's sessions list. Prints the time from opening the page to its first decoded
 * frame (the GOP cache's burst gives a picture at once, not at the camera's next keyframe). A viewer on relay B of a
 * camera only relay A pulls plays through the mesh, and A still sends B one copy for B's two viewers.
 * @module
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { type Browser, chromium, type Page } from "playwright-core";
import {
  delay,
  ffmpegPublish,
  makeTestClip,
  startGstCamera,
  waitPublishing,
  withTimeout,
} from "./support/processes.ts";
import { type RelayProcess, startRelayProcess } from "./support/relay.ts";
import { collectPageErrors } from "./support/page_errors.ts";
import { startRelayCluster } from "./support/mesh.ts";
import { startRtspReader } from "./support/rtsp_peers.ts";

const CHROMIUM = "/usr/bin/chromium";

function launch(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    // Loopback candidates: this machine's relays listen on 127.0.0.x (Chromium skips loopback for ICE otherwise).
    args: [
      "--no-sandbox",
      "--autoplay-policy=no-user-gesture-required",
      "--allow-loopback-in-peer-connection",
    ],
  });
}

/** Decoded frames the page reports (its CSP forbids eval: read from the DOM). */
async function decoded(page: Page): Promise<number> {
  return Number(await page.getByTestId("viewer-frames").getAttribute("data-decoded") ?? 0);
}

type Via = "webrtc" | "mse";
const VIAS: Via[] = ["webrtc", "mse"];

/** Opens `/watch/{path}?via=` and checks the frames decoded keep rising; @returns ms to the first frame */
async function watch(
  browser: Browser,
  relay: RelayProcess,
  path: string,
  via: Via,
  keepOpen?: Page[],
): Promise<number> {
  const page = await browser.newPage();
  const errors = collectPageErrors(page);
  try {
    await page.goto(`http://${relay.host}:${relay.adminPort}/watch/${path}?via=${via}`);
    await withTimeout(
      (async () => {
        while ((await decoded(page)) < 10) await delay(100);
      })(),
      20_000,
      `${path}: the page decoded no 10 frames (${await page.getByTestId("viewer-frames").textContent()}; ${
        errors.join("; ")
      })`,
    );
    assert(
      !(await page.getByTestId("viewer-login").isVisible()),
      "no user asked for on a relay without users",
    );
    const first = Number(await page.getByTestId("viewer-frames").getAttribute("data-first-frame-ms"));
    const before = await decoded(page);
    await delay(3000);
    const after = await decoded(page);
    const frames = page.getByTestId("viewer-frames");
    console.log(
      `${path} (${via}): first frame ${first} ms after the page opened; ${
        after - before
      } frames in 3 s; ${await frames.textContent()}`,
    );
    // 25 fps for 3 s is 75; a loaded machine decodes late, never nothing.
    assert(after - before >= 25, `${path}: ${before} -> ${after} frames in 3 s`);
    assertEquals(await frames.getAttribute("data-via"), via, "played the way asked, not the fallback");
    if (via === "webrtc") {
      // The browser's own statistics, shown beside the picture.
      assert(
        (await frames.getAttribute("data-lost")) !== null,
        "the page shows the browser's receive statistics",
      );
      // Its receiver reports reach the relay: the sessions list carries what the browser says it lost.
      await withTimeout(
        (async () => {
          for (;;) {
            const { body } = await relay.get<{ sessions: Array<{ transport: string[]; reports: object }> }>(
              "/api/v1/sessions",
            );
            if (body.sessions.some((s) => s.transport[0] === "webrtc" && Object.keys(s.reports).length > 0)) {
              return;
            }
            await delay(200);
          }
        })(),
        15_000,
        "no WebRTC viewer's receiver report in /api/v1/sessions",
      );
    }
    assert(errors.length === 0, errors.join("\n"));
    return first;
  } finally {
    if (keepOpen) keepOpen.push(page);
    else await page.close();
  }
}

Deno.test("a browser plays the demo path and a GStreamer camera through the relay over WebRTC and MSE", async () => {
  await using camera = await startGstCamera({ fps: 25, gop: 50 });
  await using relay = await startRelayProcess(["--path", `cam=${camera.url}`]);
  const browser = await launch();
  try {
    for (const via of VIAS) {
      await watch(browser, relay, "demo", via);
      await watch(browser, relay, "cam", via);
    }
  } finally {
    await browser.close();
  }
});

Deno.test("the wall page plays every stream of the relay, a tile each", async () => {
  await using camera = await startGstCamera({ fps: 25, gop: 50 });
  await using relay = await startRelayProcess(["--path", `cam=${camera.url}`]);
  // The camera's stream is live (listed) once a reader holds it.
  await using _reader = await startRtspReader(relay.url("cam"), { transport: "tcp", onRtp: () => {} });
  await using _demo = await startRtspReader(relay.url("demo"), { transport: "tcp", onRtp: () => {} });
  const browser = await launch();
  try {
    const page = await browser.newPage();
    await page.goto(`http://${relay.host}:${relay.adminPort}/watch/`);
    for (const path of ["demo", "cam"]) {
      const frames = page.getByTestId(`tile-frames-${path}`);
      await withTimeout(
        (async () => {
          while (Number(await frames.getAttribute("data-decoded").catch(() => 0) ?? 0) < 10) await delay(100);
        })(),
        20_000,
        `the ${path} tile decoded no 10 frames`,
      );
    }
    console.log("wall: both tiles decode");
  } finally {
    await browser.close();
  }
});

Deno.test("browsers on relay B play a camera rooted on relay A; A sends B one copy for its viewers", async () => {
  await using camera = await startGstCamera({ fps: 25, gop: 50 });
  await using cluster = await startRelayCluster({
    count: 2,
    zoneOf: () => "zone-1",
    discovery: "static",
    // Only A is configured with the camera: B finds it through the mesh, as for an RTSP reader.
    argsOf: (i) => (i === 0 ? ["--path", `cam=${camera.url}`, "--pull-transport", "tcp"] : []),
  });
  const [a, b] = cluster.relays as [RelayProcess, RelayProcess];
  const browser = await launch();
  const pages: Page[] = [];
  try {
    await watch(browser, b, "cam", "webrtc", pages);
    await watch(browser, b, "cam", "mse", pages);
    const tree = (await a.get<{ role: string; children: string[] }>("/api/v1/tree/cam")).body;
    console.log(`A's tree of cam: role ${tree.role}, children ${JSON.stringify(tree.children)}`);
    assert(tree.role === "root", `A is not the root: ${JSON.stringify(tree)}`);
    assert(
      tree.children.length === 1 && tree.children[0] === cluster.nodeName(1),
      `A feeds ${JSON.stringify(tree.children)}, not B alone`,
    );
    assertEquals(camera.totalConnections(), 1, "the camera is pulled once");
  } finally {
    for (const p of pages) await p.close().catch(() => {});
    await browser.close();
  }
});

for (const via of VIAS) {
  Deno.test(`a browser on a relay with RTSP users: the page asks for the user, then plays (${via})`, async () => {
    await using relay = await startRelayProcess(["--user", "viewer:viewer-secret-1:read:demo"]);
    const browser = await launch();
    try {
      const page = await browser.newPage();
      await page.goto(`http://${relay.host}:${relay.adminPort}/watch/demo?via=${via}`);
      const form = page.getByTestId("viewer-login");
      await form.waitFor({ state: "visible", timeout: 10_000 });
      await page.fill("#user", "viewer");
      await page.fill("#password", "wrong");
      await page.click("button[type=submit]");
      await page.getByText(/refused/).waitFor({ timeout: 10_000 });
      await page.fill("#password", "viewer-secret-1");
      await page.click("button[type=submit]");
      await withTimeout(
        (async () => {
          while ((await decoded(page)) < 10) await delay(100);
        })(),
        20_000,
        `the page decoded no 10 frames after the login (${await page.locator("#status").textContent()})`,
      );
      assert(!(await form.isVisible()), "the form is gone once playing");
      assertEquals(await page.getByTestId("viewer-frames").getAttribute("data-via"), via);
    } finally {
      await browser.close();
    }
  });
}

Deno.test("WebRTC passes the camera's audio through without transcoding: Opus and G.711 reach the browser's decoder", async () => {
  const browser = await launch();
  try {
    for (const audio of ["opus", "pcmu"] as const) {
      await using camera = await startGstCamera({ fps: 25, gop: 50, audio });
      await using relay = await startRelayProcess(["--path", `cam=${camera.url}`]);
      const page = await browser.newPage();
      try {
        await page.goto(`http://${relay.host}:${relay.adminPort}/watch/cam?via=webrtc`);
        const frames = page.getByTestId("viewer-frames");
        const samples = async () => Number(await frames.getAttribute("data-audio-samples") ?? 0);
        await withTimeout(
          (async () => {
            while ((await decoded(page)) < 10 || (await samples()) < 8000) await delay(200);
          })(),
          20_000,
          `${audio}: no picture and sound (${await frames.textContent()}; audio samples ${await samples()})`,
        );
        const before = await samples();
        await delay(2000);
        const after = await samples();
        console.log(
          `${audio}: ${after - before} audio samples decoded in 2 s, ${await frames.textContent()}`,
        );
        // Two seconds of sound at the codec's rate (Opus 48 kHz, G.711 8 kHz); at least half on a loaded machine.
        const rate = audio === "opus" ? 48_000 : 8_000;
        assert(after - before >= rate, `${audio}: ${before} -> ${after} samples in 2 s`);
      } finally {
        await page.close();
      }
    }
  } finally {
    await browser.close();
  }
});

Deno.test("MSE carries what WebRTC cannot: a stream with AAC audio plays picture and sound (ffmpeg publishing)", async () => {
  await using relay = await startRelayProcess();
  const dir = await Deno.makeTempDir();
  const browser = await launch();
  try {
    const clip = await makeTestClip(dir, 10, { audio: true });
    await using publisher = ffmpegPublish(clip, relay.url("live/aac"), "tcp");
    await waitPublishing(publisher, 15_000);
    // WebRTC has no AAC: the relay's answer says so (X-Unsent-Tracks) and the page, not told how, plays with MSE.
    const page = await browser.newPage();
    await page.goto(`http://${relay.host}:${relay.adminPort}/watch/live/aac`);
    const frames = page.getByTestId("viewer-frames");
    const audioBytes = async () => Number(await frames.getAttribute("data-audio-bytes") ?? 0);
    await withTimeout(
      (async () => {
        while ((await decoded(page)) < 10 || (await audioBytes()) === 0) await delay(200);
      })(),
      20_000,
      `no picture and sound: ${await page.locator("#status").textContent()}; ${await frames.textContent()}`,
    );
    const before = [await decoded(page), await audioBytes()];
    await delay(2000);
    const after = [await decoded(page), await audioBytes()];
    console.log(
      `aac over MSE: ${await page.locator("#status").textContent()}; frames ${before[0]} -> ${
        after[0]
      }, audio bytes decoded ${before[1]} -> ${after[1]}`,
    );
    assert(after[0]! - before[0]! >= 15, `frames ${before[0]} -> ${after[0]}`);
    assert(after[1]! > before[1]!, `audio bytes ${before[1]} -> ${after[1]}`);
    assert(
      /mp4a\.40\.2/.test(await page.locator("#status").textContent() ?? ""),
      "the page opened an AAC buffer",
    );
  } finally {
    await browser.close();
    await Deno.remove(dir, { recursive: true });
  }
});
