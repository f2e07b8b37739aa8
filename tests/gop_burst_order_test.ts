/**
 * A reader that joins mid-GOP gets the cached packets since the last keyframe in order, on both data planes and
 * over UDP and TCP: the relay sends a burst's first datagrams in one event-loop turn, and a decoder given its
 * keyframe out of order cannot use it (the runtime may reverse such sends: src/dataplane/ordered_sender.ts).
 * @module
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { writeRtpHeader } from "../src/rtp/packet.ts";
import { delay } from "./support/processes.ts";
import { startRelayProcess } from "./support/relay.ts";
import { startRtspPublisher, startRtspReader } from "./support/rtsp_peers.ts";

const SDP = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=burst\r\nt=0 0\r\nm=video 0 RTP/AVP 96\r\n" +
  "a=rtpmap:96 H264/90000\r\na=control:trackID=0\r\n";
/** Packets of the GOP sent before the reader joins: an IDR slice, then non-IDR slices. */
const CACHED = 40;
const linux = Deno.build.os === "linux";

/** Packet `i`: its index in the payload, an IDR slice first. */
function packet(i: number): Uint8Array {
  const p = new Uint8Array(300);
  writeRtpHeader(p, 0, {
    marker: true,
    payloadType: 96,
    sequence: 5000 + i,
    timestamp: i * 3000,
    ssrc: 0x77,
  });
  p[12] = i === 0 ? 0x65 : 0x41; // NAL header: IDR slice, then non-IDR slices
  new DataView(p.buffer).setUint32(16, i);
  return p;
}

for (const plane of ["portable", "fast"] as const) {
  for (const transport of ["udp", "tcp"] as const) {
    Deno.test({
      name: `${plane} plane: a ${transport} reader joining mid-GOP gets the cached packets in order`,
      ignore: plane === "fast" && !linux,
      async fn() {
        await using relay = await startRelayProcess(
          ["--data-plane", plane],
          {},
          plane === "fast" ? { permissions: ["--allow-ffi"] } : {},
        );
        await using pub = await startRtspPublisher(relay.url("burst"), SDP, { transport: "udp" });
        for (let i = 0; i < CACHED; i++) await pub.send(packet(i));
        await delay(300); // every cached packet is in before the reader comes
        const indexes: number[] = [];
        await using _reader = await startRtspReader(relay.url("burst"), {
          transport,
          onRtp: (p) => indexes.push(new DataView(p.buffer, p.byteOffset).getUint32(16)),
        });
        const deadline = Date.now() + 5000;
        while (indexes.length < CACHED && Date.now() < deadline) await delay(20);
        console.log(`${plane}/${transport}: the burst arrived as ${indexes.slice(0, 8).join(",")}...`);
        assert(indexes.length >= CACHED, `${indexes.length} of the ${CACHED} cached packets arrived`);
        assertEquals(indexes.slice(0, CACHED), Array.from({ length: CACHED }, (_, i) => i));
      },
    });
  }
}
