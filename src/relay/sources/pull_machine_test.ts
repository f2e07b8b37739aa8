/**
 * Tests of {@linkcode PullMachine}'s camera session, scripted event by event on a fake clock: the handshake
 * (requests, their headers, the stream calls, interleaved channels the camera chose), the fall back to TCP (461,
 * or no RTP over UDP), the media timeout, the keepalive, the receiver reports, and the ways an attempt fails (an
 * error status, a closed connection, a refused challenge, a stream that cannot take the description or ports).
 * @module
 */
import { deepStrictEqual as assertEquals, equal, ok } from "node:assert/strict";
import { forEachRtcpPacket, parseReceiverReport, RTCP_RR, RTCP_SDES } from "../../rtp/rtcp.ts";
import { UnusableChallengesError } from "../../rtsp/auth/mod.ts";
import {
  CAMERA_BASE,
  CAMERA_HOST,
  CAMERA_URL,
  MachineHarness,
  type RequestOutput,
  sdp,
} from "../../../tests/support/pull_machine_harness.ts";
import type { PullOutput } from "./pull_events.ts";

/** Method, URL and headers of requests, for comparing sequences. */
function summary(requests: RequestOutput[]): Array<[string, string, Record<string, string>]> {
  return requests.map((r) => [r.method, r.url, r.headers]);
}

function kinds(outputs: PullOutput[]): string[] {
  return outputs.map((o) =>
    o.kind === "setTimer" || o.kind === "cancelTimer" ? `${o.kind} ${o.timer}` : o.kind
  );
}

Deno.test("PullMachine plays a two-track camera over UDP: DESCRIBE, SETUP with client ports and Session, PLAY", () => {
  const h = new MachineHarness({ transport: "udp" });
  const started = h.send({ kind: "start" });
  assertEquals(started, [{ kind: "connect", conn: 1, url: CAMERA_URL }]);
  equal(h.machine.phase, "connecting");
  h.play({ tracks: 2, session: "1234;timeout=30" });
  assertEquals(summary(h.requests), [
    ["DESCRIBE", CAMERA_URL, { Accept: "application/sdp" }],
    ["SETUP", `${CAMERA_BASE}trackID=0`, { Transport: "RTP/AVP;unicast;client_port=5000-5001" }],
    ["SETUP", `${CAMERA_BASE}trackID=1`, {
      Transport: "RTP/AVP;unicast;client_port=5002-5003",
      Session: "1234",
    }],
    ["PLAY", CAMERA_BASE, { Session: "1234", Range: "npt=0.000-" }],
  ]);
  assertEquals(h.sink.calls, [
    "state connecting",
    "describe 2 tracks",
    "pair 0",
    `udp source 0 ${CAMERA_HOST} 7000-7001`,
    "pair 1",
    `udp source 1 ${CAMERA_HOST} 7002-7003`,
    "state ready",
  ]);
  equal(h.machine.phase, "playing");
  equal(h.machine.transport, "udp");
  // Every deadline is exact: media timeout, keepalive at half the session timeout, first report after half.
  assertEquals(Object.fromEntries(h.timers), { media: 11_000, keepalive: 16_000, report: 3500 });
  const watch = h.outputs.find((o) => o.kind === "watchMedia");
  assertEquals(watch, { kind: "watchMedia", channels: [] });
  assertEquals(h.logFields("camera session playing"), [{
    path: "cam",
    url: "rtsp://viewer:***@10.0.0.5:554/cam",
    transport: "udp",
    tracks: 2,
  }]);
});

Deno.test("PullMachine over TCP offers channels 2i-2i+1 and routes the ones the camera answered", () => {
  const h = new MachineHarness({ transport: "tcp" });
  h.play({ tracks: 2, transport: (i) => `RTP/AVP/TCP;unicast;interleaved=${4 + 2 * i}-${5 + 2 * i}` });
  const setups = h.requests.filter((r) => r.method === "SETUP").map((r) => r.headers.Transport);
  assertEquals(setups, ["RTP/AVP/TCP;unicast;interleaved=0-1", "RTP/AVP/TCP;unicast;interleaved=2-3"]);
  assertEquals(h.outputs.find((o) => o.kind === "watchMedia"), {
    kind: "watchMedia",
    channels: [
      { channel: 4, track: 0, rtcp: false },
      { channel: 5, track: 0, rtcp: true },
      { channel: 6, track: 1, rtcp: false },
      { channel: 7, track: 1, rtcp: true },
    ],
  });
  ok(!h.sink.calls.some((c) => c.startsWith("pair")), "no UDP ports bound over TCP");
  ok(h.sink.calls.includes("udp source 0 none"));
  ok(!h.timers.has("fallback"));
  equal(h.machine.transport, "tcp");
  // Reports go on the RTCP channel the camera answered.
  const reports = h.advance(2500).filter((o) => o.kind === "sendRtcp");
  assertEquals(reports.map((r) => [r.track, r.route]), [
    [0, { kind: "tcp", channel: 5 }],
    [1, { kind: "tcp", channel: 7 }],
  ]);
});

Deno.test("PullMachine keeps the offered channels when the camera's answer names none", () => {
  const h = new MachineHarness({ transport: "tcp" });
  h.play({ transport: () => "RTP/AVP/TCP;unicast" });
  assertEquals(h.outputs.find((o) => o.kind === "watchMedia"), {
    kind: "watchMedia",
    channels: [{ channel: 0, track: 0, rtcp: false }, { channel: 1, track: 0, rtcp: true }],
  });
});

Deno.test("PullMachine falls back to TCP at once when the camera answers the UDP SETUP with 461 (auto)", () => {
  const h = new MachineHarness();
  h.startConnected();
  h.answer(200, { "Content-Base": CAMERA_BASE }, sdp(1));
  const out = h.answer(461);
  assertEquals(kinds(out), ["log", "close", "connect"]);
  assertEquals(out[0], {
    kind: "log",
    level: "warn",
    msg: "no RTP over UDP, falling back to TCP",
    fields: { path: "cam" },
  });
  assertEquals(out.slice(1), [{ kind: "close", conn: 1 }, { kind: "connect", conn: 2, url: CAMERA_URL }]);
  h.connect();
  h.answer(200, { "Content-Base": CAMERA_BASE }, sdp(1));
  equal(h.lastRequest.headers.Transport, "RTP/AVP/TCP;unicast;interleaved=0-1");
  ok(!h.sink.calls.some((c) => c.startsWith("state error")), "a fall back is no failure");
});

Deno.test("PullMachine in udp mode fails on a 461 instead of falling back", () => {
  const h = new MachineHarness({ transport: "udp" });
  h.startConnected();
  h.answer(200, { "Content-Base": CAMERA_BASE }, sdp(1));
  h.answer(461);
  equal(h.sink.lastError, "Camera answered SETUP with 461 Unsupported Transport");
  equal(h.machine.phase, "backoff");
});

Deno.test("PullMachine tears the UDP session down and goes TCP when no RTP came within udpFallbackMs (auto)", () => {
  const h = new MachineHarness();
  h.play();
  equal(h.timers.get("fallback"), h.now + 3000);
  const out = h.advance(3000);
  const teardown = out.find((o) => o.kind === "request");
  assertEquals(teardown && [teardown.method, teardown.url, teardown.headers, teardown.conn], [
    "TEARDOWN",
    CAMERA_BASE,
    { Session: "1234" },
    1,
  ]);
  ok(kinds(out).join().includes("request,close,cancelTimer media"), kinds(out).join());
  assertEquals(out.at(-1), { kind: "connect", conn: 2, url: CAMERA_URL });
  for (const timer of ["media", "keepalive", "report"]) ok(!h.timers.has(timer as never), timer);
  // The state readers see goes back to connecting (it was ready), with no error.
  equal(h.sink.state, "connecting");
  h.connect();
  h.answer(200, { "Content-Base": CAMERA_BASE }, sdp(1));
  equal(h.lastRequest.headers.Transport, "RTP/AVP/TCP;unicast;interleaved=0-1");
});

Deno.test("PullMachine stays on UDP when RTP arrived before the fallback deadline", () => {
  const h = new MachineHarness();
  h.play();
  h.now += 1200;
  h.send({ kind: "media", track: 0, at: h.now - 100 });
  const out = h.advance(1800);
  ok(!out.some((o) => o.kind === "request" || o.kind === "close"), kinds(out).join());
  equal(h.machine.phase, "playing");
});

Deno.test("PullMachine ends a silent session after mediaTimeoutMs since the latest media, re-arming when early", () => {
  const h = new MachineHarness({ transport: "tcp" });
  h.play();
  const playedAt = h.now;
  equal(h.timers.get("media"), playedAt + 10_000);
  h.now += 4000;
  h.send({ kind: "media", track: 0, at: playedAt + 4000 });
  // The deadline fires early: media came since; it re-arms to the latest media plus the timeout.
  h.advance(6000);
  equal(h.machine.phase, "playing");
  equal(h.timers.get("media"), playedAt + 14_000);
  const out = h.advance(4000);
  equal(h.now, playedAt + 14_000);
  ok(out.some((o) => o.kind === "close" && o.conn === 1), kinds(out).join());
  assertEquals([...h.timers.keys()], ["retry"], "the session's timers are gone");
  equal(h.sink.lastError, "No media from the camera for 10 s");
  equal(h.sink.state, "error");
  // It played: a warning that the session ended, and the retry after the first backoff delay.
  assertEquals(h.logFields("camera session ended; reconnecting"), [{
    path: "cam",
    url: "rtsp://viewer:***@10.0.0.5:554/cam",
    error: "No media from the camera for 10 s",
    retryInMs: 500,
  }]);
  equal(h.timers.get("retry"), h.now + 500);
  equal(h.machine.retryAt, h.now + 500);
  equal(h.machine.transport, null);
  h.advance(500);
  assertEquals(h.outputs.at(-1), { kind: "connect", conn: 2, url: CAMERA_URL });
});

Deno.test("PullMachine sends a GET_PARAMETER keepalive every half session timeout, at least every second", () => {
  for (
    const [session, period] of [["1234;timeout=30", 15_000], ["1234", 30_000], [
      "1234;timeout=1",
      1000,
    ]] as const
  ) {
    const h = new MachineHarness({ transport: "tcp", mediaTimeoutMs: 100_000 });
    h.play({ session });
    const playedAt = h.now;
    const sent: number[] = [];
    for (let i = 0; i < 3; i++) {
      for (const o of h.advance(period)) {
        if (o.kind === "request") {
          assertEquals([o.method, o.url, o.headers], ["GET_PARAMETER", CAMERA_BASE, { Session: "1234" }]);
          sent.push(h.now - playedAt);
        }
      }
    }
    assertEquals(sent, [period, 2 * period, 3 * period], session);
    // Keepalive answers (or their failure) change nothing.
    h.failRequest(new Error("GET_PARAMETER timed out"));
    equal(h.machine.phase, "playing", session);
  }
});

Deno.test("PullMachine sends receiver reports half an interval after PLAY, then every interval, to the camera's RTCP port", () => {
  const h = new MachineHarness({ transport: "udp", rtcpIntervalMs: 4000, mediaTimeoutMs: 100_000 });
  h.play({ tracks: 2 });
  const playedAt = h.now;
  h.sink.tracks[0]!.block = {
    ssrc: 0xca3e0001,
    fractionLost: 0,
    cumulativeLost: 2,
    highestSeq: 40,
    jitter: 3,
    lsr: 0,
    dlsr: 0,
  };
  const at: number[] = [];
  const reports: Extract<PullOutput, { kind: "sendRtcp" }>[] = [];
  for (let t = 0; t < 10_000; t += 500) {
    for (const o of h.advance(500)) {
      if (o.kind === "sendRtcp") {
        reports.push(o);
        at.push(h.now - playedAt);
      }
    }
  }
  assertEquals(at, [2000, 2000, 6000, 6000, 10_000, 10_000]);
  assertEquals(reports.slice(0, 2).map((r) => [r.track, r.route]), [
    [0, { kind: "udp", host: CAMERA_HOST, port: 7001 }],
    [1, { kind: "udp", host: CAMERA_HOST, port: 7003 }],
  ]);
  const types: number[] = [];
  let blocks = -1;
  let sender = -1;
  forEachRtcpPacket(reports[0]!.packet, (type, packet) => {
    types.push(type);
    if (type === RTCP_RR) {
      const rr = parseReceiverReport(packet)!;
      blocks = rr.reports.length;
      sender = rr.ssrc;
      equal(rr.reports[0]?.cumulativeLost, 2);
    }
  });
  assertEquals(types, [RTCP_RR, RTCP_SDES]);
  equal(blocks, 1);
  equal(sender, h.machine.ssrc);
});

Deno.test("PullMachine sends no UDP report for a track whose SETUP answer named no server ports", () => {
  const h = new MachineHarness({ transport: "udp" });
  h.play({ transport: (_, offered) => offered });
  assertEquals(h.advance(2500).filter((o) => o.kind === "sendRtcp"), []);
  ok(h.sink.calls.includes(`udp source 0 ${CAMERA_HOST} ?-?`));
});

Deno.test("PullMachine fails the attempt on an error status, naming the method and status", () => {
  for (
    const [step, expected] of [
      [0, "Camera answered DESCRIBE with 404 Not Found"],
      [1, "Camera answered SETUP with 454 Session Not Found"],
      [2, "Camera answered PLAY with 454 Session Not Found"],
    ] as const
  ) {
    const h = new MachineHarness({ transport: "tcp" });
    h.startConnected();
    if (step > 0) h.answer(200, { "Content-Base": CAMERA_BASE }, sdp(1));
    if (step > 1) h.answer(200, { Session: "1234" });
    const out = h.answer(step === 0 ? 404 : 454);
    equal(h.sink.lastError, expected);
    assertEquals(out.slice(0, 1), [{ kind: "close", conn: 1 }]);
    equal(h.machine.phase, "backoff");
    equal(h.machine.failures, 1);
  }
});

Deno.test("PullMachine fails the attempt when the camera closes mid-handshake or while playing", () => {
  // The client fails the pending request first ("Connection closed"), then reports the end of the connection.
  const h = new MachineHarness({ transport: "tcp" });
  h.startConnected();
  h.failRequest(new Error("Connection closed"));
  equal(h.sink.lastError, "Connection closed");
  assertEquals(h.send({ kind: "closed", conn: 1 }), [], "the end of a connection given up changes nothing");
  // Playing, the connection's end is the failure.
  const p = new MachineHarness({ transport: "tcp" });
  p.play();
  p.send({ kind: "closed", conn: 1 });
  equal(p.sink.lastError, "Camera closed the connection");
  equal(p.machine.phase, "backoff");
});

Deno.test("PullMachine reports a connection that could not be opened", () => {
  const h = new MachineHarness();
  h.send({ kind: "start" });
  h.send({ kind: "connectFailed", conn: 1, error: new Error("Connection refused (os error 111)") });
  equal(h.sink.lastError, "Connection refused (os error 111)");
  assertEquals(h.sink.calls, ["state connecting", "state error: Connection refused (os error 111)"]);
});

Deno.test("PullMachine names --pull-auth when the camera offers only Basic; a final 401 is an error status", () => {
  const h = new MachineHarness();
  h.startConnected();
  // The client answers Digest challenges itself; a Basic-only challenge it may not answer fails the request.
  h.failRequest(new UnusableChallengesError(["Basic"], ["digest"]));
  equal(
    h.sink.lastError,
    "Camera offers only Basic authentication, which would send its password in clear: refused by " +
      "--pull-auth digest (--pull-auth digest,basic allows it)",
  );
  assertEquals(h.logLines, ["warn camera unreachable; retrying with backoff"]);
  // Credentials the camera rejected (or none): the 401 comes back as the answer.
  const r = new MachineHarness();
  r.startConnected();
  r.answer(401, { "WWW-Authenticate": 'Digest realm="cam", nonce="1"' });
  equal(r.sink.lastError, "Camera answered DESCRIBE with 401 Unauthorized");
});

Deno.test("PullMachine redacts the camera's secrets from the errors it leaves on the stream", () => {
  const h = new MachineHarness();
  h.startConnected();
  h.failRequest(
    new Error("DESCRIBE rtsp://viewer:s3cret@10.0.0.5:554/cam?token=abc timed out after 5000 ms"),
  );
  ok(!h.sink.lastError!.includes("s3cret") && !h.sink.lastError!.includes("abc"), h.sink.lastError);
  ok(!JSON.stringify(h.outputs.filter((o) => o.kind === "log")).includes("s3cret"));
});

Deno.test("PullMachine fails the attempt when the stream refuses the description or has no free ports", () => {
  const h = new MachineHarness();
  h.sink.maxTracks = 1;
  h.startConnected();
  h.answer(200, { "Content-Base": CAMERA_BASE }, sdp(2));
  equal(h.sink.lastError, "The SDP has 2 media sections");
  assertEquals(h.outputs.at(-1), { kind: "setTimer", timer: "retry", at: h.now + 500 });
  const p = new MachineHarness({ transport: "udp" });
  p.sink.portsExhausted = true;
  p.startConnected();
  p.answer(200, { "Content-Base": CAMERA_BASE }, sdp(1));
  equal(p.sink.lastError, "No free UDP port pair in 5000-5001");
  equal(p.requests.length, 1, "no SETUP without ports");
  const b = new MachineHarness();
  b.startConnected();
  b.answer(200, {}, "not an SDP");
  equal(b.machine.phase, "backoff");
  ok(b.sink.lastError, "a description that does not parse is the attempt's error");
});

Deno.test("PullMachine uses Content-Location, then the camera URL, as the base when Content-Base is missing", () => {
  const h = new MachineHarness({ transport: "tcp" });
  h.startConnected();
  h.answer(200, { "Content-Location": "rtsp://10.0.0.5:554/other/" }, sdp(1));
  equal(h.lastRequest.url, "rtsp://10.0.0.5:554/other/trackID=0");
  const u = new MachineHarness({ transport: "tcp" });
  u.startConnected();
  u.answer(200, {}, sdp(1));
  equal(u.lastRequest.url, "rtsp://viewer:s3cret@10.0.0.5:554/cam/trackID=0");
});
