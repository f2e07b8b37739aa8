/**
 * RTSP authentication with real clients: ffmpeg and ffprobe with `rtsp://user:pass@...` read and publish through
 * Digest (the default, qop=auth) and Basic (when enabled); GStreamer reads through Digest without qop (RFC 2069,
 * as live555 clients such as VLC answer too); no or wrong credentials get 401; a reader cannot publish, a
 * publisher cannot read, a user is held to its paths; clients outside `--rtsp-allow` get 403; no password ever
 * reaches the relay's log.
 * @module
 */
import { ok as assert } from "node:assert/strict";
import {
  cachedTestClip,
  ffmpegPublish,
  ffmpegRead,
  ffprobeCodecs,
  gstRead,
  tempDir,
  waitPublishing,
} from "./support/processes.ts";
import { startRelayProcess } from "./support/relay.ts";
import { RtspClientConnection } from "../src/rtsp/client.ts";

const USERS = [
  "--user",
  "viewer:v-secret-1:read:demo",
  "--user",
  "cam:c-secret-2:publish:live/*",
  "--user",
  "boss:b-secret-3:read+publish",
];

/** The relay URL of `path` with credentials. */
function withCredentials(url: string, user: string, password: string): string {
  return url.replace("rtsp://", `rtsp://${user}:${password}@`);
}

/** Status of ffmpeg's failed attempt, from its stderr (e.g. "401 Unauthorized"). */
async function failedStatus(url: string): Promise<string> {
  const r = await ffmpegRead(url, { transport: "tcp", seconds: 1, timeoutMs: 10_000 });
  assert(r.frames === 0 && r.exitCode !== 0, `expected a refusal, got ${r.frames} frames\n${r.stderr}`);
  return r.stderr.match(/\b(40[13])\b/)?.[1] ?? `no 401/403 in:\n${r.stderr}`;
}

Deno.test("RTSP Digest: users read and publish what they may, nothing else", async () => {
  await using relay = await startRelayProcess(USERS);
  const demo = relay.url("demo");

  const viewer = await ffmpegRead(withCredentials(demo, "viewer", "v-secret-1"), {
    transport: "tcp",
    seconds: 2,
  });
  console.log(`viewer reads demo with Digest: ${viewer.frames} frames`);
  assert(viewer.frames >= 40, `${viewer.frames} frames\n${viewer.stderr}`);
  const udp = await ffmpegRead(withCredentials(demo, "boss", "b-secret-3"), { transport: "udp", seconds: 2 });
  assert(udp.frames >= 40, `UDP: ${udp.frames} frames\n${udp.stderr}`);

  assert((await failedStatus(demo)) === "401", "no credentials");
  assert((await failedStatus(withCredentials(demo, "viewer", "wrong"))) === "401", "wrong password");
  assert((await failedStatus(withCredentials(demo, "ghost", "v-secret-1"))) === "401", "unknown user");

  // A publisher publishes its paths; it cannot read them; a reader cannot publish.
  const clip = await cachedTestClip(60);
  await using pub = ffmpegPublish(clip, withCredentials(relay.url("live/a"), "cam", "c-secret-2"), "tcp");
  await waitPublishing(pub, 15_000);
  const boss = await ffmpegRead(withCredentials(relay.url("live/a"), "boss", "b-secret-3"), {
    transport: "tcp",
    seconds: 2,
  });
  console.log(`boss reads what cam published: ${boss.frames} frames`);
  assert(boss.frames >= 40, `${boss.frames} frames\n${boss.stderr}`);
  assert(
    (await failedStatus(withCredentials(relay.url("live/a"), "cam", "c-secret-2"))) === "403",
    "cam reads",
  );
  assert(
    (await failedStatus(withCredentials(relay.url("live/a"), "viewer", "v-secret-1"))) === "403",
    "path",
  );

  await using sneaky = ffmpegPublish(
    clip,
    withCredentials(relay.url("live/b"), "viewer", "v-secret-1"),
    "tcp",
    {
      name: "ffmpeg-publish-refused",
    },
  );
  const st = await sneaky.exited;
  assert(st.code !== 0 && /403/.test(sneaky.output()), `a reader published:\n${sneaky.output()}`);

  // The refusals are logged, the passwords never (the harness's own header line quotes the command line).
  const log = relay.process.output().split("\n").filter((l) => !l.startsWith("--- ")).join("\n");
  assert(/rtsp request refused/.test(log), "refusals are logged");
  for (const secret of ["v-secret-1", "c-secret-2", "b-secret-3"]) {
    assert(!log.includes(secret), `${secret} logged`);
  }
});

Deno.test("RTSP Digest without qop: GStreamer reads over TCP and UDP, ffprobe probes, wrong passwords read nothing", async () => {
  await using relay = await startRelayProcess(USERS);
  const demo = relay.url("demo");
  for (const transport of ["tcp", "udp"] as const) {
    const r = await gstRead(withCredentials(demo, "viewer", "v-secret-1"), { transport, seconds: 2 });
    console.log(`GStreamer reads demo over ${transport} with Digest: ${r.buffers} buffers`);
    assert(r.buffers >= 25, `${transport}: ${r.buffers} buffers\n${r.output}`);
  }
  const wrong = await gstRead(withCredentials(demo, "viewer", "nope"), {
    transport: "tcp",
    seconds: 1,
    firstBufferTimeoutMs: 5000,
  });
  assert(wrong.buffers === 0, `a wrong password read ${wrong.buffers} buffers`);
  const outside = await gstRead(withCredentials(relay.url("live/a"), "viewer", "v-secret-1"), {
    transport: "tcp",
    seconds: 1,
    firstBufferTimeoutMs: 5000,
  });
  assert(outside.buffers === 0, `a path outside the user's glob read ${outside.buffers} buffers`);
  const codecs = await ffprobeCodecs(withCredentials(demo, "boss", "b-secret-3"), "tcp");
  assert(codecs.includes("h264"), codecs.join(","));
});

Deno.test("RTSP Basic when enabled, and the client allow-list", async () => {
  {
    await using relay = await startRelayProcess([...USERS, "--rtsp-auth", "basic"]);
    const r = await ffmpegRead(withCredentials(relay.url("demo"), "viewer", "v-secret-1"), {
      transport: "tcp",
      seconds: 2,
    });
    console.log(`viewer reads demo with Basic: ${r.frames} frames`);
    assert(r.frames >= 40, `${r.frames} frames\n${r.stderr}`);
    assert((await failedStatus(withCredentials(relay.url("demo"), "viewer", "nope"))) === "401");
  }
  {
    // Only 10.0.0.0/8 may connect: this test's 127.0.0.1 is refused, with or without credentials.
    await using relay = await startRelayProcess(["--rtsp-allow", "10.0.0.0/8"]);
    const c = await RtspClientConnection.connect(relay.url("demo"));
    const res = await c.request("DESCRIBE", relay.url("demo"));
    c.close();
    assert(res.status === 403, `status ${res.status}`);
    await using open = await startRelayProcess(["--rtsp-allow", "127.0.0.0/8"]);
    const r = await ffmpegRead(open.url("demo"), { transport: "tcp", seconds: 1 });
    assert(r.frames >= 15, `${r.frames} frames\n${r.stderr}`);
  }
});

Deno.test("RTSP users from a followed file: a password changed in the file takes effect without a restart", async () => {
  await using dir = await tempDir({ prefix: "msm-users-" });
  const file = `${dir.path}/users`;
  const write = async (text: string) => {
    await Deno.writeTextFile(`${file}.tmp`, text);
    await Deno.rename(`${file}.tmp`, file); // as a Secret volume swaps its files
  };
  await write("# RTSP users\nviewer:old-pass-1:read\n");
  await using relay = await startRelayProcess(["--users-file", file]);
  const demo = relay.url("demo");
  const read = (user: string, pass: string) =>
    ffmpegRead(withCredentials(demo, user, pass), { transport: "tcp", seconds: 1, timeoutMs: 10_000 });
  assert((await read("viewer", "old-pass-1")).frames > 0, "the file's user reads");

  await write("viewer:new-pass-2:read\n");
  await relay.process.waitForLine(/RTSP users reloaded/, 5000, { stream: "stderr" });
  assert((await failedStatus(withCredentials(demo, "viewer", "old-pass-1"))) === "401", "the old password");
  assert((await read("viewer", "new-pass-2")).frames > 0, "the new password reads");

  // A file emptied by mistake is refused: the relay keeps its users rather than letting everyone in.
  await write("# nobody\n");
  await relay.process.waitForLine(/RTSP users file was rejected/, 5000, { stream: "stderr" });
  assert((await failedStatus(demo)) === "401", "still closed after an empty users file");
  assert((await read("viewer", "new-pass-2")).frames > 0, "the users in use still read");
  const logs = relay.process.stderrLines.join("\n");
  assert(!/old-pass-1|new-pass-2/.test(logs), "a password reached the log");
});
