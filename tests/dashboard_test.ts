/**
 * The dashboard in a real browser: headless Chromium (Debian package `chromium`, driven by playwright-core)
 * loads `/` of a relay while ffmpeg (TCP) and GStreamer (UDP) read its demo stream, and sees the stream, its tree,
 * live bitrate, loss and jitter numbers, drawn plots and the readers' sessions with what GStreamer's receiver
 * reports say, with no console error (a CSP violation is one).
 * The screenshot is saved to tests/output/dashboard.png. A second test puts the page in front of a stub API that
 * wants a bearer token and checks that the page asks for one and sends it, tries a refused token only once, and
 * says when the API locks the address out (429).
 * @module
 */
import { ok as assert } from "node:assert/strict";
import { join } from "node:path";
import { Hono } from "hono";
import { type Browser, chromium } from "playwright-core";
import { dashboardRoutes } from "../src/admin/dashboard.ts";
import { delay, REPO_ROOT, spawnProcess, withTimeout } from "./support/processes.ts";
import { startRelayProcess } from "./support/relay.ts";
import { collectPageErrors } from "./support/page_errors.ts";
import { startGstProgressReader } from "./support/progress_reader.ts";

const CHROMIUM = "/usr/bin/chromium";
const OUTPUT = join(REPO_ROOT, "tests", "output");

function launch(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--no-sandbox",
      "--autoplay-policy=no-user-gesture-required",
      "--allow-loopback-in-peer-connection",
    ],
  });
}

/** The part of a session of `GET /api/v1/sessions` the test reads. */
interface SessionReports {
  id: string;
  role: string;
  reports: Record<string, unknown>;
}

/** What {@link PROBE_BITRATE_PLOT} finds on the demo's bitrate canvas. */
interface PlotProbe {
  /** Samples drawn (the canvas's data-points). */
  points: number;
  /** Opaque pixels of (about) the series colour. */
  series: number;
  /** Pixels with anything drawn (grid, labels, series). */
  painted: number;
}

/** Runs in the page (as a string: the test is type-checked without DOM types). */
const PROBE_BITRATE_PLOT = `(() => {
  const c = document.querySelector('[data-testid="bitrate-plot-demo"]');
  const [r, g, b] = (getComputedStyle(c).color.match(/\\d+/g) || []).map(Number);
  const data = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
  let series = 0, painted = 0;
  for (let i = 0; i < data.length; i += 4) {
    if (data[i + 3] > 0) painted++;
    const near = Math.abs(data[i] - r) + Math.abs(data[i + 1] - g) + Math.abs(data[i + 2] - b) < 48;
    if (data[i + 3] > 200 && near) series++;
  }
  return { points: Number(c.dataset.points), series, painted };
})()`;

Deno.test("dashboard in headless Chromium shows the demo stream's tree and live plots", async () => {
  const t0 = Date.now();
  await using relay = await startRelayProcess();
  await using _reader = spawnProcess([
    "ffmpeg",
    "-hide_banner",
    "-nostdin",
    "-v",
    "error",
    "-rtsp_transport",
    "tcp",
    "-i",
    relay.url("demo"),
    "-t",
    "120",
    "-c",
    "copy",
    "-f",
    "null",
    "-",
  ], { name: "ffmpeg-read" });
  // GStreamer reads over UDP too: its RTCP receiver reports come every few seconds (ffmpeg's only after ~280 KB,
  // and over UDP only).
  await using _gst = startGstProgressReader(relay.url("demo"), "udp", "gst-read");
  await withTimeout(
    (async () => {
      while (((await relay.stream("demo"))?.readers ?? 0) < 2) await delay(100);
    })(),
    15_000,
    "ffmpeg and GStreamer never became readers of demo",
  );
  const node = (await relay.get<{ node: string }>("/healthz")).body.node;
  await Deno.mkdir(OUTPUT, { recursive: true });

  const browser = await launch();
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
    const errors = collectPageErrors(page);
    page.on("response", (r) => {
      if (r.status() >= 400) errors.push(`http: ${r.status()} ${r.url()}`);
    });
    await page.goto(`http://${relay.host}:${relay.adminPort}/`);

    const section = page.getByTestId("stream-demo");
    await section.waitFor({ state: "visible", timeout: 10_000 });
    // Each stream card links to its player page (tests/viewer_browser_test.ts plays it) and plays it in place.
    const watchHref = await page.getByTestId("watch-demo").getAttribute("href");
    assert(watchHref === "/watch/demo", `watch link ${watchHref}`);
    await page.getByTestId("play-demo").click();
    const inCard = page.frameLocator('[data-testid="frame-demo"]').getByTestId("viewer-frames");
    await withTimeout(
      (async () => {
        while (Number(await inCard.getAttribute("data-decoded").catch(() => 0) ?? 0) < 10) await delay(100);
      })(),
      20_000,
      "the demo card's picture decoded no 10 frames",
    );
    await page.getByTestId("play-demo").click();
    assert((await page.getByTestId("frame-demo").count()) === 0, "a second click stops the picture");
    const tree = page.getByTestId("tree-demo");
    await tree.getByText(node, { exact: true }).waitFor({ timeout: 5_000 });
    assert((await tree.locator("li").count()) >= 1, await tree.innerHTML());

    const value = (key: string) => page.getByTestId(`${key}-value-demo`).getAttribute("data-value");
    // Polled from here: the page's CSP forbids eval, so no page.waitForFunction() with a string.
    const bitrateNow = () =>
      withTimeout(
        (async () => {
          while (true) {
            const v = Number(await value("bitrate"));
            if (v > 0) return v;
            await delay(200);
          }
        })(),
        10_000,
        "the bitrate never became a positive number",
      );
    const first = await bitrateNow();
    const firstText = await page.getByTestId("bitrate-value-demo").textContent();
    assert(/^\d+(\.\d+)? (k|M)?bit\/s$/.test(firstText ?? ""), `bitrate text "${firstText}"`);
    await delay(3000);
    const second = await bitrateNow();
    console.log(`dashboard: bitrate ${first.toFixed(0)} then ${second.toFixed(0)} bit/s`);
    assert(second > 0 && second !== first, `bitrate did not move: ${first} then ${second}`);
    for (const key of ["loss", "jitter"]) {
      const v = await value(key);
      assert(v !== null && Number.isFinite(Number(v)) && Number(v) >= 0, `${key} value "${v}"`);
    }

    // The bitrate plot has several samples and pixels of its series colour on it.
    const plot = await page.evaluate<PlotProbe>(PROBE_BITRATE_PLOT);
    assert(plot.points >= 3 && plot.series > 10, `bitrate plot not drawn: ${JSON.stringify(plot)}`);

    const sessions = await section.locator("tbody tr").allTextContents();
    assert(sessions.some((row) => row.includes("reader") && row.includes("tcp")), sessions.join("\n"));
    // GStreamer's RTCP receiver reports: its row shows what it says it lost and its jitter, as the API has them.
    const reported = await withTimeout(
      (async () => {
        while (true) {
          const { sessions: list } =
            (await relay.get<{ sessions: SessionReports[] }>("/api/v1/sessions")).body;
          const withReport = list.find((x) => x.role === "reader" && Object.keys(x.reports).length > 0);
          if (withReport) {
            const row = page.getByTestId(`session-${withReport.id}`);
            const text = await row.textContent().catch(() => "");
            if (/\d+\.\d % lost, \d+\.\d ms jitter/.test(text ?? "")) return text!;
          }
          await delay(250);
        }
      })(),
      20_000,
      "the reader's receiver report never showed in its session row",
    );
    console.log(`dashboard: the reader's row: ${reported}`);

    await page.screenshot({ path: join(OUTPUT, "dashboard.png"), fullPage: true });
    assert(errors.length === 0, errors.join("\n"));
  } finally {
    await browser.close();
  }
  console.log(`dashboard: test took ${Date.now() - t0} ms, screenshot ${join(OUTPUT, "dashboard.png")}`);
});

Deno.test("dashboard asks for the admin token when the API answers 401 and sends it as a bearer token", async () => {
  const TOKEN = "s3cret-token-0123456789";
  const LOCKED = "token-of-a-locked-out-client";
  const seen: string[] = [];
  let bytes = 0;
  const app = new Hono();
  app.route("/", dashboardRoutes({ node: "stub" }));
  app.use("/api/v1/*", async (c, next) => {
    const auth = c.req.header("Authorization") ?? "";
    seen.push(auth);
    if (auth === `Bearer ${LOCKED}`) {
      c.header("Retry-After", "2");
      return c.json({ error: "Too many wrong admin tokens from this address: try again in 2 s" }, 429);
    }
    if (auth !== `Bearer ${TOKEN}`) return c.json({ error: "Unauthorized" }, 401);
    await next();
  });
  app.get("/api/v1/streams", (c) => {
    bytes += 12_500;
    const track = { index: 0, type: "video", codec: "H264", clockRate: 90000, packetsIn: bytes / 1000 };
    return c.json({
      streams: [{
        path: "cam/1",
        kind: "pull",
        source: { state: "ready", error: null, sessions: 1 },
        readers: 0,
        tracks: [{ ...track, bytesIn: bytes, packetsOut: 0, dropped: {}, lost: 0, jitterSeconds: 0.002 }],
        packetsIn: bytes / 1000,
        packetsOut: 0,
      }],
    });
  });
  app.get("/api/v1/sessions", (c) => c.json({ sessions: [] }));
  app.get("/api/v1/peers", (c) => c.json({ peers: [] }));
  await using server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, app.fetch);

  const browser = await launch();
  try {
    const page = await browser.newPage();
    // Chromium logs each 401 and 429 answer; anything else (a CSP violation, an exception) is a failure.
    const errors = collectPageErrors(page, /status of (401|429)/);
    await page.goto(`http://127.0.0.1:${server.addr.port}/`);

    const token = page.getByLabel("Admin token", { exact: true });
    await token.waitFor({ state: "visible", timeout: 5_000 });
    await page.getByRole("alert").getByText("bearer token").waitFor({ timeout: 5_000 });
    await token.fill("wrong");
    await page.getByRole("button", { name: "Use token" }).click();
    await page.getByRole("alert").getByText("The token was refused.").waitFor({ timeout: 5_000 });
    await token.fill(LOCKED);
    await page.getByRole("button", { name: "Use token" }).click();
    await page.getByRole("alert").getByText(
      "Too many wrong admin tokens from this address: try again in 2 s.",
    )
      .waitFor({ timeout: 5_000 });

    await token.fill(TOKEN);
    await page.getByRole("button", { name: "Use token" }).click();
    await page.getByTestId("stream-cam/1").waitFor({ state: "visible", timeout: 5_000 });
    await token.waitFor({ state: "hidden", timeout: 5_000 });
    assert(seen.includes("Bearer wrong") && seen.includes(`Bearer ${TOKEN}`), seen.join(", "));
    // A refused token is tried once, not once per route and poll: each wrong try counts against the address.
    assert(seen.filter((a) => a === "Bearer wrong").length === 1, seen.join(", "));
    const stored = await page.evaluate<string | null>(`sessionStorage.getItem("msm-admin-token")`);
    assert(stored === TOKEN, `sessionStorage holds ${stored}`);
    assert(errors.length === 0, errors.join("\n"));
  } finally {
    await browser.close();
  }
});
