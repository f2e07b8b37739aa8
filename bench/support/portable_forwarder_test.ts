import assert from "node:assert/strict";
import { type Forwarder, PortableForwarder } from "./portable_forwarder.ts";

const HOST = "127.0.0.1";
const PACKETS = 2000;
const PACKET_BYTES = 1200;

/** A receiving socket that keeps the 32-bit counter at bytes 12..15 of every datagram, in arrival order. */
class Receiver {
  readonly conn = Deno.listenDatagram({ transport: "udp", hostname: HOST, port: 0 });
  readonly port = (this.conn.addr as Deno.NetAddr).port;
  readonly seen: number[] = [];
  readonly #loop: Promise<void>;
  constructor() {
    this.#loop = (async () => {
      try {
        for (;;) {
          const [p] = await this.conn.receive();
          this.seen.push(new DataView(p.buffer, p.byteOffset, p.byteLength).getUint32(12));
        }
      } catch { /* closed */ }
    })();
  }
  async close(): Promise<void> {
    this.conn.close();
    await this.#loop;
  }
}

function packet(k: number): Uint8Array {
  const p = new Uint8Array(PACKET_BYTES);
  p[0] = 0x80; // v=2
  p[1] = 96; // pt=96
  new DataView(p.buffer).setUint16(2, k & 0xffff); // sequence number
  new DataView(p.buffer).setUint32(12, k); // packet counter the receivers check
  return p;
}

/**
 * Sends packets [from, to) at a modest rate (5 per 1 ms tick, at most 5k packets/s) from another socket, so
 * the receivers (plain Deno sockets with default buffers) keep up and any loss is the forwarder's.
 */
async function blast(port: number, from: number, to: number): Promise<void> {
  const conn = Deno.listenDatagram({ transport: "udp", hostname: HOST, port: 0 });
  const addr: Deno.NetAddr = { transport: "udp", hostname: HOST, port };
  try {
    for (let k = from; k < to; k += 5) {
      for (let j = k; j < Math.min(to, k + 5); j++) await conn.send(packet(j), addr);
      await new Promise((r) => setTimeout(r, 1));
    }
  } finally {
    conn.close();
  }
}

async function waitFor(cond: () => boolean, ms = 3000): Promise<void> {
  const end = performance.now() + ms;
  while (!cond() && performance.now() < end) await new Promise((r) => setTimeout(r, 10));
}

const start = (port = 0): Promise<Forwarder> =>
  Promise.try(() => PortableForwarder.start({ hostname: HOST, port }));
const name = "PortableForwarder";

Deno.test({
  name:
    `${name} forwards every packet, in order, to every destination; add/remove apply; close frees the port`,
  async fn() {
    const receivers = [new Receiver(), new Receiver(), new Receiver()];
    const fwd = await start();
    try {
      for (const r of receivers) await fwd.addDestination({ hostname: HOST, port: r.port });
      await fwd.addDestination({ hostname: HOST, port: receivers[0]!.port }); // idempotent
      assert.equal(fwd.stats().destinations, 3);

      await blast(fwd.port, 0, PACKETS);
      await waitFor(() => receivers.every((r) => r.seen.length >= PACKETS));
      const expected = Array.from({ length: PACKETS }, (_, k) => k);
      for (const r of receivers) assert.deepEqual(r.seen, expected);
      await waitFor(() => fwd.stats().received >= PACKETS);
      const s = fwd.stats();
      assert.equal(s.received, PACKETS);
      assert.equal(s.receivedBytes, PACKETS * PACKET_BYTES);
      assert.equal(s.sent, PACKETS * 3);
      assert.equal(s.sendErrors, 0);

      // Remove the second destination: only the others get the next burst.
      await fwd.removeDestination({ hostname: HOST, port: receivers[1]!.port });
      assert.equal(fwd.stats().destinations, 2);
      await blast(fwd.port, PACKETS, PACKETS + 200);
      await waitFor(() =>
        receivers[0]!.seen.length >= PACKETS + 200 && receivers[2]!.seen.length >= PACKETS + 200
      );
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(receivers[0]!.seen.length, PACKETS + 200);
      assert.equal(receivers[1]!.seen.length, PACKETS);
      assert.equal(receivers[2]!.seen.length, PACKETS + 200);
      assert.equal(fwd.stats().sent, PACKETS * 3 + 400);
    } finally {
      await fwd.close();
      for (const r of receivers) await r.close();
    }
    // The port is free again: binding it succeeds.
    const again = Deno.listenDatagram({ transport: "udp", hostname: HOST, port: fwd.port });
    again.close();
  },
});

Deno.test({
  name: `${name} refuses a port in use`,
  async fn() {
    const taken = Deno.listenDatagram({ transport: "udp", hostname: HOST, port: 0 });
    try {
      await assert.rejects(start((taken.addr as Deno.NetAddr).port), Deno.errors.AddrInUse);
    } finally {
      taken.close();
    }
  },
});
