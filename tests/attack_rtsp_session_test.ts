/**
 * Attacks on RTSP authorization as issue 13 item 5 filed them: a publish-only user reading through a SETUP with
 * `mode=record` and a bare `PLAY x`; a session id (listed by the open admin API) used from another connection or
 * address to PLAY, PAUSE or TEARDOWN someone else's session; `--rtsp-allow` not applied to every method.
 * @module
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { RtspClientConnection } from "../src/rtsp/client.ts";
import { RawRtspConnection } from "./support/raw_rtsp.ts";
import { type RelayProcess, startRelayProcess } from "./support/relay.ts";
import { delay, runCommand, SYSTEM_PYTHON } from "./support/processes.ts";

const USERS = ["--user", "pub:pub-secret-1:publish", "--user", "viewer:viewer-secret-1:read"];

/** `url` with credentials. */
function withUser(url: string, user: string, password: string): string {
  return url.replace("rtsp://", `rtsp://${user}:${password}@`);
}

/** A UDP socket that counts datagrams. */
function counter() {
  const sock = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const state = { received: 0, port: (sock.addr as Deno.NetAddr).port, close: () => sock.close() };
  void (async () => {
    const buf = new Uint8Array(65536);
    try {
      for (;;) {
        await sock.receive(buf);
        state.received++;
      }
    } catch { /* closed */ }
  })();
  return state;
}

/** Sends one raw request from source address `from` (Python binds it) and returns the status code. */
async function requestFrom(from: string, relay: RelayProcess, text: string): Promise<number> {
  const script = [
    "import socket,sys",
    "s=socket.socket()",
    `s.bind((${JSON.stringify(from)},0))`,
    `s.connect(("127.0.0.1",${relay.rtspPort}))`,
    `s.sendall(${JSON.stringify(text)}.encode())`,
    "s.settimeout(5)",
    "print(s.recv(65536).decode().split('\\r\\n')[0])",
  ].join("\n");
  const r = await runCommand([SYSTEM_PYTHON, "-c", script], 10_000);
  const status = Number(r.stdout.match(/RTSP\/1\.0 (\d{3})/)?.[1]);
  if (!status) throw new Error(`no answer: ${r.stdout}${r.stderr}`);
  return status;
}

Deno.test("attack: a publish-only user cannot read through SETUP mode=record, nor with a bare PLAY", async () => {
  await using relay = await startRelayProcess(USERS);
  const demo = relay.url("demo");
  const c = await RtspClientConnection.connect(withUser(demo, "pub", "pub-secret-1"));
  const sink = counter();
  try {
    const describe = await c.request("DESCRIBE", demo, { Accept: "application/sdp" });
    const setup = await c.request("SETUP", `${demo}/trackID=0`, {
      Transport: `RTP/AVP;unicast;client_port=${sink.port}-${sink.port + 1};mode=record`,
    });
    const session = setup.headers.get("Session")?.split(";")[0];
    let play: number | null = null;
    if (session) {
      await using raw = await RawRtspConnection.open(relay.rtspPort);
      play = (await raw.request(`PLAY x RTSP/1.0\r\nCSeq: 1\r\nSession: ${session}\r\n\r\n`))?.status ?? null;
    }
    await delay(1500);
    console.log(
      `publish-only user: DESCRIBE ${describe.status}, SETUP mode=record ${setup.status}, bare PLAY ${play}; ` +
        `${sink.received} datagrams reached it`,
    );
    assertEquals(describe.status, 403);
    assert(setup.status === 403 || setup.status === 455, `SETUP mode=record answered ${setup.status}`);
    assertEquals(sink.received, 0, "media reached a user without the read right");
  } finally {
    c.close();
    sink.close();
  }
});

Deno.test("attack: a session id is no capability: other addresses and connections cannot act on a session", async () => {
  await using relay = await startRelayProcess(USERS);
  const demo = relay.url("demo");
  const viewer = await RtspClientConnection.connect(withUser(demo, "viewer", "viewer-secret-1"));
  const sink = counter();
  try {
    await viewer.request("DESCRIBE", demo, { Accept: "application/sdp" });
    const setup = await viewer.request("SETUP", `${demo}/trackID=0`, {
      Transport: `RTP/AVP;unicast;client_port=${sink.port}-${sink.port + 1}`,
    });
    const id = setup.headers.get("Session")!.split(";")[0]!;
    assertEquals((await viewer.request("PLAY", demo, { Session: id })).status, 200);
    // The admin API lists the id to anyone.
    const listed = await relay.get<{ sessions: Array<{ id: string }> }>("/api/v1/sessions");
    assert(listed.body.sessions.some((s) => s.id === id));

    const statuses: Record<string, number> = {};
    for (const method of ["PAUSE", "PLAY", "TEARDOWN"]) {
      statuses[`${method} from 127.0.0.9`] = await requestFrom(
        "127.0.0.9",
        relay,
        `${method} ${demo} RTSP/1.0\r\nCSeq: 1\r\nSession: ${id}\r\n\r\n`,
      );
    }
    await using other = await RawRtspConnection.open(relay.rtspPort);
    statuses["TEARDOWN, same address, no credentials"] =
      (await other.request(`TEARDOWN ${demo} RTSP/1.0\r\nCSeq: 1\r\nSession: ${id}\r\n\r\n`))?.status ?? 0;
    const before = sink.received;
    await delay(1000);
    const flowing = sink.received - before;
    console.log(
      `another client's attempts on the session: ${JSON.stringify(statuses)}; ${flowing} datagrams after`,
    );
    for (const [what, status] of Object.entries(statuses)) {
      if (what.includes("same address")) assertEquals(status, 401, what);
      else assertEquals(status, 454, what);
    }
    assert(flowing > 10, `the session stopped (${flowing} datagrams in the last second)`);
    // Its owner still controls it.
    assertEquals((await viewer.request("TEARDOWN", demo, { Session: id })).status, 200);
  } finally {
    viewer.close();
    sink.close();
  }
});

Deno.test("attack: --rtsp-allow applies to every method", async () => {
  await using relay = await startRelayProcess(["--rtsp-allow", "127.0.0.9"]);
  const demo = relay.url("demo");
  await using raw = await RawRtspConnection.open(relay.rtspPort);
  const statuses: Record<string, number> = {};
  let cseq = 1;
  for (const method of ["OPTIONS", "GET_PARAMETER", "SET_PARAMETER", "DESCRIBE", "TEARDOWN"]) {
    statuses[method] = (await raw.request(`${method} ${demo} RTSP/1.0\r\nCSeq: ${cseq++}\r\n\r\n`))?.status ??
      0;
  }
  const allowed = await requestFrom("127.0.0.9", relay, `OPTIONS ${demo} RTSP/1.0\r\nCSeq: 1\r\n\r\n`);
  console.log(
    `from 127.0.0.1 (not allowed): ${JSON.stringify(statuses)}; OPTIONS from 127.0.0.9: ${allowed}`,
  );
  for (const [method, status] of Object.entries(statuses)) assertEquals(status, 403, method);
  assertEquals(allowed, 200);
});
