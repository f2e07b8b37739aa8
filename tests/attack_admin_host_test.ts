/**
 * Attack: DNS rebinding. A page on `evil.example` re-points its DNS name at the relay's address; to the browser
 * the relay is then same-origin with the page, which reads the open admin reads (`/api/v1/sessions`: who watches
 * what, from where). The requests still carry `Host: evil.example`, and the relay refuses them with 421.
 *
 * Two peers play the attacker: a raw HTTP client sending `Host: evil.example` to every admin route (Deno's fetch
 * always sends the URL's host), and headless Chromium whose resolver maps `evil.example` to the relay's address
 * (`--host-resolver-rules`) after the attacker's page was served from elsewhere (a Playwright route stands in for
 * the attacker's server, as the DNS answer before the rebinding did). Chromium's own Local Network Access checks
 * are turned off: they do not protect a relay on a public address, nor users of other browsers.
 * @module
 */
import { deepStrictEqual as assertEquals, equal, match, ok } from "node:assert/strict";
import { chromium } from "playwright-core";
import { delay, freePort, withTimeout } from "./support/processes.ts";
import { startProgressReader } from "./support/progress_reader.ts";
import { rawHttp } from "./support/raw_http.ts";
import { type RelayProcess, startRelayProcess } from "./support/relay.ts";

const CHROMIUM = "/usr/bin/chromium";

/**
 * A relay as installed by default, with a static peer (so the peer protocol is mounted) and one ffmpeg reader of
 * the demo. `env` may name admin hosts (MSM_ADMIN_HOST).
 */
async function relayWithReader(env: Record<string, string> = {}) {
  const relay = await startRelayProcess([
    "--node",
    "a",
    "--peer",
    `b=127.0.0.1:${freePort("tcp", "127.0.0.1")}:${freePort("udp", "127.0.0.1")}`,
  ], env);
  const reader = startProgressReader(relay.url("demo"), "tcp", "reader-demo");
  await reader.waitForFrames(5, 30_000);
  await waitForReader(relay);
  return { relay, reader };
}

async function waitForReader(relay: RelayProcess): Promise<void> {
  await withTimeout(
    (async () => {
      while (!((await relay.stream("demo"))?.readers)) await delay(100);
    })(),
    15_000,
    "the reader never showed in the API",
  );
}

Deno.test("attack: requests naming a foreign Host get 421 on every admin route; IPs, localhost and configured names pass", async () => {
  const { relay, reader } = await relayWithReader({ MSM_ADMIN_HOST: "relay.example other.example" });
  await using _relay = relay;
  await using _reader = reader;
  const get = (path: string, host: string) =>
    rawHttp({ hostname: relay.host, port: relay.adminPort, method: "GET", path, headers: { Host: host } });
  const port = relay.adminPort;

  const sessions = await get("/api/v1/sessions", `evil.example:${port}`);
  equal(
    sessions.status,
    421,
    `GET /api/v1/sessions with Host evil.example: ${sessions.status} ${sessions.body}`,
  );
  ok(!sessions.body.includes("reader"), "no session data");
  match(sessions.headers["content-type"] ?? "", /^application\/json/);
  match(JSON.parse(sessions.body).error, /^Host "evil\.example:\d+" is not a name of this relay/);

  const routes = [
    "/",
    "/healthz",
    "/readyz",
    "/metrics",
    "/api/v1/streams",
    "/api/v1/streams/demo",
    "/api/v1/peers",
    "/api/v1/config",
    "/api/openapi.json",
    "/mesh/v1/roots/demo",
  ];
  for (const route of routes) {
    for (
      const host of [`evil.example:${port}`, "EVIL.example", `127.1:${port}`, `relay.example.evil.example`]
    ) {
      equal((await get(route, host)).status, 421, `${route} with Host ${host}`);
    }
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `Relay.Example:${port}`, "[::1]", "a"]) {
      const res = await get(route, host);
      ok(res.status !== 421, `${route} with Host ${host}: ${res.status} ${res.body}`);
    }
  }
  const metrics = await get("/metrics", `127.0.0.1:${port}`);
  match(metrics.body, /^msm_admin_requests_refused_total\{reason="host"\} 41$/m);
});

Deno.test("attack: a rebound page in Chromium cannot read /api/v1/sessions", async () => {
  const { relay, reader } = await relayWithReader();
  await using _relay = relay;
  await using _reader = reader;
  const origin = `http://evil.example:${relay.adminPort}`;
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--no-sandbox",
      `--host-resolver-rules=MAP evil.example ${relay.host}`,
      // Chromium's Local Network Access checks would ask the user before a public page reaches a loopback or
      // private address. A relay on a public node address gets no such help, nor does a user of another
      // browser, or one who clicks "allow": the relay must refuse on its own.
      "--disable-features=LocalNetworkAccessChecks",
    ],
  });
  try {
    const page = await browser.newPage();
    // The attacker's page, as the attacker's server served it before the DNS answer changed.
    await page.route(`${origin}/`, (route) =>
      route.fulfill({
        contentType: "text/html",
        body: `<!doctype html><title>cute cats</title><pre id="out"></pre><script>
          fetch("/api/v1/sessions").then(async (r) => {
            document.getElementById("out").textContent = r.status + " " + await r.text();
          }, (e) => { document.getElementById("out").textContent = "failed " + e; });
        </script>`,
      }));
    await page.goto(`${origin}/`);
    const out = page.locator("#out");
    await out.filter({ hasText: /\S/ }).waitFor({ timeout: 15_000 });
    const text = await out.innerText();
    console.log(`the rebound page read: ${text.slice(0, 300)}`);
    ok(!text.includes('"role":"reader"'), `the page read the sessions: ${text}`);
    match(text, /^421 \{"error":"Host \\"evil\.example:\d+\\" is not a name of this relay/);
    // The same browser reaching the relay by its address reads the API as before.
    await page.goto(`http://${relay.host}:${relay.adminPort}/api/v1/sessions`);
    const sessions = JSON.parse(await page.locator("body").innerText());
    assertEquals(sessions.sessions.map((s: { role: string }) => s.role), ["reader"]);
  } finally {
    await browser.close();
  }
});
