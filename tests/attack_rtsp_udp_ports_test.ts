/**
 * A UDP reader's client ports are what it says they are: the relay takes datagrams from the reader's RTP port as
 * NAT hole punching and ignores them, and RTCP from its RTCP port as its receiver reports. A reader that names the
 * ports of a UDP publisher on its own address (another process of that host, or behind the same NAT) must not
 * make the relay ignore the publisher's media or take its sender reports as the reader's.
 * @module
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { RawRtspConnection } from "./support/raw_rtsp.ts";
import { startRelayProcess } from "./support/relay.ts";
import { delay, freePortPair } from "./support/processes.ts";
import { NUMBERED_SDP, numberedPacket, Seen } from "./support/numbered_stream.ts";
import { startRtspPublisher, startRtspReader } from "./support/rtsp_peers.ts";

/** A sender report (RFC 3550 §6.4.1) of `ssrc`, no report blocks: v=2, p=0, rc=0, PT=200, length 6. */
function senderReport(ssrc: number): Uint8Array {
  const p = new Uint8Array(28);
  const v = new DataView(p.buffer);
  v.setUint8(0, 0x80);
  v.setUint8(1, 200);
  v.setUint16(2, 6);
  v.setUint32(4, ssrc);
  return p;
}

Deno.test("attack: a UDP reader naming a publisher's client ports on its address does not silence the publisher", async () => {
  await using relay = await startRelayProcess([]);
  const url = relay.url("cam");
  // The publisher's own sockets, at ports an attacker on the same address can see (ss -uan) or guess.
  const port = freePortPair("127.0.0.1");
  const rtp = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port });
  const rtcp = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: port + 1 });
  await using pub = await startRtspPublisher(url, NUMBERED_SDP, { transport: "udp", clientPort: port });
  const to = { transport: "udp" as const, hostname: "127.0.0.1", port: pub.serverPort! };
  const seen = new Seen();
  let i = 0;
  const send = async (n: number) => {
    for (const end = i + n; i < end; i++) {
      await rtp.send(numberedPacket(i), to);
      if (i % 10 === 0) await delay(10);
    }
  };
  try {
    await send(5);
    await using _reader = await startRtspReader(url, { transport: "tcp", onRtp: seen.record });
    await send(100);
    await delay(300);
    const before = seen.indexes.length;
    assert(before >= 50, `the honest reader got ${before} packets before the attack`);

    // The attacker: a UDP reader whose client ports are the publisher's.
    await using attacker = await RawRtspConnection.open(relay.rtspPort);
    const setup = await attacker.request(
      `SETUP ${url}/trackID=0 RTSP/1.0\r\nCSeq: 1\r\nTransport: RTP/AVP;unicast;client_port=${port}-${
        port + 1
      }\r\n\r\n`,
    );
    assertEquals(setup?.status, 200, "the attacker's SETUP");
    await send(300);
    await rtcp.send(senderReport(0x5eed), {
      transport: "udp",
      hostname: "127.0.0.1",
      port: pub.serverPort! + 1,
    });
    await delay(500);
    const after = seen.indexes.length - before;
    const streams = await relay.get<
      { streams: Array<{ path: string; tracks: Array<{ readerReports: number }> }> }
    >(
      "/api/v1/streams",
    );
    const reports = streams.body.streams.find((s) => s.path === "cam")?.tracks[0]?.readerReports;
    console.log(
      `honest reader: ${before} packets before the attacker's SETUP, ${after} of 300 after; ` +
        `the publisher's sender report counted as a reader's: ${reports}`,
    );
    assert(
      after >= 150,
      `the publisher was silenced: ${after} of 300 packets reached the reader after the attack`,
    );
    assertEquals(reports, 0, "the publisher's sender report was taken as the attacker's receiver report");
  } finally {
    rtp.close();
    rtcp.close();
  }
});
