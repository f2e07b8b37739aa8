/**
 * Accuracy of the relay's RTP statistics on a lossy, jittery path. A gst-rtsp-server camera is pulled over UDP
 * through an RTSP proxy that puts a forwarder of the test's own into the media path; the forwarder drops every
 * 20th RTP packet and delays the others by a seeded random amount, uniform in [0, 40] ms, recording each packet.
 * From that record alone the test computes what the relay must measure: the packets missing between the first
 * and the last it got, and the RFC 3550 A.8 jitter of the arrivals (the send times the forwarder chose, which are
 * the arrival times at the relay up to loopback noise). The relay's figures come from `/metrics`, read with an
 * independent Prometheus parser, while an ffmpeg reader plays the stream: loss within 1 % of the drops, jitter
 * within 20 % of the independent value. The receiver reports the relay sends the camera pass back through the
 * forwarder and are checked too.
 * @module
 */
import { ok } from "node:assert/strict";
import {
  forEachRtcpPacket,
  ntpMiddle32,
  parseReceiverReport,
  parseSenderReport,
  type ReportBlock,
  RTCP_RR,
  RTCP_SDES,
  RTCP_SR,
} from "../src/rtp/rtcp.ts";
import { LossyForwarder, rfc3550Jitter, type RtpRecord } from "./support/lossy_forwarder.ts";
import { delay, ffmpegRead, gstRead, startGstCamera } from "./support/processes.ts";
import { LOSS_SETTLE_SECONDS } from "../src/metrics/relay_metrics.ts";
import { parsePrometheus, sampleValue } from "./support/prometheus.ts";
import { startRelayProcess } from "./support/relay.ts";
import { startRtspUdpProxy } from "./support/rtsp_udp_proxy.ts";

const CLOCK_RATE = 90_000;
const DROP_EVERY = 20;
const DELAY_SPREAD_MS = 40;
const SEED = 0x5eed;

/** What the relay should have counted, from the forwarder's record (packets it sent on, in sending order). */
function expectedFigures(records: readonly RtpRecord[]) {
  const sent = records.filter((r) => r.sentAt !== null).sort((a, b) => a.sentAt! - b.sentAt!);
  const first = Math.min(...sent.map((r) => r.extSeq));
  const last = Math.max(...sent.map((r) => r.extSeq));
  // The relay counts from the second packet it gets (RFC 3550 A.1 probation): loss is what is missing
  // strictly between the first and the highest packet it got. No drop falls among the first packets.
  const dropped = records.filter((r) => r.dropped && r.extSeq > first && r.extSeq < last).length;
  const jitterUnits = rfc3550Jitter(
    sent.map((r) => ({ rtpTimestamp: r.rtpTimestamp, at: r.sentAt! })),
    CLOCK_RATE,
  );
  const reordered = sent.filter((r, i) => sent.slice(0, i).some((p) => p.extSeq > r.extSeq)).length;
  return { forwarded: sent.length, dropped, jitterSeconds: jitterUnits / CLOCK_RATE, reordered };
}

function rrBlocks(packet: Uint8Array): { blocks: ReportBlock[]; types: number[] } {
  const types: number[] = [];
  let blocks: ReportBlock[] = [];
  forEachRtcpPacket(packet, (type, pkt) => {
    types.push(type);
    if (type === RTCP_RR) blocks = [...(parseReceiverReport(pkt)?.reports ?? [])];
  });
  return { blocks, types };
}

Deno.test("the relay's loss and jitter on a lossy, jittery camera path match the forwarder's own record", async () => {
  await using camera = await startGstCamera({ fps: 25, width: 640, height: 480 });
  await using proxy = startRtspUdpProxy(
    { hostname: "127.0.0.1", port: camera.port },
    () => LossyForwarder.open({ drop: { every: DROP_EVERY }, delaySpreadMs: DELAY_SPREAD_MS, seed: SEED }),
  );
  await using relay = await startRelayProcess([
    "--path",
    `cam=${proxy.url("cam")}`,
    "--pull-transport",
    "udp",
  ]);
  const path = { path: "cam", hop: "source" };
  const scrape = async () => {
    const res = await fetch(`http://${relay.host}:${relay.adminPort}/metrics`);
    return parsePrometheus(await res.text());
  };

  // A reader over UDP starts the pull and plays throughout; a GStreamer reader sends RTCP receiver reports.
  const reading = ffmpegRead(relay.url("cam"), { transport: "udp", seconds: 9 });
  const gst = gstRead(relay.url("cam"), { transport: "udp", seconds: 7 });
  try {
    const deadline = Date.now() + 10_000;
    while ((proxy.forwarders[0]?.forwarded ?? 0) < 25) {
      ok(Date.now() < deadline, "no media through the forwarder");
      await delay(100);
    }
    const f = proxy.forwarders[0]!;

    // The figures move while ffmpeg reads.
    await delay(2500);
    const a = await scrape();
    await delay(2500);
    const b = await scrape();
    const moved = (name: string) => sampleValue(b, name, path)! - sampleValue(a, name, path)!;
    ok(
      moved("msm_rtp_packets_received_total") > 50,
      `received moved ${moved("msm_rtp_packets_received_total")}`,
    );
    ok(moved("msm_rtp_packets_lost_total") > 0, `lost moved ${moved("msm_rtp_packets_lost_total")}`);
    ok(sampleValue(b, "msm_rtp_jitter_seconds", path)! > 0);
    ok(sampleValue(b, "msm_rtp_bitrate_bits_per_second", path)! > 10_000);

    // Freeze the path: once the delayed packets are out, the relay has seen all the record holds, and after
    // LOSS_SETTLE_SECONDS of silence it counts even the newest gaps as lost.
    await f.pause();
    await delay(LOSS_SETTLE_SECONDS * 1000 + 300);
    const c = await scrape();
    const want = expectedFigures(f.rtp);
    const lost = sampleValue(c, "msm_rtp_packets_lost_total", path)!;
    const jitter = sampleValue(c, "msm_rtp_jitter_seconds", path)!;
    const received = sampleValue(c, "msm_rtp_packets_received_total", path)!;
    const reordered = sampleValue(c, "msm_rtp_packets_reordered_total", path)!;
    console.log(
      `forwarded ${want.forwarded} RTP packets, relay received ${received}; ` +
        `drops made ${want.dropped}, relay counted ${lost}; ` +
        `jitter expected ${(want.jitterSeconds * 1000).toFixed(3)} ms, relay measured ${
          (jitter * 1000).toFixed(3)
        } ms (${((jitter / want.jitterSeconds - 1) * 100).toFixed(1)} %); ` +
        `reordered by the forwarder ${want.reordered}, relay counted ${reordered}`,
    );
    ok(want.dropped >= 10, `only ${want.dropped} drops: too few to judge`);
    ok(Math.abs(lost - want.dropped) <= want.dropped * 0.01, `lost ${lost} vs ${want.dropped} dropped`);
    ok(
      Math.abs(jitter - want.jitterSeconds) <= 0.2 * want.jitterSeconds,
      `jitter ${jitter} s vs ${want.jitterSeconds} s`,
    );
    ok(received === want.forwarded, `received ${received} vs forwarded ${want.forwarded}`);
    f.resume();
    // The GStreamer reader's receiver reports to the relay became per-reader figures (ffmpeg sends its first
    // only after 280 kB).
    const readerLost = sampleValue(c, "msm_reader_reported_lost", { path: "cam" });
    const readerJitter = sampleValue(c, "msm_reader_reported_jitter_seconds", { path: "cam" });
    console.log(`readers report: lost ${readerLost}, jitter ${((readerJitter ?? NaN) * 1000).toFixed(3)} ms`);
    ok(readerLost !== undefined && readerJitter !== undefined && readerJitter > 0, "no reader reports");

    // The relay's receiver reports reached the camera through the forwarder: RR + SDES, about the camera's SSRC,
    // with the loss the relay saw when it sent them.
    const reports = f.rtcpFromReceiver.map((r) => ({ at: r.at, ...rrBlocks(r.packet) }))
      .filter((r) => r.blocks.length > 0);
    ok(reports.length >= 1, `${f.rtcpFromReceiver.length} RTCP compounds from the relay, none with a block`);
    const last = reports.at(-1)!;
    ok(last.types[0] === RTCP_RR && last.types.includes(RTCP_SDES), `types ${last.types}`);
    const block = last.blocks[0]!;
    ok(block.ssrc === f.rtp[0]!.ssrc, `block about ${block.ssrc}, camera is ${f.rtp[0]!.ssrc}`);
    // What the relay knew when it sent the report: the packets sent on before it. Loss then is at least the
    // drops below the highest of those, and at most every gap below it (packets still delayed count until they
    // arrive).
    const before = f.rtp.filter((r) => r.sentAt !== null && r.sentAt < last.at);
    const highest = Math.max(...before.map((r) => r.extSeq));
    const lowest = Math.min(...before.map((r) => r.extSeq));
    const floor = f.rtp.filter((r) => r.dropped && r.extSeq < highest).length;
    const ceiling = highest - lowest + 1 - before.length;
    ok(
      block.cumulativeLost >= floor - 1 && block.cumulativeLost <= ceiling + 1,
      `RR lost ${block.cumulativeLost}, expected ${floor}..${ceiling}`,
    );
    // LSR: the middle of the NTP time of the camera's latest SR before the report (either of the last two when
    // the latest arrived just before it), 0 when none came yet.
    const srs = f.rtcpFromSender.filter((r) => r.at < last.at).flatMap((r) => {
      let lsr: number[] = [];
      forEachRtcpPacket(r.packet, (type, pkt) => {
        const sr = type === RTCP_SR ? parseSenderReport(pkt) : null;
        if (sr) lsr = [ntpMiddle32(sr.ntpSec, sr.ntpFrac)];
      });
      return lsr.map((v) => ({ at: r.at, lsr: v }));
    });
    const latest = srs.at(-1);
    const previous = srs.at(-2);
    const allowed = latest ? [latest.lsr] : [0];
    if (latest && last.at - latest.at < 20) allowed.push(previous?.lsr ?? 0);
    ok(allowed.includes(block.lsr), `LSR ${block.lsr}, expected one of ${allowed}`);
    console.log(
      `relay sent the camera ${reports.length} receiver reports; last: lost ${block.cumulativeLost}, ` +
        `fraction ${block.fractionLost}/256, jitter ${(block.jitter / CLOCK_RATE * 1000).toFixed(3)} ms`,
    );
  } finally {
    const [r, g] = await Promise.all([reading, gst]);
    ok(r.frames > 0, `ffmpeg decoded nothing\n${r.stderr}`);
    ok(g.buffers > 0, `gst decoded nothing\n${g.output}`);
  }
});
