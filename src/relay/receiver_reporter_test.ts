import assert from "node:assert/strict";
import { ReceiverReporter, type ReportSender } from "./receiver_reporter.ts";
import { forEachRtcpPacket, parseReceiverReport, type ReportBlock, RTCP_RR, RTCP_SDES } from "../rtp/rtcp.ts";

const BLOCK: ReportBlock = {
  ssrc: 0x11223344,
  fractionLost: 12,
  cumulativeLost: 3,
  highestSeq: 70_000,
  jitter: 90,
  lsr: 0,
  dlsr: 0,
};

/** A sender that records what it is given; `refuseTcp`: the interleaved queue is full. */
function recorder(refuseTcp = false) {
  const sent: { via: string; packet: Uint8Array }[] = [];
  const send: ReportSender = {
    udp: (index, packet, host, port) => (sent.push({ via: `udp ${index} ${host}:${port}`, packet }), true),
    tcp: (channel, packet) => (sent.push({ via: `tcp ${channel}`, packet }), !refuseTcp),
  };
  return { sent, send };
}

Deno.test("ReceiverReporter: the first report half an interval after start, then one per interval", () => {
  const reporter = new ReceiverReporter({ intervalMs: 5000, cname: "relay", ssrc: 7 });
  const tracks = [{ receiverReportBlock: () => BLOCK }];
  const routes = [{ kind: "udp" as const, host: "10.0.0.9", port: 5001 }];
  const { sent, send } = recorder();
  assert.equal(reporter.poll(0, tracks, routes, send), 0, "not started: nothing is due");
  reporter.start(1000);
  assert.equal(reporter.poll(3499, tracks, routes, send), 0);
  assert.equal(reporter.poll(3500, tracks, routes, send), 1);
  assert.equal(reporter.poll(8499, tracks, routes, send), 0);
  assert.equal(reporter.poll(8500, tracks, routes, send), 1);
  reporter.stop();
  assert.equal(reporter.poll(20_000, tracks, routes, send), 0, "stopped");
  assert.equal(reporter.sent, 2);
  assert.deepEqual(sent.map((s) => s.via), ["udp 0 10.0.0.9:5001", "udp 0 10.0.0.9:5001"]);
  const types: number[] = [];
  assert.ok(forEachRtcpPacket(sent[0]!.packet, (type, pkt) => {
    types.push(type);
    if (type === RTCP_RR) assert.deepEqual(parseReceiverReport(pkt), { ssrc: 7, reports: [BLOCK] });
  }));
  assert.deepEqual(types, [RTCP_RR, RTCP_SDES]);
});

Deno.test("ReceiverReporter: unrouted tracks are skipped, a track without a source reports no block", () => {
  const reporter = new ReceiverReporter({ intervalMs: 1000, cname: "relay" });
  const tracks = [{ receiverReportBlock: () => null }, { receiverReportBlock: () => BLOCK }, {
    receiverReportBlock: () => BLOCK,
  }];
  const { sent, send } = recorder();
  reporter.start(0);
  assert.equal(
    reporter.poll(500, tracks, [{ kind: "tcp", channel: 1 }, null, { kind: "tcp", channel: 5 }], send),
    2,
  );
  assert.deepEqual(sent.map((s) => s.via), ["tcp 1", "tcp 5"]);
  forEachRtcpPacket(sent[0]!.packet, (type, pkt) => {
    if (type === RTCP_RR) assert.deepEqual(parseReceiverReport(pkt)?.reports, []);
  });
});

Deno.test("ReceiverReporter: a report the sender could not queue is not counted", () => {
  const reporter = new ReceiverReporter({ intervalMs: 1000, cname: "relay" });
  const { send } = recorder(true);
  reporter.start(0);
  assert.equal(
    reporter.poll(500, [{ receiverReportBlock: () => BLOCK }], [{ kind: "tcp", channel: 3 }], send),
    0,
  );
  assert.equal(reporter.sent, 0);
});
