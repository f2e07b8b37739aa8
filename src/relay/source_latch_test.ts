/**
 * Tests of {@linkcode SourceLatch}: what the RTSP exchange left open is latched from the first packet, and then
 * nothing else feeds the track.
 * @module
 */
import { equal } from "node:assert/strict";
import { SourceLatch, SSRC_IDLE_MS } from "./source_latch.ts";

Deno.test("SourceLatch latches the RTP port and SSRC of a camera that gave no server_port", () => {
  const latch = new SourceLatch({ host: "10.0.0.5" });
  equal(latch.acceptRtp("10.0.0.9", 5000, 1, 0), "address", "another host");
  equal(latch.acceptRtp("10.0.0.5", 5000, 1, 0), null, "the first packet latches");
  equal(latch.rtpPort, 5000);
  equal(latch.ssrc, 1);
  equal(
    latch.acceptRtp("10.0.0.5", 5002, 1, 10),
    "address",
    "another port of the same host (behind its NAT)",
  );
  equal(latch.acceptRtp("10.0.0.5", 5002, 99, 10), "address", "whatever its SSRC");
  equal(latch.acceptRtp("10.0.0.5", 5000, 2, 20), "ssrc", "a second SSRC interleaved on the port");
  equal(latch.acceptRtp("10.0.0.5", 5000, 1, 30), null);
});

Deno.test("SourceLatch follows a new SSRC on the latched port once the old one fell silent", () => {
  const latch = new SourceLatch({ host: "10.0.0.5", rtpPort: 6000, rtcpPort: 6001 });
  equal(latch.acceptRtp("10.0.0.5", 6000, 1, 0), null);
  equal(latch.acceptRtp("10.0.0.5", 6000, 2, SSRC_IDLE_MS - 1), "ssrc");
  equal(latch.acceptRtp("10.0.0.5", 6000, 2, SSRC_IDLE_MS + 1), null, "an encoder restart");
  equal(latch.ssrc, 2);
  equal(
    latch.acceptRtp("10.0.0.5", 6000, 1, SSRC_IDLE_MS + 2),
    "ssrc",
    "the old one may not come back at once",
  );
});

Deno.test("SourceLatch.acceptRtcp() latches the RTCP port when none was given, never the RTP port", () => {
  const latch = new SourceLatch({ host: "10.0.0.5" });
  equal(latch.acceptRtp("10.0.0.5", 7000, 1, 0), null);
  equal(latch.acceptRtcp("10.0.0.5", 7000), false, "its RTP port is not its RTCP port");
  equal(latch.acceptRtcp("10.0.0.6", 7001), false);
  equal(latch.acceptRtcp("10.0.0.5", 7001), true);
  equal(latch.acceptRtcp("10.0.0.5", 7003), false, "latched");
  const given = new SourceLatch({ host: "10.0.0.5", rtpPort: 8000, rtcpPort: 8001 });
  equal(given.acceptRtcp("10.0.0.5", 8003), false);
  equal(given.acceptRtcp("10.0.0.5", 8001), true);
});

Deno.test("SourceLatch.mayBeFrom() tells a stranger apart before the packet is looked at", () => {
  const latch = new SourceLatch({ host: "10.0.0.5" });
  equal(latch.mayBeFrom("10.0.0.5", 1), true, "any port before the first packet");
  equal(latch.mayBeFrom("10.0.0.6", 1), false);
  equal(latch.acceptRtp("10.0.0.5", 5000, 1, 0), null);
  equal(latch.mayBeFrom("10.0.0.5", 1), false);
  equal(latch.mayBeFrom("10.0.0.5", 5000), true);
});

Deno.test("SourceLatch.holdsRtp() and holdsRtcp() name only the ports given or latched", () => {
  const latch = new SourceLatch({ host: "10.0.0.5" });
  equal(latch.holdsRtp("10.0.0.5", 5000), false, "nothing held before the first packet");
  equal(latch.acceptRtp("10.0.0.5", 5000, 1, 0), null);
  equal(latch.holdsRtp("10.0.0.5", 5000), true);
  equal(latch.holdsRtp("10.0.0.6", 5000), false);
  equal(latch.holdsRtcp("10.0.0.5", 5001), false);
  equal(latch.acceptRtcp("10.0.0.5", 5001), true);
  equal(latch.holdsRtcp("10.0.0.5", 5001), true);
  const given = new SourceLatch({ host: "10.0.0.5", rtpPort: 8000, rtcpPort: 8001 });
  equal(given.holdsRtp("10.0.0.5", 8000), true);
  equal(given.holdsRtcp("10.0.0.5", 8001), true);
  equal(given.holdsRtcp("10.0.0.5", 8000), false);
});
