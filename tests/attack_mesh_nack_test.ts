/**
 * Attack: NACKs from outsiders at a root's mesh port (an open mesh, the weaker configuration: no key seals the
 * frames). NACK frames from an address no relay has, and from a child relay's host but another port, naming made-up
 * stream ids and hundreds of sequence numbers each, must make the root send nothing (no amplification, no
 * retransmission at all), be counted as refused, and leave the stream of the real child's reader whole.
 * @module
 */
import { ok as assert } from "node:assert/strict";
import { encodeMeshPacket } from "../src/cluster/mesh_frame.ts";
import { encodeGenericNack } from "../src/rtp/rtcp_nack.ts";
import { startRelayCluster } from "./support/mesh.ts";
import { delay } from "./support/processes.ts";
import type { RelayProcess } from "./support/relay.ts";
import { startRtspPublisher, startRtspReader } from "./support/rtsp_peers.ts";
import { NUMBERED_SDP, numberedPacket, publishNumbered, Seen } from "./support/numbered_stream.ts";
import { parsePrometheus, sampleValue } from "./support/prometheus.ts";
import { udpDrops } from "./support/udp_drops.ts";

const PACKETS = 2000;

async function metric(relay: RelayProcess, name: string, labels: Record<string, string>): Promise<number> {
  const res = await fetch(`http://${relay.host}:${relay.adminPort}/metrics`);
  return sampleValue(parsePrometheus(await res.text()), name, labels) ?? 0;
}

Deno.test("attack: NACKs from outsiders at a root's mesh port are refused and answered with nothing", async () => {
  await using cluster = await startRelayCluster({
    count: 2,
    zoneOf: () => "zone-1",
    discovery: "static",
    meshKey: null,
  });
  const [a, b] = cluster.relays as [RelayProcess, RelayProcess];
  await using pub = await startRtspPublisher(a.url("ingress"), NUMBERED_SDP, { transport: "tcp" });
  for (let i = 0; i < 5; i++) await pub.send(numberedPacket(0));
  const seen = new Seen();
  await using reader = await startRtspReader(b.url("ingress"), { transport: "udp", onRtp: seen.record });
  const drops0 = udpDrops([reader.clientPort!]);
  const refused0 = await metric(a, "msm_mesh_packets_rejected_total", { reason: "unexpected_source" });
  const outsider = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  // The child's own host, another port: not the mesh address discovery gives for it.
  const sameHost = Deno.listenDatagram({ transport: "udp", hostname: b.host, port: 0 });
  const to = { transport: "udp" as const, hostname: a.host, port: a.meshPort };
  const seqs = Array.from({ length: 300 }, (_, i) => i);
  let sent = 0;
  try {
    await publishNumbered(pub, PACKETS, (i) => {
      if (i % 20 !== 19) return;
      for (let k = 0; k < 10; k++) {
        const streamId = (Math.random() * 2 ** 32) >>> 0;
        const frame = encodeMeshPacket(
          "nack",
          streamId,
          0,
          encodeGenericNack({ senderSsrc: 1, mediaSsrc: 2, seqs }),
        );
        void outsider.send(frame, to).catch(() => {});
        void sameHost.send(frame, to).catch(() => {});
        sent += 2;
      }
    });
    await delay(500);
  } finally {
    outsider.close();
    sameHost.close();
  }
  const refused = (await metric(a, "msm_mesh_packets_rejected_total", { reason: "unexpected_source" })) -
    refused0;
  const resent = await metric(a, "msm_mesh_retransmits_total", { event: "sent" });
  const requested = await metric(a, "msm_mesh_retransmits_total", { event: "requested" });
  console.log(
    `${sent} forged NACKs (300 numbers each): ${refused} refused, ${requested} numbers taken, ${resent} sent`,
  );
  assert(
    resent === 0 && requested === 0,
    `the root answered forged NACKs: ${requested} taken, ${resent} sent`,
  );
  assert(refused >= sent * 0.9, `refused ${refused} of ${sent} (the kernel may drop a few under load)`);
  seen.assertInOrder("reader on the member", PACKETS - 1, udpDrops([reader.clientPort!]) - drops0);
});
