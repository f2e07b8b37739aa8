/**
 * Out of the box: `deno task start` with no flags serves the built-in demo path on rtsp://127.0.0.1:8554/demo
 * and the admin API on :8080; ffprobe sees H.264 and ffmpeg decodes it in real time; SIGTERM exits cleanly.
 * @module
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { ffmpegRead, ffprobeCodecs, REPO_ROOT, spawnProcess, waitForTcpPort } from "./support/processes.ts";

function portFree(port: number): boolean {
  try {
    Deno.listen({ hostname: "0.0.0.0", port }).close();
    return true;
  } catch {
    return false;
  }
}

Deno.test("deno task start with no flags: ffprobe rtsp://127.0.0.1:8554/demo reports h264", async () => {
  for (const port of [8554, 8080]) {
    assert(portFree(port), `port ${port} is taken: stop whatever listens there to run this test`);
  }
  await using relay = spawnProcess([Deno.execPath(), "task", "start"], {
    name: "deno-task-start",
    cwd: REPO_ROOT,
  });
  await relay.waitForLine(/"relay listening"/, 30_000, { stream: "any" });
  await waitForTcpPort("127.0.0.1", 8554, 5000);

  assertEquals(await ffprobeCodecs("rtsp://127.0.0.1:8554/demo", "tcp"), ["h264"]);
  assertEquals(await ffprobeCodecs("rtsp://127.0.0.1:8554/demo", "udp"), ["h264"]);
  const r = await ffmpegRead("rtsp://127.0.0.1:8554/demo", { transport: "udp", seconds: 3 });
  console.log(`demo: ffmpeg decoded ${r.frames}/75 frames in 3 s`);
  assert(r.frames >= 0.9 * 75, `${r.frames} frames\n${r.stderr}`);

  const health = await fetch("http://127.0.0.1:8080/healthz");
  assertEquals(health.status, 200);
  await health.body?.cancel();

  const t0 = Date.now();
  const status = await relay.stop("SIGTERM", 10_000);
  console.log(`SIGTERM to exit: ${Date.now() - t0} ms, code ${status.code}`);
  assertEquals(status.code, 0, relay.output());
});
