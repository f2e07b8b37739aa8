/**
 * Attack: read a camera's secrets off the relay. A camera URL carries a password and, as many cameras and
 * gateways want, a `?token=` in its query. An outsider who can reach the admin port (reads are open by default),
 * a reader who gets a 503, a browser on the dashboard or anyone with the log must see neither, on every path a
 * camera URL travels: a camera that plays (GStreamer, with Digest auth), one that accepts TCP and never answers
 * (the RTSP client's "DESCRIBE ... timed out"), one that refuses the connection, and a URL the relay cannot parse
 * (refused at startup, the message naming the field). Harmless query parameters (`channel=1`) stay visible.
 * @module
 */
import { deepStrictEqual as assertEquals, equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { chromium } from "playwright-core";
import {
  freePort,
  type ManagedProcess,
  REPO_ROOT,
  spawnProcess,
  startGstCamera,
  withTimeout,
} from "./support/processes.ts";
import { startProgressReader } from "./support/progress_reader.ts";
import { RawRtspConnection } from "./support/raw_rtsp.ts";
import { type RelayProcess, startRelayProcess } from "./support/relay.ts";

const SECRET = "SECRET123";
const PASSWORD = "PASSWORD456";
const LEAK = /SECRET123|PASSWORD456/;
const QUERY = `?token=${SECRET}&channel=1`;
const CHROMIUM = "/usr/bin/chromium";

/** Every line the process writes, from its start (checked: none was dropped before the listener came). */
function allOutput(p: ManagedProcess): string[] {
  const lines = [...p.stdoutLines, ...p.stderrLines];
  equal(lines.length, p.lineCount("stdout") + p.lineCount("stderr"), "no line dropped before capture");
  p.onLine((line) => void lines.push(line));
  return lines;
}

/** DESCRIBE over a raw connection: the answer's status and body. */
async function describe(relay: RelayProcess, path: string): Promise<{ status: number; body: string }> {
  await using conn = await RawRtspConnection.open(relay.rtspPort);
  const res = await conn.request(`DESCRIBE ${relay.url(path)} RTSP/1.0\r\nCSeq: 1\r\n\r\n`, 30_000);
  ok(res, `the relay closed the connection without answering DESCRIBE ${path}`);
  return { status: res.status, body: res.body };
}

/** A TCP server that accepts connections and never answers (a hung camera). */
function silentServer(): { port: number; close(): void } {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns: Deno.Conn[] = [];
  (async () => {
    try {
      for await (const conn of listener) conns.push(conn);
    } catch { /* closed */ }
  })();
  return {
    port: listener.addr.port,
    close() {
      listener.close();
      for (const c of conns) {
        try {
          c.close();
        } catch { /* closed by the peer */ }
      }
    },
  };
}

Deno.test("attack: a camera URL's password and ?token= never show in the admin API, the dashboard, /metrics, RTSP errors or the log", async () => {
  await using camera = await startGstCamera({ user: "viewer", password: PASSWORD, path: "/cam" });
  const hung = silentServer();
  const refusedPort = freePort("tcp", "127.0.0.1");
  const url = (port: number) => `rtsp://viewer:${PASSWORD}@127.0.0.1:${port}/cam${QUERY}`;
  try {
    await using relay = await startRelayProcess([
      "--log-level",
      "debug",
      "--camera-wait",
      "9", // past the RTSP client's 5 s DESCRIBE timeout, so the hung camera's error is the timeout
      "--linger",
      "120", // failed streams stay listed (with their error) while the test reads them
      "--pull-transport",
      "tcp",
      "--path",
      `cam=${url(camera.port)}`,
      "--path",
      `hung=${url(hung.port)}`,
      "--path",
      `gone=${url(refusedPort)}`,
    ]);
    const output = allOutput(relay.process);

    // Success: a reader plays the camera through the relay.
    await using reader = startProgressReader(relay.url("cam"), "tcp", "reader-cam");
    await reader.waitForFrames(10, 30_000);

    // Timeout and refusal: readers wait, then get 503 with the reason.
    const [hungAnswer, goneAnswer] = await Promise.all([describe(relay, "hung"), describe(relay, "gone")]);
    console.log(`503 bodies: ${JSON.stringify(hungAnswer.body)} / ${JSON.stringify(goneAnswer.body)}`);
    assertEquals([hungAnswer.status, goneAnswer.status], [503, 503]);
    match(hungAnswer.body, /DESCRIBE rtsp:\/\/127\.0\.0\.1:\d+\/cam\?token=\*\*\*&channel=1 timed out/);
    ok(!LEAK.test(hungAnswer.body + goneAnswer.body), "an RTSP error answer shows a secret");

    // Every admin answer.
    const cam = await relay.stream("cam");
    equal(cam?.source.state, "ready");
    equal(cam?.source.url, `rtsp://viewer:***@127.0.0.1:${camera.port}/cam?token=***&channel=1`);
    const hungView = await relay.stream("hung");
    match(String(hungView?.source.error), /\?token=\*\*\*&channel=1 timed out/);
    const routes = [
      "/api/v1/streams",
      "/api/v1/streams/cam",
      "/api/v1/streams/hung",
      "/api/v1/streams/gone",
      "/api/v1/sessions",
      "/api/v1/config",
      "/api/v1/peers",
      "/api/v1/tree/cam",
      "/metrics",
      "/api/openapi.json",
      "/",
    ];
    for (const route of routes) {
      const res = await fetch(`http://${relay.host}:${relay.adminPort}${route}`);
      const text = await res.text();
      ok(!LEAK.test(text), `GET ${route} (${res.status}) shows a secret: ${text.slice(0, 2000)}`);
    }

    // The dashboard, rendered by a browser from the API.
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
    try {
      const page = await browser.newPage();
      await page.goto(`http://${relay.host}:${relay.adminPort}/`);
      await page.getByTestId("error-hung").getByText("timed out").waitFor({ timeout: 15_000 });
      await page.getByTestId("error-gone").waitFor({ timeout: 15_000 });
      const text = await page.locator("body").innerText();
      ok(text.includes("channel=1"), "the dashboard shows the error with its harmless parameters");
      ok(!LEAK.test(text), `the dashboard shows a secret: ${text}`);
    } finally {
      await browser.close();
    }

    // The whole log, from startup on.
    await relay.stop();
    ok(output.some((l) => l.includes("channel=1")), "the log names the cameras (the check is not vacuous)");
    const leaked = output.filter((l) => LEAK.test(l));
    equal(leaked.length, 0, `the log shows a secret:\n${leaked.slice(0, 5).join("\n")}`);
  } finally {
    hung.close();
  }
});

Deno.test("attack: a camera URL the relay cannot parse is refused at startup, naming the field, without its secrets", async () => {
  // An unescaped '/' in the password cuts the authority short: "u" would be the host, "PASS" the port.
  const port = freePort("tcp", "127.0.0.1");
  const relay = spawnProcess([
    Deno.execPath(),
    "run",
    "--allow-net",
    "--allow-read",
    "--allow-env",
    "--allow-sys",
    join(REPO_ROOT, "main.ts"),
    "--listen",
    "127.0.0.1",
    "--rtsp-port",
    String(freePort("tcp", "127.0.0.1")),
    "--admin-port",
    String(port),
    "--mesh-port",
    String(freePort("udp", "127.0.0.1")),
    "--path",
    `cam=rtsp://viewer:PASS/${PASSWORD}@127.0.0.1:554/cam${QUERY}`,
  ], { name: "msm-relay-bad-url", cwd: REPO_ROOT });
  try {
    const status = await withTimeout(relay.exited, 20_000, "the relay did not refuse the camera URL");
    const output = [...relay.stdoutLines, ...relay.stderrLines].join("\n");
    equal(status.code, 2, output);
    match(output, /paths\.cam: invalid camera URL \(malformed port\)/);
    ok(!LEAK.test(output), `the refusal shows a secret: ${output}`);
  } finally {
    await relay.stop("SIGTERM", 3000);
  }
});
