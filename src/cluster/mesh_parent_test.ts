/**
 * Tests of the parent side of the mesh with a scripted mesh: a child is fed only the numbering of the epoch it
 * subscribed in (one numbering per epoch), so when this relay starts forwarding another epoch the children of the
 * old one are let go and asked to join again; a subscribe in an epoch not forwarded here is refused (409).
 * @module
 */
import { deepStrictEqual as assertEquals, rejects } from "node:assert/strict";
import { silentLogger } from "../log.ts";
import type { StreamHub } from "../relay/hub.ts";
import { Stream } from "../relay/stream.ts";
import { parseSdp } from "../rtsp/sdp.ts";
import { FakePortPairs } from "../../tests/support/fake_port_pairs.ts";
import { RecordingMeshPort } from "../../tests/support/mesh_harness.ts";
import { FailureDetector } from "./failure_detector.ts";
import { MeshParent, type MeshParentHost } from "./mesh_parent.ts";
import type { SelfRef } from "./mesh_protocol.ts";
import type { MeshPacket } from "./mesh_frame.ts";
import { encodeGenericNack, parseGenericNack } from "../rtp/rtcp_nack.ts";

const SDP = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=x\r\nt=0 0\r\nm=video 0 RTP/AVP 96\r\n" +
  "a=rtpmap:96 H264/90000\r\na=control:trackID=0\r\n";
const E1 = "root/0000000000000001/a";
const E2 = "root2/0000000000000002/b";

const relay = (node: string, i: number): SelfRef => ({
  node,
  host: `127.0.0.${i}`,
  adminPort: 8080,
  meshPort: 7000,
  incarnation: `00000000000000${i.toString(16).padStart(2, "0")}`,
});

function setup() {
  const stream = new Stream({
    path: "cam",
    kind: "mesh",
    logger: silentLogger,
    bindPair: new FakePortPairs(4).bind,
    lingerSeconds: 0,
    gopCacheBytes: 0,
    maxTracks: 8,
    onIdle: () => {},
  });
  stream.setDescription(parseSdp(SDP));
  stream.setState("ready");
  const rejoins: string[] = [];
  const state = { forwarding: E1 as string | null };
  const port = new RecordingMeshPort();
  const host: MeshParentHost = {
    self: relay("me", 1),
    hub: () => ({ get: (path: string) => (path === "cam" ? stream : undefined) }) as unknown as StreamHub,
    draining: () => false,
    security: () => null,
    detector: new FailureDetector({ self: "me", suspectHoldMs: 15_000, silenceMs: 600, now: 0 }),
    port: () => port,
    epochOf: () => state.forwarding,
    reachEpoch: () => Promise.resolve(state.forwarding),
    askRejoin: (child, path) => rejoins.push(`${child.node} ${path}`),
    now: () => 0,
    // Children's datagrams come from 127.0.0.<i>, as relay() names them.
    trust: { fromPeer: (from, node) => from.hostname === `127.0.0.${node.charCodeAt(0) - 96}` },
    nack: { budgetMs: 200, maxRatio: 0.25 },
  };
  const parent = new MeshParent(host, silentLogger);
  const subscribe = (node: string, i: number, epoch: string) =>
    parent.subscribe({ path: "cam", from: relay(node, i), streamId: i, burst: false, epoch });
  return { stream, parent, state, rejoins, subscribe, port };
}

Deno.test("MeshParent lets the children of another epoch go when this relay forwards a new one, and asks them back", async () => {
  const { stream, parent, state, rejoins, subscribe } = setup();
  await subscribe("b", 2, E1);
  await subscribe("c", 3, E1);
  assertEquals([stream.refs, stream.tracks[0]!.egresses.length], [2, 2]);
  parent.keepEpoch("cam", E1); // nothing changed
  assertEquals([parent.children.count("cam"), rejoins], [2, []]);
  state.forwarding = E2;
  parent.keepEpoch("cam", E2);
  assertEquals([parent.children.count("cam"), stream.refs, stream.tracks[0]!.egresses.length], [0, 0, 0]);
  assertEquals(rejoins, ["b cam", "c cam"]);
  await subscribe("b", 4, E2); // back, in the new epoch
  parent.keepEpoch("cam", E2);
  assertEquals(parent.children.childrenOf("cam").map((c) => [c.node, c.epoch]), [["b", E2]]);
  parent.keepEpoch("cam", null); // this relay forwards nothing from the mesh any more (its root moved here)
  assertEquals([parent.children.count("cam"), rejoins.at(-1)], [0, "b cam"]);
  await stream.close();
});

Deno.test("MeshParent refuses a subscribe in an epoch whose numbering it does not forward (409)", async () => {
  const { stream, parent, subscribe } = setup();
  await rejects(subscribe("b", 2, E2), (err: { status?: number }) => err.status === 409);
  assertEquals([parent.children.count("cam"), stream.refs], [0, 0]);
  await stream.close();
});

function rtp(seq: number): Uint8Array {
  const p = new Uint8Array(100);
  p[0] = 0x80;
  p[1] = 96;
  p[2] = seq >> 8;
  p[3] = seq & 0xff;
  p[11] = 7;
  return p;
}

function nackFrame(streamId: number, seqs: number[], track = 0): MeshPacket {
  return { type: "nack", track, streamId, payload: encodeGenericNack({ senderSsrc: 0, mediaSsrc: 7, seqs }) };
}

const from = (i: number): Deno.NetAddr => ({ transport: "udp", hostname: `127.0.0.${i}`, port: 7000 });

Deno.test("MeshParent answers a child's NACK from the track's kept packets, in the mesh's numbering, to that child only", async () => {
  const { stream, parent, subscribe, port } = setup();
  await subscribe("b", 2, E1);
  await subscribe("c", 3, E1);
  const track = stream.tracks[0]!;
  for (let seq = 1000; seq < 1100; seq++) track.ingestRtp(rtp(seq));
  const live = port.sent.filter((s) => s.type === "rtp" && s.streamId === 2).map((s) => s.seq);
  assertEquals(live.length, 100);
  port.sent.length = 0;
  const asked = [live[10]!, live[11]!, live[50]!];
  assertEquals(parent.nack(nackFrame(2, asked), from(2)), true);
  assertEquals(
    port.sent.map((s) => [s.to.hostname, s.type, s.streamId, s.seq]),
    asked.map((q) => ["127.0.0.2", "rtp", 2, q]),
  );
  assertEquals(parent.retransmits, { requested: 3, sent: 3, unavailable: 0, capped: 0, refused: 0, gone: 0 });
  // Numbers never had: counted, nothing sent again; the one behind what this relay forwarded is gone for good (lost
  // above it), and the child is told so it stops waiting; the one ahead may still come.
  const behind = (live[0]! - 5) & 0xffff;
  parent.nack(nackFrame(2, [(live[99]! + 1) & 0xffff, behind]), from(2));
  assertEquals([parent.retransmits.unavailable, parent.retransmits.gone], [2, 1]);
  const notices = port.sent.slice(3);
  assertEquals(notices.map((s) => [s.to.hostname, s.type, s.streamId]), [["127.0.0.2", "gone", 2]]);
  const notice = parseGenericNack(notices[0]!.payload);
  assertEquals(typeof notice !== "string" && notice.seqs, [behind]);
  await stream.close();
});

Deno.test("MeshParent refuses NACKs from elsewhere than the child, for unknown streams, malformed; caps a flood", async () => {
  const { stream, parent, subscribe, port } = setup();
  await subscribe("b", 2, E1);
  const track = stream.tracks[0]!;
  for (let seq = 0; seq < 100; seq++) track.ingestRtp(rtp(seq));
  const live = port.sent.filter((s) => s.type === "rtp").map((s) => s.seq);
  port.sent.length = 0;
  assertEquals(parent.nack(nackFrame(2, [live[5]!]), from(3)), false, "c never subscribed with id 2");
  assertEquals(parent.nack(nackFrame(99, [live[5]!]), from(2)), false, "no such stream id");
  assertEquals(parent.nack({ ...nackFrame(2, [1]), payload: new Uint8Array(20) }, from(2)), true);
  assertEquals(parent.nack(nackFrame(2, [live[5]!], 7), from(2)), true, "a track the stream lacks");
  assertEquals(parent.retransmits.refused, 2);
  assertEquals(port.sent.length, 0);
  // The same 100 numbers asked 20 times: the burst (64) and a quarter of the stream's packets since, no more.
  for (let i = 0; i < 20; i++) parent.nack(nackFrame(2, live), from(2));
  assertEquals(port.sent.length, 64);
  for (let seq = 100; seq < 140; seq++) track.ingestRtp(rtp(seq));
  port.sent.length = 0;
  parent.nack(nackFrame(2, live), from(2));
  assertEquals(port.sent.length, 10);
  assertEquals(parent.retransmits.capped, 2000 + 100 - 64 - 10);
  await stream.close();
});
