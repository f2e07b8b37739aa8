/**
 * Both data planes deliver every packet, in order, to every reader: a publisher sends numbered RTP over UDP while
 * UDP and TCP readers join at different moments (on the fast plane the worker takes each UDP reader over from the
 * main thread mid-stream); each reader must then see one gapless run up to the last packet, with sequence
 * numbers and payloads moving in step (a packet may be missing only where the kernel counted a drop at a socket
 * on its way: a busy machine's full buffer, not a hand-over). The relay's memory stays bounded while it does.
 * @module
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { writeRtpHeader } from "../src/rtp/packet.ts";
import { delay } from "./support/processes.ts";
import { startRelayProcess } from "./support/relay.ts";
import { startRtspPublisher, startRtspReader } from "./support/rtsp_peers.ts";
import { rssBytes } from "./support/proc_stats.ts";
import { udpDrops } from "./support/udp_drops.ts";
import { parsePrometheus, sampleValue } from "./support/prometheus.ts";

const SDP = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=order\r\nt=0 0\r\nm=video 0 RTP/AVP 96\r\n" +
  "a=rtpmap:96 H264/90000\r\na=control:trackID=0\r\n";
const PACKETS = 6000;
const PER_MS = 3; // 3000 packets/s
const linux = Deno.build.os === "linux";

/** What one reader saw: output sequence numbers and the publisher's packet index from the payload. */
interface Seen {
  seqs: number[];
  indexes: number[];
}

function record(seen: Seen, p: Uint8Array): void {
  if (p.length < 16) return;
  const v = new DataView(p.buffer, p.byteOffset);
  seen.seqs.push(v.getUint16(2));
  seen.indexes.push(v.getUint32(12));
}

/** Packet `i` of the publisher: sequence numbers start near the wrap, so readers see 65535 -> 0 too. */
function packet(i: number): Uint8Array {
  const p = new Uint8Array(200);
  writeRtpHeader(p, 0, {
    marker: true,
    payloadType: 96,
    sequence: (65000 + i) & 0xffff,
    timestamp: i * 30,
    ssrc: 0x1234,
  });
  new DataView(p.buffer).setUint32(12, i);
  p[16] = 0x41; // a non-IDR slice: no GOP cache burst
  return p;
}

/**
 * One run of sequence numbers and indexes moving in step up to the last packet, in order, without repeats; packets
 * may be missing only as many as the kernel dropped at the sockets they crossed (`kernelDrops`: a busy machine's
 * full receive buffers, not the relay), never at a hand-over.
 */
function assertInOrder(name: string, seen: Seen, kernelDrops: number): void {
  assert(seen.seqs.length > 0, `${name}: nothing received`);
  let missing = PACKETS - 1 - seen.indexes.at(-1)!;
  for (let k = 1; k < seen.seqs.length; k++) {
    const seqStep = (seen.seqs[k]! - seen.seqs[k - 1]! + 0x10000) & 0xffff;
    const indexStep = seen.indexes[k]! - seen.indexes[k - 1]!;
    if (indexStep < 1 || seqStep !== indexStep) {
      throw new Error(
        `${name}: after packet ${seen.indexes[k - 1]} (seq ${seen.seqs[k - 1]}) came packet ${
          seen.indexes[k]
        } (seq ${seen.seqs[k]}), ${k} of ${seen.seqs.length} received`,
      );
    }
    missing += indexStep - 1;
  }
  assert(
    missing <= kernelDrops,
    `${name}: ${missing} packets missing, the kernel dropped ${kernelDrops} at the sockets on the way`,
  );
  if (missing > 0) console.log(`${name}: ${missing} packets missing, all dropped by the kernel at a socket`);
}

for (const plane of ["portable", "fast"] as const) {
  Deno.test({
    name: `${plane} data plane: readers joining mid-stream each get every later packet, in order`,
    ignore: plane === "fast" && !linux,
    async fn() {
      await using relay = await startRelayProcess(
        ["--data-plane", plane, "--no-gop-cache", "--reader-queue-bytes", String(4 << 20)],
        {},
        plane === "fast" ? { permissions: ["--allow-ffi"] } : {},
      );
      await using pub = await startRtspPublisher(relay.url("order"), SDP, { transport: "udp" });
      const readers: Array<{ name: string; seen: Seen; port: number | null; close(): Promise<void> }> = [];
      const join = async (transport: "udp" | "tcp") => {
        const seen: Seen = { seqs: [], indexes: [] };
        const r = await startRtspReader(relay.url("order"), { transport, onRtp: (p) => record(seen, p) });
        readers.push({
          name: `${transport} reader ${readers.length + 1}`,
          seen,
          port: r.clientPort,
          close: r.close,
        });
      };
      await join("udp");
      await join("tcp");
      // Drops so far at the relay's ingress socket (each reader's own are counted from its creation).
      const ingressDrops0 = udpDrops([pub.serverPort!]);
      const rss0 = rssBytes(relay.process.pid);
      const joinAt = new Map<number, "udp" | "tcp">([[1500, "udp"], [3000, "udp"], [3600, "tcp"], [
        4500,
        "udp",
      ]]);
      for (let i = 0; i < PACKETS; i++) {
        await pub.send(packet(i));
        const kind = joinAt.get(i);
        if (kind) await join(kind);
        if (i % PER_MS === PER_MS - 1) await delay(1);
      }
      await delay(500);
      const rss1 = rssBytes(relay.process.pid);
      const ingressDrops = udpDrops([pub.serverPort!]) - ingressDrops0;
      const readerDrops = readers.map((r) => (r.port === null ? 0 : udpDrops([r.port])));
      for (const r of readers) await r.close();
      for (const [i, r] of readers.entries()) {
        console.log(
          `${plane}: ${r.name} got packets ${r.seen.indexes[0]}..${
            r.seen.indexes.at(-1)
          } (${r.seen.seqs.length})`,
        );
        assertInOrder(`${plane} ${r.name}`, r.seen, ingressDrops + readerDrops[i]!);
      }
      assertEquals(readers[0]!.seen.indexes[0], 0, "the first reader got the first packet");
      if (plane === "fast") {
        // The worker served the UDP readers itself for most of the run (it took each over after it joined).
        const text = await (await fetch(`http://127.0.0.1:${relay.adminPort}/metrics`)).text();
        const cutThrough = sampleValue(parsePrometheus(text), "msm_dataplane_datagrams_total", {
          event: "cut_through",
        }) ?? 0;
        const udpCopies = readers.filter((r) => r.name.startsWith("udp"))
          .reduce((n, r) => n + r.seen.seqs.length, 0);
        console.log(`fast: ${cutThrough} of ${udpCopies} UDP copies sent by the worker on its own`);
        assert(
          cutThrough > 0.9 * udpCopies,
          `only ${cutThrough} of ${udpCopies} UDP copies were cut through`,
        );
      }
      console.log(`${plane}: relay RSS ${(rss0 / 2 ** 20).toFixed(0)} -> ${(rss1 / 2 ** 20).toFixed(0)} MiB`);
      assert(rss1 - rss0 < 64 * 2 ** 20, `relay RSS grew by ${((rss1 - rss0) / 2 ** 20).toFixed(0)} MiB`);
    },
  });
}
