/**
 * Tests of the child side of the mesh with a scripted mesh host: the join/subscribe sequence, make-before-break
 * re-parenting on a new assignment, failover after parent silence (the lost parent named as suspect), duplicate
 * filtering across parents, 404 for paths nobody serves, and leave/unsubscribe on stop.
 * @module
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { realTimers } from "../clock.ts";
import { silentLogger } from "../log.ts";
import { PortPairAllocator } from "../relay/port_allocator.ts";
import { udpPortPairs } from "../relay/udp_pair.ts";
import { Stream, StreamUnavailable } from "../relay/stream.ts";
import { writeRtpHeader } from "../rtp/packet.ts";
import type { NackSettings } from "./mesh_options.ts";
import { encodeGenericNack, parseGenericNack } from "../rtp/rtcp_nack.ts";
import { decodeMeshPacket, encodeMeshPacket, type MeshPacket } from "./mesh_frame.ts";
import type { JoinResponse, PeerRef, RenewItem, RenewResult } from "./mesh_protocol.ts";
import { MeshSource, type MeshSourceHost } from "./mesh_source.ts";
import { configDefaults } from "../config/schema.ts";
import { testSenderReport } from "../../tests/support/rtp_fixtures.ts";
import { type StandbyDeliver, StandbyFeed } from "./standby_feed.ts";
import { parseSdp } from "../rtsp/sdp.ts";

const SDP = [
  "v=0",
  "o=- 1 1 IN IP4 127.0.0.1",
  "s=cam",
  "t=0 0",
  "m=video 0 RTP/AVP 96",
  "a=rtpmap:96 H264/90000",
  "a=control:trackID=0",
  "",
].join("\r\n");

const ref = (node: string): PeerRef => ({ node, host: "127.0.0.1", adminPort: 1, meshPort: 2 });

class ScriptedHost implements MeshSourceHost {
  readonly self = ref("me");
  readonly timers = realTimers;
  readonly calls: string[] = [];
  readonly routes = new Map<number, MeshSource>();
  parentFor = "p1";
  /** With dual protection: the second parent join answers name, or null. */
  secondFor: string | null = null;
  epoch = "root/0000000000000001/a";
  /** Answer the next subscribe 409 (a parent in another epoch). */
  staleParent = false;
  /** Hold the next subscribe's answer until the test calls the function it is set to. */
  holdSubscribe: (() => void) | null | "next" = null;
  rootMissing: { missing: string; status: 404 | 503 } | null = null;
  /** The root findRoot() answers. */
  rootNode = "root";
  /** The root of each join, in order. */
  readonly joinedRoots: string[] = [];
  /** Answer renewals 409 (join again). */
  refuseRenewals = false;
  /** Never answer renewals (a root whose next call is far away): only an abort ends them. */
  renewalsHang = false;
  clock = 1_000_000;
  isDeaf = false;
  /** Per-hop retransmission (off unless a test turns it on). */
  nack: NackSettings | null = null;
  /** NACKs sent: parent, stream id, track, numbers. */
  readonly nacks: string[] = [];
  #nextId = 1;
  sendNack(parent: PeerRef, streamId: number, track: number, nack: Uint8Array): boolean {
    const parsed = parseGenericNack(nack);
    this.nacks.push(
      `${parent.node} id=${streamId} track=${track} ${typeof parsed === "string" ? parsed : parsed.seqs}`,
    );
    return true;
  }
  now() {
    return this.clock;
  }
  deaf() {
    return this.isDeaf;
  }
  findRoot(_path: string) {
    return Promise.resolve(this.rootMissing ?? { root: ref(this.rootNode) });
  }
  join(root: PeerRef, _path: string, readers: number, suspects: string[]): Promise<JoinResponse> {
    this.calls.push(`join readers=${readers} suspects=${suspects.join(",")}`);
    this.joinedRoots.push(root.node);
    return Promise.resolve({
      root: "root",
      parent: ref(this.parentFor),
      sdp: SDP,
      outputSsrcs: [0xabc],
      depth: 1,
      epoch: this.epoch,
      ...(this.secondFor ? { parents: [ref(this.parentFor), ref(this.secondFor)] } : {}),
    });
  }
  /** Answers like a join, after a lease (the batcher's pace), or fails at once when `signal` aborts. */
  renew(_root: PeerRef, item: RenewItem, signal: AbortSignal): Promise<RenewResult> {
    this.calls.push(`renew readers=${item.readers}`);
    return new Promise((resolve, reject) => {
      if (this.renewalsHang) {
        signal.addEventListener("abort", () => reject(signal.reason), { once: true });
        return;
      }
      const timer = setTimeout(() => {
        resolve(
          this.refuseRenewals || item.epoch !== this.epoch
            ? { status: 409, error: "join again" }
            : { parent: ref(this.parentFor), depth: 1, epoch: this.epoch },
        );
      }, 20);
      signal.addEventListener("abort", () => {
        clearTimeout(timer);
        reject(signal.reason);
      }, { once: true });
    });
  }
  subscribe(parent: PeerRef, _path: string, streamId: number, burst: boolean, epoch: string) {
    this.calls.push(`subscribe ${parent.node} id=${streamId} burst=${burst} epoch=${epoch}`);
    if (this.staleParent) {
      this.staleParent = false;
      return Promise.reject(Object.assign(new Error("stale epoch"), { status: 409 }));
    }
    if (this.holdSubscribe === "next") return new Promise<void>((resolve) => this.holdSubscribe = resolve);
    return Promise.resolve();
  }
  unsubscribe(parent: PeerRef) {
    this.calls.push(`unsubscribe ${parent.node}`);
    return Promise.resolve();
  }
  leave() {
    this.calls.push("leave");
    return Promise.resolve();
  }
  forwarding(path: string, epoch: string | null) {
    this.calls.push(`forwarding ${path} ${epoch}`);
  }
  route(streamId: number, source: MeshSource | null) {
    if (source) this.routes.set(streamId, source);
    else this.routes.delete(streamId);
  }
  newStreamId() {
    return this.#nextId++;
  }
  readersOf(stream: Stream) {
    return stream.refs;
  }
  /** This relay is the standby root (dual protection): openStandby() gets a camera session of the test's. */
  standby = false;
  /** The standby's camera session the test feeds, once opened. */
  session: Stream | null = null;
  standbyFor(_path: string, _root: string) {
    return this.standby;
  }
  openStandby(_stream: Stream, deliver: StandbyDeliver) {
    const session = new Stream({
      path: "cam",
      kind: "pull",
      logger: silentLogger,
      bindPair: () => {
        throw new Error("no ports in this test");
      },
      lingerSeconds: 0,
      gopCacheBytes: 0,
      maxTracks: 4,
      onIdle: () => {},
    });
    session.setDescription(parseSdp(SDP));
    this.session = session;
    return new StandbyFeed(session, deliver, this.timers, silentLogger);
  }
}

function rtp(seq: number, ssrc = 0xabc): MeshPacket {
  const p = new Uint8Array(20);
  writeRtpHeader(p, 0, { marker: false, payloadType: 96, sequence: seq, timestamp: seq * 3000, ssrc });
  p[12] = 0x41;
  return decodeMeshPacket(encodeMeshPacket("rtp", 0, 0, p)) as MeshPacket;
}

async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  assert(cond(), `timed out waiting for ${what}`);
}

function setup(nack: NackSettings | null = null) {
  const base = 40000 + 2 * Math.floor(Math.random() * 5000);
  const stream = new Stream({
    path: "cam",
    kind: "mesh",
    logger: silentLogger,
    bindPair: udpPortPairs("127.0.0.1", new PortPairAllocator(base, base + 19)),
    lingerSeconds: 0,
    gopCacheBytes: 0,
    maxTracks: configDefaults().maxTracksPerStream,
    onIdle: () => {},
  });
  const host = new ScriptedHost();
  host.nack = nack;
  const source = new MeshSource(stream, host, silentLogger, {
    leaseMs: 20,
    parentTimeoutMs: 600,
    retryMs: 10,
  });
  stream.source = source;
  return { stream, host, source };
}

Deno.test("MeshSource joins, adopts the root's SDP and SSRC, subscribes with a burst and goes ready", async () => {
  const { stream, host, source } = setup();
  try {
    stream.retain();
    await stream.whenReady(2000);
    assertEquals(host.calls.slice(0, 2), [
      "join readers=1 suspects=",
      "subscribe p1 id=1 burst=true epoch=root/0000000000000001/a",
    ]);
    assertEquals(stream.tracks.length, 1);
    assertEquals(stream.tracks[0]!.outputSsrc, 0xabc);
    assertEquals(source.parent?.node, "p1");
  } finally {
    await stream.close();
  }
});

Deno.test("MeshSource re-parents make-before-break and filters the overlap's duplicates", async () => {
  const { stream, host, source } = setup();
  try {
    stream.retain();
    await stream.whenReady(2000);
    const forwarded: number[] = [];
    stream.tracks[0]!.addEgress({
      id: "probe",
      kind: "udp",
      sendRtp: (p) => (forwarded.push((p[2]! << 8) | p[3]!), true),
      sendRtcp: () => true,
    });
    for (const s of [10, 11, 12]) source.onFrame(rtp(s), 1);
    host.parentFor = "p2";
    await until(() => source.parent?.node === "p2", "the new parent");
    const subscribeAt = host.calls.indexOf("subscribe p2 id=2 burst=false epoch=root/0000000000000001/a");
    const unsubscribeAt = host.calls.indexOf("unsubscribe p1");
    assert(subscribeAt >= 0 && unsubscribeAt > subscribeAt, `order: ${host.calls.join(" | ")}`);
    assertEquals([...host.routes.keys()], [2], "only the new parent's frames are routed");
    // The new parent repeats 11 and 12, then continues.
    for (const s of [11, 12, 13, 14]) source.onFrame(rtp(s), 2);
    assertEquals(forwarded, [10, 11, 12, 13, 14]);
    assertEquals(source.duplicates, 2);
    assertEquals(source.reparents, 1);
  } finally {
    await stream.close();
  }
});

/** A probe reader of track 0: the sequence numbers and timestamps this relay's readers get. */
function probe(stream: Stream): { seqs: number[]; timestamps: number[] } {
  const seen = { seqs: [] as number[], timestamps: [] as number[] };
  stream.tracks[0]!.addEgress({
    id: "probe",
    kind: "tcp",
    sendRtp: (p) => {
      seen.seqs.push((p[2]! << 8) | p[3]!);
      seen.timestamps.push(((p[4]! << 24) | (p[5]! << 16) | (p[6]! << 8) | p[7]!) >>> 0);
      return true;
    },
    sendRtcp: () => true,
  });
  return seen;
}

function assertContinuous(seen: { seqs: number[]; timestamps: number[] }): void {
  for (let i = 1; i < seen.seqs.length; i++) {
    assertEquals(seen.seqs[i], (seen.seqs[i - 1]! + 1) & 0xffff, `sequence continuous at ${i}: ${seen.seqs}`);
    const step = (seen.timestamps[i]! - seen.timestamps[i - 1]!) >>> 0;
    assert(step < 0x80000000, `timestamp went back at ${i}: ${seen.timestamps}`);
  }
}

const E1 = "root/0000000000000001/a";
const E2 = "root2/0000000000000002/b";

Deno.test("MeshSource takes a new epoch's numbering at its first packet, even under the old SSRC and behind it", async () => {
  // One numbering per epoch: the new root's may share the old one's SSRC (members keep the SSRC of the first root
  // they joined) and number from anywhere near it. Only the epoch tells them apart, never the packets.
  const { stream, host, source } = setup();
  try {
    stream.retain();
    await stream.whenReady(2000);
    const seen = probe(stream);
    for (let s = 40_000; s < 40_010; s++) source.onFrame(rtp(s), 1);
    assertEquals(host.calls.filter((c) => c.startsWith("forwarding")), [`forwarding cam ${E1}`]);
    host.epoch = E2;
    host.parentFor = "p2";
    host.holdSubscribe = "next";
    await until(() => typeof host.holdSubscribe === "function", "the subscription to the new parent");
    assert(host.calls.includes(`subscribe p2 id=2 burst=true epoch=${E2}`), host.calls.join(" | "));
    source.onFrame(rtp(40_010), 1); // the old root's numbering goes on until the new one starts
    // The new parent's GOP burst arrives before its answer: the new epoch starts here, 20 behind, same SSRC.
    for (let s = 39_990; s < 40_000; s++) source.onFrame(rtp(s), 2);
    source.onFrame(rtp(40_011), 1); // late: the old epoch is left
    (host.holdSubscribe as unknown as () => void)();
    await until(() => source.parent?.node === "p2", "the new parent");
    for (let s = 40_000; s < 40_005; s++) source.onFrame(rtp(s), 2); // new in the new epoch, not repeats
    assertEquals(seen.seqs.length, 10 + 1 + 10 + 5);
    assertContinuous(seen);
    assertEquals([source.duplicates, source.stale, source.epochs], [0, 1, 2]);
    assertEquals(host.calls.filter((c) => c.startsWith("forwarding")), [
      `forwarding cam ${E1}`,
      `forwarding cam ${E2}`,
    ]);
  } finally {
    await stream.close();
  }
  assert(host.calls.includes("forwarding cam null"), "stopped: its children are let go");
});

Deno.test("MeshSource subscribes again to the same parent in a new epoch: a new stream id and a burst, no unsubscribe", async () => {
  const { stream, host, source } = setup();
  try {
    stream.retain();
    await stream.whenReady(2000);
    const seen = probe(stream);
    for (let s = 100; s < 110; s++) source.onFrame(rtp(s), 1);
    host.epoch = E2; // the parent re-joined the new root first and forwards its numbering: this relay follows
    await until(() => host.routes.has(2) && !host.routes.has(1), "the new subscription");
    assert(host.calls.includes(`subscribe p1 id=2 burst=true epoch=${E2}`), host.calls.join(" | "));
    assertEquals(
      host.calls.filter((c) => c.startsWith("unsubscribe")),
      [],
      "the new subscription replaced the old",
    );
    source.onFrame(rtp(105), 1); // the old subscription's, late
    for (let s = 7_000; s < 7_010; s++) source.onFrame(rtp(s), 2);
    assertEquals(seen.seqs.length, 20);
    assertContinuous(seen);
    assertEquals([source.parent?.node, source.epoch, source.forwarding, source.epochs], ["p1", E2, E2, 2]);
  } finally {
    await stream.close();
  }
});

Deno.test("MeshSource: two parents of one epoch forward one numbering: no re-base, the overlap's repeats dropped", async () => {
  const { stream, host, source } = setup();
  try {
    stream.retain();
    await stream.whenReady(2000);
    const seen = probe(stream);
    for (let s = 500; s < 510; s++) source.onFrame(rtp(s), 1);
    host.parentFor = "p2";
    host.holdSubscribe = "next";
    await until(() => typeof host.holdSubscribe === "function", "the subscription to the new parent");
    assert(host.calls.includes(`subscribe p2 id=2 burst=false epoch=${E1}`), host.calls.join(" | "));
    // Interleaved during the overlap: the new parent a little behind, the old one a little ahead.
    for (const [s, id] of [[508, 2], [510, 1], [509, 2], [511, 1], [510, 2], [511, 2], [512, 2]] as const) {
      source.onFrame(rtp(s), id);
    }
    (host.holdSubscribe as unknown as () => void)();
    await until(() => source.parent?.node === "p2", "the new parent");
    for (let s = 513; s < 520; s++) source.onFrame(rtp(s), 2);
    assertEquals(seen.seqs, Array.from({ length: 20 }, (_, i) => 500 + i), "the numbering as it arrived");
    assertEquals([source.duplicates, source.stale, source.epochs], [4, 0, 1]);
  } finally {
    await stream.close();
  }
});

Deno.test("MeshSource subscribes to its parent again while deaf and unfed: the parent may have dropped it", async () => {
  // Found by the cluster simulation (seeds 162, 184; F8): a partition cut a relay from its parent both ways; deaf,
  // it kept its parent, which dropped it as a silent child; after the partition nobody sent to it again.
  const { stream, host } = setup();
  try {
    stream.retain();
    await stream.whenReady(2000);
    const subscribes = () => host.calls.filter((c) => c.startsWith("subscribe p1 id=1 ")).length;
    assertEquals(subscribes(), 1);
    host.isDeaf = true;
    host.clock += 1000;
    await until(() => subscribes() >= 2, "a second subscription to the same parent, same stream id");
    assert(!host.calls.includes("unsubscribe p1"), host.calls.join(" | "));
  } finally {
    await stream.close();
  }
});

Deno.test("MeshSource re-joins without blaming a parent that forwards another epoch (409)", async () => {
  const { stream, host, source } = setup();
  try {
    host.staleParent = true;
    stream.retain();
    await stream.whenReady(4000);
    const joins = host.calls.filter((c) => c.startsWith("join"));
    assert(joins.length >= 2, host.calls.join(" | "));
    assertEquals(joins.map((j) => j.endsWith("suspects=")), joins.map(() => true), "the stale parent blamed");
    assertEquals(source.parent?.node, "p1");
  } finally {
    await stream.close();
  }
});

Deno.test("MeshSource fails over after 600 ms of parent silence, naming the parent as suspect", async () => {
  const { stream, host, source } = setup();
  try {
    stream.retain();
    await stream.whenReady(2000);
    host.clock += 500;
    source.checkParent();
    assertEquals(source.parent?.node, "p1", "500 ms of silence is tolerated");
    source.onHeartbeat("p1"); // the parent speaks: the silence restarts
    host.clock += 500;
    source.checkParent();
    assertEquals(source.parent?.node, "p1");
    host.parentFor = "p3";
    host.clock += 601;
    source.checkParent();
    assertEquals(source.parent, null, "detached at once");
    await until(() => source.parent?.node === "p3", "the replacement parent");
    assert(host.calls.includes("join readers=1 suspects=p1"), host.calls.join(" | "));
    assert(!host.calls.includes("unsubscribe p1"), "no call to the dead parent before the new one");
  } finally {
    await stream.close();
  }
});

Deno.test("MeshSource tells a parent it left for silent to stop, once that parent speaks again", async () => {
  // Found by the cluster simulation (seeds 10, 125): after a partition healed, the old parent still listed this
  // relay as its child and kept sending it copies, its liveness kept by this relay's heartbeats for another path.
  const { stream, host, source } = setup();
  try {
    stream.retain();
    await stream.whenReady(2000);
    host.parentFor = "p3";
    host.clock += 601;
    source.checkParent();
    await until(() => source.parent?.node === "p3", "the replacement parent");
    assert(!host.calls.includes("unsubscribe p1"), "nothing sent to a silent parent");
    source.onHeartbeat("p2"); // someone else
    assert(!host.calls.includes("unsubscribe p1"));
    source.onHeartbeat("p1"); // the old parent is back
    await until(() => host.calls.includes("unsubscribe p1"), "the unsubscribe to the old parent");
    source.onHeartbeat("p1");
    assertEquals(host.calls.filter((c) => c === "unsubscribe p1").length, 1, "once");
  } finally {
    await stream.close();
  }
});

Deno.test("MeshSource keeps its parent while the relay's own mesh port is deaf: another parent would not help", async () => {
  const { stream, host, source } = setup();
  try {
    stream.retain();
    await stream.whenReady(2000);
    host.isDeaf = true;
    host.clock += 5000;
    source.checkParent();
    assertEquals(source.parent?.node, "p1", "no re-parent, no suspect while deaf");
    host.isDeaf = false;
    host.parentFor = "p3";
    source.checkParent();
    assertEquals(source.parent, null, "hearing again, the silent parent is left at once");
    await until(() => source.parent?.node === "p3", "the replacement parent");
  } finally {
    await stream.close();
  }
});

Deno.test("MeshSource fails waiting readers with 404 when no relay serves the path", async () => {
  const { stream, host } = setup();
  host.rootMissing = { missing: 'No relay serves "cam"', status: 404 };
  try {
    stream.retain();
    const err = await stream.whenReady(2000).then(() => null, (e) => e);
    assert(err instanceof StreamUnavailable && err.status === 404, String(err));
  } finally {
    await stream.close();
  }
});

Deno.test("MeshSource.stop() unsubscribes from the parent and leaves the root", async () => {
  const { stream, host } = setup();
  stream.retain();
  await stream.whenReady(2000);
  await stream.close();
  assertEquals(host.calls.slice(-2), ["unsubscribe p1", "leave"]);
  assertEquals(host.routes.size, 0);
});

Deno.test("MeshSource renews through the batched renewal after its first join; a refused renewal joins again", async () => {
  const { stream, host } = setup();
  try {
    stream.retain();
    await stream.whenReady(2000);
    await until(() => host.calls.filter((c) => c.startsWith("renew")).length >= 2, "renewals");
    assertEquals(host.calls.filter((c) => c.startsWith("join")).length, 1, "the path's first join only");
    assertEquals(host.calls.filter((c) => c.startsWith("renew")).slice(0, 2), [
      "renew readers=1",
      "renew readers=1",
    ]);
    host.refuseRenewals = true;
    await until(() => host.calls.filter((c) => c.startsWith("join")).length >= 2, "a join after the refusal");
    host.refuseRenewals = false;
    const joins = host.calls.filter((c) => c.startsWith("join")).length;
    await until(
      () => host.calls.at(-1)!.startsWith("renew") && host.calls.at(-2)!.startsWith("renew"),
      "renewing",
    );
    assertEquals(host.calls.filter((c) => c.startsWith("join")).length, joins, "back to renewals");
  } finally {
    await stream.close();
  }
});

Deno.test("MeshSource.renewNow() interrupts a waiting renewal and joins at once; stop() does not wait for it", async () => {
  const { stream, host, source } = setup();
  host.renewalsHang = true;
  stream.retain();
  await stream.whenReady(2000);
  await until(() => host.calls.at(-1) === "renew readers=1", "a renewal waiting");
  source.renewNow();
  await until(() => host.calls.at(-1)!.startsWith("join"), "a join");
  await until(() => host.calls.at(-1) === "renew readers=1", "a renewal waiting again");
  let timer: ReturnType<typeof setTimeout> | undefined;
  const stuck = new Promise<string>((r) => (timer = setTimeout(() => r("stuck in the renewal"), 5000)));
  assertEquals(await Promise.race([stream.close().then(() => "stopped"), stuck]), "stopped");
  clearTimeout(timer);
  assertEquals(host.calls.slice(-2), ["unsubscribe p1", "leave"]);
});

Deno.test("MeshSource: a renewal interrupted because the root may have moved locates the root afresh, then joins", async () => {
  const { stream, host, source } = setup();
  host.renewalsHang = true;
  try {
    stream.retain();
    await stream.whenReady(2000);
    await until(() => host.calls.at(-1) === "renew readers=1", "a renewal waiting for the old root");
    host.rootNode = "root2"; // the view changed while the renewal waited
    source.renewNow();
    await until(() => host.joinedRoots.length === 2, "a second join");
    assertEquals(host.joinedRoots, ["root", "root2"], "no join to the root found before the wait");
  } finally {
    await stream.close();
  }
});

Deno.test("MeshSource lets the fast plane forward only its attached parent's frames, in a steady state, and takes them back before a re-parent", async () => {
  const { stream, host, source } = setup();
  const bindings: string[] = [];
  stream.bindMeshIngress = (streamId, from) => {
    bindings.push(streamId === null ? "unbind" : `bind ${streamId} ${from?.hostname}:${from?.port}`);
  };
  const p1: Deno.NetAddr = { transport: "udp", hostname: "10.0.0.1", port: 7000 };
  const p2: Deno.NetAddr = { transport: "udp", hostname: "10.0.0.2", port: 7000 };
  try {
    stream.retain();
    await stream.whenReady(2000);
    source.onFrame(rtp(10), 1);
    assertEquals(bindings, [], "no sender known: nothing bound");
    source.onFrame(rtp(11), 1, p1);
    source.onFrame(rtp(12), 1, p1, true);
    assertEquals(bindings, ["bind 1 10.0.0.1:7000"], "bound once, at the attached parent's first frame");
    host.parentFor = "p2";
    await until(() => source.parent?.node === "p2", "the new parent");
    assertEquals(bindings, ["bind 1 10.0.0.1:7000", "unbind"], "taken back before the new subscription");
    source.onFrame(rtp(13), 2, p2);
    assertEquals(
      bindings.length,
      2,
      "not within a second of the re-parent: the old parent's packets are in flight",
    );
    host.clock += 1000;
    source.onFrame(rtp(14), 2, p2);
    assertEquals(bindings.at(-1), "bind 2 10.0.0.2:7000");
    await source.stop();
    assertEquals(bindings.at(-1), "unbind", "stopped: nothing forwarded by the plane");
  } finally {
    await stream.close();
  }
});

Deno.test("MeshSource asks its parent for what it missed, delivers repairs in time, drops one past the budget", async () => {
  const { stream, host, source } = setup({ budgetMs: 100, maxRatio: 0.25 });
  try {
    stream.retain();
    await stream.whenReady(2000);
    const forwarded: number[] = [];
    stream.tracks[0]!.addEgress({
      id: "probe",
      kind: "udp",
      sendRtp: (p) => (forwarded.push((p[2]! << 8) | p[3]!), true),
      sendRtcp: () => true,
    });
    for (const s of [10, 11, 14, 15]) source.onFrame(rtp(s), 1);
    host.clock += 5; // the host's clock moves only when told
    await until(() => host.nacks.length > 0, "a NACK");
    assertEquals(host.nacks[0], "p1 id=1 track=0 12,13");
    source.onFrame(rtp(12), 1); // repaired in time: delivered
    host.clock += 20;
    await until(() => host.nacks.length > 1, "the NACK again");
    assertEquals(host.nacks[1], "p1 id=1 track=0 13");
    host.clock += 100;
    await until(() => source.nack!.unrecovered === 1, "13 given up");
    source.onFrame(rtp(13), 1); // past the budget: dropped
    assertEquals(forwarded.length, 5);
    assertEquals(source.nack, {
      missing: 2,
      recovered: 1,
      unrecovered: 1,
      late: 1,
      requested: source.nack!.requested,
    });
    assert(source.nack!.requested >= 3, "13 asked for again until given up");
  } finally {
    await stream.close();
  }
});

/** A packet whose 100-byte payload is made from `i` (matched by the standby), in some session's numbering. */
function media(seq: number, ts: number, ssrc: number, i: number): Uint8Array {
  const p = new Uint8Array(112);
  writeRtpHeader(p, 0, { marker: false, payloadType: 96, sequence: seq, timestamp: ts, ssrc });
  for (let k = 12; k < p.length; k++) p[k] = (i * 31 + k * 7) & 0xff;
  return p;
}

Deno.test("MeshSource with two parents gives a number up early only when both say it is gone", async () => {
  const { stream, host, source } = setup({ budgetMs: 5000, maxRatio: 0.25 });
  host.secondFor = "p2";
  try {
    stream.retain();
    await stream.whenReady(2000);
    await until(() => source.secondParent?.node === "p2", "the second parent");
    const forwarded: number[] = [];
    stream.tracks[0]!.addEgress({
      id: "probe",
      kind: "udp",
      sendRtp: (p) => (forwarded.push((p[2]! << 8) | p[3]!), true),
      sendRtcp: () => true,
    });
    const ids = [...host.routes.keys()].sort();
    for (const s of [10, 11, 13]) source.onFrame(rtp(s), ids[0]!);
    const gone = (streamId: number): MeshPacket => ({
      type: "gone",
      track: 0,
      streamId,
      payload: encodeGenericNack({ senderSsrc: 0, mediaSsrc: 0xabc, seqs: [12] }),
    });
    source.onFrame(gone(ids[0]!), ids[0]!);
    assertEquals(forwarded.length, 2, "one parent moved past 12: the other may still have it");
    source.onFrame(gone(ids[0]!), ids[0]!);
    assertEquals(forwarded.length, 2, "the same parent twice is still one");
    source.onFrame(gone(ids[1]!), ids[1]!);
    assertEquals(forwarded.length, 3, "both said so: 13 goes");
  } finally {
    await stream.close();
  }
});

Deno.test("MeshSource stops waiting at once for numbers its parent says are gone (lost above it)", async () => {
  const { stream, source } = setup({ budgetMs: 1000, maxRatio: 0.25 });
  try {
    stream.retain();
    await stream.whenReady(2000);
    const forwarded: number[] = [];
    stream.tracks[0]!.addEgress({
      id: "probe",
      kind: "udp",
      sendRtp: (p) => (forwarded.push((p[2]! << 8) | p[3]!), true),
      sendRtcp: () => true,
    });
    for (const s of [10, 11, 13, 14]) source.onFrame(rtp(s), 1);
    assertEquals(forwarded.length, 2, "13 and 14 wait for 12");
    const gone = (streamId: number, seqs: number[]): MeshPacket => ({
      type: "gone",
      track: 0,
      streamId,
      payload: encodeGenericNack({ senderSsrc: 0, mediaSsrc: 0xabc, seqs }),
    });
    source.onFrame(gone(99, [12]), 99); // not the parent's subscription: ignored
    assertEquals(forwarded.length, 2);
    source.onFrame(gone(1, [12]), 1);
    assertEquals(forwarded.length, 4, "released without waiting for the budget");
    for (let k = 1; k < 4; k++) {
      assert(forwarded[k]! === ((forwarded[k - 1]! + 1 + (k === 2 ? 1 : 0)) & 0xffff));
    }
    assertEquals(source.nack!.unrecovered, 1);
  } finally {
    await stream.close();
  }
});

for (const nack of [false, true]) {
  Deno.test(`MeshSource as standby root${nack ? " (with repairs)" : ""}: its own camera session, aligned, fills the root's silence and takes over`, async () => {
    const { stream, host, source } = setup(nack ? { budgetMs: 100, maxRatio: 0.25 } : null);
    host.standby = true;
    const forwarded: number[] = [];
    const reports: Uint8Array[] = [];
    try {
      stream.retain();
      await stream.whenReady(2000);
      await until(() => host.session !== null, "the standby's camera session");
      const session = host.session!;
      await until(() => session.tracks[0]!.egresses.length > 0, "the standby's tap");
      stream.tracks[0]!.addEgress({
        id: "probe",
        kind: "udp",
        sendRtp: (p) => (forwarded.push((p[2]! << 8) | p[3]!), true),
        sendRtcp: (p) => (reports.push(p.slice()), true),
      });
      assertEquals(source.handOver(), null, "not aligned yet: a new pull");
      // The root's copies (its numbering) and the standby's own (another), the same payloads.
      for (let i = 0; i < 8; i++) {
        const root = media(1000 + i, 90_000 + 3000 * i, 0xabc, i);
        source.onFrame(decodeMeshPacket(encodeMeshPacket("rtp", 0, 0, root)) as MeshPacket, 1);
        session.tracks[0]!.ingestRtp(media(7 + i, 5 + 3000 * i, 0x5555, i));
      }
      // The root falls silent: the standby's session alone goes on, in the root's numbering, nothing repeated.
      for (let i = 8; i < 14; i++) session.tracks[0]!.ingestRtp(media(7 + i, 5 + 3000 * i, 0x5555, i));
      host.clock += 1000;
      source.checkParent();
      for (let i = 14; i < 20; i++) session.tracks[0]!.ingestRtp(media(7 + i, 5 + 3000 * i, 0x5555, i));
      assertEquals(forwarded.length, 20, `forwarded ${forwarded}`);
      for (let k = 1; k < forwarded.length; k++) assertEquals(forwarded[k], (forwarded[0]! + k) & 0xffff);
      const promoted = source.handOver();
      assert(promoted !== null, "an aligned standby takes over");
      assertEquals(promoted.meshEpoch, host.epoch, "the tree keeps the old root's epoch");
      assertEquals(promoted.kind, "pull");
      stream.source = promoted;
      await source.stop();
      assert(!host.calls.includes("forwarding cam null"), "no re-base: the numbering goes on");
      for (let i = 20; i < 25; i++) session.tracks[0]!.ingestRtp(media(7 + i, 5 + 3000 * i, 0x5555, i));
      assertEquals(forwarded.length, 25);
      for (let k = 1; k < forwarded.length; k++) assertEquals(forwarded[k], (forwarded[0]! + k) & 0xffff);
      // The session's sender reports reach the readers too, in the numbering they know (lip sync goes on).
      session.tracks[0]!.ingestRtcp(testSenderReport(0x5555, 5 + 3000 * 24));
      assertEquals(reports.length, 1);
      const sr = new DataView(reports[0]!.buffer, reports[0]!.byteOffset);
      assertEquals([sr.getUint32(4), sr.getUint32(16)], [0xabc, 90_000 + 3000 * 24]);
      // The stream's state follows the camera session's now (readers are told when the camera is down).
      session.setState("error", "camera unreachable");
      await until(() => stream.state === "error", "the camera's error on the stream");
      assertEquals(stream.lastError, "camera unreachable");
      await promoted.stop();
      assertEquals(session.closed, true, "the promoted source ends the camera session at its stop");
    } finally {
      await stream.close();
    }
  });
}
