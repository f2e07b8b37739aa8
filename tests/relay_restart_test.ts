/**
 * Camera restart: readers connected before the camera went down keep their RTSP sessions (same ids) and decode
 * frames again after it comes back, over UDP and TCP, while the relay reconnects with backoff.
 * @module
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { delay, ffmpegRead, freePort, startGstCamera } from "./support/processes.ts";
import { startRelayProcess } from "./support/relay.ts";

interface SessionJson {
  id: string;
  role: string;
  path: string;
}

Deno.test("camera stop and restart: readers keep their sessions and receive frames again", async () => {
  const port = freePort("tcp", "127.0.0.1");
  let camera = await startGstCamera({ port, fps: 25 });
  await using relay = await startRelayProcess(["--path", `cam=${camera.url}`]);
  const readerIds = async () =>
    (await relay.get<{ sessions: SessionJson[] }>("/api/v1/sessions")).body.sessions
      .filter((s) => s.role === "reader").map((s) => s.id).sort();

  // ffmpeg keeps reading through the outage: media time 12 s, socket timeout raised above the outage.
  const extraInputArgs = ["-timeout", "30000000"];
  const reads = (["udp", "tcp"] as const).map((transport) =>
    ffmpegRead(relay.url("cam"), { transport, seconds: 12, timeoutMs: 45_000, extraInputArgs })
  );
  await delay(3000);
  const before = await readerIds();
  assertEquals(before.length, 2, "both readers playing before the outage");
  const packetsBefore = (await relay.stream("cam"))!.packetsOut;

  await camera.stop();
  const downAt = Date.now();
  await delay(2000);
  const during = await relay.stream("cam");
  assert(
    during && during.source.state !== "ready",
    `source should be down: ${JSON.stringify(during?.source)}`,
  );
  assertEquals(await readerIds(), before, "sessions survive the outage");

  camera = await startGstCamera({ port, fps: 25 });
  try {
    // Wait for media to flow again and measure the gap readers saw.
    let resumedAt = 0;
    while (Date.now() - downAt < 20_000) {
      const s = await relay.stream("cam");
      if (s && s.source.state === "ready" && s.packetsOut > packetsBefore + 50) {
        resumedAt = Date.now();
        break;
      }
      await delay(100);
    }
    assert(resumedAt > 0, "media never resumed after the camera came back");
    console.log(`camera down for 2 s; media resumed ${resumedAt - downAt} ms after it went down`);

    const results = await Promise.all(reads);
    const after = await relay.stream("cam");
    console.log(`frames decoded across the restart: udp ${results[0]!.frames}, tcp ${results[1]!.frames}`);
    for (const r of results) {
      // About 3 s before the outage (75 frames); a reader that got nothing after the restart stays below 100.
      assert(r.frames >= 150, `${r.frames} frames: no frames after the restart?\n${r.stderr}`);
    }
    assertEquals(after?.source.sessions, 2, "the relay opened a second upstream session");
    assertEquals(camera.totalConnections(), 1, "one connection to the restarted camera");
  } finally {
    await camera.stop();
  }
});
