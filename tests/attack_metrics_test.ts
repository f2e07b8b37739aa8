/**
 * Issue 13 item 4: an outsider publishing under ever new (long) names must not grow the metrics exposition or the
 * relay's memory for good: a path's series go with its stream (after a short retention, bounded in count).
 * @module
 */
import { ok as assert } from "node:assert/strict";
import { RawRtspConnection } from "./support/raw_rtsp.ts";
import { nextUdpRange, startRelayProcess } from "./support/relay.ts";
import { delay } from "./support/processes.ts";
import { NUMBERED_SDP } from "./support/numbered_stream.ts";

const STREAMS = 200;

Deno.test("attack: 200 published paths with long names leave no lasting metric series", async () => {
  // A wide port range only so that the relay of 4888b81, which bound ports at ANNOUNCE, gets as far as the metrics.
  await using relay = await startRelayProcess([
    "--rtsp-max-connections-per-ip",
    "0",
    "--rtsp-request-rate",
    "0",
    "--udp-port-range",
    nextUdpRange(1000),
  ]);
  const metrics = async () => await (await fetch(`http://127.0.0.1:${relay.adminPort}/metrics`)).text();
  const paths = (text: string) =>
    new Set([...text.matchAll(/^msm_rtp_packets_received_total\{path="([^"]+)"/gm)].map((m) => m[1]));
  const idle = (await metrics()).length;
  const conns: RawRtspConnection[] = [];
  try {
    for (let i = 0; i < STREAMS; i++) {
      const name = `attack-${i}-${"x".repeat(180)}`;
      const c = await RawRtspConnection.open(relay.rtspPort);
      conns.push(c);
      const url = `rtsp://127.0.0.1:${relay.rtspPort}/${name}`;
      const body = NUMBERED_SDP;
      const res = await c.request(
        `ANNOUNCE ${url} RTSP/1.0\r\nCSeq: 1\r\nContent-Type: application/sdp\r\n` +
          `Content-Length: ${body.length}\r\n\r\n${body}`,
      );
      assert(res?.status === 200, `ANNOUNCE ${i}: ${res?.status} ${res?.body}`);
    }
    const during = await metrics();
    assert(
      paths(during).size >= STREAMS,
      `${paths(during).size} paths exposed while ${STREAMS} streams live`,
    );
    for (const c of conns.splice(0)) c.conn.close();
    await delay(2500); // the publishers' streams linger out (1 s in tests)
    const after = await metrics();
    console.log(
      `/metrics: idle ${idle} bytes, ${STREAMS} live streams ${during.length}, after they ended ` +
        `${after.length} bytes (${paths(after).size} paths)`,
    );
    assert(paths(after).size <= 64, `${paths(after).size} paths still exposed after their streams ended`);
    assert(after.length < during.length / 2, `the exposition kept ${after.length} of ${during.length} bytes`);
  } finally {
    for (const c of conns) c.conn.close();
  }
});
