/**
 * Tests of streams and the hub without sockets or real timers (fake port pairs, manual timers): how long readers
 * wait for a stream's source ({@linkcode Stream.whenReady} with and without the camera wait limit the hub sets on
 * pulled cameras, `--camera-wait`), the linger, ports bound on demand, where UDP datagrams go (the source, a
 * reader's RTCP, a reader's hole punching), and what the fast plane is told to forward.
 * @module
 */
import { deepEqual, equal, ok, rejects, throws } from "node:assert/strict";
import { silentLogger } from "../log.ts";
import { StreamHub } from "./hub.ts";
import { type FakePortPair, FakePortPairs } from "../../tests/support/fake_port_pairs.ts";
import { ManualTimers } from "../../tests/support/manual_timers.ts";
import { TcpEgress, UdpEgress } from "./egress.ts";
import { InterleavedWriter } from "../rtsp/interleaved_writer.ts";
import { PortsExhausted, Stream, type StreamSource, StreamUnavailable, TooManyTracks } from "./stream.ts";
import { parseSdp, type SessionDescription } from "../rtsp/sdp.ts";
import { writeRtpHeader } from "../rtp/packet.ts";
import { configDefaults } from "../config/schema.ts";

const MAX_TRACKS = configDefaults().maxTracksPerStream;

/** A stream on fake pairs and manual timers. */
function newStream(
  options: {
    timers?: ManualTimers;
    pairs?: FakePortPairs;
    kind?: "pull" | "publish";
    onIdle?: () => void;
    planeDigests?: boolean;
    gopCacheBytes?: number;
  } = {},
): Stream {
  const timers = options.timers ?? new ManualTimers();
  return new Stream({
    path: "cam",
    kind: options.kind ?? "pull",
    logger: silentLogger,
    bindPair: (options.pairs ?? new FakePortPairs(4)).bind,
    timers,
    now: timers.now,
    lingerSeconds: 5,
    gopCacheBytes: options.gopCacheBytes ?? 0,
    ...(options.planeDigests ? { planeDigests: true } : {}),
    maxTracks: configDefaults().maxTracksPerStream,
    onIdle: options.onIdle ?? (() => {}),
  });
}

Deno.test("Stream.whenReady() without a limit rejects with a plain Error after the reader's own wait", async () => {
  const timers = new ManualTimers();
  const stream = newStream({ timers });
  stream.setState("connecting");
  const waiting = stream.whenReady(30).then(() => null, (e: Error) => e);
  timers.advance(29);
  equal(stream.waiting, 1);
  timers.advance(1);
  const err = await waiting;
  ok(err && !(err instanceof StreamUnavailable), String(err));
  ok(/not ready after 30 ms: connecting/.test(err.message), err.message);
  await stream.close();
});

Deno.test("Stream.whenReady() with readyWaitLimitMs waits at most that long, then answers 503 with the last error", async () => {
  const timers = new ManualTimers();
  const stream = newStream({ timers });
  stream.readyWaitLimitMs = 60;
  stream.setState("error", "Connection refused (os error 111)");
  const waiting = stream.whenReady(10_000).then(() => null, (e: Error) => e);
  timers.advance(59);
  equal(stream.waiting, 1, "still waiting just before the limit");
  timers.advance(1);
  const err = await waiting;
  ok(err instanceof StreamUnavailable, String(err));
  equal(err.status, 503);
  equal(err.message, 'Source of "cam" unreachable for 0.1 s: Connection refused (os error 111)');
  equal(stream.waiting, 0);
  // Ready within the limit: the waiter resolves.
  const ready = stream.whenReady(10_000);
  equal(stream.waiting, 1);
  stream.setState("ready");
  await ready;
  await stream.close();
});

Deno.test("Stream.whenReady() with readyWaitLimitMs 0 waits for the attempt in progress and fails once it failed", async () => {
  const stream = newStream();
  stream.readyWaitLimitMs = 0;
  stream.setState("connecting");
  const first = stream.whenReady(10_000);
  stream.setState("error", "Camera answered DESCRIBE with 404 Not Found");
  await rejects(first, (e: unknown) => e instanceof StreamUnavailable && e.status === 503);
  // While the source is in error (retrying), a reader is answered at once.
  await rejects(
    stream.whenReady(10_000),
    (e: unknown) =>
      e instanceof StreamUnavailable && /unreachable: Camera answered DESCRIBE with 404/.test(e.message),
  );
  equal(stream.waiting, 0);
  await stream.close();
});

Deno.test("StreamHub sets the camera wait on pulled streams only, and moves it when a stream is re-homed", () => {
  const fake = (): StreamSource => ({
    kind: "pull",
    start() {},
    stop: () => Promise.resolve(),
    info: () => ({}),
  });
  let local = true;
  const hub = new StreamHub({
    logger: silentLogger,
    pulls: { cam: "rtsp://10.0.0.9/cam" },
    demo: true,
    publish: true,
    bindPair: new FakePortPairs(4).bind,
    timers: new ManualTimers(),
    lingerSeconds: 0,
    gopCacheBytes: 0,
    maxTracks: configDefaults().maxTracksPerStream,
    cameraWaitMs: 1234,
    createSource: fake,
    remote: {
      isLocalRoot: () => local,
      mayServeRemotely: () => false,
      createSource: fake,
    },
  });
  const cam = hub.forReader("cam")!;
  equal(cam.readyWaitLimitMs, 1234);
  equal(hub.forReader("demo")!.readyWaitLimitMs, undefined);
  local = false;
  ok(hub.rehome("cam"));
  equal(cam.kind, "mesh");
  equal(cam.readyWaitLimitMs, undefined, "a camera rooted elsewhere: the reader's own wait");
});

Deno.test("Stream.whenReady() keeps a caller's shorter wait under a longer readyWaitLimitMs (a mesh join)", async () => {
  const timers = new ManualTimers();
  const stream = newStream({ timers });
  stream.readyWaitLimitMs = 60_000;
  stream.setState("connecting");
  const waiting = stream.whenReady(40);
  timers.advance(40);
  await rejects(waiting, (e: unknown) => e instanceof StreamUnavailable && e.status === 503);
  equal(timers.pending, 0, "no timer left behind");
  await stream.close();
});

/** An SDP with `n` H.264 media sections. */
function sdpWith(n: number): SessionDescription {
  const medias = Array.from(
    { length: n },
    (_, i) => `m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=control:streamid=${i}\r\n`,
  );
  return parseSdp(`v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=x\r\nt=0 0\r\n${medias.join("")}`);
}

function publisherHub(pairs: FakePortPairs) {
  return new StreamHub({
    logger: silentLogger,
    pulls: {},
    demo: false,
    publish: true,
    bindPair: pairs.bind,
    timers: new ManualTimers(),
    lingerSeconds: 0,
    gopCacheBytes: 0,
    maxTracks: 4,
    createSource: () => {
      throw new Error("no pulls here");
    },
  });
}

const publisher = (): StreamSource => ({
  kind: "publish",
  start() {},
  stop: () => Promise.resolve(),
  info: () => ({}),
});

Deno.test("Stream.setDescription() refuses more tracks than allowed and installs nothing", async () => {
  const stream = newStream();
  const err = (() => {
    try {
      stream.setDescription(sdpWith(MAX_TRACKS + 1));
    } catch (e) {
      return e;
    }
  })();
  ok(err instanceof TooManyTracks, String(err));
  equal(err.count, MAX_TRACKS + 1);
  equal(stream.tracks.length, 0);
  equal(stream.description, null);
  stream.setDescription(sdpWith(2));
  equal(stream.tracks.length, 2);
  await stream.close();
});

Deno.test("Stream binds a track's UDP pair only when asked, and a range with no free pair leaves nothing held", async () => {
  const pairs = new FakePortPairs(2);
  const stream = newStream({ pairs, kind: "publish" });
  stream.setDescription(sdpWith(3));
  equal(stream.boundPairs, 0, "a description binds no port");
  equal(pairs.free, 2);
  const first = stream.pairFor(2);
  equal(stream.pairFor(2), first, "bound once");
  stream.pairFor(0);
  equal(pairs.free, 0);
  throws(() => stream.pairFor(1), PortsExhausted);
  equal(stream.boundPairs, 2);
  await stream.close();
  equal(pairs.free, 2, "closing the stream returns its pairs");
});

Deno.test("StreamHub.forPublisher() with too many tracks leaves the path free and no port bound", async () => {
  const pairs = new FakePortPairs(4);
  const hub = publisherHub(pairs);
  throws(() => hub.forPublisher("live", sdpWith(5), publisher()), TooManyTracks);
  equal(hub.get("live"), undefined, "no stream left behind");
  const stream = hub.forPublisher("live", sdpWith(4), publisher());
  ok(typeof stream !== "string", `refused: ${stream}`);
  equal(stream.tracks.length, 4);
  equal(pairs.free, 4, "ANNOUNCE binds no port");
  await hub.close();
});

/** An RTP packet with sequence number and timestamp `seq`, SSRC 5. */
function rtpPacket(seq: number): Uint8Array {
  const p = new Uint8Array(20);
  writeRtpHeader(p, 0, { marker: true, payloadType: 96, sequence: seq, timestamp: seq, ssrc: 5 });
  return p;
}

/** An empty RTCP receiver report (v=2, RR, length 1 word, reporter SSRC 1). */
const EMPTY_RR = new Uint8Array([0x80, 201, 0x00, 0x01, 0, 0, 0, 1]);

Deno.test("StreamHub.unpublish() ends the publisher's media: its late datagrams are dropped", async () => {
  const hub = publisherHub(new FakePortPairs(4));
  const source = publisher();
  const stream = hub.forPublisher("live", sdpWith(1), source);
  ok(typeof stream !== "string");
  const pair = stream.pairFor(0) as FakePortPair;
  stream.setUdpSource(0, { host: "10.0.0.5", rtpPort: 5000 });
  const track = stream.tracks[0]!;
  pair.receiveRtp(rtpPacket(1), "10.0.0.5", 5000);
  equal(track.counters.packetsIn, 1);
  hub.unpublish(stream, source);
  pair.receiveRtp(rtpPacket(2), "10.0.0.5", 5000);
  equal(track.counters.packetsIn, 1, "a datagram of the publisher that left reached the track");
  equal(track.counters.dropped.unexpected_source, 1);
  await hub.close();
});

Deno.test("Stream routes UDP datagrams: the source's to the track, a reader's RTCP to its handler, its hole punching nowhere", async () => {
  const stream = newStream({ kind: "publish" });
  stream.setDescription(sdpWith(2));
  const pair = stream.pairFor(1) as FakePortPair;
  stream.setUdpSource(1, { host: "10.0.0.5", rtpPort: 5000, rtcpPort: 5001 });
  const track = stream.tracks[1]!;
  const reports: Array<[number, number]> = [];
  const unregister = stream.addUdpReader("10.0.0.7", 7000, 7001, (packet, index) => {
    reports.push([packet.length, index]);
  });

  pair.receiveRtp(rtpPacket(1), "10.0.0.5", 5000);
  equal(track.counters.packetsIn, 1, "the source's RTP reaches the track");
  pair.receiveRtp(rtpPacket(9), "10.0.0.7", 7000);
  equal(track.counters.packetsIn, 1, "a reader's hole-punch packet is ignored");
  equal(track.counters.dropped.unexpected_source, 0, "and not counted as a drop");
  pair.receiveRtp(rtpPacket(2), "10.0.0.8", 5000);
  equal(track.counters.dropped.unexpected_source, 1, "a stranger's RTP is dropped and counted");

  pair.receiveRtcp(EMPTY_RR, "10.0.0.7", 7001);
  deepEqual(reports, [[8, 1]], "the reader's RTCP goes to its handler, with the track index");
  equal(track.counters.readerReports, 1);
  pair.receiveRtcp(EMPTY_RR, "10.0.0.5", 5001);
  equal(track.counters.rtcpIn, 1, "the source's RTCP reaches the track");

  unregister();
  unregister(); // a second call does nothing
  pair.receiveRtcp(EMPTY_RR, "10.0.0.7", 7001);
  equal(reports.length, 1, "unregistered: no more reports");
  equal(track.counters.dropped.unexpected_source, 2);
  pair.receiveRtp(rtpPacket(10), "10.0.0.7", 7000);
  equal(track.counters.dropped.unexpected_source, 3, "its RTP port is a stranger's now");
  await stream.close();
});

Deno.test("Stream keeps a shared reader RTP port known until every session using it is gone", async () => {
  const stream = newStream({ kind: "publish" });
  stream.setDescription(sdpWith(1));
  const pair = stream.pairFor(0) as FakePortPair;
  stream.setUdpSource(0, { host: "10.0.0.5", rtpPort: 5000 });
  const track = stream.tracks[0]!;
  const first = stream.addUdpReader("10.0.0.7", 7000, 7001, () => {});
  const second = stream.addUdpReader("10.0.0.7", 7000, 7003, () => {});
  first();
  pair.receiveRtp(rtpPacket(1), "10.0.0.7", 7000);
  equal(track.counters.dropped.unexpected_source, 0, "the other session still holds the port");
  second();
  pair.receiveRtp(rtpPacket(2), "10.0.0.7", 7000);
  equal(track.counters.dropped.unexpected_source, 1);
  await stream.close();
});

Deno.test("Stream lingers after its last reader, then goes idle; a reader within the linger keeps it", async () => {
  const timers = new ManualTimers();
  let idle = 0;
  const stream = newStream({ timers, onIdle: () => idle++ });
  stream.retain();
  stream.release();
  timers.advance(4999);
  stream.retain();
  timers.advance(10_000);
  equal(idle, 0, "a reader came back within the linger");
  stream.release();
  timers.advance(5000);
  equal(idle, 1, "idle once the linger passed with no reader");
  stream.release(); // more releases than retains: no second linger
  timers.advance(10_000);
  equal(idle, 1);
  await stream.close();
});

Deno.test("Stream tells a fast-plane pair what to forward: the source, the rewrite, its UDP readers", async () => {
  const pairs = new FakePortPairs(2, 30_000, true);
  const stream = newStream({ pairs, kind: "publish" });
  stream.setDescription(sdpWith(1));
  const pair = stream.pairFor(0) as FakePortPair;
  const track = stream.tracks[0]!;
  deepEqual(pair.routes.at(-1)?.source, null, "no source yet: nothing to forward");
  stream.setUdpSource(0, { host: "10.0.0.5", rtpPort: 5000 });
  deepEqual(pair.routes.at(-1)?.source, { host: "10.0.0.5", port: 5000 });

  const udp = new UdpEgress("r1:0", "10.0.0.7", [7000, 7001], pair.sendRtp, pair.sendRtcp);
  track.addEgress(udp, { burst: false });
  deepEqual(pair.routes.at(-1)?.readers, [{ id: "r1:0", host: "10.0.0.7", port: 7000 }]);
  equal(pair.routes.at(-1)?.prompt, false, "only UDP readers: the worker may batch");

  const writer = new InterleavedWriter({ write: (bytes: Uint8Array) => Promise.resolve(bytes.length) }, {
    maxQueuedBytes: configDefaults().readerQueueBytes,
  });
  track.addEgress(new TcpEgress("r2:0", writer, [0, 1], true), { burst: false });
  equal(pair.routes.at(-1)?.readers.length, 1, "a TCP reader is the main thread's");
  equal(pair.routes.at(-1)?.prompt, true, "which then needs each packet at once");

  pair.receiveRtp(rtpPacket(1), "10.0.0.5", 5000);
  deepEqual(pair.routes.at(-1)?.map?.ssrc, 5, "the rewrite of the source's SSRC once it is known");
  track.removeEgress("r1:0");
  deepEqual(pair.routes.at(-1)?.readers, [], "a reader that left is not forwarded to");
  await stream.close();
});

/**
 * A published one-track stream on fast-plane pairs, its source latched and one UDP reader the worker may serve,
 * after its first packet: what its route asks of the plane's ring.
 */
function publishedToOneReader(options: { planeDigests?: boolean; gopCacheBytes?: number }) {
  const pairs = new FakePortPairs(2, 30_000, true);
  const stream = newStream({ pairs, kind: "publish", ...options });
  stream.setDescription(sdpWith(1));
  const pair = stream.pairFor(0) as FakePortPair;
  const track = stream.tracks[0]!;
  stream.setUdpSource(0, { host: "10.0.0.5", rtpPort: 5000 });
  track.addEgress(new UdpEgress("r1:0", "10.0.0.7", [7000, 7001], pair.sendRtp, pair.sendRtcp), {
    burst: false,
  });
  pair.receiveRtp(rtpPacket(1), "10.0.0.5", 5000);
  return { stream, pair, track };
}

Deno.test("Stream gives a fast-plane track with a GOP cache and only worker-served readers a ring, grown when it starved", async () => {
  const { stream, pair } = publishedToOneReader({ planeDigests: true, gopCacheBytes: 4 << 20 });
  const first = pair.ringBytes;
  ok(first > 0 && pair.routes.at(-1)?.prompt === false, "a ring for the worker's digests");
  // A packet the worker forwarded but posted with its bytes, the ring having been full of unhandled digests.
  pair.starved = true;
  pair.receiveRtp(rtpPacket(2), "10.0.0.5", 5000, true);
  equal(pair.ringBytes, 2 * first);
  equal(pair.routes.at(-1)?.ringBytes, 2 * first);
  pair.receiveRtp(rtpPacket(3), "10.0.0.5", 5000, true); // not starved again: stays
  equal(pair.ringBytes, 2 * first);
  await stream.close();
});

Deno.test("Stream asks digests without a ring for a track that keeps no packet, a ring once mesh children may ask for repairs", async () => {
  const { stream, pair, track } = publishedToOneReader({ planeDigests: true }); // no GOP cache
  const route = pair.routes.at(-1)!;
  deepEqual([route.prompt, route.digests, route.ringBytes, pair.ringBytes], [false, true, 0, 0]);
  track.keepForRetransmit({});
  track.addEgress(new UdpEgress("r2:0", "10.0.0.8", [7000, 7001], pair.sendRtp, pair.sendRtcp), {
    burst: false,
  });
  ok((pair.routes.at(-1)?.ringBytes ?? 0) > 0 && pair.ringBytes > 0, "the repairs refer to the ring's bytes");
  await stream.close();
});

Deno.test("Stream gives a fast-plane track no ring with digests off (--no-plane-digests): the Worker posts the packets", async () => {
  const { stream, pair } = publishedToOneReader({});
  equal(pair.routes.at(-1)?.prompt, false, "the worker serves every reader");
  equal(pair.ringBytes, 0, "yet no ring: digests are off");
  await stream.close();
});

Deno.test("Stream binds a parent relay's subscription to its fast-plane pairs, routes from the parent's address, and unbinds", async () => {
  const pairs = new FakePortPairs(4, 30_000, true);
  const stream = newStream({ pairs, kind: "publish" });
  stream.setDescription(sdpWith(2));
  const first = stream.pairFor(0) as FakePortPair;
  const track = stream.tracks[0]!;
  track.relayRtp(rtpPacket(1)); // fed by the mesh from now on
  track.addEgress(new UdpEgress("r1:0", "10.0.0.7", [7000, 7001], first.sendRtp, first.sendRtcp), {
    burst: false,
  });
  deepEqual(first.routes.at(-1)?.source, null, "nothing bound: the main thread sends");

  stream.bindMeshIngress(77, { transport: "udp", hostname: "10.0.0.2", port: 7000 });
  deepEqual([...first.meshIngress], ["77/0"]);
  const route = first.routes.at(-1)!;
  deepEqual(route.source, { host: "10.0.0.2", port: 7000 }, "the worker takes the parent's frames only");
  equal(route.prompt, true);
  equal(route.ringBytes, 0, "no ring: the frames reach the main thread through the mesh port");
  deepEqual(route.readers.map((r) => r.id), ["r1:0"]);
  const second = stream.pairFor(1) as FakePortPair;
  deepEqual([...second.meshIngress], ["77/1"], "a pair made while bound is bound too");

  stream.bindMeshIngress(78, { transport: "udp", hostname: "10.0.0.3", port: 7000 });
  deepEqual([...first.meshIngress], ["78/0"], "a new subscription replaces the old one");
  stream.bindMeshIngress(null, null);
  deepEqual([...first.meshIngress, ...second.meshIngress], []);
  deepEqual(first.routes.at(-1)?.source, null);
  await stream.close();
});
