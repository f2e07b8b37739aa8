/**
 * Digests on the fast data plane, end to end: while the worker serves every reader of a UDP-published track, the
 * main thread gets digests (numbers) instead of the packets, the bytes stay in the track's ring, and a reader
 * that joins then still gets the cached GOP, copied out of the ring, from its keyframe, in order and without a
 * gap to the live packets; the reader the worker served meanwhile misses nothing either.
 * @module
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { writeRtpHeader } from "../src/rtp/packet.ts";
import { delay } from "./support/processes.ts";
import { startRelayProcess } from "./support/relay.ts";
import { startRtspPublisher, startRtspReader } from "./support/rtsp_peers.ts";
import { parsePrometheus, sampleValue } from "./support/prometheus.ts";

const SDP = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=digest\r\nt=0 0\r\nm=video 0 RTP/AVP 96\r\n" +
  "a=rtpmap:96 H264/90000\r\na=control:trackID=0\r\n";
const linux = Deno.build.os === "linux";
/** The index of the second keyframe (the first is packet 0); every other packet is a non-IDR slice. */
const GOP = 100;

/** Packet `i`: its index in the payload; an IDR slice at 0 and {@linkcode GOP}. */
function packet(i: number): Uint8Array {
  const p = new Uint8Array(600);
  writeRtpHeader(p, 0, {
    marker: true,
    payloadType: 96,
    sequence: (7000 + i) & 0xffff,
    timestamp: i * 3000,
    ssrc: 0x99,
  });
  p[12] = i === 0 || i === GOP ? 0x65 : 0x41;
  new DataView(p.buffer).setUint32(16, i);
  return p;
}

const indexOf = (p: Uint8Array) => new DataView(p.buffer, p.byteOffset).getUint32(16);

for (const transport of ["udp", "tcp"] as const) {
  Deno.test({
    name:
      `fast plane: digests while the worker serves every reader; a ${transport} reader joining gets the GOP from the ring`,
    ignore: !linux,
    async fn() {
      await using relay = await startRelayProcess(["--data-plane", "fast"], {}, {
        permissions: ["--allow-ffi"],
      });
      const records = async () => {
        const text = await (await fetch(`http://127.0.0.1:${relay.adminPort}/metrics`)).text();
        const samples = parsePrometheus(text);
        return {
          digests: sampleValue(samples, "msm_dataplane_datagrams_total", { event: "digest_record" }) ?? 0,
          payloads: sampleValue(samples, "msm_dataplane_datagrams_total", { event: "payload_record" }) ?? 0,
        };
      };
      await using pub = await startRtspPublisher(relay.url("digest"), SDP, { transport: "udp" });
      let next = 0;
      /** Sends packets up to `end` (exclusive), a few per millisecond like a camera's burst of a frame. */
      const sendUpTo = async (end: number) => {
        while (next < end) {
          await pub.send(packet(next++));
          if (next % 4 === 0) await delay(1);
        }
      };
      await sendUpTo(10);
      const first: number[] = [];
      await using _a = await startRtspReader(relay.url("digest"), {
        transport: "udp",
        onRtp: (p) => first.push(indexOf(p)),
      });
      // The first reader's burst (the 10 packets) is paced by the main thread; once it is out, the worker serves it.
      await sendUpTo(GOP + 60); // a keyframe at GOP, then 59 slices: cached by reference
      /** The first sample `done` accepts, polled for at most 20 s (a busy machine may take its time). */
      const recordsWhen = async (done: (r: { digests: number; payloads: number }) => boolean) => {
        const deadline = Date.now() + 20_000;
        for (;;) {
          const r = await records();
          if (done(r) || Date.now() > deadline) return r;
          await delay(50);
        }
      };
      const before = await recordsWhen((r) => r.digests + r.payloads >= GOP + 60);
      await sendUpTo(GOP + 120);
      const steady = await recordsWhen((r) =>
        r.digests + r.payloads >= before.digests + before.payloads + 60
      );
      const digests = steady.digests - before.digests;
      const payloads = steady.payloads - before.payloads;
      console.log(`${transport}: steady state, ${digests} digest records and ${payloads} payload records`);
      assert(digests >= 0.9 * 60 && payloads <= 6, `${digests} digests, ${payloads} payloads for 60 packets`);

      const second: number[] = [];
      await using _b = await startRtspReader(relay.url("digest"), {
        transport,
        onRtp: (p) => second.push(indexOf(p)),
      });
      await sendUpTo(GOP + 200);
      const deadline = Date.now() + 10_000;
      while ((second.length < 200 || first.length < GOP + 200) && Date.now() < deadline) await delay(20);
      console.log(
        `${transport}: the joining reader got ${second.slice(0, 4).join(",")}... (${second.length})`,
      );
      // The GOP since the keyframe at GOP, then the live packets, one continuous run.
      assertEquals(second, Array.from({ length: GOP + 200 - GOP }, (_, i) => GOP + i));
      // The first reader: everything from its join on (its burst started at packet 0), no gap.
      assertEquals(first, Array.from({ length: GOP + 200 }, (_, i) => i));
    },
  });
}

Deno.test({
  name: "fast plane with digests: a track's counters and ingress statistics read as on the portable plane",
  ignore: !linux,
  async fn() {
    /** Sequence steps of the feed: in order, a loss of 2, a duplicate, a late packet. */
    const order: number[] = [];
    for (let i = 0; i < 400; i++) {
      if (i % 50 === 17) continue; // lost
      order.push(i);
      if (i % 70 === 5) order.push(i); // duplicate
      if (i % 90 === 30) order.push(i - 3); // late (a second copy of an earlier one: a duplicate, reordered)
    }
    const run = async (plane: "portable" | "fast") => {
      await using relay = await startRelayProcess(
        ["--data-plane", plane],
        {},
        plane === "fast" ? { permissions: ["--allow-ffi"] } : {},
      );
      await using pub = await startRtspPublisher(relay.url("stats"), SDP, { transport: "udp" });
      await pub.send(packet(0));
      let got = 0;
      await using _reader = await startRtspReader(relay.url("stats"), {
        transport: "udp",
        onRtp: () => got++,
      });
      await delay(200); // the reader's burst is out: on the fast plane, the worker serves it from now on
      for (const [k, i] of order.entries()) {
        await pub.send(packet(i + 1));
        if (k % 2 === 0) await delay(1);
      }
      const deadline = Date.now() + 20_000;
      let view = await relay.stream("stats");
      while ((view?.tracks[0]?.packetsIn ?? 0) < order.length + 1 && Date.now() < deadline) {
        await delay(50);
        view = await relay.stream("stats");
      }
      const text = await (await fetch(`http://127.0.0.1:${relay.adminPort}/metrics`)).text();
      const digests = sampleValue(parsePrometheus(text), "msm_dataplane_datagrams_total", {
        event: "digest_record",
      });
      // deno-lint-ignore no-explicit-any
      const track = (view?.tracks[0] ?? {}) as any;
      const hop = track.hop ?? {};
      return {
        digests: digests ?? 0,
        same: {
          packetsIn: track.packetsIn,
          bytesIn: track.bytesIn,
          forwarded: track.forwarded,
          dropped: track.dropped,
          lost: track.lost,
          hop: [hop.valid, hop.received, hop.expected, hop.lost, hop.duplicates, hop.reordered],
        },
      };
    };
    const portable = await run("portable");
    const fast = await run("fast");
    console.log(`portable ${JSON.stringify(portable)}\nfast     ${JSON.stringify(fast)}`);
    assert(fast.digests >= 0.9 * order.length, `only ${fast.digests} digest records`);
    assertEquals(fast.same, portable.same);
  },
});
