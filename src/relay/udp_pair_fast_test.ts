import assert from "node:assert/strict";
import { FastUdpPlane } from "../dataplane/shared_udp.ts";
import { PortPairAllocator } from "./port_allocator.ts";
import { UdpPortPair } from "./udp_pair.ts";

const linux = Deno.build.os === "linux";
const BURST = 300;

function packet(i: number): Uint8Array {
  const p = new Uint8Array(200 + (i % 7));
  new DataView(p.buffer).setUint32(0, i);
  p.fill(i & 255, 4);
  return p;
}

/** Waits for `cond`; the default bound is generous: on a loaded machine the worker may not run for seconds. */
async function until(cond: () => boolean, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 5));
  }
}

Deno.test({
  name: "UdpPortPair on the fast data plane receives and sends in order from its RTP port",
  ignore: !linux,
  async fn() {
    const plane = new FastUdpPlane();
    const base = 30000 + 2 * Math.floor(Math.random() * 10000);
    const allocator = new PortPairAllocator(base, base + 99);
    const pair = UdpPortPair.bind("127.0.0.1", allocator, plane);
    const client = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
    const clientAddr = client.addr as Deno.NetAddr;
    try {
      assert.equal(pair.rtpPort % 2, 0);
      assert.equal(pair.rtcpPort, pair.rtpPort + 1);

      // Ingest: a burst to the RTP port arrives complete, in order, with its source address.
      const got: Array<{ seq: number; len: number; from: Deno.NetAddr }> = [];
      pair.onRtp = (p, from) =>
        got.push({ seq: new DataView(p.buffer, p.byteOffset).getUint32(0), len: p.length, from });
      const to: Deno.NetAddr = { transport: "udp", hostname: "127.0.0.1", port: pair.rtpPort };
      for (let i = 0; i < BURST; i++) await client.send(packet(i), to);
      await until(() => got.length >= BURST);
      assert.deepEqual(got.map((g) => g.seq), [...Array(BURST).keys()]);
      assert.deepEqual(got.map((g) => g.len), [...Array(BURST).keys()].map((i) => packet(i).length));
      assert.equal(got[0]!.from.hostname, "127.0.0.1");
      assert.equal(got[0]!.from.port, clientAddr.port);

      // Egress: batched sends leave from the RTP port, complete and in order.
      const dest: Deno.NetAddr = { transport: "udp", hostname: "127.0.0.1", port: clientAddr.port };
      // Rounds of 100, so the client's default receive buffer holds a round.
      const buf = new Uint8Array(4096);
      for (let round = 0; round < BURST; round += 100) {
        for (let i = round; i < round + 100; i++) pair.sendRtp(packet(i), dest);
        for (let i = round; i < round + 100; i++) {
          const [data, from] = await client.receive(buf);
          assert.equal((from as Deno.NetAddr).port, pair.rtpPort);
          assert.deepEqual(data, packet(i));
        }
      }
      assert.equal(pair.sendErrors, 0);
      const stats = plane.stats();
      assert.equal(stats.sent, BURST);
      assert.ok(stats.flushes <= Math.ceil(BURST / 64) + 3, `flushes ${stats.flushes}`);

      // RTCP stays on a Deno socket.
      let rtcp = 0;
      pair.onRtcp = () => rtcp++;
      await client.send(new Uint8Array(8), { transport: "udp", hostname: "127.0.0.1", port: pair.rtcpPort });
      await until(() => rtcp === 1);
    } finally {
      client.close();
      pair.close();
      await plane.close();
    }
    assert.equal(allocator.free, 50);
  },
});

Deno.test({
  name: "UdpPortPair on the fast data plane skips a port another socket holds",
  ignore: !linux,
  async fn() {
    const plane = new FastUdpPlane();
    const base = 30000 + 2 * Math.floor(Math.random() * 10000);
    const holder = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: base });
    const allocator = new PortPairAllocator(base, base + 9);
    try {
      const pair = UdpPortPair.bind("127.0.0.1", allocator, plane);
      assert.notEqual(pair.rtpPort, base);
      pair.close();
    } finally {
      holder.close();
      await plane.close();
    }
  },
});

Deno.test({
  name: "UdpPortPair on the fast data plane: one packet to several readers arrives intact at each",
  ignore: !linux,
  async fn() {
    const plane = new FastUdpPlane();
    const base = 30000 + 2 * Math.floor(Math.random() * 10000);
    const allocator = new PortPairAllocator(base, base + 9);
    const pair = UdpPortPair.bind("127.0.0.1", allocator, plane);
    const readers = [0, 1, 2].map(() =>
      Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 })
    );
    try {
      const dests = readers.map((r) => r.addr as Deno.NetAddr);
      // As a track does: each packet to every reader in a row (the outbox copies it once), 50 packets.
      for (let i = 0; i < 50; i++) {
        const p = packet(i);
        for (const d of dests) pair.sendRtp(p, d);
      }
      const buf = new Uint8Array(4096);
      for (const r of readers) {
        for (let i = 0; i < 50; i++) {
          const [data] = await r.receive(buf);
          assert.deepEqual(data, packet(i));
        }
      }
      // The worker publishes its counters after a send batch, which may be after the readers got the packets.
      const deadline = performance.now() + 2000;
      while (plane.stats().sent < 150 && performance.now() < deadline) {
        await new Promise((r) => setTimeout(r, 5));
      }
      assert.equal(plane.stats().sent, 150);
      assert.equal(pair.sendErrors, 0);
    } finally {
      for (const r of readers) r.close();
      pair.close();
      await plane.close();
    }
  },
});

Deno.test({
  name: "UdpPortPair on the fast data plane: with 2,000 pairs bound, every pair receives, the last one too",
  ignore: !linux,
  async fn() {
    const PAIRS = 2000;
    const plane = new FastUdpPlane();
    const pairs: UdpPortPair[] = [];
    const client = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
    try {
      const got = new Set<number>();
      // Below the ephemeral range, with room for pairs other programs hold (bind skips them); on a busy machine
      // other tests may hold more than that room in one place, so a range that runs out is given up for another.
      for (let attempt = 1; pairs.length < PAIRS; attempt++) {
        const base = 10000 + 2 * Math.floor(Math.random() * 5000);
        const allocator = new PortPairAllocator(base, base + 2 * PAIRS + 399);
        try {
          while (pairs.length < PAIRS) {
            const pair = UdpPortPair.bind("127.0.0.1", allocator, plane);
            pair.onRtp = (p) => got.add(new DataView(p.buffer, p.byteOffset).getUint32(0));
            pairs.push(pair);
          }
        } catch (err) {
          for (const pair of pairs.splice(0)) pair.close();
          if (attempt >= 5) throw err;
        }
      }
      // The last pair first: it must not wait for the others.
      const last = pairs.length - 1;
      await client.send(packet(last), {
        transport: "udp",
        hostname: "127.0.0.1",
        port: pairs[last]!.rtpPort,
      });
      await until(() => got.has(last), 10_000).catch(() => {
        throw new Error(`the last of ${PAIRS} pairs (port ${pairs[last]!.rtpPort}) received nothing`);
      });
      for (let i = 0; i < PAIRS; i++) {
        await client.send(packet(i), { transport: "udp", hostname: "127.0.0.1", port: pairs[i]!.rtpPort });
      }
      await until(() => got.size === PAIRS, 20_000).catch(() => {
        const deaf = pairs.map((_, i) => i).filter((i) => !got.has(i));
        throw new Error(`${deaf.length} of ${PAIRS} pairs received nothing, the first: pair ${deaf[0]}`);
      });
      assert.equal(plane.stats().received, PAIRS + 1);
    } finally {
      client.close();
      for (const p of pairs) p.close();
      await plane.close();
    }
  },
});
