import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { classes, parseMessage } from "werift";
import { rtpPayloadType, rtpSequence, rtpSsrc } from "../rtp/packet.ts";
import {
  marshalReceiverReport,
  marshalSenderReport,
  receiverReportSize,
  senderReportSize,
} from "../rtp/rtcp.ts";
import { encodeGenericNack } from "../rtp/rtcp_nack.ts";
import { CONNECT_TIMEOUT_MS, CONSENT_TIMEOUT_MS, RESEND_SLOTS } from "./whep_session.ts";
import { binding, clearSession, LOCAL_PWD, rtp, VIDEO } from "./testdata/session_fixtures.ts";

const SPS = new Uint8Array([0x67, 0x64, 0x00, 0x28, 0xac]);
const PPS = new Uint8Array([0x68, 0xeb, 0xe3, 0xcb]);

function setup(sets = true) {
  const sent: Array<{ bytes: Uint8Array; to: string }> = [];
  const ended: string[] = [];
  let playing = 0;
  const { session, channel } = clearSession({
    ...(sets ? { parameterSets: new Map([[0, { sps: SPS, pps: PPS }]]) } : {}),
    send: (bytes, to) => sent.push({ bytes, to: `${to.hostname}:${to.port}` }),
    onConnected: () => playing++,
    onEnded: (reason) => ended.push(reason),
  });
  return { session, channel, sent, ended, playing: () => playing };
}

Deno.test("a session answers only Binding requests signed with its password, and talks only to that address", () => {
  const { session, channel, sent } = setup();
  session.receive(binding("RelY:brws", "wrongwrongwrongwrongwrong"), "127.0.0.9", 5000, 1);
  session.receive(binding("RelY:other", LOCAL_PWD), "127.0.0.9", 5000, 1);
  session.receive(new Uint8Array([22, 254, 253, 0, 0, 0]), "127.0.0.9", 5000, 1); // DTLS before any check
  assertEquals(sent.length, 0, "nothing goes to an address that did not sign a request");
  assertEquals(session.remote, null);
  assertEquals(session.counts.refused, 3);

  session.receive(binding("RelY:brws", LOCAL_PWD), "127.0.0.2", 6000, 1);
  assertEquals(session.remote, "127.0.0.2:6000");
  assertEquals(sent.length, 1);
  const response = parseMessage(Buffer.from(sent[0]!.bytes), Buffer.from(LOCAL_PWD));
  assert(response && response.messageClass === classes.RESPONSE);
  assertEquals(response.getAttributeValue("XOR-MAPPED-ADDRESS"), ["127.0.0.2", 6000]);
  assertEquals(sent[0]!.to, "127.0.0.2:6000");

  session.receive(new Uint8Array([22, 254, 253, 1]), "127.0.0.3", 6000, 2); // another address
  session.receive(new Uint8Array([22, 254, 253, 2]), "127.0.0.2", 6000, 2);
  assertEquals(channel.received.map((b) => b[3]), [2]);
  // A later check without nomination does not move the session; a nominated one does.
  session.receive(binding("RelY:brws", LOCAL_PWD, false), "127.0.0.4", 6001, 3);
  assertEquals(session.remote, "127.0.0.2:6000");
  session.receive(binding("RelY:brws", LOCAL_PWD, true), "127.0.0.4", 6001, 3);
  assertEquals(session.remote, "127.0.0.4:6001");
});

Deno.test("the egress renumbers for the browser, puts the SDP's parameter sets ahead of an IDR, and drops nothing once up", () => {
  const { session, channel, sent } = setup();
  session.receive(binding("RelY:brws", LOCAL_PWD), "127.0.0.2", 6000, 1);
  sent.length = 0;
  const egress = session.egresses[0]!;
  egress.sendRtp(rtp(100, [0x41, 1, 2, 3]));
  assertEquals([session.counts.early, sent.length], [1, 0], "before DTLS: counted, not sent");
  channel.connected = true;
  // An IDR's first fragment (FU-A, start bit, type 5): a STAP-A of SPS and PPS goes first, same timestamp.
  egress.sendRtp(rtp(101, [0x7c, 0x85, 9, 9]));
  egress.sendRtp(rtp(102, [0x7c, 0x45, 9, 9], true));
  egress.sendRtp(rtp(103, [0x41, 7, 7], true));
  assertEquals(sent.length, 4);
  assertEquals(sent.map((s) => rtpSequence(s.bytes)), [101, 102, 103, 104]);
  assert(sent.every((s) => rtpSsrc(s.bytes) === VIDEO.ssrc && rtpPayloadType(s.bytes) === 102));
  const stap = sent[0]!.bytes.subarray(12);
  assertEquals(stap[0]! & 0x1f, 24);
  assertEquals([...stap.subarray(3, 3 + SPS.length)], [...SPS]);
  assertEquals(session.counts.parameterSets, 1);
  assertEquals(session.counts.pictures, 2);
  // A keyframe that brings its own SPS in band gets nothing added.
  egress.sendRtp(rtp(104, [0x67, 0x64, 0, 0x28]));
  assertEquals(session.counts.parameterSets, 1);
});

Deno.test("a NACK is answered from the packets kept; a PLI is counted, never passed on; reports are read", () => {
  const { session, channel, sent } = setup(false);
  channel.connected = true;
  session.receive(binding("RelY:brws", LOCAL_PWD), "127.0.0.2", 6000, 1);
  const egress = session.egresses[0]!;
  for (let seq = 0; seq < RESEND_SLOTS + 10; seq++) egress.sendRtp(rtp(seq, [0x41, seq & 0xff]));
  sent.length = 0;
  const nack = encodeGenericNack({ senderSsrc: 1, mediaSsrc: VIDEO.ssrc, seqs: [RESEND_SLOTS + 5, 3] });
  session.receive(nack, "127.0.0.2", 6000, 2);
  assertEquals(sent.map((s) => rtpSequence(s.bytes)), [RESEND_SLOTS + 5], "seq 3 is no longer kept");
  assertEquals([session.counts.nacks, session.counts.resent, session.counts.notResent], [1, 1, 1]);
  // Another SSRC's NACK, from another address: nothing.
  session.receive(encodeGenericNack({ senderSsrc: 1, mediaSsrc: 77, seqs: [10] }), "127.0.0.2", 6000, 2);
  session.receive(nack, "127.0.0.5", 6000, 2);
  assertEquals(sent.length, 1);
  const pli = new Uint8Array([0x81, 206, 0, 2, 0, 0, 0, 1, 0xab, 0xcd, 0xef, 0x01]);
  session.receive(pli, "127.0.0.2", 6000, 3);
  assertEquals([session.counts.plis, sent.length], [1, 1]);
  const rr = new Uint8Array(receiverReportSize(1));
  marshalReceiverReport(rr, 0, {
    ssrc: 1,
    reports: [{
      ssrc: VIDEO.ssrc,
      fractionLost: 64,
      cumulativeLost: 12,
      highestSeq: 600,
      jitter: 900,
      lsr: 0,
      dlsr: 0,
    }],
  });
  session.receive(rr, "127.0.0.2", 6000, 4);
  const report = session.reports.get(0)!;
  assertEquals([report.fractionLost, report.cumulativeLost, report.jitterSeconds], [0.25, 12, 0.01]);
  // A sender report of the camera goes on under the browser's SSRC.
  const sr = new Uint8Array(senderReportSize(0));
  marshalSenderReport(sr, 0, {
    ssrc: 5,
    ntpSec: 1,
    ntpFrac: 2,
    rtpTimestamp: 3,
    packetCount: 4,
    octetCount: 5,
    reports: [],
  });
  egress.sendRtcp(sr);
  assertEquals(sent.length, 2);
  assertEquals(new DataView(sent[1]!.bytes.buffer).getUint32(4), VIDEO.ssrc);
});

Deno.test("a session ends itself without a handshake in time, or without consent", () => {
  const a = setup();
  a.session.tick(CONNECT_TIMEOUT_MS - 1);
  assertEquals(a.ended, []);
  a.session.tick(CONNECT_TIMEOUT_MS + 1);
  assert(String(a.ended[0]).includes("no DTLS connection"));
  a.session.tick(CONNECT_TIMEOUT_MS + 2);
  assertEquals(a.ended.length, 1, "once");

  const b = setup();
  b.channel.connected = true;
  b.session.receive(binding("RelY:brws", LOCAL_PWD), "127.0.0.2", 6000, 1000);
  b.session.tick(1000 + CONSENT_TIMEOUT_MS);
  assertEquals(b.ended, []);
  b.session.receive(binding("RelY:brws", LOCAL_PWD), "127.0.0.2", 6000, 20_000);
  b.session.tick(20_000 + CONSENT_TIMEOUT_MS + 1);
  assert(String(b.ended[0]).includes("no ICE consent"));
  b.session.egresses[0]!.sendRtp(rtp(1, [0x41]));
  assertEquals(b.session.counts.packets, 0, "an ended session sends nothing");
});
