/**
 * Mesh security end to end: relays sharing a cluster key carry a stream across the mesh sealed; a relay with the
 * wrong key cannot join, and packets injected at a relay's mesh port (unsealed, or sealed under another key) never
 * reach its readers (without a key, an on-path attacker who spoofs the parent's address does get in:
 * tests/attack_mesh_spoof_test.ts). Rotating the key through its three steps while the stream runs loses no
 * packet.
 *
 * What an outsider who reads the wire between relays captures is useless elsewhere: sealed packets and signed peer
 * requests captured on their way to one relay are refused by another relay and by the same relay once it
 * restarted, and a flood of packets under made-up salts is refused at a bounded cost while the stream plays on.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { encodeMeshPacket } from "../src/cluster/mesh_frame.ts";
import { deriveKeyring } from "../src/cluster/mesh_keys.ts";
import { MeshSealer } from "../src/cluster/mesh_seal.ts";
import { type RelayCluster, startRelayCluster } from "./support/mesh.ts";
import { delay, freePort, SYSTEM_PYTHON, tempDir } from "./support/processes.ts";
import { type RelayProcess, startRelayProcess } from "./support/relay.ts";
import { firstHttpRequest, tapLoopback } from "./support/loopback_tap.ts";
import { nodeName, TEST_MESH_KEY } from "./support/mesh.ts";
import { startRtspPublisher, startRtspReader } from "./support/rtsp_peers.ts";
import { udpDrops } from "./support/udp_drops.ts";
import { parsePrometheus, sampleValue } from "./support/prometheus.ts";
import {
  FORGED,
  NUMBERED_SDP as SDP,
  numberedPacket as packet,
  publishNumbered as publish,
  Seen,
} from "./support/numbered_stream.ts";

const KEY_1 = "first-cluster-key-0123456789abcdef";
const KEY_2 = "second-cluster-key-0123456789abcdef";
const WRONG = "not-the-cluster-key-0123456789abcd";
async function metrics(relay: RelayProcess) {
  const res = await fetch(`http://${relay.host}:${relay.adminPort}/metrics`);
  return parsePrometheus(await res.text());
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
async function runInjection(cluster: RelayCluster): Promise<{ seen: Seen; kernelDrops: number }> {
  const [a, b] = cluster.relays as [RelayProcess, RelayProcess];
  const drops0 = udpDrops([b.meshPort]);
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
  // The attacker's spray shares b's mesh socket with the stream: on a busy machine its buffer may overflow.
  return { seen, kernelDrops: udpDrops([b.meshPort]) - drops0 };
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
  const { seen, kernelDrops } = await runInjection(cluster);
  seen.assertInOrder("reader on the keyed relay", 1999, kernelDrops);
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
  const drops0 = udpDrops([b.meshPort]);
  // Each step has 1.5 s to reach both relays (they re-read the file every second), as a Secret needs its time.
  const steps = [`${KEY_1}\n${KEY_2}\n`, `${KEY_2}\n${KEY_1}\n`, `${KEY_2}\n`];
  const pending: Promise<unknown>[] = [];
  await publish(pub, 7000, (i) => {
    if (i % 1500 === 1499 && steps.length > 0) pending.push(write(steps.shift()!));
  });
  await Promise.all(pending);
  await delay(300);
  // A packet the rotation lost would be refused (counted below) or missing without a kernel drop.
  seen.assertInOrder("reader across the rotation", 6999, udpDrops([b.meshPort]) - drops0);
  for (const r of [a, b]) {
    const reloads = r.process.stderrLines.filter((l) => l.includes("mesh keys reloaded")).length;
    assertEquals(reloads, 3, `${r.host} reloaded its keys ${reloads} times`);
    const refused = [...(await metrics(r)).get("msm_mesh_packets_rejected_total")?.samples ?? []]
      .reduce((n, s) => n + s.value, 0);
    assertEquals(refused, 0, `${r.host} refused ${refused} packets during the rotation`);
  }
  console.log(`rotation: ${seen.indexes.length} packets, in order, through three key steps`);
});

/** Relays started one by one so that one can be restarted as itself (same node, address, ports and flags). */
async function startRestartableCluster(count: number) {
  const first = 20 + Math.floor(Math.random() * 180);
  const hostOf = (i: number) => `127.0.0.${first + i}`;
  const ports = {
    rtspPort: freePort("tcp", hostOf(0)),
    adminPort: freePort("tcp", hostOf(0)),
    meshPort: freePort("udp", hostOf(0)),
  };
  const start = (i: number) =>
    startRelayProcess(
      [
        ...["--node", nodeName(i), "--zone", "zone-1", "--discovery", "static", "--fanout", "2"],
        ...Array.from({ length: count }, (_, j) => j).filter((j) => j !== i).flatMap((j) => [
          "--peer",
          `${nodeName(j)}=${hostOf(j)}:${ports.adminPort}:${ports.meshPort}@zone-1`,
        ]),
        ...["--mesh-key", TEST_MESH_KEY],
      ],
      {},
      { host: hostOf(i), ...ports, name: `relay-${nodeName(i)}` },
    );
  const relays = await Promise.all(Array.from({ length: count }, (_, i) => start(i)));
  return {
    relays,
    /** Stops relay i and starts it again: a new process of the same relay. */
    async restart(i: number): Promise<RelayProcess> {
      await relays[i]!.stop("SIGTERM");
      relays[i] = await start(i);
      return relays[i]!;
    },
    async [Symbol.asyncDispose]() {
      await Promise.all(relays.map((r) => r.process.running ? r.stop("SIGTERM") : Promise.resolve()));
    },
  };
}

/** Refusals at a relay's mesh port by reason (`msm_mesh_packets_rejected_total`). */
async function packetRefusals(relay: RelayProcess): Promise<Record<string, number>> {
  const family = (await metrics(relay)).get("msm_mesh_packets_rejected_total");
  return Object.fromEntries([...family?.samples ?? []].map((s) => [s.labels.reason ?? "", s.value]));
}

/**
 * The change of `relay`'s packet refusals since `before`, read until `auth` reaches `expected` or `timeoutMs`
 * passed: on a busy machine the relay may take more than a moment to refuse what was sent to it.
 */
async function refusalsSince(
  relay: RelayProcess,
  before: Record<string, number>,
  expected: number,
  timeoutMs = 5000,
): Promise<Record<string, number>> {
  const deadline = performance.now() + timeoutMs;
  let changed = delta(before, await packetRefusals(relay));
  while ((changed.auth ?? 0) < expected && performance.now() < deadline) {
    await delay(100);
    changed = delta(before, await packetRefusals(relay));
  }
  return changed;
}

/** The change of each count from `before` to `after`. */
function delta(before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(after)) if (v !== (before[k] ?? 0)) out[k] = v - (before[k] ?? 0);
  return out;
}

/**
 * Sends `datagrams` to a relay's mesh port from another process (so that this one, which also reads the stream,
 * is not the bottleneck), `perSecond` at most: a volumetric flood would overflow any socket buffer, what is
 * measured here is the relay's work per packet.
 */
async function sendTo(
  relay: RelayProcess,
  datagrams: readonly Uint8Array[],
  perSecond = 5000,
): Promise<void> {
  const script = `
import socket, sys, time
data = sys.stdin.buffer.read()
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
start, at, i = time.monotonic(), 0, 0
while at < len(data):
    n = int.from_bytes(data[at:at + 2], "big")
    sock.sendto(data[at + 2:at + 2 + n], ("${relay.host}", ${relay.meshPort}))
    at, i = at + 2 + n, i + 1
    ahead = start + i / ${perSecond} - time.monotonic()
    if ahead > 0:
        time.sleep(ahead)
`;
  const input = new Uint8Array(datagrams.reduce((n, d) => n + 2 + d.length, 0));
  let at = 0;
  for (const d of datagrams) {
    new DataView(input.buffer).setUint16(at, d.length);
    input.set(d, at + 2);
    at += 2 + d.length;
  }
  const child = new Deno.Command(SYSTEM_PYTHON, { args: ["-c", script], stdin: "piped", stderr: "piped" })
    .spawn();
  const writer = child.stdin.getWriter();
  await writer.write(input);
  await writer.close();
  const out = await child.output();
  if (!out.success) throw new Error(`the sender failed: ${new TextDecoder().decode(out.stderr)}`);
}

/** Sends raw request bytes to a relay's admin port: the status and body of the answer. */
async function replayHttp(
  relay: RelayProcess,
  request: Uint8Array,
): Promise<{ status: number; body: string }> {
  const conn = await Deno.connect({ hostname: relay.host, port: relay.adminPort });
  try {
    await conn.write(request);
    let text = "";
    const buf = new Uint8Array(65536);
    const decoder = new TextDecoder();
    while (true) {
      const end = text.indexOf("\r\n\r\n");
      const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(text)?.[1] ?? -1);
      if (end >= 0 && length >= 0 && text.length >= end + 4 + length) {
        return { status: Number(text.slice(9, 12)), body: text.slice(end + 4, end + 4 + length) };
      }
      const n = await conn.read(buf);
      if (n === null) throw new Error(`the connection closed after: ${text}`);
      text += decoder.decode(buf.subarray(0, n), { stream: true });
    }
  } finally {
    conn.close();
  }
}

/** The `error` of a JSON answer, else the body. */
function errorOf(body: string): string {
  try {
    return String(JSON.parse(body).error);
  } catch {
    return body;
  }
}

/** Well-formed sealed packets (wire version 3) under the cluster key's id with made-up salts and tags. */
function madeUpSaltPackets(count: number): Uint8Array[] {
  const keyId = deriveKeyring([TEST_MESH_KEY]).keys[0]!.id;
  return Array.from({ length: count }, () => {
    const d = crypto.getRandomValues(new Uint8Array(32 + 100 + 16));
    // ver 3 | rtp, track 0, stream id 1, key id, encrypted; salt random; packet number 0; payload and tag random
    d.set([0x30, 0, 0, 0, 0, 1, keyId, 1]);
    d.fill(0, 24, 32);
    return d;
  });
}

Deno.test({
  name:
    "mesh key: packets and peer requests captured on the wire are refused by another relay and after a restart",
  // The tap is a packet socket read through FFI in a loop that ends with close().
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await using cluster = await startRestartableCluster(3);
    const [a, b, c] = cluster.relays as [RelayProcess, RelayProcess, RelayProcess];
    await using pub = await startRtspPublisher(a.url("sec"), SDP, { transport: "tcp" });
    for (let i = 0; i < 5; i++) await pub.send(packet(0)); // the root learns the stream before readers ask
    const seenB = new Seen();
    const seenC = new Seen();
    await using _readerB = await startRtspReader(b.url("sec"), { transport: "tcp", onRtp: seenB.record });
    await using _readerC = await startRtspReader(c.url("sec"), { transport: "tcp", onRtp: seenC.record });
    // What crosses the wire from the root a to b's mesh port, and the peer calls to a (b and c renew their joins
    // every second, in one signed call each).
    await using toB = tapLoopback({
      protocol: "udp",
      hostname: b.host,
      port: b.meshPort,
      fromHostname: a.host,
    });
    await using toA = tapLoopback({ protocol: "tcp", hostname: a.host, port: a.adminPort });
    const publishing = publish(pub, 4000);
    await toB.waitFor(40, 20_000);
    const captured = toB.packets.slice(0, 40).map((p) => p.payload);
    await toB.close();
    const verdicts: string[] = [];

    // 1. Media sealed for b, replayed to c at once (same key, same stream id space; the root's packet numbers are
    // still inside c's replay window, so only the binding to b can refuse them).
    const c0 = await packetRefusals(c);
    await sendTo(c, captured);
    const replayedToC = await refusalsSince(c, c0, captured.length);
    if ((replayedToC.auth ?? 0) !== captured.length) {
      verdicts.push(`c refused ${JSON.stringify(replayedToC)} of ${captured.length} packets sealed for b`);
    }

    let renewal: Uint8Array | null = null;
    for (let t = 0; t < 100 && !renewal; t++) {
      renewal = firstHttpRequest(toA.packets, "POST /mesh/v1/renew ");
      if (!renewal) await delay(100);
    }
    assert(renewal, "no renewal to the root crossed the wire in 10 s");
    // The taps read every packet of the loopback in this process, which also reads the stream: stop them now.
    await toA.close();

    // 2. A flood of made-up salts at c while the stream plays: 5000 packets at 2000 a second, 20 times the
    // budget of new salts.
    const flood = madeUpSaltPackets(5000);
    const c1 = await packetRefusals(c);
    const cDrops0 = udpDrops([c.meshPort]);
    const floodStart = performance.now();
    await sendTo(c, flood, 2000);
    await delay(500);
    const floodSeconds = (performance.now() - floodStart) / 1000;
    const flooded = delta(c1, await packetRefusals(c));
    // Each tried salt is one derivation and one `auth` refusal; the budget: a burst of 200, then 100 a second.
    // (On a busy machine some of the flood may overflow the socket buffer: not every packet is counted.)
    const derived = flooded.auth ?? 0;
    const others = Object.keys(flooded).filter((r) => r !== "auth" && r !== "salt_rate");
    // The budget is spent unless the kernel dropped so much of the flood that what arrived fit in the burst.
    const arrivedWithinBurst = derived <= 200 && udpDrops([c.meshPort]) - cDrops0 >= flood.length - 200;
    const limited = (flooded.salt_rate ?? 0) > 0 || arrivedWithinBurst;
    if (!limited || derived > 200 + 100 * floodSeconds || others.length > 0) {
      verdicts.push(
        `c refused ${JSON.stringify(flooded)} of ${flood.length} packets under made-up salts in ` +
          `${floodSeconds.toFixed(1)} s`,
      );
    }

    // 3. A renewal signed for the root a, replayed to b.
    const atB = await replayHttp(b, renewal);
    if (atB.status !== 401 || !errorOf(atB.body).includes('signed for relay "node-a"')) {
      verdicts.push(`b answered a renewal signed for a with ${atB.status} ${atB.body}`);
    }

    await publishing;
    await delay(500);
    // The stream plays on at c (a UDP flood may cost packets in the socket buffer, whatever they carry), and no
    // reader saw a packet twice.
    assertEquals(seenC.indexes.at(-1), 3999, "the reader on c stopped receiving");
    for (const seen of [seenB, seenC]) assertEquals(new Set(seen.indexes).size, seen.indexes.length);
    assertEquals(seenC.forged + seenB.forged, 0);

    // 4. b restarts: the media sealed for its previous run, replayed to it.
    const b2 = await cluster.restart(1);
    const b0 = await packetRefusals(b2);
    await sendTo(b2, captured);
    const replayedToB2 = await refusalsSince(b2, b0, captured.length);
    if ((replayedToB2.auth ?? 0) !== captured.length) {
      verdicts.push(
        `b after its restart refused ${JSON.stringify(replayedToB2)} of ${captured.length} packets`,
      );
    }

    // 5. a restarts: the renewal signed for its previous run (less than a minute old), replayed to it.
    const a2 = await cluster.restart(0);
    const atA2 = await replayHttp(a2, renewal);
    if (atA2.status !== 401 || !errorOf(atA2.body).includes("another run of this relay")) {
      verdicts.push(
        `a after its restart answered the renewal signed for its previous run with ${atA2.status} ${atA2.body}`,
      );
    }
    const summary = [
      `reader on c: ${seenC.indexes.length} of 4000 packets`,
      `${captured.length} packets captured on their way to b: c refused ${JSON.stringify(replayedToC)}`,
      `b restarted refused ${JSON.stringify(replayedToB2)}`,
      `${flood.length} packets under made-up salts at c: ${JSON.stringify(flooded)}`,
      `a renewal captured on its way to a: b answered ${atB.status}, a restarted answered ${atA2.status}`,
    ];
    console.log(summary.join("; "));
    assertEquals(verdicts, [], verdicts.join("\n"));
  },
});

Deno.test("mesh key: packets refused from hundreds of source addresses cost a bounded number of log lines", async () => {
  await using cluster = await startRelayCluster({ count: 2, zoneOf: () => "zone-1", discovery: "static" });
  const b = cluster.relays[1]!;
  // Any 127.x.y.z is this machine's: 300 sources, as an attacker who forges UDP source addresses would use.
  const sources = 300;
  const drops0 = udpDrops([b.meshPort]);
  for (let i = 0; i < sources; i++) {
    const sock = Deno.listenDatagram({
      transport: "udp",
      hostname: `127.${100 + (i >> 8)}.${i & 0xff}.${1 + (i % 200)}`,
      port: 0,
    });
    try {
      await sock.send(encodeMeshPacket("rtp", 1, 0, packet(FORGED)), {
        transport: "udp",
        hostname: b.host,
        port: b.meshPort,
      });
    } finally {
      sock.close();
    }
  }
  // A loaded relay may still be reading them, and a full socket buffer may have dropped some: wait for the count
  // to settle, and take the kernel's drops at b's mesh port into account.
  let refused = 0;
  for (let waited = 0, last = -1; waited < 5000 && refused !== last; waited += 300) {
    last = refused;
    await delay(300);
    refused =
      sampleValue(await metrics(b), "msm_mesh_packets_rejected_total", { reason: "unauthenticated" }) ?? 0;
  }
  const dropped = udpDrops([b.meshPort]) - drops0;
  const lines = b.process.stderrLines.filter((l) => l.includes("mesh packet refused")).length;
  console.log(
    `${refused} packets from ${sources} addresses refused (${dropped} dropped by the kernel) in ${lines} log lines`,
  );
  assert(
    refused + dropped >= sources * 0.9,
    `only ${refused} of ${sources} packets were counted, ${dropped} dropped`,
  );
  assert(lines <= 64 + 1, `${lines} log lines for ${sources} source addresses`);
});
