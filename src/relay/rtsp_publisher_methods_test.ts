/**
 * A publisher's methods: ANNOUNCE, SETUP with mode=record, RECORD, one publisher per path, and the receiver
 * reports it gets. Driven through the harness in tests/support/rtsp_service_harness.ts.
 * @module
 */
import { deepStrictEqual as assertEquals, equal } from "node:assert/strict";
import { rtpSequence, rtpSsrc } from "../rtp/packet.ts";
import { forEachRtcpPacket, parseReceiverReport, type ReportBlock, RTCP_RR, RTCP_SDES } from "../rtp/rtcp.ts";
import { parseTransport } from "../rtsp/headers/transport.ts";
import { parseSession } from "../rtsp/headers/session.ts";
import {
  BASE,
  CAMERA_SDP,
  FakeConn,
  Harness,
  PUBLISHER_SDP,
  rtp,
} from "../../tests/support/rtsp_service_harness.ts";

Deno.test("RtspService serves a publisher: ANNOUNCE, SETUP (record), RECORD, then media reaches readers", async () => {
  const h = new Harness();
  try {
    const pub = new FakeConn();
    const announce = await h.send(
      pub,
      "ANNOUNCE",
      `${BASE}/live/x`,
      { "Content-Type": "application/sdp" },
      PUBLISHER_SDP,
    );
    equal(announce.status, 200);
    const stream = h.stream("live/x");
    equal(stream.kind, "publish");
    equal(stream.state, "connecting");

    const setup = await h.send(pub, "SETUP", `${BASE}/live/x/streamid=0`, {
      Transport: "RTP/AVP/TCP;unicast;interleaved=0-1;mode=record",
    });
    equal(setup.status, 200);
    const id = parseSession(setup.headers.get("Session")!).id;
    const t = parseTransport(setup.headers.get("Transport")!);
    equal(t.mode, "RECORD");
    assertEquals(t.interleaved, [0, 1]);
    equal(h.svc.sessions()[0]!.role, "publisher");

    pub.onFrame!(0, rtp(1)); // before RECORD: ignored
    equal(stream.tracks[0]!.counters.packetsIn, 0);
    equal((await h.send(pub, "RECORD", `${BASE}/live/x`, { Session: id })).status, 200);
    equal(stream.state, "ready");
    equal((await h.send(pub, "PLAY", `${BASE}/live/x`, { Session: id })).status, 455);

    const reader = new FakeConn();
    const describe = await h.send(reader, "DESCRIBE", `${BASE}/live/x`);
    equal(describe.status, 200);
    equal(describe.headers.get("Content-Base"), `${BASE}/live/x/`);
    await h.tcpReader(reader, "live/x");

    // The shell hands `$` frames over as views of its read buffer: the relay rewrites and keeps its own copy.
    const frame = rtp(500, 0xfeed);
    const sent = frame.slice();
    pub.onFrame!(0, frame);
    assertEquals(frame, sent);
    frame.fill(0);
    const got = await reader.frames();
    equal(got.length, 1);
    equal(rtpSequence(got[0]!.payload), 500);
    equal(rtpSsrc(got[0]!.payload), stream.tracks[0]!.outputSsrc);
    equal(got[0]!.payload[12], 0x65);
    equal(stream.tracks[0]!.counters.packetsIn, 1);
  } finally {
    await h.close();
  }
});

Deno.test("RtspService refuses a second publisher on a busy path with 455", async () => {
  const h = new Harness();
  try {
    const first = new FakeConn();
    equal((await h.send(first, "ANNOUNCE", `${BASE}/pub`, {}, PUBLISHER_SDP)).status, 200);
    const second = new FakeConn();
    equal((await h.send(second, "ANNOUNCE", `${BASE}/pub`, {}, PUBLISHER_SDP)).status, 455);
    // One connection announces one stream.
    equal((await h.send(first, "ANNOUNCE", `${BASE}/other`, {}, PUBLISHER_SDP)).status, 455);
    equal(h.hub.get("other"), undefined);
    // The refused publisher changed nothing.
    equal(h.stream("pub").refs, 1);
    h.svc.connectionClosed(second);
    equal(h.stream("pub").source !== null, true);
  } finally {
    await h.close();
  }
});

Deno.test("RtspService refuses publishing on configured pull paths, and everywhere with publish off", async () => {
  const h = new Harness();
  try {
    const conn = new FakeConn();
    const res = await h.send(
      conn,
      "ANNOUNCE",
      `${BASE}/cam`,
      { "Content-Type": "application/sdp" },
      PUBLISHER_SDP,
    );
    equal(res.status, 403);
    equal(h.hub.get("cam"), undefined);
    equal(h.sources.length, 0);
    const notSdp = await h.send(
      conn,
      "ANNOUNCE",
      `${BASE}/x`,
      { "Content-Type": "text/plain" },
      PUBLISHER_SDP,
    );
    equal(notSdp.status, 415);
  } finally {
    await h.close();
  }
  const off = new Harness({ publish: false });
  try {
    equal((await off.send(new FakeConn(), "ANNOUNCE", `${BASE}/free`, {}, PUBLISHER_SDP)).status, 403);
    equal(off.hub.streams().length, 0);
  } finally {
    await off.close();
  }
});

Deno.test("RtspService answers RECORD before every announced track is set up with 455", async () => {
  const h = new Harness();
  try {
    const pub = new FakeConn();
    equal((await h.send(pub, "ANNOUNCE", `${BASE}/two`, {}, CAMERA_SDP)).status, 200);
    const id = await h.setup(pub, `${BASE}/two/video`, "RTP/AVP/TCP;unicast;interleaved=0-1;mode=record");
    equal((await h.send(pub, "RECORD", `${BASE}/two`, { Session: id })).status, 455);
    equal(h.stream("two").state, "connecting");
    await h.setup(pub, `${BASE}/two/audio`, "RTP/AVP/TCP;unicast;interleaved=2-3;mode=record", id);
    equal((await h.send(pub, "RECORD", `${BASE}/two`, { Session: id })).status, 200);
    equal(h.stream("two").state, "ready");
  } finally {
    await h.close();
  }
});

Deno.test("RtspService frees the path when the publisher's connection closes; readers wait for the next one", async () => {
  const h = new Harness();
  try {
    const pub = new FakeConn();
    equal((await h.send(pub, "ANNOUNCE", `${BASE}/p`, {}, PUBLISHER_SDP)).status, 200);
    const id = await h.setup(pub, `${BASE}/p/streamid=0`, "RTP/AVP/TCP;unicast;interleaved=0-1;mode=record");
    equal((await h.send(pub, "RECORD", `${BASE}/p`, { Session: id })).status, 200);
    const reader = new FakeConn();
    const readerId = await h.tcpReader(reader, "p");
    const stream = h.stream("p");
    equal(stream.refs, 2);

    h.svc.connectionClosed(pub);
    assertEquals(h.ids(), [readerId]);
    equal(stream.source, null);
    equal(stream.state, "idle");
    equal(stream.refs, 1);

    // The next publisher takes the path over; the reader's track carries on.
    const next = new FakeConn();
    equal((await h.send(next, "ANNOUNCE", `${BASE}/p`, {}, PUBLISHER_SDP)).status, 200);
    equal(h.stream("p"), stream);
  } finally {
    await h.close();
  }
});

Deno.test("RtspService sends a recording publisher RTCP receiver reports on its RTCP channel", async () => {
  const h = new Harness();
  try {
    const pub = new FakeConn();
    equal(
      (await h.send(pub, "ANNOUNCE", `${BASE}/live/rr`, { "Content-Type": "application/sdp" }, PUBLISHER_SDP))
        .status,
      200,
    );
    const setup = await h.send(pub, "SETUP", `${BASE}/live/rr/streamid=0`, {
      Transport: "RTP/AVP/TCP;unicast;interleaved=0-1;mode=record",
    });
    const id = parseSession(setup.headers.get("Session")!).id;
    equal((await h.send(pub, "RECORD", `${BASE}/live/rr`, { Session: id })).status, 200);
    for (let seq = 100; seq <= 110; seq++) if (seq !== 105) pub.onFrame!(0, rtp(seq, 0xfeed));

    h.svc.sweep(); // first seen recording: the first report is due half an interval later
    h.clock.now += 2499;
    h.svc.sweep();
    equal((await pub.frames()).length, 0);
    h.clock.now += 1;
    h.svc.sweep();
    const frames = await pub.frames();
    equal(frames.length, 1);
    equal(frames[0]!.channel, 1);
    const types: number[] = [];
    let block: ReportBlock | undefined;
    forEachRtcpPacket(frames[0]!.payload, (type, pkt) => {
      types.push(type);
      if (type === RTCP_RR) block = parseReceiverReport(pkt)!.reports[0];
    });
    assertEquals(types, [RTCP_RR, RTCP_SDES]);
    // Probation takes 100; 101..110 expected, 105 missing.
    assertEquals(block, {
      ssrc: 0xfeed,
      fractionLost: Math.floor(256 / 10),
      cumulativeLost: 1,
      highestSeq: 110,
      jitter: block!.jitter,
      lsr: 0,
      dlsr: 0,
    });

    h.clock.now += 4999;
    h.svc.sweep();
    equal((await pub.frames()).length, 1, "not before the interval");
    h.clock.now += 1;
    h.svc.sweep();
    equal((await pub.frames()).length, 2);
  } finally {
    await h.close();
  }
});
