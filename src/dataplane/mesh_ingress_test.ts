import { deepStrictEqual as equal, ok } from "node:assert/strict";
import { MeshIngressTable, newDeliveredCell, writeDelivered } from "./mesh_ingress.ts";
import { encodeMeshPacket } from "../cluster/mesh_frame.ts";
import { writeRtpHeader } from "../rtp/packet.ts";

function rtp(seq: number, ssrc = 0x1234): Uint8Array {
  const p = new Uint8Array(40);
  writeRtpHeader(p, 0, { marker: false, payloadType: 96, sequence: seq, timestamp: seq * 90, ssrc });
  return p;
}

/** A sealed frame's layout with its payload in clear (as the Worker has it once opened): header 32, tag 16. */
function openedSealed(streamId: number, track: number, payload: Uint8Array, type = 0): Uint8Array {
  const f = new Uint8Array(32 + payload.length + 16);
  f[0] = (3 << 4) | type;
  f[1] = track;
  new DataView(f.buffer).setUint32(2, streamId);
  f.set(payload, 32);
  return f;
}

Deno.test("MeshIngressTable.match() finds a bound subscription's RTP frames and where their RTP is", () => {
  const t = new MeshIngressTable();
  equal(t.match(encodeMeshPacket("rtp", 7, 1, rtp(1)), 0, 46, false), null, "nothing bound");
  t.bind(7, 1, 42);
  const frame = encodeMeshPacket("rtp", 7, 1, rtp(1));
  const padded = new Uint8Array(100);
  padded.set(frame, 10);
  const b = t.match(padded, 10, frame.length, false);
  equal(b?.targetFd, 42);
  equal([t.payloadAt, t.payloadLength], [16, 40]);
  equal(t.match(encodeMeshPacket("rtp", 7, 2, rtp(1)), 0, 46, false), null, "another track");
  equal(t.match(encodeMeshPacket("rtp", 8, 1, rtp(1)), 0, 46, false), null, "another subscription");
  equal(
    t.match(encodeMeshPacket("rtcp", 7, 1, rtp(1)), 0, 46, false),
    null,
    "RTCP stays with the main thread",
  );
  equal(t.match(frame, 0, frame.length, true), null, "an open frame on a sealed mesh");
  equal(t.match(frame, 0, 6 + 11, false), null, "too short for RTP");
  const sealed = openedSealed(7, 1, rtp(1));
  equal(t.match(sealed, 0, sealed.length, true)?.targetFd, 42);
  equal([t.payloadAt, t.payloadLength], [32, 40]);
  equal(t.match(sealed, 0, sealed.length, false), null, "a sealed frame on an open mesh");
  t.bind(7, 1, -1);
  equal(t.match(frame, 0, frame.length, false), null, "unbound");
  equal(t.size, 0);
});

Deno.test("MeshIngressTable.unbindTarget() forgets every binding to a closed socket", () => {
  const t = new MeshIngressTable();
  t.bind(1, 0, 10);
  t.bind(1, 1, 11);
  t.bind(2, 0, 10);
  t.unbindTarget(10);
  equal(t.size, 1);
  ok(t.match(encodeMeshPacket("rtp", 1, 1, rtp(1)), 0, 46, false));
});

Deno.test("MeshIngressTable.take() forwards only packets newer than all it forwarded: no repeat, replay or late one", () => {
  const t = new MeshIngressTable();
  t.bind(1, 0, 10);
  const b = t.match(encodeMeshPacket("rtp", 1, 0, rtp(1)), 0, 46, false)!;
  const spec = {};
  ok(MeshIngressTable.take(b, 65534, 0x1234, spec), "the first");
  ok(MeshIngressTable.take(b, 65535, 0x1234, spec), "the next");
  ok(MeshIngressTable.take(b, 2, 0x1234, spec), "ahead across the wrap, a loss between");
  ok(!MeshIngressTable.take(b, 2, 0x1234, spec), "a repeat");
  ok(!MeshIngressTable.take(b, 1, 0x1234, spec), "late, or a replay");
  ok(!MeshIngressTable.take(b, 65000, 0x1234, spec), "far behind");
  ok(
    !MeshIngressTable.take(b, 10_000, 0x1234, spec),
    "a jump under the same route: the main thread re-bases first",
  );
  ok(MeshIngressTable.take(b, 10_000, 0x1234, {}), "the same jump once the route changed");
  ok(MeshIngressTable.take(b, 5, 0x9999, spec), "a new SSRC starts over");
  ok(!MeshIngressTable.take(b, 5, 0x9999, spec));
});

Deno.test("MeshIngressTable.take() in order: only the packet after the last delivered, the Worker's or the main thread's", () => {
  const t = new MeshIngressTable();
  const cell = newDeliveredCell();
  t.bind(7, 0, 42, cell);
  const b = t.match(encodeMeshPacket("rtp", 7, 0, rtp(1)), 0, 46, false)!;
  let flushes = 0;
  const flush = () => (flushes++, true);
  const take = (seq: number, ssrc = 0x1234) => MeshIngressTable.take(b, seq, ssrc, null, flush);
  equal(take(100), false, "nothing delivered yet: the main thread starts");
  writeDelivered(cell, 100, 0x1234);
  equal([take(102), flushes], [false, 0], "not the next one");
  equal([take(101), flushes], [true, 1], "the next one: the main thread's sends go first");
  equal([take(102), take(103), flushes], [true, true, 1]);
  equal(take(105), false, "behind a gap the Worker stops");
  equal(take(106), false);
  equal(take(104), true, "the repair is the next one");
  equal(take(106), false, "105 and 106 went to the main thread, which delivers them");
  writeDelivered(cell, 106, 0x1234);
  equal([take(107), flushes], [true, 2]);
  equal(take(108, 0x999), false, "another SSRC: the main thread's");
  writeDelivered(cell, 500, 0x999);
  equal(take(501, 0x999), true, "a new numbering, once the main thread delivered its first");
});

Deno.test("MeshIngressTable.take() in order: nothing is taken over while the main thread writes, or its sends cannot go first", () => {
  const t = new MeshIngressTable();
  const cell = newDeliveredCell();
  t.bind(7, 0, 42, cell);
  const b = t.match(encodeMeshPacket("rtp", 7, 0, rtp(1)), 0, 46, false)!;
  writeDelivered(cell, 10, 0x1234);
  equal(MeshIngressTable.take(b, 11, 0x1234, null, () => false), false, "messages pending: not now");
  Atomics.add(cell, 0, 1); // a write in progress
  equal(MeshIngressTable.take(b, 11, 0x1234, null, () => true), false);
  Atomics.add(cell, 0, 1);
  equal(MeshIngressTable.take(b, 11, 0x1234, null, () => true), true);
});
