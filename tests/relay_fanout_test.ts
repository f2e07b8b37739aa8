/**
 * One upstream session however many readers: 10 concurrent ffmpeg readers on one path, readers joining and
 * leaving mid-stream, all against a gst-rtsp-server camera that counts its own connections.
 * @module
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { delay, ffmpegRead, startGstCamera } from "./support/processes.ts";
import { startRelayProcess } from "./support/relay.ts";

const FPS = 25;

Deno.test("10 concurrent ffmpeg readers share exactly one upstream session", async () => {
  await using camera = await startGstCamera({ fps: FPS });
  await using relay = await startRelayProcess(["--path", `cam=${camera.url}`]);

  let maxUpstream = 0;
  let maxReaders = 0;
  let maxSessions = 0;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      maxUpstream = Math.max(maxUpstream, camera.connections());
      // Sampled while the readers read: after the last one leaves the stream lingers only 1 s, which a loaded
      // machine can spend before a check at the end.
      const s = await relay.stream("cam");
      if (s) maxReaders = Math.max(maxReaders, s.readers);
      if (s) maxSessions = Math.max(maxSessions, s.source.sessions);
      await delay(100);
    }
  })();

  const seconds = 5;
  const reads = await Promise.all(
    Array.from(
      { length: 10 },
      (_, i) =>
        ffmpegRead(relay.url("cam"), { transport: i % 2 ? "tcp" : "udp", seconds, timeoutMs: 40_000 }),
    ),
  );
  sampling = false;
  await sampler;

  const frames = reads.map((r) => r.frames);
  console.log(
    `10 readers decoded ${frames.join(", ")} frames of ${seconds * FPS}; upstream max ${maxUpstream}`,
  );
  for (const [i, r] of reads.entries()) {
    assert(r.frames >= 0.9 * seconds * FPS, `reader ${i}: ${r.frames} frames\n${r.stderr}`);
  }
  assertEquals(maxReaders, 10, "the relay saw all 10 readers at once");
  assertEquals(maxUpstream, 1, "camera connections while 10 readers read");
  assertEquals(camera.totalConnections(), 1, "the relay never opened a second upstream connection");
  assertEquals(maxSessions, 1, "upstream sessions the relay held while 10 readers read");
});

Deno.test("readers joining and leaving mid-stream do not disturb the others", async () => {
  await using camera = await startGstCamera({ fps: FPS });
  await using relay = await startRelayProcess(["--path", `cam=${camera.url}`]);

  const seconds = 8;
  const steady = [
    ffmpegRead(relay.url("cam"), { transport: "udp", seconds }),
    ffmpegRead(relay.url("cam"), { transport: "tcp", seconds }),
  ];
  // Short readers come and go while the steady ones read: each reads 1 s, alternating transports.
  const churn = (async () => {
    const results = [];
    await delay(1000);
    for (let i = 0; i < 5; i++) {
      results.push(await ffmpegRead(relay.url("cam"), { transport: i % 2 ? "udp" : "tcp", seconds: 1 }));
    }
    return results;
  })();
  const [steadyResults, churnResults] = await Promise.all([Promise.all(steady), churn]);

  console.log(
    `steady readers ${steadyResults.map((r) => r.frames).join(", ")} of ${seconds * FPS}; ` +
      `churn readers ${churnResults.map((r) => r.frames).join(", ")}`,
  );
  for (const r of steadyResults) {
    assert(r.frames >= 0.95 * seconds * FPS, `steady reader: ${r.frames} frames\n${r.stderr}`);
  }
  for (const r of churnResults) assert(r.frames >= 0.9 * FPS, `churn reader: ${r.frames}\n${r.stderr}`);
  assertEquals(camera.totalConnections(), 1, "one upstream connection throughout");
});

Deno.test("the upstream session closes a linger after the last reader and reopens for the next", async () => {
  await using camera = await startGstCamera({ fps: FPS });
  await using relay = await startRelayProcess(["--path", `cam=${camera.url}`]); // --linger 1
  const first = await ffmpegRead(relay.url("cam"), { transport: "tcp", seconds: 1 });
  assert(first.frames > 0, first.stderr);
  await camera.waitForConnections((n) => n === 0, 5000);
  assertEquals(await relay.stream("cam"), null, "the stream is forgotten once idle");
  const second = await ffmpegRead(relay.url("cam"), { transport: "tcp", seconds: 1 });
  assert(second.frames > 0, second.stderr);
  assertEquals(camera.totalConnections(), 2);
});
