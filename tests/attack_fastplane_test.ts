/**
 * Attack: datagrams larger than the fast data plane's receive slots. A publisher sends RTP over UDP in packets of
 * 6,000 bytes (and a few of the largest a UDP/IPv4 datagram can be); every UDP reader must get each packet
 * whole, byte for byte after the RTP header the relay rewrites, on the fast plane exactly as on the portable one.
 * The peers are raw sockets of this test: RTSP requests as text, RTP as UDP datagrams.
 * @module
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { writeRtpHeader } from "../src/rtp/packet.ts";
import { delay, freePortPair, withTimeout } from "./support/processes.ts";
import { RawRtspConnection } from "./support/raw_rtsp.ts";
import { type RelayProcess, startRelayProcess } from "./support/relay.ts";
import { parsePrometheus, sampleValue } from "./support/prometheus.ts";

const SDP = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=big\r\nt=0 0\r\nm=video 0 RTP/AVP 96\r\n" +
  "a=rtpmap:96 H264/90000\r\na=control:trackID=0\r\n";
/** The largest UDP payload over IPv4. */
const UDP_MAX = 65_507;
const PACKETS = 60;
const linux = Deno.build.os === "linux";

/** Size of packet `i`: mostly 6,000 bytes, every tenth the UDP maximum. */
function sizeOf(i: number): number {
  return i % 10 === 9 ? UDP_MAX : 6000;
}

/** Packet `i`: an RTP header, then a payload no two packets share (its index, then a keyed byte pattern). */
function packet(i: number): Uint8Array {
  const p = new Uint8Array(sizeOf(i));
  writeRtpHeader(p, 0, {
    marker: true,
    payloadType: 96,
    sequence: 100 + i,
    timestamp: i * 3000,
    ssrc: 0xb16,
  });
  p[12] = 0x41; // a non-IDR slice NAL header: nothing for the GOP cache
  new DataView(p.buffer).setUint32(13, i);
  for (let k = 17; k < p.length; k++) p[k] = (k * 31 + i * 7) & 0xff;
  return p;
}

function header(res: { status: number; headers: Record<string, string> } | null, what: string) {
  if (!res || res.status !== 200) throw new Error(`${what} answered ${res?.status ?? "nothing"}`);
  return res.headers;
}

/** ANNOUNCE, SETUP (record, UDP from `sock`'s port pair), RECORD; returns the relay's RTP port. */
async function publish(relay: RelayProcess, rtsp: RawRtspConnection, clientPort: number): Promise<number> {
  const url = relay.url("big");
  header(
    await rtsp.request(
      `ANNOUNCE ${url} RTSP/1.0\r\nCSeq: 1\r\nContent-Type: application/sdp\r\n` +
        `Content-Length: ${SDP.length}\r\n\r\n${SDP}`,
    ),
    "ANNOUNCE",
  );
  const setup = header(
    await rtsp.request(
      `SETUP ${url}/trackID=0 RTSP/1.0\r\nCSeq: 2\r\n` +
        `Transport: RTP/AVP;unicast;client_port=${clientPort}-${clientPort + 1};mode=record\r\n\r\n`,
    ),
    "SETUP",
  );
  const session = setup["session"]!.split(";")[0];
  header(
    await rtsp.request(
      `RECORD ${url} RTSP/1.0\r\nCSeq: 3\r\nSession: ${session}\r\nRange: npt=0.000-\r\n\r\n`,
    ),
    "RECORD",
  );
  const serverPort = Number(setup["transport"]?.match(/server_port=(\d+)/)?.[1]);
  assert(serverPort > 0, `no server_port in ${setup["transport"]}`);
  return serverPort;
}

/** DESCRIBE, SETUP (UDP to `clientPort`), PLAY. */
async function play(relay: RelayProcess, rtsp: RawRtspConnection, clientPort: number): Promise<void> {
  const url = relay.url("big");
  const desc = header(
    await rtsp.request(`DESCRIBE ${url} RTSP/1.0\r\nCSeq: 1\r\nAccept: application/sdp\r\n\r\n`),
    "DESCRIBE",
  );
  const base = desc["content-base"] ?? `${url}/`;
  const setup = header(
    await rtsp.request(
      `SETUP ${base}${base.endsWith("/") ? "" : "/"}trackID=0 RTSP/1.0\r\nCSeq: 2\r\n` +
        `Transport: RTP/AVP;unicast;client_port=${clientPort}-${clientPort + 1}\r\n\r\n`,
    ),
    "SETUP",
  );
  const session = setup["session"]!.split(";")[0];
  header(
    await rtsp.request(`PLAY ${url} RTSP/1.0\r\nCSeq: 3\r\nSession: ${session}\r\nRange: npt=0.000-\r\n\r\n`),
    "PLAY",
  );
}

for (const plane of ["portable", "fast"] as const) {
  Deno.test({
    name: `${plane} data plane: 6,000-byte and 65,507-byte RTP datagrams reach a UDP reader whole`,
    ignore: plane === "fast" && !linux,
    async fn() {
      await using relay = await startRelayProcess(
        ["--data-plane", plane, "--no-gop-cache"],
        {},
        { permissions: plane === "fast" ? ["--allow-ffi"] : [] },
      );
      if (plane === "fast") assert(/data plane.*fast/.test(relay.process.output()), relay.process.output());
      const pubPort = freePortPair("127.0.0.1");
      const pubRtp = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: pubPort });
      const readPort = freePortPair("127.0.0.1");
      const reader = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: readPort });
      await using pubRtsp = await RawRtspConnection.open(relay.rtspPort);
      await using readRtsp = await RawRtspConnection.open(relay.rtspPort);
      try {
        const serverPort = await publish(relay, pubRtsp, pubPort);
        await play(relay, readRtsp, readPort);
        const got: Uint8Array[] = [];
        const receiving = (async () => {
          const buf = new Uint8Array(65_536);
          while (true) {
            let data: Uint8Array;
            try {
              [data] = await reader.receive(buf);
            } catch {
              return; // closed after a failure
            }
            got.push(data.slice());
            if (
              data.length >= 17 && new DataView(data.buffer, data.byteOffset).getUint32(13) === PACKETS - 1
            ) {
              return;
            }
          }
        })();
        const to: Deno.NetAddr = { transport: "udp", hostname: "127.0.0.1", port: serverPort };
        for (let i = 0; i < PACKETS; i++) {
          await pubRtp.send(packet(i), to);
          await delay(5); // 200 packets/s: no socket buffer of the path overflows
        }
        await withTimeout(receiving, 10_000, `the reader got ${got.length} of ${PACKETS} packets`).catch(
          (err) => {
            const sizes = got.map((p) => p.length);
            throw new Error(`${(err as Error).message}; sizes received: ${JSON.stringify(sizes)}`);
          },
        );
        assertEquals(got.length, PACKETS, "one datagram per packet sent");
        for (let i = 0; i < PACKETS; i++) {
          const p = got[i]!;
          const want = packet(i);
          assertEquals(p.length, want.length, `packet ${i}: ${p.length} bytes received, ${want.length} sent`);
          assert(
            p.subarray(12).every((b, k) => b === want[12 + k]),
            `packet ${i}: payload differs from what was published`,
          );
        }
        const text = await (await fetch(`http://127.0.0.1:${relay.adminPort}/metrics`)).text();
        const truncated = sampleValue(parsePrometheus(text), "msm_dataplane_datagrams_total", {
          event: "truncated",
        }) ?? 0;
        assertEquals(truncated, 0, "no datagram was truncated");
        console.log(`${plane}: ${got.length} packets of ${sizeOf(0)} and ${UDP_MAX} bytes arrived whole`);
      } finally {
        pubRtp.close();
        reader.close();
      }
    },
  });
}
