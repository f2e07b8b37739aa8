/**
 * Tests of mesh ingress: frames reach the source that chose their stream id only from its parent, heartbeats count
 * only from the relay they name, and everything else is refused and counted (unknown ids quietly).
 * @module
 */
import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { decodeMeshPacket, encodeHeartbeat, encodeMeshPacket, type MeshPacket } from "./mesh_frame.ts";
import { type RoutedSource, StreamRouter } from "./stream_router.ts";

const addr = (hostname: string, port = 7000): Deno.NetAddr => ({ transport: "udp", hostname, port });
/** Discovery's mesh addresses: b at 127.0.0.2:7000, c at 127.0.0.3:7000. */
const HOSTS: Record<string, string> = { b: "127.0.0.2", c: "127.0.0.3" };
const frame = (streamId: number) =>
  decodeMeshPacket(encodeMeshPacket("rtp", streamId, 0, new Uint8Array(12))) as MeshPacket;
const beat = (node: string) => decodeMeshPacket(encodeHeartbeat(node)) as MeshPacket;

function setup() {
  const events: string[] = [];
  const router = new StreamRouter({
    trust: { fromPeer: (from, node) => HOSTS[node] === from.hostname && from.port === 7000 },
    onHeartbeat: (node) => events.push(`beat ${node}`),
    onNack: (packet, from) => {
      events.push(`nack ${packet.streamId} from ${from.hostname}`);
      return packet.streamId === 42;
    },
    onHeard: () => events.push("heard"),
    onSpoofed: (from, message) => events.push(`spoofed ${from.hostname}: ${message}`),
  });
  const frames: number[] = [];
  const source: RoutedSource = {
    parentOf: (id) => (id === 42 ? { node: "b" } : null),
    onFrame: (_p, id) => frames.push(id),
  };
  return { router, events, frames, source };
}

Deno.test("StreamRouter routes a frame to its stream id's source, from that id's parent only", () => {
  const { router, events, frames, source } = setup();
  router.route(42, source);
  router.receive(frame(42), addr("127.0.0.2"));
  assertEquals([frames, events], [[42], ["heard"]]);
  router.receive(frame(42), addr("127.0.0.3"));
  router.receive(frame(42), addr("127.0.0.2", 9999));
  assertEquals(frames, [42], "not from another relay, nor another port of the parent's host");
  assertEquals(router.refused, { unexpected_source: 2, unknown_stream: 0 });
  assertEquals(events.slice(1), [
    "spoofed 127.0.0.3: frame of stream 42 from 127.0.0.3:7000, not the mesh address discovery gives for that relay",
    "spoofed 127.0.0.2: frame of stream 42 from 127.0.0.2:9999, not the mesh address discovery gives for that relay",
  ]);
});

Deno.test("StreamRouter counts frames of unknown stream ids without a log line, and ids it no longer owns", () => {
  const { router, events, frames, source } = setup();
  router.receive(frame(7), addr("127.0.0.2"));
  assertEquals(router.refused.unknown_stream, 1);
  assertEquals(events, []);
  router.route(43, source); // the source no longer names a parent for 43
  router.receive(frame(43), addr("127.0.0.2"));
  assertEquals([frames, router.refused.unexpected_source], [[], 1]);
  router.route(43, null);
  router.receive(frame(43), addr("127.0.0.2"));
  assertEquals(router.refused.unknown_stream, 2);
  assertEquals(router.size, 0);
});

Deno.test("StreamRouter takes heartbeats only from the relay they name", () => {
  const { router, events } = setup();
  router.receive(beat("b"), addr("127.0.0.2"));
  router.receive(beat("b"), addr("127.0.0.3"));
  assertEquals(events, [
    "heard",
    "beat b",
    "spoofed 127.0.0.3: heartbeat naming b from 127.0.0.3:7000, not the mesh address discovery gives for that relay",
  ]);
});

Deno.test("StreamRouter.newStreamId() picks non-zero ids not in use", () => {
  const { router, source } = setup();
  const ids = new Set<number>();
  for (let i = 0; i < 100; i++) {
    const id = router.newStreamId();
    assertEquals(id !== 0 && !ids.has(id), true);
    ids.add(id);
    router.route(id, source);
  }
  assertEquals(router.size, 100);
});

Deno.test("StreamRouter hands NACKs to the parent side, and refuses those no child of this relay sent", () => {
  const { router, events } = setup();
  const nack = (id: number): MeshPacket => ({
    type: "nack",
    track: 0,
    streamId: id,
    payload: new Uint8Array(16),
  });
  router.receive(nack(42), addr("127.0.0.2"));
  router.receive(nack(7), addr("127.0.0.3"));
  assertEquals(events.slice(0, 3), ["nack 42 from 127.0.0.2", "heard", "nack 7 from 127.0.0.3"]);
  assertEquals(router.refused.unexpected_source, 1);
});

Deno.test("StreamRouter takes a parent's 'gone' notices like its media: from that stream id's parent only", () => {
  const { router, frames, source } = setup();
  router.route(42, source);
  const gone = decodeMeshPacket(encodeMeshPacket("gone", 42, 0, new Uint8Array(16))) as MeshPacket;
  router.receive(gone, addr("127.0.0.3")); // an outsider telling a member to skip what it waits for
  assertEquals([frames, router.refused.unexpected_source], [[], 1]);
  router.receive(gone, addr("127.0.0.2"));
  assertEquals(frames, [42]);
});
