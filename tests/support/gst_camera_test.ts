/**
 * Proves the test helpers against the real peers directly (no relay): GStreamer camera, VLC camera, ffmpeg and
 * gst-launch readers, ffmpeg publisher.
 * @module
 */

import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import {
  ffmpegPublish,
  ffmpegRead,
  ffprobeCodecs,
  freePort,
  freePortPair,
  gstRead,
  makeTestClip,
  spawnProcess,
  startGstCamera,
  startVlcCamera,
  tempDir,
  waitForTcpListen,
  waitForTcpPort,
  waitPublishing,
} from "./processes.ts";

const FPS = 25;
const SECONDS = 3;
const MIN_FRAMES = Math.floor(FPS * SECONDS * 0.9);

Deno.test("helpers: port pickers, process groups and line waits", async () => {
  const pair = freePortPair();
  assertEquals(pair % 2, 0);
  const tcp = freePort();
  assert(tcp > 0 && tcp < 65536);

  // a shell whose child would outlive a plain kill of the shell: stop() must take the whole group down
  await using p = spawnProcess(["bash", "-c", "echo hello; sleep 30 & echo child=$!; wait"], {
    name: "bash",
  });
  await p.waitForLine(/^hello$/, 5000);
  const m = await p.waitForLine(/^child=(\d+)$/, 5000);
  const child = Number(m[1]);
  const st = await p.stop("SIGTERM", 2000);
  assert(!st.success);
  let alive = true;
  try {
    Deno.kill(child, "SIGCONT");
  } catch {
    alive = false;
  }
  // a zombie still accepts signals until reaped: check /proc state instead when it exists
  if (alive) {
    const stat = await Deno.readTextFile(`/proc/${child}/stat`).catch(() => "");
    alive = stat !== "" && !/\) Z /.test(stat);
  }
  assert(!alive, "grandchild survived stop()");
  await assertRejects(() => p.waitForLine(/never/, 200), "exited");
});

Deno.test("gst camera: h264 + PCMU, ffmpeg reads over tcp and udp, sessions are counted", async () => {
  await using cam = await startGstCamera({ audio: true });
  const codecs = await ffprobeCodecs(cam.url, "tcp");
  assertEquals(codecs, ["h264", "pcm_mulaw"]);

  const tcp = await ffmpegRead(cam.url, { transport: "tcp", seconds: SECONDS });
  assert(tcp.frames >= MIN_FRAMES, `tcp: ${tcp.frames} frames < ${MIN_FRAMES}\n${tcp.stderr}`);
  assertEquals(tcp.codecs, ["h264", "pcm_mulaw"]);
  assertEquals(tcp.exitCode, 0);

  const udp = await ffmpegRead(cam.url, { transport: "udp", seconds: SECONDS });
  assert(udp.frames >= MIN_FRAMES, `udp: ${udp.frames} frames < ${MIN_FRAMES}\n${udp.stderr}`);
  assertEquals(udp.exitCode, 0);

  // every reader has gone: the server's pool is empty again and it counted each connection
  await cam.waitForSessions((n) => n === 0, 3000);
  await cam.waitForConnections((n) => n === 0, 3000);
  assert(cam.totalConnections() >= 3, `connections ${cam.totalConnections()}`);
});

Deno.test("gst camera: one session per reader while it reads", async () => {
  await using cam = await startGstCamera({});
  const reading = ffmpegRead(cam.url, { transport: "tcp", seconds: 3 });
  await cam.waitForSessions((n) => n === 1, 8000);
  assertEquals(cam.connections(), 1);
  const r = await reading;
  assert(r.frames > 0, r.stderr);
  await cam.waitForSessions((n) => n === 0, 3000);
});

Deno.test("gst camera: digest auth and tcp-only", async () => {
  await using cam = await startGstCamera({ user: "cam", password: "s3cret", protocols: "tcp" });
  await waitForTcpPort("127.0.0.1", cam.port, 2000);
  let denied = false;
  try {
    await ffprobeCodecs(cam.url, "tcp");
  } catch (e) {
    denied = String(e).includes("401");
  }
  assert(denied, "anonymous DESCRIBE was not refused with 401");
  assertEquals(await ffprobeCodecs(cam.authUrl, "tcp"), ["h264"]);
  const udp = await ffmpegRead(cam.authUrl, { transport: "udp", seconds: 1, timeoutMs: 8000 });
  assertEquals(udp.frames, 0);
  assert(udp.stderr.includes("461"), udp.stderr);
});

Deno.test("gst-launch reads the gst camera over tcp and udp", async () => {
  await using cam = await startGstCamera({ audio: "opus" });
  assertEquals(await ffprobeCodecs(cam.url, "tcp"), ["h264", "opus"]);
  for (const transport of ["tcp", "udp"] as const) {
    const r = await gstRead(cam.url, { transport, seconds: 2 });
    assert(r.buffers >= Math.floor(FPS * 2 * 0.9), `${transport}: ${r.buffers} buffers\n${r.output}`);
  }
});

Deno.test("vlc camera serves h264 over udp", async () => {
  await using vlc = await startVlcCamera();
  assertEquals(await ffprobeCodecs(vlc.url, "udp"), ["h264"]);
  // VLC streams all the time: a reader joins mid-GOP and decodes nothing until the next IDR (GOP 1 s)
  const r = await ffmpegRead(vlc.url, { transport: "udp", seconds: SECONDS });
  assert(r.frames >= Math.floor(FPS * (SECONDS - 1) * 0.9), `vlc udp: ${r.frames} frames\n${r.stderr}`);
});

Deno.test("ffmpeg publishes with ANNOUNCE/RECORD to an ffmpeg listener", async () => {
  await using dir = await tempDir();
  const clip = await makeTestClip(dir.path, 2);
  const port = freePort();
  const url = `rtsp://127.0.0.1:${port}/pub`;
  // ffmpeg -rtsp_flags listen is a one-shot RTSP server that accepts a publisher
  await using listener = spawnProcess([
    "ffmpeg",
    "-hide_banner",
    "-nostdin",
    "-nostats",
    "-progress",
    "pipe:1",
    "-rtsp_flags",
    "listen",
    "-listen_timeout",
    "15",
    "-i",
    url,
    "-t",
    "2",
    "-f",
    "null",
    "-",
  ], { name: "ffmpeg-listen" });
  await waitForTcpListen(port, 5000); // a connect() probe would use up the one-shot listener
  await using pub = ffmpegPublish(clip, url, "tcp");
  await waitPublishing(pub, 8000);
  await listener.waitForLine(/^progress=end/, 10000);
  const frames = Math.max(
    0,
    ...listener.stdoutLines.map((l) => Number(l.match(/^frame=(\d+)/)?.[1] ?? 0)),
  );
  assert(frames >= 40, `listener got ${frames} frames\n${listener.output()}`);
});

async function assertRejects(fn: () => Promise<unknown>, includes: string): Promise<void> {
  try {
    await fn();
  } catch (e) {
    assert(String(e).includes(includes), `unexpected error: ${String(e)}`);
    return;
  }
  throw new Error("expected a rejection");
}

/** The first sequence number the camera announces in PLAY's RTP-Info (ffmpeg's trace of the response). */
async function announcedSeq(url: string): Promise<number> {
  await using p = spawnProcess(
    ["ffmpeg", "-v", "trace", "-rtsp_transport", "tcp", "-i", url, "-t", "0.5", "-f", "null", "-"],
    { name: "ffmpeg-trace" },
  );
  let seq = -1;
  p.onLine((line) => {
    const m = line.match(/RTP-Info: .*?seq=(\d+)/);
    if (m && seq < 0) seq = Number(m[1]);
  });
  await p.exited;
  return seq;
}

Deno.test("gst camera: seqnumOffset numbers every session's video from the same point", async () => {
  await using cam = await startGstCamera({ seqnumOffset: 1000 });
  const first = await announcedSeq(cam.url);
  await cam.waitForSessions((n) => n === 0, 5000);
  const second = await announcedSeq(cam.url);
  console.log(`RTP-Info seq: ${first}, then ${second} after the pipeline was rebuilt`);
  assertEquals(cam.mediaConfigured(), 2, "the shared pipeline is rebuilt for the second session");
  for (const seq of [first, second]) assert(seq >= 1000 && seq < 1100, `RTP-Info seq=${seq}`);
});
