/**
 * Mesh security end to end: relays sharing a cluster key carry a stream across the mesh sealed; a relay with the
 * wrong key cannot join, and packets injected at a relay's mesh port (unsealed, or sealed under another key) never
 * reach its readers — without a key the same injection does reach them, which is what the key prevents. Rotating
 * the key through its three steps while the stream runs loses no packet.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { writeRtpHeader } from "../src/rtp/packet.ts";
import { encodeMeshPacket } from "../src/cluster/mesh_frame.ts";
import { deriveKeyring } from "../src/cluster/mesh_keys.ts";
import { MeshSealer } from "../src/cluster/mesh_seal.ts";
import { type RelayCluster, startRelayCluster } from "./support/mesh.ts";
import { delay, tempDir } from "./support/processes.ts";
import type { RelayProcess } from "./support/relay.ts";
import { startRtspPublisher, startRtspReader } from "./support/rtsp_peers.ts";
import { parsePrometheus, sampleValue } from "./support/prometheus.ts";

const SDP = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=sec\r\nt=0 0\r\nm=video 0 RTP/AVP 96\r\n" +
  "a=rtpmap:96 H264/90000\r\na=control:trackID=0\r\n";
const KEY_1 = "first-cluster-key-0123456789abcdef";
const KEY_2 = "second-cluster-key-0123456789abcdef";
const WRONG = "not-the-cluster-key-0123456789abcd";
/** Payload index of injected packets: a reader that sees it got a packet that did not come from the publisher. */
const FORGED = 0xfffffff0;

/** Packet `i` of the publisher, its index in the payload. */
function packet(i: number): Uint8Array {
  const p = new Uint8Array(200);
  writeRtpHeader(p, 0, {
    marker: true,
    payloadType: 96,
    sequence: i & 0xffff,
    timestamp: i * 30,
    ssrc: 0x5ec,
  });
  new DataView(p.buffer).setUint32(12, i);
  p[16] = 0x41;
  return p;
}

/** What a reader saw, by payload index. */
class Seen {
  readonly indexes: number[] = [];
  forged = 0;
  record = (p: Uint8Array): void => {
    if (p.length < 16) return;
    const i = new DataView(p.buffer, p.byteOffset).getUint32(12);
    if (i >= FORGED) this.forged++;
    else this.indexes.push(i);
  };

  /** Every packet from the first one received to `last`, once and in order. */
  assertGapless(name: string, last: number): void {
    assert(this.indexes.length > 0, `${name}: nothing received`);
    for (let k = 1; k < this.indexes.length; k++) {
      if (this.indexes[k] !== this.indexes[k - 1]! + 1) {
        throw new Error(`${name}: packet ${this.indexes[k - 1]} was followed by ${this.indexes[k]}`);
      }
    }
    assertEquals(this.indexes.at(-1), last, `${name}: the last packet is missing`);
  }
}

async function metrics(relay: RelayProcess) {
  const res = await fetch(`http://${relay.host}:${relay.adminPort}/metrics`);
  return parsePrometheus(await res.text());
}

/** Sends `count` packets, one per ms (in small bursts), calling `during(i)` now and then. */
async function publish(
  pub: { send(p: Uint8Array): Promise<void> },
  count: number,
  during?: (i: number) => void,
): Promise<void> {
  const start = performance.now();
  for (let i = 0; i < count; i++) {
    await pub.send(packet(i));
    if (i % 10 === 9) {
      during?.(i);
      const ahead = start + i + 1 - performance.now();
      if (ahead > 0) await delay(ahead);
    }
  }
}

/** Packets an attacker without the key sends to a relay's mesh port: unsealed, and sealed under a wrong key. */
function injector(target: RelayProcess) {
  const sock = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const wrong = new MeshSealer(deriveKeyring([WRONG]));
  // The target's incarnation is not on the wire: the attacker guesses.
  const incarnation = crypto.getRandomValues(new Uint8Array(8));
  const to = { transport: "udp" as const, hostname: target.host, port: target.meshPort };
  return {
    sent: 0,
    /**
     * One forged RTP packet per stream id 1..32, both ways, numbered just ahead of the publisher's packet `next`
     * (an attacker who sees the stream would do so) so that a relay without the key takes them as new.
     */
    async spray(next: number): Promise<void> {
      for (let streamId = 1; streamId <= 32; streamId++) {
        const p = packet(FORGED);
        new DataView(p.buffer).setUint16(2, (next + 50 + streamId) & 0xffff);
        await sock.send(encodeMeshPacket("rtp", streamId, 0, p), to);
        await sock.send(wrong.seal("rtp", streamId, 0, p, incarnation), to);
        this.sent += 2;
      }
    },
    close: () => sock.close(),
  };
}

/** Publishes on relay 0, reads on relay 1 over TCP, injects at relay 1's mesh port while 2000 packets flow. */
async function runInjection(cluster: RelayCluster): Promise<Seen> {
  const [a, b] = cluster.relays as [RelayProcess, RelayProcess];
  await using pub = await startRtspPublisher(a.url("sec"), SDP, { transport: "tcp" });
  for (let i = 0; i < 5; i++) await pub.send(packet(0)); // the root learns the stream before the reader asks
  const seen = new Seen();
  await using _reader = await startRtspReader(b.url("sec"), { transport: "tcp", onRtp: seen.record });
  const attacker = injector(b);
  try {
    await publish(pub, 2000, (i) => i % 100 === 99 && void attacker.spray(i + 1));
    await delay(300);
  } finally {
    attacker.close();
  }
  return seen;
}

Deno.test("mesh key: the stream crosses sealed; a wrong-key relay cannot join; injected packets are refused", async () => {
  await using dir = await tempDir({ prefix: "msm-mesh-key-" });
  const keyFile = `${dir.path}/mesh-key`;
  await Deno.writeTextFile(keyFile, `${KEY_1}\n`);
  await using cluster = await startRelayCluster({
    count: 3,
    zoneOf: () => "zone-1",
    discovery: "static",
    meshKey: null,
    argsOf: (i) => i < 2 ? ["--mesh-key-file", keyFile] : ["--mesh-key", WRONG],
  });
  const [a, b, c] = cluster.relays as [RelayProcess, RelayProcess, RelayProcess];
  const seen = await runInjection(cluster);
  seen.assertGapless("reader on the keyed relay", 1999);
  assertEquals(seen.forged, 0, "an injected packet reached the reader");

  // The relay with the wrong key asks its peers where the path is rooted: refused, so its reader gets nothing.
  const refused = await startRtspReader(c.url("sec"), { transport: "tcp" }).then(
    async (r) => {
      await r.close();
      return "joined";
    },
    (e: Error) => e.message,
  );
  assert(/404|503/.test(refused), `the wrong-key relay served the stream: ${refused}`);

  // An oversized body is refused before the signature check reads it.
  const big = await fetch(`http://${b.host}:${b.adminPort}/mesh/v1/join`, {
    method: "POST",
    body: new Uint8Array(256 * 1024),
  });
  await big.body?.cancel();
  assertEquals(big.status, 413);

  const mb = await metrics(b);
  const unsealed = sampleValue(mb, "msm_mesh_packets_rejected_total", { reason: "unauthenticated" }) ?? 0;
  const forged = (sampleValue(mb, "msm_mesh_packets_rejected_total", { reason: "auth" }) ?? 0) +
    (sampleValue(mb, "msm_mesh_packets_rejected_total", { reason: "unknown_key" }) ?? 0);
  assert(unsealed >= 32 && forged >= 32, `b refused ${unsealed} unsealed and ${forged} forged packets`);
  const requestRefusals = [a, b].map(async (r) =>
    [...(await metrics(r)).get("msm_mesh_requests_rejected_total")?.samples ?? []].reduce(
      (n, s) => n + s.value,
      0,
    )
  );
  const refusedCalls = (await Promise.all(requestRefusals)).reduce((x, y) => x + y, 0);
  assert(refusedCalls > 0, "no peer call of the wrong-key relay was refused");
  const warnings = b.process.stderrLines.filter((l) => l.includes("mesh packet refused")).length;
  assert(
    warnings > 0 && warnings <= 6,
    `${warnings} refusal lines for ${unsealed + forged} refusals (throttled?)`,
  );
  console.log(
    `keyed mesh: reader got ${seen.indexes.length} packets gapless; b refused ${unsealed} unsealed + ${forged} ` +
      `forged packets in ${warnings} log lines; ${refusedCalls} peer calls of the wrong-key relay refused`,
  );
});

Deno.test("mesh without a key: the same injection reaches the reader (what the key prevents)", async () => {
  await using cluster = await startRelayCluster({
    count: 2,
    zoneOf: () => "zone-1",
    discovery: "static",
    meshKey: null,
  });
  const seen = await runInjection(cluster);
  assert(seen.forged > 0, "the open mesh refused injected packets: the keyed test above proves nothing");
  console.log(`open mesh: ${seen.forged} injected packets reached the reader`);
});

Deno.test("mesh key rotation (old+new, new+old, new) during a live stream loses no packet", async () => {
  await using dir = await tempDir({ prefix: "msm-mesh-rotate-" });
  const files = [`${dir.path}/key-a`, `${dir.path}/key-b`];
  const write = (text: string) =>
    Promise.all(
      files.map((f) => Deno.writeTextFile(`${f}.tmp`, text).then(() => Deno.rename(`${f}.tmp`, f))),
    );
  await write(`${KEY_1}\n`);
  await using cluster = await startRelayCluster({
    count: 2,
    zoneOf: () => "zone-1",
    discovery: "static",
    meshKey: null,
    argsOf: (i) => ["--mesh-key-file", files[i]!],
  });
  const [a, b] = cluster.relays as [RelayProcess, RelayProcess];
  await using pub = await startRtspPublisher(a.url("rot"), SDP, { transport: "tcp" });
  for (let i = 0; i < 5; i++) await pub.send(packet(0));
  const seen = new Seen();
  await using _reader = await startRtspReader(b.url("rot"), { transport: "tcp", onRtp: seen.record });
  // Each step has 1.5 s to reach both relays (they re-read the file every second), as a Secret needs its time.
  const steps = [`${KEY_1}\n${KEY_2}\n`, `${KEY_2}\n${KEY_1}\n`, `${KEY_2}\n`];
  const pending: Promise<unknown>[] = [];
  await publish(pub, 7000, (i) => {
    if (i % 1500 === 1499 && steps.length > 0) pending.push(write(steps.shift()!));
  });
  await Promise.all(pending);
  await delay(300);
  seen.assertGapless("reader across the rotation", 6999);
  for (const r of [a, b]) {
    const reloads = r.process.stderrLines.filter((l) => l.includes("mesh keys reloaded")).length;
    assertEquals(reloads, 3, `${r.host} reloaded its keys ${reloads} times`);
    const refused = [...(await metrics(r)).get("msm_mesh_packets_rejected_total")?.samples ?? []]
      .reduce((n, s) => n + s.value, 0);
    assertEquals(refused, 0, `${r.host} refused ${refused} packets during the rotation`);
  }
  console.log(`rotation: ${seen.indexes.length} packets, gapless, through three key steps`);
});
