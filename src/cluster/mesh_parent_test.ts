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
  };
  const parent = new MeshParent(host, silentLogger);
  const subscribe = (node: string, i: number, epoch: string) =>
    parent.subscribe({ path: "cam", from: relay(node, i), streamId: i, burst: false, epoch });
  return { stream, parent, state, rejoins, subscribe };
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
