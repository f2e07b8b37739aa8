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

/** A request as the spoofed camera saw it. */
interface Seen {
  method: string;
  authorization: string | undefined;
  raw: string;
}

/** A fake camera: answers OPTIONS, and every DESCRIBE with `401 WWW-Authenticate: Basic`; records every request. */
function startBasicOnlyCamera(): { port: number; seen: Seen[]; close(): void } & Disposable {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const seen: Seen[] = [];
  const conns = new Set<Deno.Conn>();
  const enc = new TextEncoder();
  const serve = async (conn: Deno.Conn) => {
    const dec = new TextDecoder("latin1");
    const buf = new Uint8Array(16 * 1024);
    let text = "";
    try {
      while (true) {
        const n = await conn.read(buf);
        if (n === null) break;
        text += dec.decode(buf.subarray(0, n));
        for (let end = text.indexOf("\r\n\r\n"); end >= 0; end = text.indexOf("\r\n\r\n")) {
          const head = text.slice(0, end);
          text = text.slice(end + 4);
          const method = head.split(" ")[0] ?? "";
          const cseq = /\r\nCSeq:\s*(\d+)/i.exec(head)?.[1] ?? "0";
          const authorization = /\r\nAuthorization:\s*([^\r\n]*)/i.exec(head)?.[1];
          seen.push({ method, authorization, raw: head });
          const reply = method === "OPTIONS"
            ? `RTSP/1.0 200 OK\r\nCSeq: ${cseq}\r\nPublic: OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN\r\n\r\n`
            : `RTSP/1.0 401 Unauthorized\r\nCSeq: ${cseq}\r\nWWW-Authenticate: Basic realm="IP Camera"\r\n\r\n`;
          await conn.write(enc.encode(reply));
        }
      }
    } catch {
      // the relay hung up
    } finally {
      conns.delete(conn);
      try {
        conn.close();
      } catch { /* closed */ }
    }
  };
  (async () => {
    for await (const conn of listener) {
      conns.add(conn);
      void serve(conn);
    }
  })().catch(() => {});
  const close = () => {
    try {
      listener.close();
    } catch { /* closed */ }
    for (const c of conns) {
      try {
        c.close();
      } catch { /* closed */ }
    }
  };
  return { port: (listener.addr as Deno.NetAddr).port, seen, close, [Symbol.dispose]: close };
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
  using camera = startBasicOnlyCamera();
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
    const describes = camera.seen.filter((r) => r.method === "DESCRIBE").length;
    return describes >= 3 && s?.source.error ? s.source.error : null;
  });
  console.log(`stream error: ${error}`);
  const leaked = camera.seen.filter((r) => r.authorization !== undefined);
  assertEquals(leaked.map((r) => `${r.method}: ${r.authorization}`), [], "credentials sent to the camera");
  const bytes = camera.seen.map((r) => r.raw).join("\n");
  assert(!bytes.includes(PASSWORD) && !bytes.includes(btoa(`admin:${PASSWORD}`)), "the password reached it");
  assert(/Basic/.test(error) && /--pull-auth/.test(error), `the error names Basic and the flag: ${error}`);
  // Logged once at warn, like other camera errors, and never with the password.
  const log = relay.process.stderrLines.join("\n");
  assertEquals(log.match(/camera unreachable; retrying with backoff.*--pull-auth/g)?.length, 1, log);
  assert(!log.includes(PASSWORD), "the password was logged");
});

Deno.test("--pull-auth digest,basic: the camera's Basic challenge is answered", async () => {
  using camera = startBasicOnlyCamera();
  await using relay = await startRelayProcess([
    "--path",
    `cam=rtsp://admin:${PASSWORD}@127.0.0.1:${camera.port}/live`,
    "--pull-auth",
    "digest,basic",
    "--camera-wait",
    "1",
  ]);
  await ffmpegRead(relay.url("cam"), { transport: "tcp", seconds: 1, timeoutMs: 15_000 });
  const sent = await until("a Basic answer", 15_000, () => camera.seen.find((r) => r.authorization) ?? null);
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
