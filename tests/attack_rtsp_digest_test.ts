/**
 * Attacks on RTSP Digest and Basic (issue 13, item 6), with real clients as the victims: an eavesdropper taps
 * ffmpeg's (Digest with qop=auth) and GStreamer's (RFC 2069 Digest, no qop) requests to the relay and replays
 * the `Authorization` headers it saw, on another path, on the same path again, and from another address; a
 * client answers a challenge for another realm; a Basic credential hides behind a leading comma when Basic is
 * off. Every replay must be refused with 401 while the real clients keep reading.
 * @module
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import net from "node:net";
import { answerChallenge, parseChallenges } from "../src/rtsp/auth/mod.ts";
import { cachedTestClip, ffmpegPublish, ffmpegRead, gstRead, waitPublishing } from "./support/processes.ts";
import { startRelayProcess } from "./support/relay.ts";
import { startTcpTap, type TappedRequest } from "./support/tcp_tap.ts";

const BOSS = "boss:b-secret-3:read+publish";

/** A response head as read off the wire. */
interface Head {
  status: number;
  text: string;
}

/**
 * Sends one request from `localAddress` (another host, as far as the relay can tell) on a fresh connection and
 * reads the response head. node:net, because Deno.connect cannot choose the local address.
 */
function rawRequest(port: number, request: string, localAddress = "127.0.0.1"): Promise<Head> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: "127.0.0.1", port, localAddress });
    let text = "";
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no response within 15 s to ${request.split("\r\n")[0]}`));
    }, 15_000);
    socket.setEncoding("latin1");
    socket.on("connect", () => socket.write(request, "latin1"));
    socket.on("data", (chunk: string) => {
      text += chunk;
      const end = text.indexOf("\r\n\r\n");
      if (end < 0) return;
      clearTimeout(timer);
      socket.destroy();
      const m = /^RTSP\/1\.0 (\d{3}) /.exec(text);
      if (!m) reject(new Error(`not an RTSP response: ${JSON.stringify(text.slice(0, 80))}`));
      else resolve({ status: Number(m[1]), text: text.slice(0, end) });
    });
    socket.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

function describe(uri: string, authorization?: string): string {
  return `DESCRIBE ${uri} RTSP/1.0\r\nCSeq: 7\r\nAccept: application/sdp\r\n` +
    (authorization === undefined ? "" : `Authorization: ${authorization}\r\n`) + "\r\n";
}

/** The Authorization header of the client's DESCRIBE that the relay accepted (the one after the 401). */
function sniffedDescribe(requests: readonly TappedRequest[]): TappedRequest & { authorization: string } {
  const r = requests.find((r) => r.method === "DESCRIBE" && r.authorization !== undefined);
  assert(
    r?.authorization !== undefined,
    `no DESCRIBE with credentials was tapped: ${JSON.stringify(requests)}`,
  );
  return r as TappedRequest & { authorization: string };
}

const withCredentials = (url: string, user: string, password: string) =>
  url.replace("rtsp://", `rtsp://${user}:${password}@`);

Deno.test("attack: a tapped Digest header of ffmpeg (qop=auth) opens no other path and does not replay", async () => {
  await using relay = await startRelayProcess(["--user", BOSS]);
  // A second readable path, the one the eavesdropper is after.
  const clip = await cachedTestClip(60);
  await using pub = ffmpegPublish(clip, withCredentials(relay.url("live/x"), "boss", "b-secret-3"), "tcp");
  await waitPublishing(pub, 15_000);

  await using tap = startTcpTap("127.0.0.1", relay.rtspPort);
  const victim = await ffmpegRead(
    withCredentials(`rtsp://127.0.0.1:${tap.port}/demo`, "boss", "b-secret-3"),
    {
      transport: "tcp",
      seconds: 1,
    },
  );
  assert(victim.frames >= 15, `ffmpeg reads through the tap: ${victim.frames} frames\n${victim.stderr}`);
  const sniffed = sniffedDescribe(tap.requests());
  assert(/\bqop=/.test(sniffed.authorization), `ffmpeg answers with qop: ${sniffed.authorization}`);
  console.log(`tapped: DESCRIBE ${sniffed.uri} with ${sniffed.authorization.slice(0, 60)}...`);

  const otherPath = await rawRequest(relay.rtspPort, describe(relay.url("live/x"), sniffed.authorization));
  const again = await rawRequest(relay.rtspPort, describe(sniffed.uri, sniffed.authorization));
  const outcome = {
    "replayed on live/x": otherPath.status,
    "replayed on demo, nonce count reused": again.status,
    "answered stale=true": /stale=true/.test(again.text),
  };
  console.log(outcome);
  assertEquals(outcome, {
    "replayed on live/x": 401,
    "replayed on demo, nonce count reused": 401,
    "answered stale=true": true,
  }, `${otherPath.text}\n${again.text}`);

  // The victim and the publisher are not disturbed: ffmpeg reads both paths again.
  for (const path of ["demo", "live/x"]) {
    const r = await ffmpegRead(withCredentials(relay.url(path), "boss", "b-secret-3"), {
      transport: "tcp",
      seconds: 1,
    });
    assert(r.frames >= 15, `${path} after the replays: ${r.frames} frames\n${r.stderr}`);
  }
});

Deno.test("attack: a tapped RFC 2069 Digest header of GStreamer does not work from another address or path", async () => {
  await using relay = await startRelayProcess(["--user", BOSS]);
  await using tap = startTcpTap("127.0.0.1", relay.rtspPort);
  const victim = await gstRead(withCredentials(`rtsp://127.0.0.1:${tap.port}/demo`, "boss", "b-secret-3"), {
    transport: "tcp",
    seconds: 1,
  });
  assert(
    victim.buffers >= 10,
    `GStreamer reads through the tap: ${victim.buffers} buffers\n${victim.output}`,
  );
  const sniffed = sniffedDescribe(tap.requests());
  assert(!/\bqop=/.test(sniffed.authorization), `GStreamer answers without qop: ${sniffed.authorization}`);

  const elsewhere = await rawRequest(
    relay.rtspPort,
    describe(sniffed.uri, sniffed.authorization),
    "127.0.0.2",
  );
  const otherPath = await rawRequest(relay.rtspPort, describe(relay.url("other"), sniffed.authorization));
  const outcome = {
    "replayed from 127.0.0.2": elsewhere.status,
    "replayed on another path": otherPath.status,
  };
  console.log(outcome);
  assertEquals(outcome, { "replayed from 127.0.0.2": 401, "replayed on another path": 401 });
});

Deno.test("attack: a Digest answer for another realm, and Basic behind a comma or beside Digest, are refused", async () => {
  await using relay = await startRelayProcess(["--user", BOSS]);
  const uri = relay.url("demo");
  const first = await rawRequest(relay.rtspPort, describe(uri));
  assert(first.status === 401, first.text);
  const challenges = parseChallenges(
    [...first.text.matchAll(/\r\nWWW-Authenticate: ([^\r\n]*)/gi)].map((m) => m[1]!),
  );
  const answer = (realm: string, nc: number) =>
    answerChallenge(
      challenges.map((c) => ({ ...c, realm })),
      "DESCRIBE",
      uri,
      "boss",
      "b-secret-3",
      "0a4f113b",
      nc,
      ["digest"],
    );
  const realm = challenges[0]?.realm ?? "";
  const right = await rawRequest(relay.rtspPort, describe(uri, answer(realm, 1)));
  assert(right.status === 200, `the honest answer is accepted:\n${right.text}`);

  const refused: Array<[string, string]> = [
    ["an answer computed for another realm", answer("another-realm", 2)],
    ["Basic behind a leading comma (Basic is off)", `, Basic ${btoa("boss:b-secret-3")}`],
    ["Basic while Basic is off", `Basic ${btoa("boss:b-secret-3")}`],
    ["two credentials in one header", `Basic ${btoa("boss:b-secret-3")}, ${answer(realm, 3)}`],
  ];
  const outcome: Record<string, number> = {};
  for (const [what, authorization] of refused) {
    outcome[what] = (await rawRequest(relay.rtspPort, describe(uri, authorization))).status;
  }
  console.log(outcome);
  assertEquals(outcome, Object.fromEntries(refused.map(([what]) => [what, 401])));
});
