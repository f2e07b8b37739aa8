/**
 * Tests of how long readers wait for a stream's source: {@linkcode Stream.whenReady} with and without the
 * camera wait limit the hub sets on pulled cameras (`--camera-wait`).
 * @module
 */
import { equal, ok, rejects } from "node:assert/strict";
import { silentLogger } from "../log.ts";
import { StreamHub } from "./hub.ts";
import { PortPairAllocator } from "./port_allocator.ts";
import { Stream, type StreamSource, StreamUnavailable } from "./stream.ts";

function newStream(): Stream {
  return new Stream({
    path: "cam",
    kind: "pull",
    logger: silentLogger,
    allocator: new PortPairAllocator(45_000, 45_007),
    hostname: "127.0.0.1",
    lingerSeconds: 0,
    onIdle: () => {},
  });
}

Deno.test("Stream.whenReady() without a limit rejects with a plain Error after the reader's own wait", async () => {
  const stream = newStream();
  stream.setState("connecting");
  const err = await stream.whenReady(30).then(() => null, (e: Error) => e);
  ok(err && !(err instanceof StreamUnavailable), String(err));
  ok(/not ready after 30 ms: connecting/.test(err.message), err.message);
  await stream.close();
});

Deno.test("Stream.whenReady() with readyWaitLimitMs waits at most that long, then answers 503 with the last error", async () => {
  const stream = newStream();
  stream.readyWaitLimitMs = 60;
  stream.setState("error", "Connection refused (os error 111)");
  const t0 = performance.now();
  const err = await stream.whenReady(10_000).then(() => null, (e: Error) => e);
  const waited = performance.now() - t0;
  ok(err instanceof StreamUnavailable, String(err));
  equal(err.status, 503);
  equal(err.message, 'Source of "cam" unreachable for 0.1 s: Connection refused (os error 111)');
  ok(waited >= 55 && waited < 1000, `waited ${waited} ms`);
  equal(stream.waiting, 0);
  // Ready within the limit: the waiter resolves.
  const ready = stream.whenReady(10_000);
  equal(stream.waiting, 1);
  stream.setState("ready");
  await ready;
  await stream.close();
});

Deno.test("Stream.whenReady() with readyWaitLimitMs 0 waits for the attempt in progress and fails once it failed", async () => {
  const stream = newStream();
  stream.readyWaitLimitMs = 0;
  stream.setState("connecting");
  const first = stream.whenReady(10_000);
  stream.setState("error", "Camera answered DESCRIBE with 404 Not Found");
  await rejects(first, (e: unknown) => e instanceof StreamUnavailable && e.status === 503);
  // While the source is in error (retrying), a reader is answered at once.
  await rejects(
    stream.whenReady(10_000),
    (e: unknown) =>
      e instanceof StreamUnavailable && /unreachable: Camera answered DESCRIBE with 404/.test(e.message),
  );
  equal(stream.waiting, 0);
  await stream.close();
});

Deno.test("StreamHub sets the camera wait on pulled streams only, and moves it when a stream is re-homed", () => {
  const fake = (): StreamSource => ({
    kind: "pull",
    start() {},
    stop: () => Promise.resolve(),
    info: () => ({}),
  });
  let local = true;
  const hub = new StreamHub({
    logger: silentLogger,
    pulls: { cam: "rtsp://10.0.0.9/cam" },
    demo: true,
    publish: true,
    hostname: "127.0.0.1",
    udpPortRange: [45_010, 45_017],
    lingerSeconds: 0,
    cameraWaitMs: 1234,
    createSource: fake,
    remote: {
      isLocalRoot: () => local,
      mayServeRemotely: () => false,
      createSource: fake,
    },
  });
  const cam = hub.forReader("cam")!;
  equal(cam.readyWaitLimitMs, 1234);
  equal(hub.forReader("demo")!.readyWaitLimitMs, undefined);
  local = false;
  ok(hub.rehome("cam"));
  equal(cam.kind, "mesh");
  equal(cam.readyWaitLimitMs, undefined, "a camera rooted elsewhere: the reader's own wait");
});

Deno.test("Stream.whenReady() keeps a caller's shorter wait under a longer readyWaitLimitMs (a mesh join)", async () => {
  const stream = newStream();
  stream.readyWaitLimitMs = 60_000;
  stream.setState("connecting");
  const t0 = performance.now();
  await rejects(stream.whenReady(40), (e: unknown) => e instanceof StreamUnavailable && e.status === 503);
  ok(performance.now() - t0 < 1000);
  await stream.close();
});
