/**
 * Tests of {@linkcode RelayMetrics}: the per-hop figures of the hop into the relay (received, lost, jitter,
 * duplicates, reordered, bitrate), what readers report, and process figures, read back with an independent
 * Prometheus parser.
 * @module
 */
import assert from "node:assert/strict";
import { writeRtpHeader } from "../rtp/packet.ts";
import { MAX_MISORDER } from "../rtp/receiver_stats.ts";
import type { SourceKind, Stream } from "../relay/stream.ts";
import { Track } from "../relay/track.ts";
import { parsePrometheus, sampleValue } from "../../tests/support/prometheus.ts";
import {
  GONE_PATH_RETENTION_SECONDS,
  GONE_PATHS_KEPT,
  hopOf,
  LOSS_SETTLE_PACKETS,
  LOSS_SETTLE_SECONDS,
  RelayMetrics,
} from "./relay_metrics.ts";

/** 100-byte RTP packets. */
function rtp(seq: number, ts: number, ssrc = 0x1111): Uint8Array {
  const p = new Uint8Array(100);
  writeRtpHeader(p, 0, { marker: false, payloadType: 96, sequence: seq, timestamp: ts, ssrc });
  return p;
}

/** A stream stand-in with real tracks, observed by `metrics` as the hub wires them. */
function makeStream(
  metrics: RelayMetrics,
  path: string,
  kind: SourceKind,
  clock: { t: number },
  clockRates: number[] = [90_000],
): Stream {
  const stream = { path, kind, tracks: [] as Track[] } as unknown as Stream;
  stream.tracks = clockRates.map((clockRate, index) =>
    new Track({
      index,
      clockRate,
      now: () => clock.t,
      observe: metrics.observeTrack(stream, index, clockRate),
    })
  );
  return stream;
}

function setup(kinds: Array<[string, SourceKind]>) {
  const clock = { t: 1000 };
  const streams: Stream[] = [];
  const metrics = new RelayMetrics({
    streams: () => streams,
    readersByPath: () => new Map([["cam", 2]]),
    sessionCount: () => 3,
  }, { now: () => clock.t, eventLoopLagIntervalMs: 0 });
  for (const [path, kind] of kinds) streams.push(makeStream(metrics, path, kind, clock));
  const scrape = () => parsePrometheus(metrics.expose());
  return { clock, streams, metrics, scrape };
}

Deno.test("hopOf() is mesh behind a parent relay and source otherwise", () => {
  assert.deepEqual((["pull", "publish", "demo", "mesh"] as const).map(hopOf), [
    "source",
    "source",
    "source",
    "mesh",
  ]);
});

Deno.test("RelayMetrics exports received, lost, duplicates, reordered, jitter and bitrate per path and hop", () => {
  const { clock, streams, scrape } = setup([["cam", "pull"], ["far", "mesh"]]);
  const [cam, far] = [streams[0]!.tracks[0]!, streams[1]!.tracks[0]!];
  // 25 packets/s of 100 bytes; 5 lost, 9 twice, 7 after 8; odd packets 10 ms late. The duplicate does not hide
  // the loss (it would in the RFC 3550 cumulative loss of an RR).
  for (const seq of [1, 2, 3, 4, 6, 8, 7, 9, 9, 10]) {
    clock.t = 1000 + seq * 0.04 + (seq % 2 === 1 ? 0.01 : 0);
    cam.ingestRtp(rtp(seq, seq * 3600));
  }
  for (let seq = 100; seq < 110; seq++) {
    clock.t = 1000 + seq * 0.04;
    far.ingestRtp(rtp(seq, seq * 3600, 0x2222));
  }
  clock.t += 1; // idle long enough: the gap is a loss
  const m = scrape();
  const source = { path: "cam", hop: "source" };
  const mesh = { path: "far", hop: "mesh" };
  assert.equal(sampleValue(m, "msm_rtp_packets_received_total", source), 10);
  assert.equal(sampleValue(m, "msm_rtp_packets_lost_total", source), 1);
  assert.equal(sampleValue(m, "msm_rtp_packets_duplicated_total", source), 1);
  assert.equal(sampleValue(m, "msm_rtp_packets_reordered_total", source), 1);
  const jitter = sampleValue(m, "msm_rtp_jitter_seconds", source)!;
  assert.equal(jitter, cam.receiverStats.snapshot().jitterSeconds);
  assert.ok(jitter > 0.001 && jitter < 0.01, `jitter ${jitter}`);
  assert.equal(sampleValue(m, "msm_rtp_packets_received_total", mesh), 10);
  assert.equal(sampleValue(m, "msm_rtp_packets_lost_total", mesh), 0);
  assert.equal(sampleValue(m, "msm_rtp_jitter_seconds", mesh), 0);
  assert.equal(sampleValue(m, "msm_rtp_packets_received_total", { path: "far", hop: "source" }), undefined);
  // A young meter averages over its age: 10 packets of 800 bits in the 1.36 s since the first.
  const bitrate = sampleValue(m, "msm_rtp_bitrate_bits_per_second", mesh)!;
  assert.ok(Math.abs(bitrate - 8000 / 1.36) < 1, `bitrate ${bitrate}`);
  assert.equal(m.get("msm_rtp_bitrate_bits_per_second")?.type, "gauge");
  assert.equal(m.get("msm_rtp_packets_duplicated_total")?.type, "counter");
  assert.equal(sampleValue(m, "msm_readers", { path: "cam" }), 2);
  assert.equal(sampleValue(m, "msm_rtsp_sessions"), 3);
});

Deno.test("RelayMetrics counts a gap as lost once it is settled, and only once", () => {
  const { clock, streams, scrape } = setup([["cam", "publish"]]);
  const track = streams[0]!.tracks[0]!;
  const feed = (seqs: number[], ssrc = 0x1111) => {
    for (const seq of seqs) {
      clock.t += 0.04;
      track.ingestRtp(rtp(seq, seq * 3600, ssrc));
    }
  };
  const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
  const lost = () => sampleValue(scrape(), "msm_rtp_packets_lost_total", { path: "cam", hop: "source" });
  feed([1, 2, 3, 5]);
  assert.equal(lost(), 0, "4 may still come: a young gap is not a loss");
  clock.t += LOSS_SETTLE_SECONDS;
  assert.equal(lost(), 1, "nothing came for a while: 4 is lost");
  feed([4]);
  assert.equal(lost(), 1, "4 came very late: counted once, never twice");
  // 7 goes missing: the one loss so far, already counted (4 was not lost after all).
  feed(range(6, 7 + LOSS_SETTLE_PACKETS).filter((s) => s !== 7));
  assert.equal(lost(), 1);
  const b1 = 8 + LOSS_SETTLE_PACKETS;
  feed(range(b1, b1 + 1 + LOSS_SETTLE_PACKETS).filter((s) => s !== b1 + 1));
  assert.equal(lost(), 2, `${b1 + 1} is ${LOSS_SETTLE_PACKETS} packets old: lost`);
  const b2 = b1 + 2 + LOSS_SETTLE_PACKETS;
  feed(range(b2, b2 + LOSS_SETTLE_PACKETS - 2).filter((s) => s !== b2));
  assert.equal(lost(), 2, `${b2} is too young`);
  feed([7]);
  assert.equal(lost(), 2, "a counter does not go back");
  // A new source SSRC starts new statistics: its losses add to the counter.
  feed([500, 501, 503], 0x3333);
  clock.t += 1;
  assert.equal(lost(), 3);
  assert.equal(track.receiverStats.snapshot().missing, 1);
});

Deno.test("RelayMetrics never counts lost a packet that arrives as late as the statistics still accept", () => {
  const { clock, streams, scrape } = setup([["cam", "publish"]]);
  const track = streams[0]!.tracks[0]!;
  const feed = (seqs: number[]) => {
    for (const seq of seqs) {
      clock.t += 0.001; // a keyframe's burst: the late packet trails by many packets, not by much time
      track.ingestRtp(rtp(seq, seq * 3600));
    }
  };
  const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
  const metric = (name: string) => sampleValue(scrape(), name, { path: "cam", hop: "source" });
  const behind = MAX_MISORDER - 1;
  feed([1, 2, 3, ...range(5, 4 + behind)]);
  assert.equal(metric("msm_rtp_packets_lost_total"), 0, `4 trails by ${behind}: still open`);
  feed([4]);
  assert.equal(metric("msm_rtp_packets_reordered_total"), 1, "4 came late: reordered");
  feed(range(5 + behind, 10 + 2 * behind));
  clock.t += LOSS_SETTLE_SECONDS;
  assert.equal(metric("msm_rtp_packets_lost_total"), 0, "4 was never lost");
  // One later than the statistics accept is not received at all: lost, and counted so.
  const top = 10 + 2 * behind;
  feed([...range(top + 1, top + 2 + MAX_MISORDER).filter((s) => s !== top + 2), top + 2]);
  clock.t += LOSS_SETTLE_SECONDS;
  assert.equal(metric("msm_rtp_packets_lost_total"), 1, `${top + 2} came ${MAX_MISORDER} late: lost`);
  assert.equal(metric("msm_rtp_packets_reordered_total"), 1);
});

Deno.test("RelayMetrics exports what readers report: loss summed and worst jitter per path", () => {
  const { streams, scrape } = setup([["cam", "pull"], ["quiet", "pull"]]);
  const track = streams[0]!.tracks[0]!;
  const report = (cumulativeLost: number, jitterSeconds: number) => ({
    fractionLost: 0,
    cumulativeLost,
    jitterSeconds,
    highestSeq: 0,
    at: 0,
  });
  track.setReaderReport("s1", report(4, 0.002));
  track.setReaderReport("s2", report(6, 0.03));
  track.setReaderReport("s3", report(-1, 0.001));
  let m = scrape();
  assert.equal(sampleValue(m, "msm_reader_reported_lost", { path: "cam" }), 10);
  assert.equal(sampleValue(m, "msm_reader_reported_jitter_seconds", { path: "cam" }), 0.03);
  assert.equal(
    sampleValue(m, "msm_reader_reported_lost", { path: "quiet" }),
    undefined,
    "no reports, no sample",
  );
  track.forgetReader("s2");
  m = scrape();
  assert.equal(sampleValue(m, "msm_reader_reported_lost", { path: "cam" }), 4);
  assert.equal(sampleValue(m, "msm_reader_reported_jitter_seconds", { path: "cam" }), 0.002);
});

Deno.test("RelayMetrics exports event-loop lag next to the memory gauges", async () => {
  const metrics = new RelayMetrics({
    streams: () => [],
    readersByPath: () => new Map(),
    sessionCount: () => 0,
  }, { eventLoopLagIntervalMs: 10 });
  try {
    await new Promise((r) => setTimeout(r, 30));
    const until = performance.now() + 60;
    while (performance.now() < until) { /* block the loop */ }
    await new Promise((r) => setTimeout(r, 30));
    const m = parsePrometheus(metrics.expose());
    assert.equal(m.get("msm_process_event_loop_lag_seconds")?.type, "gauge");
    const lag = sampleValue(m, "msm_process_event_loop_lag_seconds")!;
    assert.ok(lag >= 0.04 && lag < 1, `lag ${lag}`);
    assert.ok(sampleValue(m, "msm_process_resident_memory_bytes")! > 0);
  } finally {
    metrics.close();
  }
});

Deno.test("RelayMetrics counts RTSP refusals per reason, every reason exposed from zero", () => {
  const { metrics, scrape } = setup([]);
  let m = scrape();
  assert.equal(m.get("msm_rtsp_refused_total")?.type, "counter");
  assert.equal(sampleValue(m, "msm_rtsp_refused_total", { reason: "request_rate" }), 0);
  assert.equal(sampleValue(m, "msm_rtsp_refused_total", { reason: "max_readers_per_path" }), 0);
  metrics.onRefused("request_rate");
  metrics.onRefused("request_rate");
  metrics.onRefused("max_connections");
  m = scrape();
  assert.equal(sampleValue(m, "msm_rtsp_refused_total", { reason: "request_rate" }), 2);
  assert.equal(sampleValue(m, "msm_rtsp_refused_total", { reason: "max_connections" }), 1);
  assert.equal(sampleValue(m, "msm_rtsp_refused_total", { reason: "unauthorized" }), 0);
});

Deno.test("RelayMetrics counts made-up RTSP methods as OTHER: a client cannot grow the series without bound", () => {
  const { metrics, scrape } = setup([]);
  for (let i = 0; i < 300; i++) metrics.onRequest(`FROB${i}`, 501);
  metrics.onRequest("DESCRIBE", 200);
  metrics.onRequest("INVALID", 400);
  const m = scrape();
  const series = m.get("msm_rtsp_requests_total")?.samples ?? [];
  assert.deepEqual(series.map((s) => s.labels.method).sort(), ["DESCRIBE", "INVALID", "OTHER"]);
  assert.equal(sampleValue(m, "msm_rtsp_requests_total", { method: "OTHER", status: "501" }), 300);
});

Deno.test("RelayMetrics counts mesh refusals per reason from the mesh's cumulative figures", () => {
  const packets = { malformed: 0, unauthenticated: 0, unknown_key: 0, auth: 0, replay: 0 };
  const requests = new Map<string, number>();
  const metrics = new RelayMetrics({
    streams: () => [],
    readersByPath: () => new Map(),
    sessionCount: () => 0,
    meshRejections: () => ({ packets, requests }),
  }, { eventLoopLagIntervalMs: 0 });
  packets.auth = 5;
  requests.set("bad_signature", 2);
  let m = parsePrometheus(metrics.expose());
  assert.equal(sampleValue(m, "msm_mesh_packets_rejected_total", { reason: "auth" }), 5);
  assert.equal(sampleValue(m, "msm_mesh_requests_rejected_total", { reason: "bad_signature" }), 2);
  packets.auth = 7;
  packets.replay = 1;
  m = parsePrometheus(metrics.expose());
  assert.equal(sampleValue(m, "msm_mesh_packets_rejected_total", { reason: "auth" }), 7);
  assert.equal(sampleValue(m, "msm_mesh_packets_rejected_total", { reason: "replay" }), 1);
});

Deno.test("RelayMetrics drops a gone path's series after the retention, and at once beyond the bound", () => {
  const { clock, streams, metrics, scrape } = setup([]);
  const paths = (text = metrics.expose()) =>
    new Set([...text.matchAll(/^msm_rtp_packets_received_total\{path="([^"]+)"/gm)].map((m) => m[1]));
  for (let i = 0; i < GONE_PATHS_KEPT + 20; i++) {
    const s = makeStream(metrics, `pub/${i}`, "publish", clock);
    s.tracks[0]!.ingestRtp(rtp(1, 1));
    streams.push(s);
  }
  assert.equal(paths().size, GONE_PATHS_KEPT + 20, "every live stream is exposed");
  // Every stream but the first goes; the gone ones stay exposed only up to the bound.
  streams.splice(1);
  clock.t += 1;
  assert.equal(paths().size, 1 + GONE_PATHS_KEPT);
  clock.t += GONE_PATH_RETENTION_SECONDS - 2;
  assert.equal(paths().size, 1 + GONE_PATHS_KEPT, "kept within the retention");
  clock.t += 2;
  assert.deepEqual([...paths()], ["pub/0"], "dropped after the retention");
  assert.equal(
    sampleValue(scrape(), "msm_rtp_packets_forwarded_total", { path: "pub/5", sink: "udp" }),
    undefined,
  );
  // A path that comes back counts on from zero: a counter reset Prometheus understands.
  const back = makeStream(metrics, "pub/5", "publish", clock);
  back.tracks[0]!.ingestRtp(rtp(1, 1));
  streams.push(back);
  assert.equal(sampleValue(scrape(), "msm_rtp_packets_received_total", { path: "pub/5", hop: "source" }), 1);
});

Deno.test("RelayMetrics exports per-hop repairs per path, and the loss before repair in msm_rtp_packets_lost_total", () => {
  const { clock, streams, scrape } = setup([["far", "mesh"]]);
  const far = streams[0]!;
  const repairs = { missing: 3, recovered: 2, unrecovered: 1, late: 0, requested: 4 };
  (far as { repairs: typeof repairs | null }).repairs = repairs;
  // The mesh source delivered 1, 2 and 4..6 (3 repaired late, so RFC 3550 counts it received), 7 given up.
  for (const seq of [1, 2, 4, 5, 6, 3, 8]) {
    clock.t = 1000 + seq * 0.04;
    far.tracks[0]!.relayRtp(rtp(seq, seq * 3600, 0x2222));
  }
  clock.t += 1;
  let m = scrape();
  const at = (event: string) => sampleValue(m, "msm_mesh_repairs_total", { path: "far", event });
  assert.deepEqual([at("recovered"), at("unrecovered"), at("late"), at("requested")], [2, 1, 0, 4]);
  // RFC 3550 sees 1 lost (7); the 2 repaired are added back: 3 lost on the hop before repair.
  assert.equal(sampleValue(m, "msm_rtp_packets_lost_total", { path: "far", hop: "mesh" }), 3);
  repairs.recovered = 5;
  repairs.late = 1;
  m = scrape();
  assert.deepEqual([at("recovered"), at("late")], [5, 1]);
  assert.equal(sampleValue(m, "msm_rtp_packets_lost_total", { path: "far", hop: "mesh" }), 6);
});

Deno.test("RelayMetrics counts what a parent answered its children's NACKs", () => {
  const figures = { requested: 10, sent: 6, unavailable: 1, capped: 3, refused: 2, gone: 1 };
  const metrics = new RelayMetrics({
    streams: () => [],
    readersByPath: () => new Map(),
    sessionCount: () => 0,
    meshRetransmits: () => figures,
  }, { eventLoopLagIntervalMs: 0 });
  const m = parsePrometheus(metrics.expose());
  for (const [event, n] of Object.entries(figures)) {
    assert.equal(sampleValue(m, "msm_mesh_retransmits_total", { event }), n);
  }
});
