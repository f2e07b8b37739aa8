/**
 * Tests of the mesh egress over real mesh sockets on loopback, framed and sealed: a relay fed by the mesh sends its
 * child every packet in the numbering it arrived with (the root's), whatever its own re-bases, while its own
 * readers get its numbering; the relay's buffers are never changed by the renumbering.
 * @module
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { Track } from "../relay/track.ts";
import type { Egress } from "../relay/egress.ts";
import { rtpSequence, rtpSsrc, rtpTimestamp, writeRtpHeader } from "../rtp/packet.ts";
import { MeshEgress } from "./mesh_egress.ts";
import type { MeshPacket } from "./mesh_frame.ts";
import { incarnationBytes } from "./mesh_incarnation.ts";
import { deriveKeyring } from "./mesh_keys.ts";
import { MeshOpener, MeshSealer } from "./mesh_seal.ts";
import { MeshSocket, type MeshSocketSecurity } from "./mesh_socket.ts";

type Numbered = [ssrc: number, seq: number, ts: number];
const numbered = (p: Uint8Array): Numbered => [rtpSsrc(p), rtpSequence(p), rtpTimestamp(p)];

function rtp(seq: number, ts: number, ssrc: number): Uint8Array {
  const p = new Uint8Array(40);
  writeRtpHeader(p, 0, { marker: false, payloadType: 96, sequence: seq, timestamp: ts, ssrc });
  p.fill(0x41, 12);
  return p;
}

for (const sealed of [false, true]) {
  Deno.test(`MeshEgress sends a member's child the numbering packets arrived with${sealed ? ", sealed" : ""}`, async () => {
    const ring = deriveKeyring(["mesh-egress-test-key-0123456789"]);
    const childIncarnation = incarnationBytes("00112233445566aa");
    const security = (incarnation: Uint8Array): MeshSocketSecurity | null =>
      sealed ? { sealer: new MeshSealer(ring), opener: new MeshOpener(ring, incarnation) } : null;
    const member = new MeshSocket("127.0.0.1", 0, security(incarnationBytes("00112233445566bb")));
    const child = new MeshSocket("127.0.0.1", 0, security(childIncarnation));
    const got: Numbered[] = [];
    child.onPacket = (p: MeshPacket) => {
      if (p.type === "rtp") got.push(numbered(p.payload));
    };
    try {
      const clock = { t: 10 };
      const track = new Track({ index: 0, clockRate: 90_000, outputSsrc: 0xfeed, now: () => clock.t });
      const to: Deno.NetAddr = { transport: "udp", hostname: "127.0.0.1", port: child.port };
      track.addEgress(new MeshEgress("mesh:child:1:0", member, to, childIncarnation, 1, 0));
      const readers: Numbered[] = [];
      const reader: Egress = {
        id: "reader",
        kind: "tcp",
        sendRtp: (p) => (readers.push(numbered(p)), true),
        sendRtcp: () => true,
      };
      track.addEgress(reader);
      const sent: Uint8Array[] = [];
      const relay = (seq: number, ts: number, ssrc: number) => {
        const p = rtp(seq, ts, ssrc);
        sent.push(p);
        track.relayRtp(p);
        clock.t += 0.04;
      };
      for (let i = 0; i < 3; i++) relay(100 + i, 3000 * i, 0xa);
      track.newEpoch(); // this relay re-based (a new epoch): its readers' numbering continues, not the mesh's
      for (let i = 0; i < 3; i++) relay(60_000 + i, 500_000 + 3000 * i, 0xa);
      const deadline = Date.now() + 2000;
      while (got.length < 6 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
      // Sent at once on a socket just bound: the runtime alone would reverse them (dataplane/ordered_sender.ts).
      assertEquals(got, [
        [0xa, 100, 0],
        [0xa, 101, 3000],
        [0xa, 102, 6000],
        [0xa, 60_000, 500_000],
        [0xa, 60_001, 503_000],
        [0xa, 60_002, 506_000],
      ]);
      assertEquals(readers.map((n) => n[1]), [100, 101, 102, 103, 104, 105]);
      assert(readers.every((n) => n[0] === 0xfeed));
      assertEquals(
        sent.map(numbered),
        readers,
        "the relay's buffers hold its readers' numbering, untouched since",
      );
    } finally {
      member.close();
      child.close();
    }
  });
}
