/**
 * Pulling cameras through the relay, against real software: a gst-rtsp-server camera (H.264 + audio) read by
 * ffmpeg over UDP and TCP and by GStreamer rtspsrc, and VLC as a UDP-only camera.
 * @module
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { ffmpegRead, ffprobeCodecs, gstRead, startGstCamera, startVlcCamera } from "./support/processes.ts";
import { startRelayProcess } from "./support/relay.ts";

const SECONDS = 5;
const FPS = 25;
/** The Show figure: at least 90 % of the frames the camera sent in the read window decode. */
const MIN_FRAMES = Math.ceil(0.9 * SECONDS * FPS);

Deno.test("gst camera with video + audio: ffmpeg decodes >= 90% of frames over UDP and TCP", async () => {
  await using camera = await startGstCamera({ audio: "pcmu", fps: FPS });
  await using relay = await startRelayProcess(["--path", `cam=${camera.url}`]);

  for (const transport of ["udp", "tcp"] as const) {
    const r = await ffmpegRead(relay.url("cam"), { transport, seconds: SECONDS });
    console.log(
      `ffmpeg over ${transport}: ${r.frames}/${SECONDS * FPS} frames, codecs ${r.codecs.join(",")}`,
    );
    assertEquals(r.timedOut, false, r.stderr);
    assertEquals(r.codecs, ["h264", "pcm_mulaw"]);
    assert(r.frames >= MIN_FRAMES, `${transport}: ${r.frames} frames < ${MIN_FRAMES}\n${r.stderr}`);
  }

  const stream = await relay.stream("cam");
  assert(stream, "stream view missing");
  assertEquals(stream.tracks.length, 2, "video and audio tracks");
  assert(stream.tracks.every((t) => t.packetsIn > 0 && t.packetsOut > 0), JSON.stringify(stream.tracks));
  // Both readers sent RTCP receiver reports; the relay consumed them.
  assert(stream.tracks[0]!.readerReports > 0, "reader receiver reports not counted");
});

Deno.test("gst camera: GStreamer rtspsrc reads through the relay over UDP and TCP", async () => {
  await using camera = await startGstCamera({ fps: FPS });
  await using relay = await startRelayProcess(["--path", `cam=${camera.url}`]);
  for (const transport of ["udp", "tcp"] as const) {
    const r = await gstRead(relay.url("cam"), { transport, seconds: 3 });
    console.log(`rtspsrc over ${transport}: ${r.buffers} frames in 3 s, first after ${r.firstBufferMs} ms`);
    assert(r.buffers >= Math.ceil(0.9 * 3 * FPS), `${transport}: ${r.buffers} buffers\n${r.output}`);
  }
});

Deno.test("VLC as a UDP-only camera: the relay pulls it and ffmpeg decodes over TCP", async () => {
  await using camera = await startVlcCamera();
  await using relay = await startRelayProcess([
    "--path",
    `vlc=${camera.url}`,
    "--pull-transport",
    "udp",
    "--linger",
    "30",
  ]);
  // VLC serves a live stream that a first reader joins mid-GOP (ffmpeg straight from VLC decodes ~110 of 125
  // frames): warm the relay's pull up so the measured reader starts from the relay's GOP cache.
  assert((await ffprobeCodecs(relay.url("vlc"), "tcp")).includes("h264"));
  const r = await ffmpegRead(relay.url("vlc"), { transport: "tcp", seconds: SECONDS });
  console.log(`VLC camera via relay: ${r.frames}/${SECONDS * FPS} frames`);
  assert(r.codecs.includes("h264"), r.codecs.join(","));
  assert(r.frames >= MIN_FRAMES, `${r.frames} frames < ${MIN_FRAMES}\n${r.stderr}`);
});

Deno.test("a TCP-only camera is reached by the automatic UDP -> TCP fallback", async () => {
  await using camera = await startGstCamera({ fps: FPS, protocols: "tcp" });
  await using relay = await startRelayProcess(["--path", `cam=${camera.url}`]);
  const r = await ffmpegRead(relay.url("cam"), { transport: "udp", seconds: 3 });
  assert(r.frames >= Math.ceil(0.9 * 3 * FPS), `${r.frames} frames\n${r.stderr}`);
  const stream = await relay.stream("cam");
  assertEquals(stream?.source.transport, "tcp", JSON.stringify(stream?.source));
});

Deno.test("camera credentials from the URL: Digest, and Basic when --pull-auth allows it", async () => {
  for (const auth of ["digest", "basic"] as const) {
    await using camera = await startGstCamera({ fps: FPS, user: "cam", password: "s3cr:et/", auth });
    // Basic only on request (tests/attack_camera_basic_test.ts: refused by default).
    const pullAuth = auth === "basic" ? ["--pull-auth", "digest,basic"] : [];
    await using relay = await startRelayProcess(["--path", `cam=${camera.authUrl}`, ...pullAuth]);
    const r = await ffmpegRead(relay.url("cam"), { transport: "tcp", seconds: 2 });
    assert(r.frames >= 40, `${auth}: ${r.frames} frames\n${r.stderr}`);
    // The credentials never appear in the API.
    const streams = await relay.get("/api/v1/streams");
    assert(!JSON.stringify(streams.body).includes("s3cr"), "password leaked in the admin API");
  }
});
