/**
 * A reader's methods: DESCRIBE, SETUP, PLAY (egresses, RTP-Info, the cached GOP once), PAUSE, TEARDOWN, and
 * its RTCP reports. Driven through the harness in tests/support/rtsp_service_harness.ts.
 * @module
 */
import { deepStrictEqual as assertEquals, equal, match, notEqual, ok } from "node:assert/strict";
import { rtpSequence, rtpSsrc } from "../rtp/packet.ts";
import { parseTransport } from "../rtsp/headers/transport.ts";
import { parseSession } from "../rtsp/headers/session.ts";
import { parseRtpInfo } from "../rtsp/headers/rtp_info.ts";
import { request } from "../rtsp/message.ts";
import { parseSdp } from "../rtsp/sdp.ts";
import type { FakePortPair } from "../../tests/support/fake_port_pairs.ts";
import {
  BASE,
  FakeConn,
  Harness,
  HOST,
  readerRr,
  rtp,
  tick,
  TIMEOUT_S,
} from "../../tests/support/rtsp_service_harness.ts";

Deno.test("RtspService answers DESCRIBE of an unknown path with 404", async () => {
  const h = new Harness();
  try {
    const conn = new FakeConn();
    equal((await h.send(conn, "DESCRIBE", `${BASE}/nope`)).status, 404);
    equal((await h.send(conn, "DESCRIBE", `${BASE}/demo`)).status, 404); // demo disabled
    equal(h.hub.streams().length, 0);
    equal(h.sources.length, 0);
  } finally {
    await h.close();
  }
});

Deno.test("RtspService answers DESCRIBE with the served SDP and Content-Base", async () => {
  const h = new Harness();
  try {
    const res = await h.send(new FakeConn(), "DESCRIBE", `${BASE}/cam`, { Accept: "application/sdp" });
    equal(res.status, 200);
    equal(res.headers.get("Content-Type"), "application/sdp");
    equal(res.headers.get("Content-Base"), `${BASE}/cam/`);
    const sdp = parseSdp(new TextDecoder().decode(res.body));
    assertEquals(sdp.medias.map((m) => [m.type, m.encoding, m.clockRate, m.control]), [
      ["video", "H264", 90_000, "trackID=0"],
      ["audio", "PCMU", 8000, "trackID=1"],
    ]);
    equal(sdp.raw.name, "cam");
    equal(sdp.raw.origin?.address, HOST); // not the camera's 10.0.0.9
    equal(h.sources.length, 1);
    equal(h.sources[0]!.starts, 1);
    equal(h.stream("cam").refs, 0); // DESCRIBE holds the stream only while answering
  } finally {
    await h.close();
  }
});

Deno.test("RtspService answers SETUP of a track the stream does not have with 404", async () => {
  const h = new Harness();
  try {
    const conn = new FakeConn();
    const tcp = { Transport: "RTP/AVP/TCP;unicast;interleaved=0-1" };
    equal((await h.send(conn, "SETUP", `${BASE}/cam/trackID=2`, tcp)).status, 404);
    equal((await h.send(conn, "SETUP", `${BASE}/cam/trackID=99`, tcp)).status, 404);
    equal((await h.send(conn, "SETUP", `${BASE}/cam/other`, tcp)).status, 404);
    equal((await h.send(conn, "SETUP", `${BASE}/nope/trackID=0`, tcp)).status, 404);
    assertEquals(h.ids(), []);
    equal(h.stream("cam").refs, 0);
  } finally {
    await h.close();
  }
});

Deno.test("RtspService answers SETUP with an unsupported transport with 461", async () => {
  const h = new Harness();
  try {
    const conn = new FakeConn();
    const url = `${BASE}/cam/trackID=0`;
    for (
      const transport of [
        "RTP/AVP;multicast;destination=232.0.0.1;port=5000-5001;ttl=4",
        "RTP/AVP/UNKNOWN;unicast;client_port=5000-5001",
        "RTP/AVP;unicast", // UDP without client_port
        "RTP/AVP;unicast;client_port=5000-5001;mode=bogus",
      ]
    ) {
      equal((await h.send(conn, "SETUP", url, { Transport: transport })).status, 461, transport);
    }
    equal((await h.send(conn, "SETUP", url)).status, 461); // no Transport at all
    assertEquals(h.ids(), []);
    equal(h.stream("cam").refs, 0);
    // The first supported offer of a list wins.
    const res = await h.send(conn, "SETUP", url, {
      Transport: "RTP/AVP;multicast;port=5000-5001, RTP/AVP/TCP;unicast;interleaved=4-5",
    });
    equal(res.status, 200);
    assertEquals(parseTransport(res.headers.get("Transport")!).interleaved, [4, 5]);
  } finally {
    await h.close();
  }
});

Deno.test("RtspService SETUP over UDP answers the stream's server ports and output SSRC", async () => {
  const h = new Harness();
  try {
    const res = await h.send(new FakeConn(), "SETUP", `${BASE}/cam/trackID=1`, {
      Transport: "RTP/AVP;unicast;client_port=6970-6971",
    });
    equal(res.status, 200);
    const session = parseSession(res.headers.get("Session")!);
    match(session.id, /^[0-9a-f]{16}$/);
    equal(session.timeout, TIMEOUT_S);
    const stream = h.stream("cam");
    const t = parseTransport(res.headers.get("Transport")!);
    equal(t.lowerTransport, "UDP");
    equal(t.delivery, "unicast");
    assertEquals(t.clientPort, [6970, 6971]);
    assertEquals(t.serverPort, [stream.pairOf(1)!.rtpPort, stream.pairOf(1)!.rtcpPort]);
    equal(t.ssrc, stream.tracks[1]!.outputSsrc);
    equal(stream.refs, 1);
    assertEquals(h.ids(), [session.id]);
    const s = h.svc.sessions()[0]!;
    equal(s.role, "reader");
    equal(s.state, "ready");
  } finally {
    await h.close();
  }
});

Deno.test("RtspService answers PLAY without a session with 454 and PLAY/RECORD out of state with 455", async () => {
  const h = new Harness();
  try {
    const conn = new FakeConn();
    equal((await h.send(conn, "PLAY", `${BASE}/cam/`)).status, 454);
    equal((await h.send(conn, "PAUSE", `${BASE}/cam/`)).status, 454);
    equal((await h.send(conn, "RECORD", `${BASE}/cam/`)).status, 454);
    equal((await h.send(conn, "TEARDOWN", `${BASE}/cam/`)).status, 454);
    const id = await h.setup(conn, `${BASE}/cam/trackID=0`, "RTP/AVP/TCP;unicast;interleaved=0-1");
    equal((await h.send(conn, "RECORD", `${BASE}/cam/`, { Session: id })).status, 455); // a reader
    equal((await h.send(conn, "PLAY", `${BASE}/cam/`, { Session: id })).status, 200);
    // SETUP while playing is not allowed for readers (RFC 2326 A.2)
    const setup = await h.send(conn, "SETUP", `${BASE}/cam/trackID=1`, {
      Session: id,
      Transport: "RTP/AVP/TCP;unicast;interleaved=2-3",
    });
    equal(setup.status, 455);
    equal(h.svc.sessions()[0]!.tracks.size, 1);
  } finally {
    await h.close();
  }
});

Deno.test("RtspService aggregates a second track into the session, refusing another path (459) or a repeat (455)", async () => {
  const h = new Harness();
  try {
    const conn = new FakeConn();
    const id = await h.setup(conn, `${BASE}/cam/trackID=0`, "RTP/AVP/TCP;unicast;interleaved=0-1");
    const other = await h.send(conn, "SETUP", `${BASE}/cam2/trackID=1`, {
      Session: id,
      Transport: "RTP/AVP/TCP;unicast;interleaved=2-3",
    });
    equal(other.status, 459);
    const again = await h.send(conn, "SETUP", `${BASE}/cam/trackID=0`, {
      Session: id,
      Transport: "RTP/AVP/TCP;unicast;interleaved=0-1",
    });
    equal(again.status, 455);
    equal(await h.setup(conn, `${BASE}/cam/trackID=1`, "RTP/AVP/TCP;unicast;interleaved=2-3", id), id);
    const s = h.svc.sessions();
    equal(s.length, 1);
    assertEquals([...s[0]!.tracks.keys()].sort(), [0, 1]);
    equal(h.stream("cam").refs, 1); // one session, one reference
    equal(h.hub.get("cam2")?.refs ?? 0, 0);

    const play = await h.send(conn, "PLAY", `${BASE}/cam/`, { Session: id });
    equal(play.status, 200);
    equal(play.headers.get("Range"), "npt=0.000-");
    assertEquals(parseRtpInfo(play.headers.get("RTP-Info")!).map((e) => e.url), [
      `${BASE}/cam/trackID=0`,
      `${BASE}/cam/trackID=1`,
    ]);
  } finally {
    await h.close();
  }
});

Deno.test("RtspService PLAY forwards the track to the reader's interleaved channels with RTP-Info", async () => {
  const h = new Harness();
  try {
    const conn = new FakeConn();
    const id = await h.setup(conn, `${BASE}/cam/trackID=0`, "RTP/AVP/TCP;unicast;interleaved=6-7");
    const track = h.stream("cam").tracks[0]!;
    track.ingestRtp(rtp(100)); // before PLAY: not for this reader
    const play = await h.send(conn, "PLAY", `${BASE}/cam/`, { Session: id });
    assertEquals(parseRtpInfo(play.headers.get("RTP-Info")!), [
      { url: `${BASE}/cam/trackID=0`, seq: 101, rtptime: 360_000 },
    ]);
    track.ingestRtp(rtp(101));
    const frames = await conn.frames();
    assertEquals(frames.map((f) => f.channel), [6]);
    equal(rtpSequence(frames[0]!.payload), 101);
    equal(rtpSsrc(frames[0]!.payload), track.outputSsrc);
    equal(h.svc.sessions()[0]!.state, "playing");
  } finally {
    await h.close();
  }
});

Deno.test("RtspService PLAY starts media only once the reply is queued (responseSent)", async () => {
  const h = new Harness();
  try {
    const conn = new FakeConn();
    const id = await h.setup(conn, `${BASE}/cam/trackID=0`, "RTP/AVP/TCP;unicast;interleaved=0-1");
    const track = h.stream("cam").tracks[0]!;
    const req = request("PLAY", `${BASE}/cam/`, { CSeq: "9", Session: id });
    const res = await h.svc.handle(req, conn);
    equal(res.status, 200);
    track.ingestRtp(rtp(1)); // sent before the reply reached the wire: must not reach the reader
    equal(track.egresses.length, 0);
    h.svc.responseSent(req, res, conn);
    track.ingestRtp(rtp(2));
    assertEquals((await conn.frames()).map((f) => rtpSequence(f.payload)), [2]);
  } finally {
    await h.close();
  }
});

Deno.test("RtspService PLAY replays the cached GOP after the reply and names its first packet in RTP-Info", async () => {
  const h = new Harness({ gopCacheBytes: 64 * 1024 });
  try {
    const conn = new FakeConn();
    const id = await h.setup(conn, `${BASE}/cam/trackID=0`, "RTP/AVP/TCP;unicast;interleaved=0-1");
    const stream = h.stream("cam");
    const video = stream.tracks[0]!;
    ok(video.gopCache, "H.264 track has a GOP cache");
    equal(stream.tracks[1]!.gopCache, undefined); // PCMU: none
    video.ingestRtp(rtp(10, 0x1234, 0x41)); // P slice before any keyframe: not cached
    video.ingestRtp(rtp(11, 0x1234, 0x65)); // IDR: the GOP starts here
    video.ingestRtp(rtp(12, 0x1234, 0x41));

    const play = await h.send(conn, "PLAY", `${BASE}/cam/`, { Session: id });
    assertEquals(parseRtpInfo(play.headers.get("RTP-Info")!), [
      { url: `${BASE}/cam/trackID=0`, seq: 11, rtptime: 11 * 3600 },
    ]);
    video.ingestRtp(rtp(13, 0x1234, 0x41));
    assertEquals((await conn.frames()).map((f) => rtpSequence(f.payload)), [11, 12, 13]);
    equal(video.counters.burstPackets, 2);
  } finally {
    await h.close();
  }
});

Deno.test("RtspService PAUSE and PLAY of one reader leave another reader alone", async () => {
  const h = new Harness();
  try {
    const a = new FakeConn();
    const b = new FakeConn();
    const idA = await h.tcpReader(a, "cam");
    const idB = await h.tcpReader(b, "cam");
    notEqual(idA, idB);
    const track = h.stream("cam").tracks[0]!;
    equal(h.stream("cam").refs, 2);
    equal(track.egresses.length, 2);

    track.ingestRtp(rtp(1));
    equal((await h.send(a, "PAUSE", `${BASE}/cam/`, { Session: idA })).status, 200);
    assertEquals(track.egresses.map((e) => e.id), [`${idB}:0`]);
    track.ingestRtp(rtp(2));
    equal((await h.send(a, "PLAY", `${BASE}/cam/`, { Session: idA })).status, 200);
    track.ingestRtp(rtp(3));

    assertEquals((await a.frames()).map((f) => rtpSequence(f.payload)), [1, 3]);
    assertEquals((await b.frames()).map((f) => rtpSequence(f.payload)), [1, 2, 3]);
    assertEquals(h.svc.sessions().map((s) => s.state), ["playing", "playing"]);
    equal(h.stream("cam").refs, 2); // pausing keeps the reader's interest
  } finally {
    await h.close();
  }
});

Deno.test("RtspService TEARDOWN ends the session and releases the stream, which goes idle after the linger", async () => {
  const h = new Harness({ lingerSeconds: 0 });
  try {
    const a = new FakeConn();
    const b = new FakeConn();
    const idA = await h.tcpReader(a, "cam");
    const idB = await h.tcpReader(b, "cam");
    const stream = h.stream("cam");
    equal(stream.refs, 2);

    const res = await h.send(a, "TEARDOWN", `${BASE}/cam/`, { Session: idA });
    equal(res.status, 200);
    assertEquals(h.ids(), [idB]);
    equal(stream.refs, 1);
    assertEquals(stream.tracks[0]!.egresses.map((e) => e.id), [`${idB}:0`]);
    equal(a.closed, false); // TEARDOWN does not close the connection
    equal((await h.send(a, "PLAY", `${BASE}/cam/`, { Session: idA })).status, 454);

    await tick(5);
    equal(h.hub.get("cam"), stream); // still a reader

    equal((await h.send(b, "TEARDOWN", `${BASE}/cam/`, { Session: idB })).status, 200);
    equal(stream.refs, 0);
    for (let i = 0; i < 50 && !stream.closed; i++) await tick(1);
    equal(stream.closed, true);
    equal(h.hub.get("cam"), undefined);
    equal(h.sources[0]!.stopped, true);
  } finally {
    await h.close();
  }
});

Deno.test("RtspService PLAY over UDP sends RTP to the client port and counts the reader's RTCP", async () => {
  const h = new Harness();
  try {
    const conn = new FakeConn();
    const id = await h.setup(conn, `${BASE}/cam/trackID=0`, "RTP/AVP;unicast;client_port=7200-7201");
    equal((await h.send(conn, "PLAY", `${BASE}/cam/`, { Session: id })).status, 200);
    const stream = h.stream("cam");
    const track = stream.tracks[0]!;
    const pair = stream.pairOf(0) as FakePortPair;

    track.ingestRtp(rtp(42));
    const sent = pair.sent.filter((d) => d.port === "rtp");
    equal(sent.length, 1, "RTP to the client port, from the track's RTP port");
    equal(sent[0]!.to.port, 7200);
    equal(rtpSequence(sent[0]!.packet), 42);
    equal(rtpSsrc(sent[0]!.packet), track.outputSsrc);

    // A receiver report from the reader's RTCP port refreshes the session and is counted, not forwarded.
    // v=2, p=0, count=0, RR, length=1 word; reporter SSRC 1
    h.clock.now += 3000;
    pair.receiveRtcp(new Uint8Array([0x80, 201, 0x00, 0x01, 0, 0, 0, 1]), HOST, 7201);
    equal(track.counters.readerReports, 1);
    equal(h.svc.sessions()[0]!.timer.lastActivity, h.clock.now);
    equal(pair.sent.filter((d) => d.port === "rtcp").length, 0, "not forwarded");
    // The same report from another port of the client is not the reader's.
    pair.receiveRtcp(new Uint8Array([0x80, 201, 0x00, 0x01, 0, 0, 0, 1]), HOST, 7203);
    equal(track.counters.readerReports, 1);
  } finally {
    await h.close();
  }
});

Deno.test({
  // A refused SETUP must not leave an "init" session behind holding the stream until the sweep.
  name: "RtspService leaves no session behind when SETUP is refused for an interleaved channel in use",
  async fn() {
    const h = new Harness();
    try {
      const conn = new FakeConn();
      const id = await h.tcpReader(conn, "cam");
      const res = await h.send(conn, "SETUP", `${BASE}/cam2/trackID=0`, {
        Transport: "RTP/AVP/TCP;unicast;interleaved=0-1",
      });
      equal(res.status, 461);
      assertEquals(h.ids(), [id]);
      equal(h.stream("cam2").refs, 0);
    } finally {
      await h.close();
    }
  },
});

Deno.test("RtspService keeps each reader's latest RTCP report per track on its session, over TCP and UDP", async () => {
  const h = new Harness();
  try {
    const tcp = new FakeConn();
    const tcpId = await h.tcpReader(tcp, "cam");
    const stream = h.stream("cam");
    const [video, audio] = [stream.tracks[0]!, stream.tracks[1]!];
    equal(audio.clockRate, 8000);
    const session = (id: string) => h.svc.sessions().find((s) => s.id === id)!;

    // RTCP channel 1 of the interleaved reader: fraction 64/256, 12 lost, jitter 900 units at 90 kHz = 10 ms.
    tcp.onFrame!(1, readerRr({ ssrc: video.outputSsrc, fractionLost: 64, cumulativeLost: 12, jitter: 900 }));
    const expected = {
      fractionLost: 0.25,
      cumulativeLost: 12,
      jitterSeconds: 0.01,
      highestSeq: 0,
      at: h.wall.now,
    };
    assertEquals(session(tcpId).reports.get(0), expected);
    assertEquals(video.readerReports.get(tcpId), expected);
    equal(video.counters.readerReports, 1);

    // A later report replaces the earlier one; a block about a track the reader did not set up is ignored.
    h.clock.now += 5000;
    h.wall.now += 5000;
    tcp.onFrame!(
      1,
      readerRr(
        { ssrc: video.outputSsrc, fractionLost: 0, cumulativeLost: 13, jitter: 450, highestSeq: 70_000 },
        { ssrc: audio.outputSsrc, cumulativeLost: 99 },
      ),
    );
    assertEquals(session(tcpId).reports.get(0), {
      fractionLost: 0,
      cumulativeLost: 13,
      jitterSeconds: 0.005,
      highestSeq: 70_000,
      at: h.wall.now,
    });
    equal(session(tcpId).reports.has(1), false);
    equal(audio.readerReports.size, 0);
    tcp.onFrame!(1, new Uint8Array([0x80, 201, 0x00, 0x09])); // length says 40 bytes, has 4: ignored
    equal(session(tcpId).reports.get(0)!.cumulativeLost, 13);

    // A UDP reader of both tracks: blocks go to the track whose SSRC they name, whichever port they came on.
    const udp = new FakeConn();
    const udpId = await h.setup(udp, `${BASE}/cam/trackID=0`, "RTP/AVP;unicast;client_port=7100-7101");
    await h.setup(udp, `${BASE}/cam/trackID=1`, "RTP/AVP;unicast;client_port=7102-7103", udpId);
    (stream.pairOf(0) as FakePortPair).receiveRtcp(
      readerRr({ ssrc: audio.outputSsrc, fractionLost: 128, cumulativeLost: 3, jitter: 80 }),
      HOST,
      7101,
    );
    assertEquals(session(udpId).reports.get(1), {
      fractionLost: 0.5,
      cumulativeLost: 3,
      jitterSeconds: 0.01,
      highestSeq: 0,
      at: h.wall.now,
    });
    // A block naming no SSRC of the stream (a client that has not learnt it) is about the port's track.
    (stream.pairOf(1) as FakePortPair).receiveRtcp(readerRr({ ssrc: 0, cumulativeLost: 4 }), HOST, 7103);
    equal(session(udpId).reports.get(1)!.cumulativeLost, 4);
    equal(session(udpId).reports.has(0), false);

    // Ending a session forgets its reports on the tracks.
    equal((await h.send(tcp, "TEARDOWN", `${BASE}/cam/`, { Session: tcpId })).status, 200);
    equal(video.readerReports.has(tcpId), false);
    equal(audio.readerReports.get(udpId)!.cumulativeLost, 4);
  } finally {
    await h.close();
  }
});

Deno.test("RtspService sends a reader the cached GOP once: PAUSE/PLAY does not replay it", async () => {
  const h = new Harness({ gopCacheBytes: 64 * 1024 });
  try {
    const pub = new FakeConn();
    equal((await h.send(pub, "DESCRIBE", `${BASE}/cam`)).status, 200);
    const video = h.stream("cam").tracks[0]!;
    video.ingestRtp(rtp(1));
    video.ingestRtp(rtp(2, 0x1234, 0x41));
    const conn = new FakeConn();
    const id = await h.tcpReader(conn, "cam");
    await tick();
    equal(video.counters.burstPackets, 2);
    for (let i = 0; i < 5; i++) {
      equal((await h.send(conn, "PAUSE", `${BASE}/cam/`, { Session: id })).status, 200);
      equal((await h.send(conn, "PLAY", `${BASE}/cam/`, { Session: id })).status, 200);
      await tick();
    }
    equal(video.counters.burstPackets, 2, "the same GOP was replayed");
    // A new keyframe: the next PLAY after a PAUSE may have it.
    video.ingestRtp(rtp(3));
    equal((await h.send(conn, "PAUSE", `${BASE}/cam/`, { Session: id })).status, 200);
    equal((await h.send(conn, "PLAY", `${BASE}/cam/`, { Session: id })).status, 200);
    await tick();
    equal(video.counters.burstPackets, 3);
  } finally {
    await h.close();
  }
});
