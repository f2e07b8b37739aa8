/**
 * A configured camera that is down when readers come: the relay retries it with backoff, a reader waits up to
 * `--camera-wait` for it (and plays when it comes up within the wait), else gets `503 Service Unavailable`; an
 * unknown path is `404` at once; `--camera-wait 0` answers 503 as soon as an attempt failed. The relay logs the
 * camera as unreachable once, with its URL and without its password.
 * @module
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { delay, ffprobeCodecs, freePort, startGstCamera } from "./support/processes.ts";
import { RawRtspConnection } from "./support/raw_rtsp.ts";
import { type RelayProcess, startRelayProcess } from "./support/relay.ts";

/** DESCRIBE over a raw connection: the status and how long the answer took. */
async function describe(
  relay: RelayProcess,
  path: string,
): Promise<{ status: number; ms: number; body: string }> {
  await using conn = await RawRtspConnection.open(relay.rtspPort);
  const t0 = performance.now();
  const res = await conn.request(
    `DESCRIBE ${relay.url(path)} RTSP/1.0\r\nCSeq: 1\r\nAccept: application/sdp\r\n\r\n`,
    20_000,
  );
  assert(res, "the relay closed the connection without answering");
  return { status: res.status, ms: Math.round(performance.now() - t0), body: res.body };
}

/** The relay's JSON log records (stderr). */
function logRecords(relay: RelayProcess): Array<Record<string, unknown>> {
  return relay.process.stderrLines.filter((l) => l.startsWith("{")).map((l) => JSON.parse(l));
}

Deno.test("camera down at start: 503 after --camera-wait, 404 for unknown paths, a camera up within the wait plays", async () => {
  const port = freePort("tcp", "127.0.0.1");
  await using relay = await startRelayProcess([
    "--path",
    `cam=rtsp://viewer:s3cret@127.0.0.1:${port}/cam`,
    "--camera-wait",
    "5",
    "--pull-transport",
    "tcp",
  ]);
  // No camera: the reader waits the 5 s, then 503; meanwhile an unknown path is 404 at once.
  const [absent, unknown] = await Promise.all([describe(relay, "cam"), describe(relay, "nope")]);
  console.log(`camera absent: DESCRIBE ${absent.status} after ${absent.ms} ms (${absent.body.trim()})`);
  console.log(`unknown path: DESCRIBE ${unknown.status} after ${unknown.ms} ms`);
  assertEquals(absent.status, 503);
  assert(absent.ms >= 4900 && absent.ms < 6500, `503 after ${absent.ms} ms, wanted about 5000`);
  assertEquals(unknown.status, 404);
  assert(unknown.ms < 1000, `404 after ${unknown.ms} ms`);
  const unreachable = logRecords(relay).filter((r) => r.msg === "camera unreachable; retrying with backoff");
  assertEquals(unreachable.length, 1, "one warning for the outage");
  assertEquals(unreachable[0]!.url, `rtsp://viewer:***@127.0.0.1:${port}/cam`);
  assert(/refused/i.test(String(unreachable[0]!.error)), JSON.stringify(unreachable[0]));
  assert(!relay.process.stderrLines.some((l) => l.includes("s3cret")), "the password leaked into the logs");
  const retries = logRecords(relay).filter((r) => r.msg === "camera still unreachable");
  assertEquals(retries.length, 0, "retries are debug, not logged at info");

  // The camera comes up 1.5 s after a reader started waiting: the reader plays, well within the wait.
  await delay(1500); // the idle stream is dropped after the linger (1 s)
  const t0 = performance.now();
  const probe = ffprobeCodecs(relay.url("cam"), "tcp", 15_000).then((codecs) => ({
    codecs,
    ms: Math.round(performance.now() - t0),
  }));
  await delay(1500);
  await using camera = await startGstCamera({ port, fps: 25 });
  const cameraUpMs = Math.round(performance.now() - t0);
  // When the relay's next attempt reaches the camera: retries come at most 0.5 s apart while a reader waits.
  let reachedMs = -1;
  while (reachedMs < 0 && performance.now() - t0 < 10_000) {
    if (camera.totalConnections() > 0) reachedMs = Math.round(performance.now() - t0);
    else await delay(10);
  }
  const late = await probe;
  console.log(
    `camera up ${cameraUpMs} ms after the reader came, reached by the relay ${
      reachedMs - cameraUpMs
    } ms later; the reader had the stream after ${late.ms} ms`,
  );
  assertEquals(late.codecs, ["h264"]);
  assert(reachedMs >= 0 && reachedMs - cameraUpMs < 1000, `the relay took ${reachedMs - cameraUpMs} ms`);
  assert(late.ms < 5000, `the reader waited ${late.ms} ms, more than --camera-wait`);
  const stream = await relay.stream("cam");
  assertEquals(stream?.source.state, "ready");
  assertEquals(stream?.source.failures, 0, "the failure count starts over once the camera plays");
  const playing = logRecords(relay).filter((r) => r.msg === "camera session playing");
  assert(playing.length >= 1 && Number(playing[0]!.afterFailures) >= 1, JSON.stringify(playing));

  // A new reader while the camera plays: at once.
  const t1 = performance.now();
  assertEquals(await ffprobeCodecs(relay.url("cam"), "tcp", 10_000), ["h264"]);
  console.log(`a reader with the camera up: ${Math.round(performance.now() - t1)} ms`);
  assertEquals(camera.totalConnections() >= 1, true);
});

Deno.test("--camera-wait 0 answers 503 as soon as the camera could not be reached", async () => {
  const port = freePort("tcp", "127.0.0.1");
  await using relay = await startRelayProcess([
    "--path",
    `cam=rtsp://127.0.0.1:${port}/cam`,
    "--camera-wait",
    "0",
  ]);
  const first = await describe(relay, "cam");
  const second = await describe(relay, "cam");
  console.log(
    `--camera-wait 0: DESCRIBE ${first.status} after ${first.ms} ms, then ${second.status} after ${second.ms} ms`,
  );
  assertEquals([first.status, second.status], [503, 503]);
  assert(first.ms < 1000 && second.ms < 1000, `${first.ms} ms, ${second.ms} ms`);
});
