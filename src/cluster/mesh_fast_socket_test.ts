/**
 * Tests of the mesh port on the fast data plane (needs --allow-ffi, Linux): what one relay's FastMeshSocket
 * sends, framed or sealed from reusable buffers, another's receives whole and in order, renumbered where asked;
 * what is not a mesh packet for it is refused and counted.
 * @module
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { FastUdpPlane } from "../dataplane/shared_udp.ts";
import { rtpSequence, rtpSsrc, writeRtpHeader } from "../rtp/packet.ts";
import { encodeMeshPacket, type MeshPacket } from "./mesh_frame.ts";
import { FastMeshSocket } from "./mesh_fast_socket.ts";
import { incarnationBytes } from "./mesh_incarnation.ts";
import { deriveKeyring } from "./mesh_keys.ts";
import { MeshOpener, MeshSealer } from "./mesh_seal.ts";
import type { MeshSocketSecurity } from "./mesh_socket.ts";

function freeUdpPort(): number {
  const c = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const port = (c.addr as Deno.NetAddr).port;
  c.close();
  return port;
}

function rtp(seq: number, length: number): Uint8Array {
  const p = new Uint8Array(length);
  writeRtpHeader(p, 0, { marker: false, payloadType: 96, sequence: seq, timestamp: seq * 3000, ssrc: 0xa });
  p.fill(seq & 0xff, 12);
  return p;
}

for (const [sealed, encrypt] of [[false, false], [true, true], [true, false]] as const) {
  const mode = sealed ? (encrypt ? ", sealed" : ", sealed in clear") : "";
  Deno.test(`FastMeshSocket carries every packet whole and in order to another relay${mode}`, async () => {
    const ring = deriveKeyring(["mesh-fast-socket-test-key-0123456789"]);
    const childIncarnation = incarnationBytes("00112233445566aa");
    const security = (incarnation: Uint8Array): MeshSocketSecurity | null =>
      sealed
        ? { sealer: new MeshSealer(ring, { encrypt }), opener: new MeshOpener(ring, incarnation) }
        : null;
    const plane = new FastUdpPlane();
    const parent = new FastMeshSocket(
      plane,
      "127.0.0.1",
      freeUdpPort(),
      security(incarnationBytes("0011223344556677")),
    );
    const childPort = freeUdpPort();
    const child = new FastMeshSocket(plane, "127.0.0.1", childPort, security(childIncarnation));
    const got: Array<
      [type: string, streamId: number, track: number, seq: number, ssrc: number, length: number, fill: number]
    > = [];
    // Payloads kept as they came: a view the plane or the socket reused would change under them.
    const kept: Array<{ payload: Uint8Array; fill: number }> = [];
    let unowned = 0;
    child.onPacket = (p: MeshPacket) => {
      if (!p.owned) unowned++;
      kept.push({ payload: p.payload, fill: p.payload[p.payload.length - 1]! });
      got.push([
        p.type,
        p.streamId,
        p.track,
        p.type === "rtp" ? rtpSequence(p.payload) : -1,
        p.type === "rtp" ? rtpSsrc(p.payload) : -1,
        p.payload.length,
        p.payload[p.payload.length - 1]!,
      ]);
    };
    const rejected: string[] = [];
    child.onReject = (r) => rejected.push(r.reason);
    try {
      const to: Deno.NetAddr = { transport: "udp", hostname: "127.0.0.1", port: childPort };
      const expected: typeof got = [];
      for (let i = 0; i < 300; i++) {
        // Lengths alternate and change, so reused buffers and their views are exercised.
        const length = i % 3 === 0 ? 1200 : 40 + (i % 7);
        const renumber = i % 2 === 0 ? { seqDelta: 1000, tsDelta: 0, ssrc: 0xbeef } : null;
        parent.send(to, childIncarnation, "rtp", 77, i % 2, rtp(i, length), renumber);
        expected.push(["rtp", 77, i % 2, renumber ? i + 1000 : i, renumber ? 0xbeef : 0xa, length, i & 0xff]);
      }
      parent.send(to, childIncarnation, "rtcp", 77, 0, new Uint8Array([0x80, 200, 0, 1, 9, 9, 9, 9]));
      expected.push(["rtcp", 77, 0, -1, -1, 8, 9]);
      // Not a packet for this port: refused and counted.
      const stranger = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
      await stranger.send(sealed ? encodeMeshPacket("rtp", 77, 0, rtp(1, 40)) : new Uint8Array([0x99]), to);
      stranger.close();
      const deadline = Date.now() + 30_000;
      while ((got.length < expected.length || rejected.length < 1) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 5));
      }
      assertEquals(got, expected);
      if (sealed) {
        // The first packets opened here handed their sender's key to the worker: a second round opens there.
        for (let i = 0; i < 50; i++) {
          parent.send(to, childIncarnation, "rtp", 77, 0, rtp(1000 + i, 200));
          expected.push(["rtp", 77, 0, 1000 + i, 0xa, 200, (1000 + i) & 0xff]);
        }
        const until = Date.now() + 30_000;
        while (got.length < expected.length && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
        assertEquals(got, expected);
        assert(child.openedByPlane >= 50, `the worker opened ${child.openedByPlane}`);
      } else assertEquals(child.openedByPlane, 0);
      assertEquals(unowned, 0, "every packet's payload is the handler's to keep, sealed or not");
      assertEquals(kept.filter((k) => k.payload[k.payload.length - 1] !== k.fill).length, 0);
      assertEquals(rejected, [sealed ? "unauthenticated" : "malformed"]);
      assertEquals(child.rejected[sealed ? "unauthenticated" : "malformed"], 1);
      assertEquals(parent.sendErrors, 0);
      // A track index the framing cannot carry is counted, not thrown.
      parent.send(to, childIncarnation, "rtp", 77, 256, rtp(1, 40));
      assertEquals(parent.sendErrors, 1);
    } finally {
      parent.close();
      child.close();
      await plane.close();
    }
  });
}
