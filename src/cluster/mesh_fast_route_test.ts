/**
 * The fast plane's worker sends a track's RTP to mesh children itself (src/dataplane/mesh_route.ts), framed or
 * sealed there: a child relay's ordinary mesh port (MeshSocket with the mesh's opener) gets every packet, in the
 * numbering of the route's rewrite, with the stream id and track it subscribed with. Needs --allow-ffi, Linux.
 * @module
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { FastUdpPlane } from "../dataplane/shared_udp.ts";
import { compileRoute } from "../dataplane/route.ts";
import { ipv4Number } from "../address.ts";
import { rtpSequence, rtpSsrc, rtpTimestamp, writeRtpHeader } from "../rtp/packet.ts";
import type { MeshPacket } from "./mesh_frame.ts";
import { FastMeshSocket } from "./mesh_fast_socket.ts";
import { incarnationBytes } from "./mesh_incarnation.ts";
import { deriveKeyring } from "./mesh_keys.ts";
import { MeshOpener, MeshSealer } from "./mesh_seal.ts";
import { MeshSocket, type MeshSocketSecurity } from "./mesh_socket.ts";

function freeUdpPort(): number {
  const c = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const port = (c.addr as Deno.NetAddr).port;
  c.close();
  return port;
}

const modes = [
  { name: "open mesh", sealed: false, encrypt: false },
  { name: "sealed, encrypted", sealed: true, encrypt: true },
  { name: "sealed, authenticated only", sealed: true, encrypt: false },
];

for (const mode of modes) {
  Deno.test(`the fast plane's worker sends mesh children a route's RTP itself (${mode.name})`, async () => {
    const ring = deriveKeyring(["mesh-fast-route-test-key-0123456789"]);
    const childIncarnation = incarnationBytes("8899aabbccddeeff");
    const security = (incarnation: Uint8Array): MeshSocketSecurity | null =>
      mode.sealed
        ? {
          sealer: new MeshSealer(ring, { encrypt: mode.encrypt }),
          opener: new MeshOpener(ring, incarnation),
        }
        : null;
    const plane = new FastUdpPlane();
    const parentMesh = new FastMeshSocket(
      plane,
      "127.0.0.1",
      freeUdpPort(),
      security(incarnationBytes("0011223344556677")),
    );
    const child = new MeshSocket("127.0.0.1", 0, security(childIncarnation));
    const got: Array<[streamId: number, track: number, ssrc: number, seq: number, ts: number, fill: number]> =
      [];
    child.onPacket = (p: MeshPacket) => {
      if (p.type !== "rtp") return;
      got.push([
        p.streamId,
        p.track,
        rtpSsrc(p.payload),
        rtpSequence(p.payload),
        rtpTimestamp(p.payload),
        p.payload[30]!,
      ]);
    };
    const rejected: string[] = [];
    child.onReject = (r) => rejected.push(`${r.reason}: ${r.message}`);
    const source = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
    const sourcePort = (source.addr as Deno.NetAddr).port;
    let forwarded = 0;
    const ingressPort = freeUdpPort();
    const ingress = plane.bind("127.0.0.1", ingressPort, (_p, _from, wasForwarded) => {
      if (wasForwarded) forwarded++;
    });
    try {
      const { spec, served } = compileRoute({
        source: { host: "127.0.0.1", port: sourcePort },
        map: { ssrc: 0xa, seqDelta: 100, tsDelta: 9000, outSsrc: 0xfeed },
        readers: [],
        prompt: false,
        mesh: {
          fd: parentMesh.planeFd,
          children: [{
            id: "mesh:child:p:1",
            host: "127.0.0.1",
            port: child.port,
            streamId: 0xdeadbeef,
            track: 1,
            incarnation: childIncarnation,
          }],
        },
      });
      assertEquals([...served], ["mesh:child:p:1"]);
      assert(ipv4Number("127.0.0.1") !== null);
      const applied = new Promise<void>((resolve) => plane.setRoute(ingress, spec, () => resolve()));
      await applied;
      const to: Deno.NetAddr = { transport: "udp", hostname: "127.0.0.1", port: ingressPort };
      const expected: typeof got = [];
      for (let i = 0; i < 200; i++) {
        const p = new Uint8Array(i % 2 ? 1200 : 60);
        writeRtpHeader(p, 0, { marker: false, payloadType: 96, sequence: i, timestamp: i * 3000, ssrc: 0xa });
        p.fill(i & 0xff, 12);
        await source.send(p, to);
        // Paced: the child's socket keeps the default receive buffer (about 200 KB).
        if (i % 20 === 19) await new Promise((r) => setTimeout(r, 10));
        expected.push([0xdeadbeef, 1, 0xfeed, i + 100, i * 3000 + 9000, i & 0xff]);
      }
      const deadline = Date.now() + 30_000;
      // The worker posts what it forwarded to the main thread in batches, possibly after the copies left.
      while ((got.length < expected.length || forwarded < 200) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 5));
      }
      assertEquals(rejected, []);
      assertEquals(got, expected);
      assertEquals(forwarded, 200, "every packet reached the main thread flagged as forwarded");
      // The plane's counts (msm_dataplane_datagrams_total) have the worker's mesh copies among those it sent.
      const stats = plane.stats();
      assertEquals(stats.cutThrough, 200);
      assert(stats.sent >= 200, `sent ${stats.sent}, cut through ${stats.cutThrough}`);
    } finally {
      source.close();
      plane.closeSocket(ingress);
      parentMesh.close();
      child.close();
      await plane.close();
    }
  });
}
