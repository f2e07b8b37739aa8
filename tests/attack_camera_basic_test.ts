/**
 * Attack on camera credentials (issue 13, item 15): something that answers on a camera's address (a spoofed
 * camera) offers only Basic, hoping the relay sends the password in clear. By default the relay must not (only
 * `--pull-auth digest,basic` allows it), and the stream's error must say so and name the flag. A real GStreamer
 * camera that offers only Basic shows both sides: refused by default, played when allowed.
 * @module
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { Buffer } from "node:buffer";
import { delay, ffmpegRead, startGstCamera } from "./support/processes.ts";
import { startRelayProcess } from "./support/relay.ts";
import { startFakeCamera } from "./support/fake_camera.ts";

/** A camera spoofed to harvest credentials: answers OPTIONS, and everything else with a Basic challenge. */
function startBasicOnlyCamera() {
  const camera = startFakeCamera({ sdp: "", challenge: 'Basic realm="IP Camera"' });
  const seen = () =>
    camera.requests.map((r) => ({
      method: r.method,
      authorization: r.headers.get("authorization"),
      raw: r.raw,
    }));
  return { port: camera.port, seen, [Symbol.asyncDispose]: camera.close };
}

async function until<T>(
  what: string,
  timeoutMs: number,
  probe: () => Promise<T | null> | T | null,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (true) {
    const v = await probe();
    if (v !== null) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await delay(100);
  }
}

const PASSWORD = "cam-secret-9";

Deno.test("attack: a spoofed camera that offers only Basic never receives the camera's password by default", async () => {
  await using camera = startBasicOnlyCamera();
  await using relay = await startRelayProcess([
    "--path",
    `cam=rtsp://admin:${PASSWORD}@127.0.0.1:${camera.port}/live`,
    "--camera-wait",
    "1",
  ]);
  // A reader starts the pull; the relay keeps retrying the camera while the reader waits.
  const read = await ffmpegRead(relay.url("cam"), { transport: "tcp", seconds: 1, timeoutMs: 15_000 });
  assert(read.frames === 0, "nothing to read");
  const error = await until("the stream's error", 15_000, async () => {
    const s = await relay.stream("cam");
    const describes = camera.seen().filter((r) => r.method === "DESCRIBE").length;
    return describes >= 3 && s?.source.error ? s.source.error : null;
  });
  console.log(`stream error: ${error}`);
  const leaked = camera.seen().filter((r) => r.authorization !== undefined);
  assertEquals(leaked.map((r) => `${r.method}: ${r.authorization}`), [], "credentials sent to the camera");
  const bytes = camera.seen().map((r) => r.raw).join("\n");
  assert(!bytes.includes(PASSWORD) && !bytes.includes(btoa(`admin:${PASSWORD}`)), "the password reached it");
  assert(/Basic/.test(error) && /--pull-auth/.test(error), `the error names Basic and the flag: ${error}`);
  // Logged once at warn, like other camera errors, and never with the password.
  const log = relay.process.stderrLines.join("\n");
  assertEquals(log.match(/camera unreachable; retrying with backoff.*--pull-auth/g)?.length, 1, log);
  assert(!log.includes(PASSWORD), "the password was logged");
});

Deno.test("--pull-auth digest,basic: the camera's Basic challenge is answered", async () => {
  await using camera = startBasicOnlyCamera();
  await using relay = await startRelayProcess([
    "--path",
    `cam=rtsp://admin:${PASSWORD}@127.0.0.1:${camera.port}/live`,
    "--pull-auth",
    "digest,basic",
    "--camera-wait",
    "1",
  ]);
  await ffmpegRead(relay.url("cam"), { transport: "tcp", seconds: 1, timeoutMs: 15_000 });
  const sent = await until(
    "a Basic answer",
    15_000,
    () => camera.seen().find((r) => r.authorization) ?? null,
  );
  assertEquals(sent.method, "DESCRIBE");
  const b64 = /^Basic (\S+)$/.exec(sent.authorization ?? "")?.[1] ?? "";
  assertEquals(Buffer.from(b64, "base64").toString("utf8"), `admin:${PASSWORD}`);
});

Deno.test("a real camera that offers only Basic: refused by default, read with --pull-auth digest,basic", async () => {
  await using camera = await startGstCamera({ user: "cam", password: "s3cr:et/", auth: "basic" });
  {
    await using relay = await startRelayProcess(["--path", `cam=${camera.authUrl}`, "--camera-wait", "1"]);
    const r = await ffmpegRead(relay.url("cam"), { transport: "tcp", seconds: 1, timeoutMs: 15_000 });
    assert(r.frames === 0, `read ${r.frames} frames from a Basic-only camera by default`);
    const error = await until(
      "the stream's error",
      15_000,
      async () => (await relay.stream("cam"))?.source.error ?? null,
    );
    assert(/--pull-auth/.test(error), error);
    assertEquals(camera.sessions(), 0, "the camera opened a session");
  }
  {
    await using relay = await startRelayProcess([
      "--path",
      `cam=${camera.authUrl}`,
      "--pull-auth",
      "digest,basic",
    ]);
    const r = await ffmpegRead(relay.url("cam"), { transport: "tcp", seconds: 2 });
    assert(r.frames >= 40, `${r.frames} frames\n${r.stderr}`);
  }
});
