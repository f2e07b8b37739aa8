/**
 * Publishing: ffmpeg pushes with ANNOUNCE/RECORD over TCP and over UDP; readers (ffprobe, ffmpeg) get the
 * published stream through the relay; a second publisher on a busy path and a publisher on a camera path are
 * refused.
 * @module
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import {
  cachedTestClip,
  ffmpegPublish,
  ffmpegRead,
  ffprobeCodecs,
  waitPublishing,
} from "./support/processes.ts";
import { startRelayProcess } from "./support/relay.ts";

for (const transport of ["tcp", "udp"] as const) {
  Deno.test(`ffmpeg publishes over ${transport}; ffprobe and ffmpeg read it back`, async () => {
    await using relay = await startRelayProcess();
    await using publisher = ffmpegPublish(
      await cachedTestClip(60),
      relay.url(`live/${transport}`),
      transport,
    );
    await waitPublishing(publisher, 15_000);

    for (const readTransport of ["tcp", "udp"] as const) {
      const codecs = await ffprobeCodecs(relay.url(`live/${transport}`), readTransport);
      assertEquals(codecs, ["h264"], `ffprobe over ${readTransport}`);
    }
    const r = await ffmpegRead(relay.url(`live/${transport}`), { transport: "tcp", seconds: 3 });
    console.log(`published over ${transport}: reader decoded ${r.frames}/75 frames`);
    assert(r.frames >= 0.9 * 75, `${r.frames} frames\n${r.stderr}`);

    const view = await relay.stream(`live/${transport}`);
    assertEquals(view?.kind, "publish");
    assertEquals(view?.source.state, "ready");
    assert((view?.packetsIn ?? 0) > 0, JSON.stringify(view));
  });
}

Deno.test("a second publisher on a busy path is refused with 455 and the first keeps streaming", async () => {
  await using relay = await startRelayProcess();
  const clip = await cachedTestClip(60);
  await using first = ffmpegPublish(clip, relay.url("busy"), "tcp", { name: "publisher-1" });
  await waitPublishing(first, 15_000);

  await using second = ffmpegPublish(clip, relay.url("busy"), "tcp", { name: "publisher-2" });
  const status = await second.exited;
  assert(status.code !== 0, "second publisher must fail");
  assert(/455/.test(second.output()), `no 455 in:\n${second.output()}`);

  assert(first.running, "first publisher still running");
  const r = await ffmpegRead(relay.url("busy"), { transport: "tcp", seconds: 2 });
  assert(r.frames >= 45, `reader of the first publisher: ${r.frames}\n${r.stderr}`);
});

Deno.test("publishing to a configured camera path or with --no-publish is refused", async () => {
  await using relay = await startRelayProcess(["--path", "cam=rtsp://127.0.0.1:1/none", "--no-publish"]);
  const clip = await cachedTestClip(60);
  for (const path of ["cam", "free"]) {
    await using p = ffmpegPublish(clip, relay.url(path), "tcp", { name: `publish-${path}` });
    const status = await p.exited;
    assert(status.code !== 0, `publish to ${path} must fail`);
    assert(/40[35]|455/.test(p.output()), `publish to ${path}:\n${p.output()}`);
  }
});

Deno.test("when the publisher leaves, the path frees up for the next one", async () => {
  await using relay = await startRelayProcess();
  const clip = await cachedTestClip(60);
  const first = ffmpegPublish(clip, relay.url("relay-me"), "tcp", { name: "publisher-1" });
  await waitPublishing(first, 15_000);
  await first.stop("SIGINT", 5000);
  await using second = ffmpegPublish(clip, relay.url("relay-me"), "udp", { name: "publisher-2" });
  await waitPublishing(second, 15_000);
  const codecs = await ffprobeCodecs(relay.url("relay-me"), "tcp");
  assertEquals(codecs, ["h264"]);
});
