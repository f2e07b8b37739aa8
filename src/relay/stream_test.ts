/**
 * Tests of how long readers wait for a stream's source: {@linkcode Stream.whenReady} with and without the
 * camera wait limit the hub sets on pulled cameras (`--camera-wait`).
 * @module
 */
import { equal, ok, rejects, throws } from "node:assert/strict";
import { silentLogger } from "../log.ts";
import { StreamHub } from "./hub.ts";
import { PortPairAllocator } from "./port_allocator.ts";
import {
  DEFAULT_MAX_TRACKS,
  PortsExhausted,
  Stream,
  type StreamSource,
  StreamUnavailable,
  TooManyTracks,
} from "./stream.ts";
import { parseSdp, type SessionDescription } from "../rtsp/sdp.ts";
import { writeRtpHeader } from "../rtp/packet.ts";

function newStream(): Stream {
  return new Stream({
    path: "cam",
    kind: "pull",
    logger: silentLogger,
    allocator: new PortPairAllocator(45_000, 45_007),
    hostname: "127.0.0.1",
    lingerSeconds: 0,
    onIdle: () => {},
  });
}

Deno.test("Stream.whenReady() without a limit rejects with a plain Error after the reader's own wait", async () => {
  const stream = newStream();
  stream.setState("connecting");
  const err = await stream.whenReady(30).then(() => null, (e: Error) => e);
  ok(err && !(err instanceof StreamUnavailable), String(err));
  ok(/not ready after 30 ms: connecting/.test(err.message), err.message);
  await stream.close();
});

Deno.test("Stream.whenReady() with readyWaitLimitMs waits at most that long, then answers 503 with the last error", async () => {
  const stream = newStream();
  stream.readyWaitLimitMs = 60;
  stream.setState("error", "Connection refused (os error 111)");
  const t0 = performance.now();
  const err = await stream.whenReady(10_000).then(() => null, (e: Error) => e);
  const waited = performance.now() - t0;
  ok(err instanceof StreamUnavailable, String(err));
  equal(err.status, 503);
  equal(err.message, 'Source of "cam" unreachable for 0.1 s: Connection refused (os error 111)');
  ok(waited >= 55 && waited < 1000, `waited ${waited} ms`);
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
    hostname: "127.0.0.1",
    udpPortRange: [45_010, 45_017],
    lingerSeconds: 0,
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
  const stream = newStream();
  stream.readyWaitLimitMs = 60_000;
  stream.setState("connecting");
  const t0 = performance.now();
  await rejects(stream.whenReady(40), (e: unknown) => e instanceof StreamUnavailable && e.status === 503);
  ok(performance.now() - t0 < 1000);
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

function publisherHub(range: readonly [number, number]) {
  return new StreamHub({
    logger: silentLogger,
    pulls: {},
    demo: false,
    publish: true,
    hostname: "127.0.0.1",
    udpPortRange: range,
    lingerSeconds: 0,
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
      stream.setDescription(sdpWith(DEFAULT_MAX_TRACKS + 1));
    } catch (e) {
      return e;
    }
  })();
  ok(err instanceof TooManyTracks, String(err));
  equal(err.count, DEFAULT_MAX_TRACKS + 1);
  equal(stream.tracks.length, 0);
  equal(stream.description, null);
  stream.setDescription(sdpWith(2));
  equal(stream.tracks.length, 2);
  await stream.close();
});

Deno.test("Stream binds a track's UDP pair only when asked, and a range with no free pair leaves nothing held", async () => {
  const allocator = new PortPairAllocator(45_020, 45_023); // two pairs
  const stream = new Stream({
    path: "cam",
    kind: "publish",
    logger: silentLogger,
    allocator,
    hostname: "127.0.0.1",
    lingerSeconds: 0,
    onIdle: () => {},
  });
  stream.setDescription(sdpWith(3));
  equal(stream.boundPairs, 0, "a description binds no port");
  equal(allocator.free, 2);
  const first = stream.pairFor(2);
  equal(stream.pairFor(2), first, "bound once");
  stream.pairFor(0);
  equal(allocator.free, 0);
  throws(() => stream.pairFor(1), PortsExhausted);
  equal(stream.boundPairs, 2);
  await stream.close();
  equal(allocator.free, 2, "closing the stream returns its pairs");
});

Deno.test("StreamHub.forPublisher() with too many tracks leaves the path free and no port bound", async () => {
  const hub = publisherHub([45_030, 45_037]);
  throws(() => hub.forPublisher("live", sdpWith(5), publisher()), TooManyTracks);
  equal(hub.get("live"), undefined, "no stream left behind");
  const stream = hub.forPublisher("live", sdpWith(4), publisher());
  ok(typeof stream !== "string", `refused: ${stream}`);
  equal(stream.tracks.length, 4);
  equal(hub.allocator.free, 4, "ANNOUNCE binds no port");
  await hub.close();
});

Deno.test("StreamHub.unpublish() ends the publisher's media: its late datagrams are dropped", async () => {
  const hub = publisherHub([45_040, 45_047]);
  const source = publisher();
  const stream = hub.forPublisher("live", sdpWith(1), source);
  ok(typeof stream !== "string");
  const sock = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  try {
    const pair = stream.pairFor(0);
    stream.setUdpSource(0, { host: "127.0.0.1", rtpPort: (sock.addr as Deno.NetAddr).port });
    const to = { transport: "udp" as const, hostname: "127.0.0.1", port: pair.rtpPort };
    const packet = (seq: number) => {
      const p = new Uint8Array(20);
      writeRtpHeader(p, 0, { marker: true, payloadType: 96, sequence: seq, timestamp: seq, ssrc: 5 });
      return p;
    };
    const track = stream.tracks[0]!;
    await sock.send(packet(1), to);
    for (let i = 0; i < 100 && track.counters.packetsIn < 1; i++) await new Promise((r) => setTimeout(r, 10));
    equal(track.counters.packetsIn, 1);
    hub.unpublish(stream, source);
    await sock.send(packet(2), to);
    for (let i = 0; i < 100 && track.counters.dropped.unexpected_source < 1; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    equal(track.counters.packetsIn, 1, "a datagram of the publisher that left reached the track");
    equal(track.counters.dropped.unexpected_source, 1);
  } finally {
    sock.close();
    await hub.close();
  }
});
