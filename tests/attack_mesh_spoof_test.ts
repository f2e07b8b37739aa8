/**
 * Injection into an open mesh (no key), issue 13 item 1: frames for stream ids nobody subscribed (guessed: stream
 * ids are random) are refused and counted, and so are frames of a live stream id from any address but the
 * parent's; only an on-path attacker who sniffs the stream and spoofs the parent's address and port gets packets
 * in. That is what the mesh key prevents
 * (tests/mesh_security_test.ts: sealed packets, the same kind of injection refused).
 * @module
 */
import { ok as assert } from "node:assert/strict";
import { encodeMeshPacket } from "../src/cluster/mesh_frame.ts";
import { startRelayCluster } from "./support/mesh.ts";
import { FORGED, NUMBERED_SDP, numberedPacket, publishNumbered, Seen } from "./support/numbered_stream.ts";
import { delay, spawnProcess, SUPPORT_DIR, SYSTEM_PYTHON, withTimeout } from "./support/processes.ts";
import type { RelayProcess } from "./support/relay.ts";
import { startRtspPublisher, startRtspReader } from "./support/rtsp_peers.ts";
import { parsePrometheus, sampleValue } from "./support/prometheus.ts";

Deno.test("attack: an open mesh refuses frames from off-path senders; only a spoofing on-path attacker gets in", async () => {
  await using cluster = await startRelayCluster({
    count: 2,
    zoneOf: () => "z",
    discovery: "static",
    meshKey: null,
  });
  const [a, b] = cluster.relays as [RelayProcess, RelayProcess];
  await using pub = await startRtspPublisher(a.url("sec"), NUMBERED_SDP, { transport: "tcp" });
  for (let i = 0; i < 5; i++) await pub.send(numberedPacket(0));
  const seen = new Seen();
  await using _reader = await startRtspReader(b.url("sec"), { transport: "tcp", onRtp: seen.record });

  // Off path: forged frames from the test's own address, for stream ids 1..64 and 64 random ones.
  const off = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  let offSent = 0;
  const spray = async (next: number) => {
    const ids = [
      ...Array.from({ length: 64 }, (_, k) => k + 1),
      ...crypto.getRandomValues(new Uint32Array(64)),
    ];
    for (const id of ids) {
      const p = numberedPacket(FORGED);
      new DataView(p.buffer).setUint16(2, (next + 50) & 0xffff);
      await off.send(encodeMeshPacket("rtp", id, 0, p), {
        transport: "udp",
        hostname: b.host,
        port: b.meshPort,
      });
      offSent++;
    }
  };
  // On path: sniff a frame to b's mesh port, spoof its sender.
  await using spoof = spawnProcess([
    SYSTEM_PYTHON,
    `${SUPPORT_DIR}/mesh_spoof.py`,
    b.host,
    String(b.meshPort),
    "40",
    "20",
  ], {
    name: "mesh-spoof",
  });
  try {
    await publishNumbered(pub, 1500, (i) => i % 300 === 299 && i < 1000 && void spray(i + 1));
    await delay(300);
  } finally {
    off.close();
  }
  const status = await withTimeout(spoof.exited, 25_000, "the spoofer did not finish");
  const report = spoof.stdoutLines.at(-1) ?? "";
  const metrics = parsePrometheus(await (await fetch(`http://${b.host}:${b.adminPort}/metrics`)).text());
  const refused = sampleValue(metrics, "msm_mesh_packets_rejected_total", { reason: "unexpected_source" }) ??
    0;
  const unknown = sampleValue(metrics, "msm_mesh_packets_rejected_total", { reason: "unknown_stream" }) ?? 0;
  console.log(
    `open mesh: ${offSent} guessed frames sent, ${unknown} refused as unknown streams; spoofer ${report}, ` +
      `${refused} of its unspoofed frames refused as unexpected source; reader got ${seen.indexes.length} ` +
      `packets and ${seen.forged} forged`,
  );
  assert(status.success, `the spoofer failed: ${spoof.output()}`);
  assert(unknown >= offSent, `${unknown} of ${offSent} guessed frames counted`);
  assert(refused >= 40, `${refused} of the 40 unspoofed frames of the live stream id refused`);
  assert(
    seen.forged > 0,
    "the spoofed frames did not reach the reader: this test shows nothing about the key",
  );
  assert(seen.forged <= 40, `${seen.forged} forged packets: more than the spoofer sent`);
});
