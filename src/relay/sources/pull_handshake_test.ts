/**
 * Tests of the pull's handshake helpers: the Transport a SETUP offers, what a SETUP answer settles (one case
 * table: answer headers in, session, UDP source, channels and report route out), the keepalive period, and the
 * failure messages (statuses, refused challenges naming `--pull-auth`, secrets redacted).
 * @module
 */
import { deepStrictEqual as assertEquals, equal, throws } from "node:assert/strict";
import { UnusableChallengesError } from "../../rtsp/auth/mod.ts";
import { response } from "../../../tests/support/pull_machine_harness.ts";
import {
  answerProblem,
  failureMessage,
  keepaliveMs,
  readSetupAnswer,
  setupOffer,
  type SetupResult,
} from "./pull_handshake.ts";

Deno.test("setupOffer() offers the track's UDP ports, or interleaved channels 2i and 2i+1", () => {
  equal(setupOffer(0, { rtpPort: 5000, rtcpPort: 5001 }), "RTP/AVP;unicast;client_port=5000-5001");
  equal(setupOffer(0, null), "RTP/AVP/TCP;unicast;interleaved=0-1");
  equal(setupOffer(3, null), "RTP/AVP/TCP;unicast;interleaved=6-7");
});

/** Name, answer headers, track index, TCP?, what the answer settles. */
const SETUP_CASES: Array<[string, Record<string, string>, number, boolean, SetupResult]> = [
  [
    "UDP with server ports and a session timeout",
    { Session: "abc;timeout=30", Transport: "RTP/AVP;unicast;client_port=5000-5001;server_port=7000-7001" },
    0,
    false,
    {
      sessionId: "abc",
      timeoutS: 30,
      udpSource: { host: "10.0.0.5", rtpPort: 7000, rtcpPort: 7001 },
      channels: [],
      reportRoute: { kind: "udp", host: "10.0.0.5", port: 7001 },
    },
  ],
  [
    "UDP without server ports: latched from the first packets, no reports",
    { Session: "abc", Transport: "RTP/AVP;unicast;client_port=5000-5001" },
    1,
    false,
    {
      sessionId: "abc",
      timeoutS: undefined,
      udpSource: { host: "10.0.0.5" },
      channels: [],
      reportRoute: null,
    },
  ],
  [
    "TCP on the channels the camera chose",
    { Session: "abc", Transport: "RTP/AVP/TCP;unicast;interleaved=4-5" },
    0,
    true,
    {
      sessionId: "abc",
      timeoutS: undefined,
      udpSource: null,
      channels: [{ channel: 4, track: 0, rtcp: false }, { channel: 5, track: 0, rtcp: true }],
      reportRoute: { kind: "tcp", channel: 5 },
    },
  ],
  [
    "TCP with no Transport nor Session in the answer: the offered channels",
    {},
    2,
    true,
    {
      sessionId: undefined,
      timeoutS: undefined,
      udpSource: null,
      channels: [{ channel: 4, track: 2, rtcp: false }, { channel: 5, track: 2, rtcp: true }],
      reportRoute: { kind: "tcp", channel: 5 },
    },
  ],
];

for (const [name, headers, index, tcp, expected] of SETUP_CASES) {
  Deno.test(`readSetupAnswer() ${name}`, () => {
    assertEquals(readSetupAnswer(response(200, headers), index, tcp, "10.0.0.5"), expected);
  });
}

Deno.test("readSetupAnswer() throws on a malformed Session or Transport", () => {
  throws(() => readSetupAnswer(response(200, { Session: "a b" }), 0, true, "10.0.0.5"), /session id/i);
  throws(() => readSetupAnswer(response(200, { Session: "abc;timeout=x" }), 0, true, "10.0.0.5"), /timeout/i);
  throws(() => readSetupAnswer(response(200, { Transport: "RTP/AVP;unicast;server_port=x" }), 0, false, "h"));
});

Deno.test("keepaliveMs() is half the session timeout, at least a second", () => {
  assertEquals([60, 30, 1, 0].map(keepaliveMs), [30_000, 15_000, 1000, 1000]);
});

Deno.test("answerProblem() names the method and status of anything but 200", () => {
  equal(answerProblem(response(200), "PLAY"), null);
  equal(answerProblem(response(404), "DESCRIBE"), "Camera answered DESCRIBE with 404 Not Found");
});

Deno.test("failureMessage() names --pull-auth for refused challenges and redacts URLs", () => {
  equal(
    failureMessage(new UnusableChallengesError(["Basic"], ["digest"]), ["digest"]),
    "Camera offers only Basic authentication, which would send its password in clear: refused by " +
      "--pull-auth digest (--pull-auth digest,basic allows it)",
  );
  equal(
    failureMessage(new UnusableChallengesError(["Digest"], ["basic"]), ["basic"]),
    "Camera offers only Digest authentication, not allowed by --pull-auth basic",
  );
  equal(
    failureMessage(new UnusableChallengesError([], ["digest"]), ["digest"]),
    "Camera offers no supported authentication scheme",
  );
  equal(
    failureMessage(new Error("PLAY rtsp://u:pw@cam/x?token=abc timed out after 5000 ms"), ["digest"]),
    "PLAY rtsp://u:***@cam/x?token=*** timed out after 5000 ms",
  );
  equal(failureMessage("broken", ["digest"]), "broken");
});
