/**
 * `deno run -A bench/digest_ingest.ts`: what the fast plane's main thread pays per packet in, in steady state
 * (every reader a UDP reader the Worker serves), with payload records (each packet's bytes posted, the track
 * taking them with `ingestRtp`) against digest records (numbers posted, the bytes in the track's ring, the track
 * taking them with `ingestDigest`). Same code as the relay runs, from the receive batch to the track (the
 * dispatcher, the source latch, statistics, numbering, GOP cache, 10 served readers counted), without sockets or
 * the Worker: a figure independent of the machine's load. Batches of 192 packets of 1,200 bytes (the Worker's
 * hold), a keyframe every 1,000 packets; a fresh batch buffer per batch, as a transferred one arrives. Only the
 * main thread's part is timed (the batch's copy and its dispatch), not the making of the batch.
 * `BENCH_SECONDS` (default 10) per variant.
 * @module
 */
import process from "node:process";
import {
  DIGEST_ARRIVAL,
  DIGEST_FLAGS,
  DIGEST_KEYFRAME,
  DIGEST_POSITION,
  DIGEST_RECORD,
  DIGEST_SEQ,
  DIGEST_SSRC,
  DIGEST_TIMESTAMP,
  RECV_DIGEST,
  RECV_FLAGS,
  RECV_FORWARDED,
  RECV_HEADER,
  RECV_ID,
  RECV_IP,
  RECV_PORT,
} from "../src/dataplane/_shared_protocol.ts";
import { type PlaneSocket, RecordDispatcher } from "../src/dataplane/_recv_records.ts";
import { PacketRing } from "../src/dataplane/packet_ring.ts";
import { writeRtpHeader } from "../src/rtp/packet.ts";
import { GopCache } from "../src/relay/gop_cache.ts";
import { SourceLatch } from "../src/relay/source_latch.ts";
import { Track } from "../src/relay/track.ts";
import type { Egress } from "../src/relay/egress.ts";

const TIME_ORIGIN = performance.timeOrigin;
const SECONDS = Number(Deno.env.get("BENCH_SECONDS") ?? 10);
const BATCH = 192;
const SIZE = 1200;
const FANOUT = 10;
const IP = 0x7f000001;
const PORT = 40000;

const served = new Set<string>();
const egresses: Egress[] = [];
for (let i = 0; i < FANOUT; i++) {
  const id = `r${i}`;
  served.add(id);
  egresses.push({ id, kind: "udp", sendRtp: () => true, sendRtcp: () => true });
}

function makeTrack(): { track: Track; latch: SourceLatch } {
  const track = new Track({ index: 0, clockRate: 90_000, gopCache: new GopCache("H264", 4 * 1024 * 1024) });
  for (const e of egresses) track.addEgress(e);
  const latch = new SourceLatch({ host: "127.0.0.1", rtpPort: PORT });
  return { track, latch };
}

/** RTP packet `n` into `buf` at `at`. */
function writePacket(buf: Uint8Array, at: number, n: number): void {
  writeRtpHeader(buf, at, {
    marker: false,
    payloadType: 96,
    sequence: n & 0xffff,
    timestamp: n * 90,
    ssrc: 0x1234,
  });
  buf[at + 12] = n % 1000 === 0 ? 0x65 : 0x41;
}

/**
 * Runs `prepare` (the Worker's side, not counted) then `handle` (the main thread's, counted) per batch, for
 * {@linkcode SECONDS}: prints the process's CPU time (user + system, GC threads included) and the wall time of
 * `handle` per packet (CPU time does not grow when other processes take the cores; wall time does).
 */
function run(name: string, prepare: (n: number) => void, handle: () => void): void {
  const end = performance.now() + SECONDS * 1000;
  let n = 0;
  let spent = 0;
  let cpu = 0; // µs
  while (performance.now() < end) {
    prepare(n);
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    handle();
    const c1 = process.cpuUsage(c0);
    cpu += c1.user + c1.system;
    spent += performance.now() - t0;
    n += BATCH;
  }
  const ns = (spent * 1e6) / n;
  const cpuNs = (cpu * 1e3) / n;
  console.log(
    `${name.padEnd(8)} ${cpuNs.toFixed(0).padStart(5)} ns CPU, ${
      ns.toFixed(0).padStart(5)
    } ns wall per packet in ` +
      `(${n} packets in ${SECONDS} s)`,
  );
}

// Payload records: header + the datagram, as the Worker posts them when the route is prompt (or before digests).
{
  const { track, latch } = makeTrack();
  const sock: PlaneSocket = {
    id: 1,
    handler: (packet, from, forwarded) => {
      if (latch.acceptRtp(from.hostname, from.port, 0x1234, performance.now()) !== null) return;
      track.ingestRtp(packet, forwarded ? served : undefined);
    },
    onDigest: null,
    ring: null,
    digest: null,
    processed: 0,
  };
  const dispatcher = new RecordDispatcher(new Map([[1, sock]]));
  const record = RECV_HEADER + SIZE;
  const template = new Uint8Array(BATCH * record);
  const v = new DataView(template.buffer);
  for (let i = 0; i < BATCH; i++) {
    v.setUint32(i * record, SIZE, true);
    v.setUint32(i * record + RECV_ID, 1, true);
    v.setUint32(i * record + RECV_IP, IP, false);
    v.setUint16(i * record + RECV_PORT, PORT, true);
    v.setUint16(i * record + RECV_FLAGS, RECV_FORWARDED, true);
  }
  run(
    "payload",
    (n) => {
      for (let i = 0; i < BATCH; i++) writePacket(template, i * record + RECV_HEADER, n + i);
    },
    () => dispatcher.dispatch(template.slice().buffer, BATCH),
  );
}

// Digest records: header + the digest, the bytes written to the ring as the Worker does.
{
  const { track, latch } = makeTrack();
  const ring = new PacketRing(8 * 1024 * 1024);
  const sock: PlaneSocket = {
    id: 1,
    handler: () => {},
    onDigest: (d, from) => {
      // As Stream does: the Worker's arrival time on this thread's clock, no clock read per packet.
      const arrivalMs = d.arrivalMs - TIME_ORIGIN;
      if (latch.acceptRtp(from.hostname, from.port, d.ssrc, arrivalMs) !== null) return;
      track.ingestDigest(d, arrivalMs / 1000, served);
    },
    ring,
    digest: null,
    processed: 0,
  };
  const dispatcher = new RecordDispatcher(new Map([[1, sock]]));
  const template = new Uint8Array(BATCH * DIGEST_RECORD);
  const v = new DataView(template.buffer);
  const packet = new Uint8Array(SIZE);
  run("digest", (n) => {
    const arrival = performance.timeOrigin + performance.now();
    for (let i = 0; i < BATCH; i++) {
      writePacket(packet, 0, n + i);
      const position = ring.reserve(SIZE);
      ring.bytes.set(packet, ring.offsetOf(position));
      const at = i * DIGEST_RECORD;
      v.setUint32(at, SIZE, true);
      v.setUint32(at + RECV_ID, 1, true);
      v.setUint32(at + RECV_IP, IP, false);
      v.setUint16(at + RECV_PORT, PORT, true);
      v.setUint16(at + RECV_FLAGS, RECV_FORWARDED | RECV_DIGEST, true);
      v.setUint32(at + DIGEST_POSITION, position, true);
      v.setUint32(at + DIGEST_TIMESTAMP, (n + i) * 90, true);
      v.setUint32(at + DIGEST_SSRC, 0x1234, true);
      v.setUint16(at + DIGEST_SEQ, (n + i) & 0xffff, true);
      v.setUint16(at + DIGEST_FLAGS, (n + i) % 1000 === 0 ? DIGEST_KEYFRAME : 0, true);
      v.setFloat64(at + DIGEST_ARRIVAL, arrival, true);
    }
  }, () => dispatcher.dispatch(template.slice().buffer, BATCH));
}
