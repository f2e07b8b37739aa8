/**
 * Tests of the fast plane's digest records with a real Worker and real sockets: on a route that is not prompt and
 * has a ring, the worker forwards each packet, keeps its original bytes in the ring and posts only a digest (the
 * plane's stats count digest and payload records apart); a prompt route gets the bytes again; a route that wants
 * digests without a ring gets the numbers alone.
 * @module
 */
import { deepStrictEqual as assertEquals, equal, ok } from "node:assert/strict";
import { writeRtpHeader } from "../rtp/packet.ts";
import { FastUdpPlane, type PlaneDigestHandler, type PlaneHandler } from "./shared_udp.ts";
import { PacketRing } from "./packet_ring.ts";
import { writeSockaddrIn } from "./_libc.ts";
import { ipv4Number } from "../address.ts";
import type { RouteSpec } from "./route.ts";
import { DIGEST_ONLY_HOLD_MS } from "./_worker_layout.ts";
import { bindFree } from "../../tests/support/plane_sockets.ts";

const linux = Deno.build.os === "linux";
const SSRC = 0x5eed;

async function until(what: string, cond: () => boolean, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** RTP packet `i`: an H.264 IDR slice when `key`, else a non-IDR slice; 100 + i bytes. */
function rtp(i: number, key: boolean): Uint8Array {
  const p = new Uint8Array(100 + i);
  writeRtpHeader(p, 0, {
    marker: false,
    payloadType: 96,
    sequence: 1000 + i,
    timestamp: i * 3000,
    ssrc: SSRC,
  });
  p[12] = key ? 0x65 : 0x41;
  p.fill(i & 0xff, 13);
  return p;
}

/** A plane with one socket fed by `publisher`, whose routes forward to `reader`. */
interface DigestLab {
  publisher: Deno.DatagramConn;
  reader: Deno.DatagramConn;
  plane: FastUdpPlane;
  /** Where the publisher sends. */
  to: Deno.NetAddr;
  /** A route from the publisher to the reader with `fields` over it. */
  spec(fields: Pick<RouteSpec, "map" | "prompt"> & Partial<RouteSpec>): RouteSpec;
  /** Sets a route on the socket and waits until the worker applied it. */
  apply(spec: RouteSpec): Promise<void>;
}

/** Runs `body` with a {@linkcode DigestLab} whose socket hands its records to `onPacket` and `onDigest`. */
async function withDigestLab(
  onPacket: PlaneHandler,
  onDigest: PlaneDigestHandler,
  body: (lab: DigestLab) => Promise<void>,
): Promise<void> {
  const plane = new FastUdpPlane();
  const publisher = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const reader = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  let fd = -1;
  try {
    let port: number;
    ({ fd, port } = bindFree(plane, onPacket, onDigest));
    const dests = new Uint8Array(16);
    writeSockaddrIn(new DataView(dests.buffer), 0, "127.0.0.1", (reader.addr as Deno.NetAddr).port);
    const src = { ip: ipv4Number("127.0.0.1")!, port: (publisher.addr as Deno.NetAddr).port };
    await body({
      publisher,
      reader,
      plane,
      to: { transport: "udp", hostname: "127.0.0.1", port },
      spec: (fields) => ({ src, dests, codec: "H264", ...fields }),
      async apply(spec) {
        let applied = false;
        plane.setRoute(fd, spec, () => applied = true);
        await until("the route to apply", () => applied);
      },
    });
  } finally {
    publisher.close();
    reader.close();
    if (fd >= 0) plane.closeSocket(fd);
    await plane.close();
  }
}

Deno.test({
  name: "FastUdpPlane posts digests, not payloads, of what a non-prompt route with a ring forwards",
  ignore: !linux,
  async fn() {
    const payloads: boolean[] = [];
    const digests: Array<
      { seq: number; ts: number; ssrc: number; key: boolean; len: number; bytes: number[] }
    > = [];
    const arrivals: number[] = [];
    await withDigestLab(
      (_p, _from, forwarded) => payloads.push(forwarded),
      (d) => {
        const copy = d.ring!.copyOut(d.position, d.length);
        digests.push({
          seq: d.seq,
          ts: d.timestamp,
          ssrc: d.ssrc,
          key: d.keyframe,
          len: d.length,
          bytes: copy ? Array.from(copy) : [],
        });
        arrivals.push(d.arrivalMs);
      },
      async ({ publisher, reader, plane, to, spec, apply }) => {
        const ring = new PacketRing(64 * 1024);
        const route = (prompt: boolean) =>
          spec({
            map: { ssrc: SSRC, seqDelta: 5, tsDelta: 0, outSsrc: 0xabc },
            prompt,
            ring: prompt ? null : ring.buffer,
          });
        await apply(route(false));

        const N = 20;
        const before = performance.timeOrigin + performance.now();
        const sent: Uint8Array[] = [];
        for (let i = 0; i < N; i++) {
          sent.push(rtp(i, i % 5 === 0));
          await publisher.send(sent[i]!, to);
          const [got] = await reader.receive();
          equal(got.length, sent[i]!.length); // forwarded by the worker, rewritten
          equal((got[2]! << 8) | got[3]!, 1005 + i);
        }
        await until(`${N} digests (${digests.length} so far)`, () => digests.length === N);
        const after = performance.timeOrigin + performance.now();
        assertEquals(payloads, []);
        assertEquals(
          digests.map((d) => [d.seq, d.ts, d.ssrc, d.key, d.len]),
          sent.map((p, i) => [1000 + i, i * 3000, SSRC, i % 5 === 0, p.length]),
        );
        // The ring holds the original bytes (before the worker's rewrite).
        assertEquals(digests.map((d) => d.bytes), sent.map((p) => Array.from(p)));
        // Stamped in the worker on the absolute clock both threads share.
        ok(
          arrivals.every((a) => a >= before - 1 && a <= after + 1),
          `arrivals ${arrivals} in [${before}, ${after}]`,
        );
        let stats = plane.stats();
        assertEquals([stats.digestRecords, stats.payloadRecords, stats.cutThrough], [N, 0, N]);

        // A prompt route (a TCP reader joined, say): the bytes come back, flagged as forwarded.
        await apply(route(true));
        await publisher.send(rtp(N, false), to);
        await until("the payload record", () => payloads.length === 1);
        assertEquals(payloads, [true]);
        stats = plane.stats();
        assertEquals([stats.digestRecords, stats.payloadRecords], [N, 1]);
      },
    );
  },
});

Deno.test({
  name: "FastUdpPlane posts digests without bytes for a route that wants digests and has no ring",
  ignore: !linux,
  async fn() {
    const payloads: boolean[] = [];
    const digests: Array<[number, number, boolean, number, boolean]> = [];
    await withDigestLab(
      (_p, _from, forwarded) => payloads.push(forwarded),
      (d) => digests.push([d.seq, d.timestamp, d.keyframe, d.length, d.ring === null]),
      async ({ publisher, reader, plane, to, spec, apply }) => {
        await apply(spec({
          map: { ssrc: SSRC, seqDelta: 0, tsDelta: 0, outSsrc: SSRC },
          prompt: false,
          ring: null,
          digests: true,
        }));
        const N = 10;
        const sent = Array.from({ length: N }, (_, i) => rtp(i, i === 0));
        for (const p of sent) {
          await publisher.send(p, to);
          const [got] = await reader.receive();
          equal(got.length, p.length);
        }
        await until(`${N} digests (${digests.length} so far)`, () => digests.length === N);
        assertEquals(payloads, []);
        assertEquals(digests, sent.map((p, i) => [1000 + i, i * 3000, i === 0, p.length, true]));
        const stats = plane.stats();
        assertEquals([stats.digestRecords, stats.payloadRecords, stats.cutThrough], [N, 0, N]);
      },
    );
  },
});

Deno.test({
  name:
    "FastUdpPlane never posts a digest whose bytes the ring lost: past the ring, the bytes come as payloads",
  ignore: !linux,
  async fn() {
    /** Per packet seen by the main thread: its index, and whether its bytes came intact (payload or ring). */
    const seen: Array<{ seq: number; intact: boolean; digest: boolean }> = [];
    const N = 200;
    const sent = Array.from({ length: N }, (_, i) => rtp(900 + i, false)); // 1,000 bytes and more each
    const intact = (seq: number, bytes: Uint8Array | null) =>
      bytes !== null && sent[seq - 1900]?.every((b, k) => b === bytes[k]) === true;
    await withDigestLab(
      (p) => {
        const seq = (p[2]! << 8) | p[3]!;
        seen.push({ seq, intact: intact(seq, p), digest: false });
      },
      (d) =>
        seen.push({
          seq: d.seq,
          intact: intact(d.seq, d.ring!.copyOut(d.position, d.length)),
          digest: true,
        }),
      async ({ publisher, plane, to, spec, apply }) => {
        const ring = new PacketRing(4096); // four of these packets
        await apply(spec({
          map: { ssrc: SSRC, seqDelta: 0, tsDelta: 0, outSsrc: 0xabc },
          prompt: false,
          ring: ring.buffer,
        }));
        for (const p of sent) await publisher.send(p, to); // faster than a 20 ms hold: the ring cannot hold them
        await until(`${N} packets (${seen.length} so far)`, () => seen.length === N);
        assertEquals(seen.map((s) => s.seq), sent.map((_, i) => 1900 + i));
        equal(seen.filter((s) => !s.intact).length, 0);
        const digests = seen.filter((s) => s.digest).length;
        const stats = plane.stats();
        console.log(`${digests} digests, ${N - digests} payloads through a ring of 4 packets`);
        assertEquals([stats.digestRecords, stats.payloadRecords], [digests, N - digests]);
        ok(digests > 0, "some packets went by digest");
      },
    );
  },
});

Deno.test({
  name:
    "FastUdpPlane holds a ring-less route's digests up to DIGEST_ONLY_HOLD_MS: a camera's rate costs few posts",
  ignore: !linux,
  async fn() {
    // Batches the main thread handled: records delivered in one turn of its event loop count once.
    let batches = 0;
    let inBatch = false;
    const digests: number[] = [];
    await withDigestLab(
      () => {},
      (d) => {
        digests.push(d.seq);
        if (inBatch) return;
        inBatch = true;
        batches++;
        setTimeout(() => inBatch = false, 0);
      },
      async ({ publisher, reader, to, spec, apply }) => {
        await apply(spec({
          map: { ssrc: SSRC, seqDelta: 0, tsDelta: 0, outSsrc: SSRC },
          prompt: false,
          ring: null,
          digests: true,
        }));
        const N = 60;
        const started = performance.now();
        for (let i = 0; i < N; i++) {
          await publisher.send(rtp(i, i === 0), to);
          await reader.receive(); // forwarded at once: only the digests wait
          await new Promise((r) => setTimeout(r, 10));
        }
        await until(`${N} digests (${digests.length} so far)`, () => digests.length === N);
        const ms = performance.now() - started;
        console.log(
          `${N} packets over ${ms.toFixed(0)} ms: ${batches} posts (a 20 ms hold: about ${
            Math.round(ms / 20)
          })`,
        );
        // Never more than one post per hold (plus the first and the last); a busy machine only merges posts.
        ok(batches <= Math.ceil(ms / DIGEST_ONLY_HOLD_MS) + 2, `${batches} posts in ${ms.toFixed(0)} ms`);
      },
    );
  },
});
