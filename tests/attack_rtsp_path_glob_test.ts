/**
 * Attack on the users' path globs (issue 13, item 7): a user limited to `site-*-*-*.live` asks for a
 * 2.8k-character path that almost matches. A backtracking matcher spends seconds of blocked event loop per
 * request (cubic in the length); the relay must answer at once (414: the path is over the cap) and keep
 * serving everyone else meanwhile.
 * @module
 */
import { ok as assert } from "node:assert/strict";
import { answerChallenge, parseChallenges } from "../src/rtsp/auth/mod.ts";
import { type RawResponse, RawRtspConnection } from "./support/raw_rtsp.ts";
import { startRelayProcess } from "./support/relay.ts";

const USER = "alice:a-secret-1:read:site-*-*-*.live";

/** alice's Digest answer for `uri`, to the challenge of a 401 as the raw client read it. */
function answer(unauthorized: RawResponse | null, uri: string, nc: number): string {
  const challenges = parseChallenges([unauthorized?.headers["www-authenticate"] ?? ""]);
  return answerChallenge(challenges, "DESCRIBE", uri, "alice", "a-secret-1", "c0ffee", nc, ["digest"]);
}

Deno.test("attack: a 2.8k-character path against site-*-*-*.live is answered at once, and others are served meanwhile", async () => {
  await using relay = await startRelayProcess(["--user", USER]);
  const uri = relay.url("site-" + "-".repeat(2800) + "x");

  await using attacker = await RawRtspConnection.open(relay.rtspPort);
  // The challenge (a nonce) comes from any request; the answers then name the long path.
  const first = await attacker.request(
    `DESCRIBE ${relay.url("site-1-2-3.live")} RTSP/1.0\r\nCSeq: 1\r\n\r\n`,
  );
  assert(first?.status === 401, `the handshake starts with 401: ${first?.status}`);
  // Five pipelined requests with valid credentials: seconds of blocked event loop each for a backtracking matcher.
  const ATTACKS = 5;
  let burst = "";
  for (let i = 0; i < ATTACKS; i++) {
    burst += `DESCRIBE ${uri} RTSP/1.0\r\nCSeq: ${i + 2}\r\nAuthorization: ${
      answer(first, uri, i + 1)
    }\r\n\r\n`;
  }
  assert(burst.length / ATTACKS < 8000, "each request fits the default 8 KiB head");
  await attacker.send(burst);

  // Meanwhile another client is served. The bound is generous for a loaded machine: a blocked loop takes far longer.
  await new Promise((r) => setTimeout(r, 200));
  await using bystander = await RawRtspConnection.open(relay.rtspPort);
  const options = await bystander.request(`OPTIONS ${relay.url("demo")} RTSP/1.0\r\nCSeq: 1\r\n\r\n`, 15_000)
    .catch((e: Error) => e);
  assert(!(options instanceof Error), `the bystander's OPTIONS was not answered: ${String(options)}`);
  assert(options?.status === 200, `bystander: ${options?.status}`);

  for (let i = 0; i < ATTACKS; i++) {
    const res = await attacker.response(30_000);
    assert(res?.status === 414, `attack ${i + 1}: ${res?.status} ${res?.body ?? ""}`);
  }
  console.log(`${ATTACKS} attack requests answered 414 Request-URI Too Long; the bystander was served`);

  // The glob still admits the paths it names and no others: alice passes for one (no such stream: 404).
  for (const [path, status] of [["site-1-2-3.live", 404], ["site-1.live", 403]] as const) {
    const url = relay.url(path);
    const challenge = await attacker.request(`DESCRIBE ${url} RTSP/1.0\r\nCSeq: 20\r\n\r\n`);
    const res = await attacker.request(
      `DESCRIBE ${url} RTSP/1.0\r\nCSeq: 21\r\nAuthorization: ${answer(challenge, url, 1)}\r\n\r\n`,
    );
    assert(res?.status === status, `alice on ${path}: ${res?.status} ${res?.body ?? ""}`);
  }
});
