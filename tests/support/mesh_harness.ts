/**
 * One relay's mesh in-process, without sockets or real timers: the real {@linkcode Mesh} and a real `StreamHub`
 * (fake port pairs), a mesh port that records what it sends, a peer transport that answers from a script, manual
 * time, and static discovery of two peers (node-b at 127.0.0.2, node-c at 127.0.0.3). A stream can be published
 * on it, so the peer protocol's routes are driven with `app.request()` against real state.
 * @module
 */
import { Hono } from "hono";
import { silentLogger } from "../../src/log.ts";
import { configDefaults } from "../../src/config/schema.ts";
import { StreamHub } from "../../src/relay/hub.ts";
import type { Stream, StreamSource } from "../../src/relay/stream.ts";
import { parseSdp } from "../../src/rtsp/sdp.ts";
import { Mesh } from "../../src/cluster/mesh.ts";
import type { MeshPort, PeerTransport } from "../../src/cluster/mesh_io.ts";
import type { RtpRenumber } from "../../src/rtp/packet.ts";
import type { MeshKeyring } from "../../src/cluster/mesh_keys.ts";
import { emptyRejectCounts } from "../../src/cluster/mesh_seal.ts";
import { StaticDiscovery } from "../../src/cluster/static_discovery.ts";
import { FakePortPairs } from "./fake_port_pairs.ts";
import { ManualTimers } from "./manual_timers.ts";
import { testPeer } from "./peer_fixture.ts";

/** The harness relay's incarnation. */
export const HARNESS_INCARNATION = "00112233445566aa";
/** The harness's wall clock (fixed). */
export const HARNESS_WALL_MS = 1_800_000_000_000;

const peer = testPeer;

/** This relay and its peers. */
export const HARNESS_SELF = peer("node-a", "127.0.0.1");
export const HARNESS_PEERS = [peer("node-b", "127.0.0.2"), peer("node-c", "127.0.0.3")];

/** A mesh port that records what it sends. */
export class RecordingMeshPort implements MeshPort {
  readonly port = 7000;
  readonly rejected = emptyRejectCounts();
  /**
   * Every datagram sent; `seq` is an RTP payload's sequence number as it left (renumbered), else -1; `payload` a
   * copy of what was framed.
   */
  readonly sent: Array<
    { to: Deno.NetAddr; type: string; streamId: number; track: number; seq: number; payload: Uint8Array }
  > = [];
  onPacket: MeshPort["onPacket"] = () => {};
  onReject: MeshPort["onReject"] = () => {};
  closed = false;

  send(
    to: Deno.NetAddr,
    _inc: Uint8Array,
    type: string,
    streamId: number,
    track = 0,
    payload: Uint8Array = new Uint8Array(0),
    renumber: RtpRenumber | null = null,
  ): void {
    if (this.closed) return;
    let seq = -1;
    if (type === "rtp" && payload.length >= 12) {
      seq = (payload[2]! << 8) | payload[3]!;
      if (renumber) seq = (seq + renumber.seqDelta) & 0xffff;
    }
    this.sent.push({ to, type, streamId, track, seq, payload: payload.slice() });
  }

  close(): void {
    this.closed = true;
  }
}

/** Options of {@linkcode startMeshHarness}. */
export interface MeshHarnessOptions {
  /** Cluster keys (a keyed mesh). @default none */
  keys?: MeshKeyring;
  /** Configured cameras: path -> URL. @default none */
  pulls?: Record<string, string>;
  /** Answers to this relay's own calls to peers. @default every peer refuses (404) */
  transport?: PeerTransport;
}

/** A running harness relay. */
export interface MeshHarness extends AsyncDisposable {
  mesh: Mesh;
  hub: StreamHub;
  /** The peer protocol mounted at `/mesh/v1`, as the admin app mounts it. */
  routes: Hono;
  port: RecordingMeshPort;
  timers: ManualTimers;
  /** Publishes `path` here with one H.264 track and makes it ready. */
  publish(path: string): Stream;
}

const SDP = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=x\r\nt=0 0\r\nm=video 0 RTP/AVP 96\r\n" +
  "a=rtpmap:96 H264/90000\r\na=control:trackID=0\r\n";

/** Starts a harness relay (node-a); dispose it to stop. */
export async function startMeshHarness(options: MeshHarnessOptions = {}): Promise<MeshHarness> {
  const timers = new ManualTimers(1_000_000);
  const port = new RecordingMeshPort();
  const transport: PeerTransport = options.transport ?? {
    request: () => Promise.resolve({ status: 404, text: '{"error":"no"}' }),
  };
  const mesh = new Mesh({
    self: HARNESS_SELF,
    discovery: new StaticDiscovery("static", HARNESS_SELF, HARNESS_PEERS),
    fanout: 2,
    bindHost: "127.0.0.1",
    logger: silentLogger,
    keys: options.keys ?? null,
    incarnation: HARNESS_INCARNATION,
    rootReadyMs: 10,
    clock: timers.now,
    timers,
    wallClock: () => HARNESS_WALL_MS,
    transport,
    openPort: () => port,
  });
  const pairs = new FakePortPairs(16);
  const hub = new StreamHub({
    logger: silentLogger,
    pulls: options.pulls ?? {},
    demo: false,
    publish: true,
    bindPair: pairs.bind,
    timers,
    lingerSeconds: 0,
    gopCacheBytes: 0,
    maxTracks: configDefaults().maxTracksPerStream,
    remote: mesh.resolver,
    createSource: () => {
      throw new Error("no camera in the harness");
    },
  });
  await mesh.start(hub);
  const publisher: StreamSource = {
    kind: "publish",
    start: () => {},
    stop: () => Promise.resolve(),
    info: () => ({}),
  };
  const publish = (path: string) => {
    const stream = hub.forPublisher(path, parseSdp(SDP), publisher);
    if (typeof stream === "string") throw new Error(`cannot publish ${path}: ${stream}`);
    stream.setState("ready");
    return stream;
  };
  const stop = async () => {
    await hub.close();
    await mesh.close();
  };
  return {
    mesh,
    hub,
    routes: new Hono().route("/mesh/v1", mesh.routes()),
    port,
    timers,
    publish,
    [Symbol.asyncDispose]: stop,
  };
}
