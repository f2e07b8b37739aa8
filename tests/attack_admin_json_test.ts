/**
 * Attack: cross-site requests into the admin port. A web page may POST to any address without asking first
 * (no CORS preflight) as long as the body is `text/plain`, a form or multipart; JSON sent as `text/plain` parses
 * all the same. So any page opened by someone who can reach a relay could make it join a forged member to a tree
 * (`POST /mesh/v1/join` of an open mesh) or send a body to the admin API. Bodies under `/mesh/v1/` and `/api/v1/`
 * must now say `Content-Type: application/json`, which only a preflight (never granted) would allow a page; the
 * rest gets 415 before any handler runs.
 *
 * Peers: plain HTTP requests (Deno's fetch), real ffmpeg readers, and headless Chromium running the attacker's
 * page (its Local Network Access checks off: they do not protect a relay on a public address, nor users of other
 * browsers).
 * @module
 */
import { deepStrictEqual as assertEquals, equal, match } from "node:assert/strict";
import { chromium } from "playwright-core";
import { delay, freePort, withTimeout } from "./support/processes.ts";
import { startProgressReader } from "./support/progress_reader.ts";
import { type RelayProcess, startRelayProcess } from "./support/relay.ts";

const CHROMIUM = "/usr/bin/chromium";
const TOKEN = "json-only-admin-token-0123";

/** A relay "a" with a static peer "b" (nothing listens there): the peer protocol is mounted, the mesh open. */
async function meshRelay(): Promise<{ relay: RelayProcess; peer: Record<string, unknown> }> {
  const peer = {
    node: "b",
    host: "127.0.0.1",
    adminPort: freePort("tcp", "127.0.0.1"),
    meshPort: freePort("udp", "127.0.0.1"),
    /** The caller's process incarnation, which join and subscribe carry. */
    incarnation: "00000000000000b0",
  };
  const relay = await startRelayProcess([
    "--node",
    "a",
    "--peer",
    `b=${peer.host}:${peer.adminPort}:${peer.meshPort}`,
    "--admin-token",
    TOKEN,
  ]);
  return { relay, peer };
}

/** The members of the demo's tree at this relay (the root), as its admin API shows them. */
async function treeMembers(relay: RelayProcess): Promise<string[]> {
  const res = await relay.get<{ members?: Array<{ node: string }> }>("/api/v1/tree/demo");
  return res.status === 200 ? (res.body.members ?? []).map((m) => m.node) : [];
}

Deno.test("attack: a join with a text/plain, form or multipart body gets 415 and changes nothing; JSON still joins", async () => {
  const { relay, peer } = await meshRelay();
  await using _relay = relay;
  const join = JSON.stringify({ path: "demo", from: peer, readers: 1 });
  const post = async (route: string, type: string, body: string) => {
    const res = await fetch(`http://${relay.host}:${relay.adminPort}${route}`, {
      method: "POST",
      headers: { "Content-Type": type },
      body,
    });
    return { status: res.status, text: await res.text() };
  };
  for (
    const type of [
      "text/plain;charset=UTF-8",
      "application/x-www-form-urlencoded",
      "multipart/form-data; boundary=x",
    ]
  ) {
    const res = await post("/mesh/v1/join", type, join);
    equal(res.status, 415, `POST /mesh/v1/join as ${type}: ${res.status} ${res.text}`);
    match(JSON.parse(res.text).error, /^Request bodies must be JSON: send Content-Type: application\/json/);
    const leave = await post("/mesh/v1/leave", type, JSON.stringify({ path: "demo", node: "b" }));
    equal(leave.status, 415, `POST /mesh/v1/leave as ${type}`);
  }
  assertEquals(await treeMembers(relay), [], "no forged member in the tree");
  // A peer speaking the protocol as it is written still joins.
  const joined = await post("/mesh/v1/join", "application/json", join);
  equal(joined.status, 200, joined.text);
  assertEquals(await treeMembers(relay), ["b"]);
});

Deno.test("attack: an admin request with a text/plain body gets 415 before it acts, even with the token", async () => {
  await using relay = await startRelayProcess(["--admin-token", TOKEN]);
  await using reader = startProgressReader(relay.url("demo"), "tcp", "reader-demo");
  await reader.waitForFrames(5, 30_000);
  const sessions = async () =>
    (await relay.get<{ sessions: Array<{ id: string }> }>("/api/v1/sessions")).body.sessions.map((s) => s.id);
  const [id] = await withTimeout(
    (async () => {
      while ((await sessions()).length === 0) await delay(100);
      return await sessions();
    })(),
    15_000,
    "the reader never showed in the API",
  );
  const send = async (method: string, route: string, type: string, body: string) => {
    const res = await fetch(`http://${relay.host}:${relay.adminPort}${route}`, {
      method,
      headers: { Authorization: `Bearer ${TOKEN}`, "Content-Type": type },
      body,
    });
    return { status: res.status, text: await res.text() };
  };
  const kick = await send("DELETE", `/api/v1/sessions/${id}`, "text/plain", "{}");
  equal(kick.status, 415, `DELETE with a text/plain body: ${kick.status} ${kick.text}`);
  assertEquals(await sessions(), [id], "the reader is still there");
  const add = await send(
    "POST",
    "/api/v1/paths",
    "text/plain",
    JSON.stringify({ name: "x", url: "rtsp://192.0.2.1/x" }),
  );
  equal(add.status, 415);
  const config = await relay.get<{ paths: Record<string, string> }>("/api/v1/config");
  assertEquals(config.body.paths, {}, "no path added");
  // JSON (or no body) still works.
  equal((await send("DELETE", `/api/v1/sessions/${id}`, "application/json", "{}")).status, 204);
});

Deno.test("attack: a cross-site page in Chromium cannot make the relay join a forged tree member", async () => {
  const { relay, peer } = await meshRelay();
  await using _relay = relay;
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--no-sandbox", "--disable-features=LocalNetworkAccessChecks"],
  });
  try {
    const page = await browser.newPage();
    const target = `http://${relay.host}:${relay.adminPort}/mesh/v1/join`;
    const body = JSON.stringify({ path: "demo", from: peer, readers: 1 });
    // The attacker's page on its own origin: a "simple" request, sent without a preflight, its answer opaque.
    await page.route("http://attacker.example/", (route) =>
      route.fulfill({
        contentType: "text/html",
        body: `<!doctype html><pre id="out"></pre><script>
          fetch(${JSON.stringify(target)}, {
            method: "POST", mode: "no-cors", headers: { "Content-Type": "text/plain" }, body: ${
          JSON.stringify(body)
        },
          }).then(() => { document.getElementById("out").textContent = "sent"; },
                  (e) => { document.getElementById("out").textContent = "failed " + e; });
        </script>`,
      }));
    await page.goto("http://attacker.example/");
    const out = page.locator("#out");
    await out.filter({ hasText: /\S/ }).waitFor({ timeout: 15_000 });
    equal(await out.innerText(), "sent", "the browser sent the request and had its (opaque) answer");
    const members = await treeMembers(relay);
    assertEquals(members, [], `the cross-site request joined a member: ${members}`);
    const metrics = await (await fetch(`http://${relay.host}:${relay.adminPort}/metrics`)).text();
    match(metrics, /^msm_admin_requests_refused_total\{reason="content_type"\} 1$/m);
  } finally {
    await browser.close();
  }
});
