/**
 * Tests of the mesh UDP framing: round trips, heartbeats, and every malformed datagram refused with a reason.
 * @module
 */
import { deepStrictEqual as assertEquals, ok as assert, throws } from "node:assert/strict";
import fc from "fast-check";
import {
  decodeMeshPacket,
  encodeHeartbeat,
  encodeMeshPacket,
  heartbeatNode,
  MESH_HEADER_SIZE,
  type MeshPacket,
} from "./mesh_frame.ts";
import { rtpSequence, rtpSsrc, rtpTimestamp, writeRtpHeader } from "../rtp/packet.ts";

Deno.test("mesh frames round-trip type, track, stream id and payload", () => {
  fc.assert(
    fc.property(
      fc.constantFrom("rtp" as const, "rtcp" as const),
      fc.integer({ min: 0, max: 255 }),
      fc.integer({ min: 0, max: 0xffffffff }),
      fc.uint8Array({ minLength: 1, maxLength: 1500 }),
      (type, track, streamId, payload) => {
        const decoded = decodeMeshPacket(encodeMeshPacket(type, streamId, track, payload)) as MeshPacket;
        assertEquals(
          {
            type: decoded.type,
            track: decoded.track,
            streamId: decoded.streamId,
            payload: [...decoded.payload],
          },
          { type, track, streamId, payload: [...payload] },
        );
      },
    ),
    { numRuns: 500 },
  );
});

Deno.test("encodeMeshPacket() renumbers the copy of an RTP payload, never the payload, and nothing else", () => {
  const rtp = new Uint8Array(20);
  writeRtpHeader(rtp, 0, { marker: true, payloadType: 96, sequence: 0xfffe, timestamp: 0xffffff00, ssrc: 7 });
  rtp.fill(0x41, 12);
  const before = [...rtp];
  const renumber = { ssrc: 0xdeadbeef, seqDelta: 3, tsDelta: 0x200 };
  const p = decodeMeshPacket(encodeMeshPacket("rtp", 9, 1, rtp, renumber)) as MeshPacket;
  assertEquals(
    [rtpSsrc(p.payload), rtpSequence(p.payload), rtpTimestamp(p.payload), p.payload[1], [
      ...p.payload.subarray(12),
    ]],
    [0xdeadbeef, 1, 0x100, 0x80 | 96, [...rtp.subarray(12)]],
    "wrapped modulo 2^16 and 2^32; marker, payload type and payload kept",
  );
  assertEquals([...rtp], before, "the caller's packet is untouched");
  const rtcp = decodeMeshPacket(encodeMeshPacket("rtcp", 9, 1, rtp, renumber)) as MeshPacket;
  assertEquals([...rtcp.payload], before, "RTCP is never renumbered");
});

Deno.test("heartbeats carry the sender's node name", () => {
  const p = decodeMeshPacket(encodeHeartbeat("node-ä1")) as MeshPacket;
  assertEquals(p.type, "heartbeat");
  assertEquals(heartbeatNode(p), "node-ä1");
  assertEquals(heartbeatNode({ ...p, payload: new Uint8Array([0xff, 0xfe]) }), null);
  assertEquals(heartbeatNode({ ...p, payload: new Uint8Array(0) }), null);
});

Deno.test("malformed mesh datagrams are refused with a reason", () => {
  const good = encodeMeshPacket("rtp", 7, 1, new Uint8Array([0x80, 96]));
  const cases: Array<[Uint8Array, RegExp]> = [
    [good.subarray(0, MESH_HEADER_SIZE - 1), /shorter than the header/],
    [Uint8Array.from([0x20, ...good.subarray(1)]), /version 2/],
    [Uint8Array.from([0x1f, ...good.subarray(1)]), /type 15/],
    [good.subarray(0, MESH_HEADER_SIZE), /empty rtp payload/],
  ];
  for (const [bytes, reason] of cases) {
    const r = decodeMeshPacket(bytes);
    assert(typeof r === "string" && reason.test(r), `${JSON.stringify(r)} !~ ${reason}`);
  }
  throws(() => encodeMeshPacket("rtp", 1, 256, new Uint8Array(1)), RangeError);
});

Deno.test("decodeMeshPacket never throws on arbitrary bytes", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
      const r = decodeMeshPacket(bytes);
      assert(typeof r === "string" || r.payload.length === bytes.length - MESH_HEADER_SIZE);
    }),
    { numRuns: 2000 },
  );
});
