/**
 * Attack: guess the admin token. A token short enough to guess is refused at startup (the message names the
 * field and never shows the token); against a long one, wrong tries are limited per client address: after 10 in
 * a minute the client gets 429 with Retry-After, even with the right token, the refusals are counted in
 * `msm_admin_requests_refused_total` and logged, throttled and without the tokens tried.
 * @module
 */
import { equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { freePort, REPO_ROOT, spawnProcess, withTimeout } from "./support/processes.ts";
import { startRelayProcess } from "./support/relay.ts";

const TOKEN = "right-admin-token-0123456789";

Deno.test("attack: a short admin token is refused at startup, from the flag and from MSM_ADMIN_TOKEN", async () => {
  for (
    const [args, env] of [[["--admin-token", "hunter2hunter2"]], [[], {
      MSM_ADMIN_TOKEN: "hunter2",
    }]] as const
  ) {
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
      String(freePort("tcp", "127.0.0.1")),
      "--mesh-port",
      String(freePort("udp", "127.0.0.1")),
      ...args,
    ], { name: "msm-relay-short-token", cwd: REPO_ROOT, ...(env ? { env } : {}) });
    try {
      const status = await withTimeout(relay.exited, 20_000, "the relay started with a short admin token");
      const output = [...relay.stdoutLines, ...relay.stderrLines].join("\n");
      equal(status.code, 2, output);
      match(output, /adminToken: the admin token must be at least 16 characters/);
      ok(!output.includes("hunter2"), `the refusal shows the token: ${output}`);
    } finally {
      await relay.stop("SIGTERM", 3000);
    }
  }
});

Deno.test("attack: guessing the admin token gets 429 after 10 wrong tries, even for the right token, counted and logged throttled", async () => {
  await using relay = await startRelayProcess(["--admin-token", TOKEN]);
  const base = `http://${relay.host}:${relay.adminPort}`;
  const post = async (token: string) => {
    const res = await fetch(`${base}/api/v1/paths`, {
      method: "POST",
      headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
      body: JSON.stringify({ name: "x", url: "rtsp://192.0.2.1/x" }),
    });
    return { status: res.status, retryAfter: res.headers.get("retry-after"), body: await res.json() };
  };

  const statuses: number[] = [];
  for (let i = 0; i < 40; i++) statuses.push((await post(`guess-${i}-0123456789abcdef`)).status);
  console.log(`40 wrong tokens: ${statuses.join(" ")}`);
  equal(statuses.filter((s) => s === 401).length, 10, "ten tries are looked at");
  equal(statuses.filter((s) => s === 429).length, 30, "the rest wait");
  const right = await post(TOKEN);
  equal(right.status, 429, "the right token waits too: the tries after the limit tell nothing");
  const retryAfter = Number(right.retryAfter);
  ok(retryAfter >= 1 && retryAfter <= 60, `Retry-After: ${right.retryAfter}`);
  match(right.body.error, /^Too many wrong admin tokens from this address: try again in \d+ s$/);
  equal((await fetch(`${base}/api/v1/paths/x`, { method: "DELETE" })).status, 429, "every guarded route");
  equal((await fetch(`${base}/api/v1/streams`)).status, 200, "open reads stay open");

  const metrics = await (await fetch(`${base}/metrics`)).text();
  match(metrics, /^msm_admin_requests_refused_total\{reason="bad_token"\} 10$/m);
  match(metrics, /^msm_admin_requests_refused_total\{reason="locked_out"\} 32$/m);
  await relay.stop();
  const refusals = relay.process.stderrLines.filter((l) => l.includes("admin request refused"));
  ok(refusals.length >= 1 && refusals.length <= 4, `refusals logged throttled:\n${refusals.join("\n")}`);
  ok(!relay.process.stderrLines.some((l) => /guess-|right-admin-token/.test(l)), "a token in the log");
});
