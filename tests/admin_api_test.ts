/**
 * The admin API of a relay process, with real ffmpeg readers: a kick ends one reader and leaves the other
 * reading; a camera path added at run time answers DESCRIBE and plays, and is gone once removed; the config read
 * shows no secret. Answers are parsed with the API's own zod schemas.
 * @module
 */
import { deepStrictEqual as assertEquals, equal, match, ok } from "node:assert/strict";
import type { z } from "zod";
import {
  configViewSchema,
  errorSchema,
  pathSchema,
  sessionListSchema,
  streamSchema,
} from "../src/admin/schemas.ts";
import { delay, ffprobeCodecs, raceTimeout, withTimeout } from "./support/processes.ts";
import { startProgressReader } from "./support/progress_reader.ts";
import { RawRtspConnection } from "./support/raw_rtsp.ts";
import { type RelayProcess, startRelayProcess } from "./support/relay.ts";

const TOKEN = "t0k-admin-0123456789";

/** Calls the admin API; `token` null sends no Authorization header. */
async function api(
  relay: RelayProcess,
  method: string,
  route: string,
  opts: { token?: string | null; json?: unknown } = {},
): Promise<{ status: number; body: unknown; text: string; challenge: string | null }> {
  const token = opts.token === undefined ? TOKEN : opts.token;
  const res = await fetch(`http://${relay.host}:${relay.adminPort}${route}`, {
    method,
    headers: {
      ...(token !== null ? { Authorization: `Bearer ${token}` } : {}),
      ...(opts.json !== undefined ? { "Content-Type": "application/json" } : {}),
    },
    ...(opts.json !== undefined ? { body: JSON.stringify(opts.json) } : {}),
  });
  const text = await res.text();
  const isJson = res.headers.get("content-type")?.startsWith("application/json") ?? false;
  return {
    status: res.status,
    body: isJson && text ? JSON.parse(text) : null,
    text,
    challenge: res.headers.get("www-authenticate"),
  };
}

function parsed<S extends z.ZodType>(schema: S, body: unknown): z.infer<S> {
  const r = schema.safeParse(body);
  ok(r.success, `answer does not match its schema: ${r.error?.message}\n${JSON.stringify(body)}`);
  return r.data;
}

async function readerIds(relay: RelayProcess, path: string): Promise<string[]> {
  const list = parsed(sessionListSchema, (await api(relay, "GET", "/api/v1/sessions")).body);
  return list.sessions.filter((s) => s.role === "reader" && s.path === path).map((s) => s.id).sort();
}

/** Waits until `path` has `n` reader sessions; returns their ids. */
async function waitReaders(relay: RelayProcess, path: string, n: number): Promise<string[]> {
  return await withTimeout(
    (async () => {
      while (true) {
        const ids = await readerIds(relay, path);
        if (ids.length === n) return ids;
        await delay(100);
      }
    })(),
    15_000,
    `waiting for ${n} readers on "${path}"`,
  );
}

Deno.test("admin API: DELETE of a session disconnects that reader only", async () => {
  await using relay = await startRelayProcess(["--admin-token", TOKEN]);
  await using a = startProgressReader(relay.url("demo"), "tcp", "reader-a");
  await a.waitForFrames(10, 20_000);
  const [idA] = await waitReaders(relay, "demo", 1);
  await using b = startProgressReader(relay.url("demo"), "tcp", "reader-b");
  await b.waitForFrames(10, 20_000);
  const both = await waitReaders(relay, "demo", 2);
  const idB = both.find((id) => id !== idA)!;

  const noToken = await api(relay, "DELETE", `/api/v1/sessions/${idA}`, { token: null });
  assertEquals([noToken.status, noToken.challenge], [401, 'Bearer realm="msm-relay"']);
  parsed(errorSchema, noToken.body);
  const wrong = await api(relay, "DELETE", `/api/v1/sessions/${idA}`, { token: "t0k-not" });
  assertEquals([wrong.status, wrong.body], [401, { error: "Invalid bearer token" }]);
  assertEquals(await readerIds(relay, "demo"), both, "refused kicks end nothing");

  const kicked = await api(relay, "DELETE", `/api/v1/sessions/${idA}`);
  assertEquals([kicked.status, kicked.text], [204, ""]);
  const exited = await raceTimeout(a.process.exited, 10_000);
  ok(exited !== null, `the kicked reader should stop:\n${a.process.output()}`);
  const framesA = a.frames();

  const framesB = b.frames();
  await delay(2000);
  ok(b.process.running, `the other reader keeps reading:\n${b.process.output()}`);
  ok(b.frames() >= framesB + 25, `reader B decoded ${b.frames() - framesB} frames in 2 s after the kick`);
  equal(a.frames(), framesA);
  assertEquals(await readerIds(relay, "demo"), [idB]);
  const demo = parsed(streamSchema, (await api(relay, "GET", "/api/v1/streams/demo")).body);
  equal(demo.readers, 1);

  const again = await api(relay, "DELETE", `/api/v1/sessions/${idA}`);
  assertEquals([again.status, again.body], [404, { error: `No session with id "${idA}"` }]);
});

Deno.test("admin API: a path added at run time is served, shown without its password, and removed", async () => {
  await using relay = await startRelayProcess([
    "--admin-token",
    TOKEN,
    "--mesh-key",
    "mesh-s3cret-0123456789",
  ]);
  // The relay's own demo stands in for a camera.
  const url = `rtsp://viewer:cam-s3cret@127.0.0.1:${relay.rtspPort}/demo`;
  const describe = async (path: string) => {
    await using conn = await RawRtspConnection.open(relay.rtspPort);
    return await conn.request(`DESCRIBE ${relay.url(path)} RTSP/1.0\r\nCSeq: 1\r\n\r\n`, 15_000);
  };
  equal((await describe("loop/cam"))?.status, 404, "not configured yet");

  const refused = await api(relay, "POST", "/api/v1/paths", { token: null, json: { name: "loop/cam", url } });
  equal(refused.status, 401);
  const invalid = await api(relay, "POST", "/api/v1/paths", { json: { name: "loop cam", url: "http://x" } });
  equal(invalid.status, 400);
  match(parsed(errorSchema, invalid.body).error, /^name: .*; url: camera URLs start with rtsp:\/\/$/);

  const added = await api(relay, "POST", "/api/v1/paths", { json: { name: "loop/cam", url } });
  equal(added.status, 201);
  assertEquals(parsed(pathSchema, added.body), {
    name: "loop/cam",
    url: `rtsp://viewer:***@127.0.0.1:${relay.rtspPort}/demo`,
  });
  equal((await api(relay, "POST", "/api/v1/paths", { json: { name: "loop/cam", url } })).status, 409);

  const config = await api(relay, "GET", "/api/v1/config");
  equal(config.status, 200);
  ok(!config.text.includes("s3cret") && !config.text.includes(`"${TOKEN}"`), config.text);
  const view = parsed(configViewSchema, config.body);
  assertEquals([view.adminToken, view.meshKey], ["***", "***"]);
  equal(view.paths["loop/cam"], `rtsp://viewer:***@127.0.0.1:${relay.rtspPort}/demo`);

  const sdp = await describe("loop/cam");
  equal(sdp?.status, 200, `DESCRIBE loop/cam: ${JSON.stringify(sdp)}`);
  match(sdp!.body, /a=rtpmap:\d+ H264\/90000/);
  assertEquals(await ffprobeCodecs(relay.url("loop/cam"), "tcp"), ["h264"]);
  {
    await using reader = startProgressReader(relay.url("loop/cam"), "tcp", "reader-loop");
    await reader.waitForFrames(10, 20_000);
    const stream = parsed(streamSchema, (await api(relay, "GET", "/api/v1/streams/loop/cam")).body);
    assertEquals([stream.kind, stream.source.state, stream.readers], ["pull", "ready", 1]);
    equal(
      stream.source.url,
      `rtsp://viewer:***@127.0.0.1:${relay.rtspPort}/demo`,
      "the source shows no password",
    );
    ok(stream.tracks[0]!.hop?.received, `hop statistics: ${JSON.stringify(stream.tracks[0])}`);
  }

  const removed = await api(relay, "DELETE", "/api/v1/paths/loop/cam");
  equal(removed.status, 204);
  equal((await api(relay, "GET", "/api/v1/streams/loop/cam")).status, 404);
  equal((await describe("loop/cam"))?.status, 404, "removed");
  equal((await api(relay, "DELETE", "/api/v1/paths/loop/cam")).status, 404);
  equal(
    parsed(configViewSchema, (await api(relay, "GET", "/api/v1/config")).body).paths["loop/cam"],
    undefined,
  );
});
