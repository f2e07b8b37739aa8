/**
 * Attacks on watching in a browser (`/watch`, issue 18), against a relay process: what an outsider can send
 * instead of a player's WebSocket gets a clear 4xx or 503 with a reason and disturbs nothing (an RTSP reader of
 * the demo path keeps every packet); a relay with `--user`s refuses watching (no stream leaks past RTSP's
 * credentials), one outside `--rtsp-allow` refuses the address, and `--max-viewers` bounds the WebSockets a client
 * can hold open (each holds a stream and a track egress).
 * @module
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { delay, freePort, withTimeout } from "./support/processes.ts";
import { type RelayProcess, startRelayProcess } from "./support/relay.ts";
import { startRtspPublisher, startRtspReader } from "./support/rtsp_peers.ts";
import { NUMBERED_SDP, numberedPacket } from "./support/numbered_stream.ts";

/** Status and error of a plain GET (with an Upgrade header when `upgrade`). */
async function get(relay: RelayProcess, path: string, upgrade = true): Promise<[number, string]> {
  const res = await fetch(`http://${relay.host}:${relay.adminPort}${path}`, {
    headers: upgrade ? { Upgrade: "websocket", Connection: "Upgrade" } : {},
  });
  const text = await res.text();
  try {
    return [res.status, (JSON.parse(text) as { error?: string }).error ?? ""];
  } catch {
    return [res.status, text.slice(0, 80)];
  }
}

/** Opens a viewer WebSocket; @returns it once open, or the close/error it met. */
function viewer(relay: RelayProcess, path: string): Promise<WebSocket | string> {
  const ws = new WebSocket(`ws://${relay.host}:${relay.adminPort}/watch/v1/fmp4/${path}`);
  ws.binaryType = "arraybuffer";
  return new Promise((resolve) => {
    ws.onopen = () => resolve(ws);
    ws.onerror = (e) => resolve(`error: ${(e as ErrorEvent).message ?? "refused"}`);
    ws.onclose = (e) => resolve(`closed ${e.code}`);
  });
}

Deno.test("attack: malformed and unknown viewer requests get a 4xx with a reason, an RTSP reader loses nothing", async () => {
  await using relay = await startRelayProcess(["--max-viewers", "3"]);
  let seqs = 0;
  let gaps = 0;
  let last = -1;
  await using _reader = await startRtspReader(relay.url("demo"), {
    transport: "tcp",
    onRtp: (p) => {
      const seq = (p[2]! << 8) | p[3]!;
      if (last >= 0 && seq !== ((last + 1) & 0xffff)) gaps++;
      last = seq;
      seqs++;
    },
  });
  const cases: [string, boolean, number, RegExp][] = [
    ["/watch/v1/fmp4/demo", false, 426, /WebSocket/],
    ["/watch/v1/fmp4/%ZZ", true, 400, /percent-encoding/],
    ["/watch/v1/fmp4/a%20b%3Cscript%3E", true, 400, /path names use/],
    ["/watch/v1/fmp4/%2E%2E%2Fetc%2Fpasswd", true, 404, /No stream/],
    ["/watch/v1/fmp4/" + "a".repeat(5000), true, 400, /Stream path/],
    ["/watch/v1/fmp4/no-such-path", true, 404, /No stream/],
    ["/watch/%ZZ", false, 400, /percent-encoding/],
  ];
  for (const [path, upgrade, status, reason] of cases) {
    const [got, error] = await get(relay, path, upgrade);
    assertEquals(got, status, `${path}: ${got} ${error}`);
    assert(reason.test(error), `${path}: "${error}"`);
  }
  // A client holding WebSockets open: the fourth is refused, the others play; closing one frees its place.
  const open = await Promise.all([1, 2, 3].map(() => viewer(relay, "demo")));
  assert(open.every((w) => typeof w !== "string"), `three viewers: ${open}`);
  // Viewers count as readers and sessions, and the admin can end one (a token is needed for that).
  const sessions = (await relay.get<{ sessions: { id: string; role: string; transport: string[] }[] }>(
    "/api/v1/sessions",
  )).body.sessions.filter((x) => x.role === "viewer");
  assertEquals(sessions.length, 3);
  assertEquals(sessions[0]!.transport, ["websocket"]);
  const readers = (await relay.get<{ readers: number }>("/api/v1/streams/demo")).body.readers;
  assert(readers >= 4, `demo's readers: ${readers} (an RTSP reader and three viewers)`);
  assertEquals((await get(relay, "/watch/v1/fmp4/demo"))[0], 503);
  (open[0] as WebSocket).close();
  await delay(500);
  const again = await viewer(relay, "demo");
  assert(typeof again !== "string", `a place freed: ${again}`);
  for (const w of [...open.slice(1), again]) (w as WebSocket).close();
  await delay(2000);
  assert(seqs > 50, `the RTSP reader got ${seqs} packets`);
  assertEquals(gaps, 0, "the RTSP reader's stream has no gap");
  assert(relay.process.running, "the relay runs");
});

/** `POST /watch/v1/token` with `body`: status and the answer. */
async function token(
  relay: RelayProcess,
  body: unknown,
  type = "application/json",
): Promise<[number, Record<string, unknown>]> {
  const res = await fetch(`http://${relay.host}:${relay.adminPort}/watch/v1/token`, {
    method: "POST",
    headers: { "Content-Type": type },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  return [res.status, await res.json().catch(() => ({}))];
}

/** The first text message of a viewer WebSocket, or why it did not open. */
async function firstMessage(relay: RelayProcess, query: string): Promise<string> {
  const ws = new WebSocket(`ws://${relay.host}:${relay.adminPort}/watch/v1/fmp4/demo${query}`);
  try {
    return await new Promise((resolve) => {
      ws.onmessage = (e) => typeof e.data === "string" && resolve(e.data);
      ws.onerror = () => resolve("refused");
      ws.onclose = (e) => resolve(`closed ${e.code}`);
    });
  } finally {
    ws.close();
  }
}

Deno.test("attack: with RTSP users a viewer needs a one-time token of a user with the right, traded for its password", async () => {
  await using relay = await startRelayProcess([
    ...["--user", "viewer:viewer-secret-1:read:demo"],
    ...["--user", "other:other-secret-1:read:cam*"],
  ]);
  const [status, error] = await get(relay, "/watch/v1/fmp4/demo");
  assertEquals(status, 401);
  assert(/viewer token/.test(error), error);
  assertEquals((await get(relay, "/watch/v1/fmp4/demo?token=1.2.3"))[0], 401, "a made-up token");
  // Bad requests for a token: a reason each.
  assertEquals((await token(relay, "user=viewer", "application/x-www-form-urlencoded"))[0], 415);
  assertEquals((await token(relay, "{not json"))[0], 400);
  const [missing, why] = await token(relay, { path: "demo" });
  assertEquals(missing, 400);
  assert(/user/.test(String(why.error)), String(why.error));
  assertEquals((await token(relay, { path: "demo", user: "viewer", password: "wrong" }))[0], 401);
  assertEquals((await token(relay, { path: "demo", user: "other", password: "other-secret-1" }))[0], 403);
  // The right user: one token, one WebSocket, then it is spent; a token for another path does not open this one.
  const [ok, answer] = await token(relay, { path: "demo", user: "viewer", password: "viewer-secret-1" });
  assertEquals(ok, 200);
  const t = encodeURIComponent(String(answer.token));
  const init = JSON.parse(await firstMessage(relay, `?token=${t}`));
  assertEquals([init.type, init.mime], ["init", 'video/mp4; codecs="avc1.42c00d"']);
  const [again, reason] = await get(relay, `/watch/v1/fmp4/demo?token=${t}`);
  assertEquals(again, 401);
  assert(/used already/.test(reason), reason);
  // Guessing passwords: the client is held off after 10 wrong ones (the one above and nine more).
  for (let i = 0; i < 9; i++) await token(relay, { path: "demo", user: "viewer", password: `guess-${i}` });
  const [held] = await token(relay, { path: "demo", user: "viewer", password: "viewer-secret-1" });
  assertEquals(held, 429);
});

Deno.test("attack: outside --rtsp-allow the address is refused; --max-viewers 0 turns watching off", async () => {
  {
    await using relay = await startRelayProcess(["--rtsp-allow", "10.0.0.0/8"]);
    const [status, error] = await get(relay, "/watch/v1/fmp4/demo");
    assertEquals(status, 403);
    assert(/not allowed/.test(error), error);
  }
  {
    await using relay = await startRelayProcess(["--max-viewers", "0"]);
    const [status, error] = await get(relay, "/watch/v1/fmp4/demo");
    assertEquals(status, 503);
    assert(/off/.test(error), error);
  }
});

Deno.test("attack: viewers arriving together for a stream that is slow to start cannot pass --max-viewers", async () => {
  // A camera nobody answers: each viewer admitted waits for it (up to --camera-wait) while holding its place.
  const dead = `rtsp://127.0.0.1:${freePort("tcp", "127.0.0.1")}/cam`;
  await using relay = await startRelayProcess([
    "--path",
    `dead=${dead}`,
    "--max-viewers",
    "3",
    "--camera-wait",
    "2",
  ]);
  const answers = await Promise.all(
    Array.from({ length: 10 }, () => get(relay, "/watch/v1/fmp4/dead")),
  );
  const full = answers.filter(([s, e]) => s === 503 && /watching already/.test(e)).length;
  const waited = answers.filter(([s, e]) => s === 503 && !/watching already/.test(e));
  assertEquals(full, 7, JSON.stringify(answers));
  assertEquals(waited.length, 3, JSON.stringify(answers));
  // Their places are free again: the next one waits for the camera too, it is not refused as full.
  const [status, error] = await get(relay, "/watch/v1/fmp4/dead");
  assertEquals(status, 503);
  assert(!/watching already/.test(error), error);
});

Deno.test("a viewer of a stream described again with other tracks is told to play again (1012), not left starving", async () => {
  await using relay = await startRelayProcess();
  const first = await startRtspPublisher(relay.url("live"), NUMBERED_SDP, { transport: "tcp" });
  for (let i = 1; i <= 5; i++) await first.send(numberedPacket(i));
  const ws = new WebSocket(`ws://${relay.host}:${relay.adminPort}/watch/v1/fmp4/live`);
  const closed = new Promise<CloseEvent>((resolve) => ws.onclose = resolve);
  await new Promise((resolve, reject) => {
    ws.onopen = resolve;
    ws.onerror = () => reject(new Error("the viewer was refused"));
  });
  await first.close();
  // The next publisher's track has another clock rate: the stream's tracks are rebuilt.
  const OTHER = NUMBERED_SDP.replace("H264/90000", "H264/45000");
  await using _second = await startRtspPublisher(relay.url("live"), OTHER, { transport: "tcp" });
  const event = await withTimeout(closed, 10_000, "the viewer was never told");
  assertEquals(event.code, 1012);
  assert(/play again/.test(event.reason), event.reason);
});
