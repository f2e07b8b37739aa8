/**
 * What per-hop retransmission costs and what it buys: two relays in network namespaces (a root with a publisher
 * of numbered 1200-byte packets, a member with a UDP reader), one trial per mode of BENCH_NACK_SECONDS (30 s) at
 * BENCH_NACK_RATE packets/s (2,000):
 * - `none`: `--no-mesh-nack`, a clean hop;
 * - `nack`: NACK on (the default), a clean hop (the bookkeeping alone);
 * - `none, 2 % loss` and `nack, 2 % loss`: the member's namespace drops every 50th datagram to its mesh port;
 * - `dual`: three relays with `--protection dual` and a reader on each member: the measured member gets the stream
 *   from the root and from the other member (and with 2 % loss the same drop rule).
 * Prints for each: packets the reader missed, the root's retransmissions (packets and share of the stream), the
 * mesh bandwidth into the member (bytes on its veth), and CPU per packet of each relay over the whole trial.
 * `deno run -A bench/mesh_nack.ts` (root: it makes network namespaces and iptables rules, and removes them).
 * @module
 */
import { createNetnsLab, type NetnsLab, requireNetnsTools } from "../tests/support/netns.ts";
import { delay } from "../tests/support/processes.ts";
import { type RelayProcess, startRelayProcess } from "../tests/support/relay.ts";
import { startRtspPublisher, startRtspReader } from "../tests/support/rtsp_peers.ts";
import { NUMBERED_SDP, numberedPacket } from "../tests/support/numbered_stream.ts";
import { parsePrometheus, sampleValue } from "../tests/support/prometheus.ts";
import { cpuSeconds } from "../tests/support/proc_stats.ts";
import { udpDrops } from "../tests/support/udp_drops.ts";

const SECONDS = Number(Deno.env.get("BENCH_NACK_SECONDS") ?? 30);
const RATE = Number(Deno.env.get("BENCH_NACK_RATE") ?? 2000);
const PLANE = Deno.env.get("BENCH_NACK_PLANE") ?? "fast";
const MESH_PORT = 7000;

interface Mode {
  name: string;
  nack: boolean;
  loss: boolean;
  /** Three relays, `--protection dual`: the measured member also gets the stream from the other member. */
  dual?: boolean;
}

const MODES: Mode[] = [
  { name: "none", nack: false, loss: false },
  { name: "nack", nack: true, loss: false },
  { name: "none, 2 % loss", nack: false, loss: true },
  { name: "nack, 2 % loss", nack: true, loss: true },
  { name: "dual (3 relays)", nack: true, loss: false, dual: true },
  { name: "dual, 2 % loss", nack: true, loss: true, dual: true },
];

async function sh(cmd: string[]): Promise<string> {
  const out = await new Deno.Command(cmd[0]!, { args: cmd.slice(1), stdout: "piped", stderr: "piped" })
    .output();
  if (out.code !== 0) throw new Error(`${cmd.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  return new TextDecoder().decode(out.stdout);
}

function startNsRelay(lab: NetnsLab, i: number, mode: Mode): Promise<RelayProcess> {
  const node = lab.nodes[i]!;
  const peers = lab.nodes.filter((n) => n.index !== i).flatMap((n) => [
    "--peer",
    `node-${n.index}=${n.ip}:8080:${MESH_PORT}@zone-1`,
  ]);
  return startRelayProcess(
    [
      ...["--node", `node-${i}`, "--zone", "zone-1", "--discovery", "static", "--data-plane", PLANE],
      ...peers,
      ...(mode.nack ? [] : ["--no-mesh-nack"]),
      ...(mode.dual ? ["--protection", "dual"] : []),
    ],
    {},
    {
      netns: node.netns,
      host: node.ip,
      rtspPort: 8554,
      adminPort: 8080,
      meshPort: MESH_PORT,
      name: `relay-node-${i}`,
      permissions: PLANE === "fast" ? ["--allow-ffi"] : [],
    },
  );
}

async function metric(relay: RelayProcess, name: string, labels: Record<string, string>): Promise<number> {
  const res = await fetch(`http://${relay.host}:${relay.adminPort}/metrics`);
  return sampleValue(parsePrometheus(await res.text()), name, labels) ?? 0;
}

/** Bytes the member's namespace received on its interface so far. */
async function rxBytes(lab: NetnsLab): Promise<number> {
  const text = await sh([
    "ip",
    "netns",
    "exec",
    lab.nodes[1]!.netns,
    "cat",
    "/sys/class/net/eth0/statistics/rx_bytes",
  ]);
  return Number(text.trim());
}

/** Numbered packet `i`, 1,200 bytes. */
function packet(i: number): Uint8Array {
  return numberedPacket(i, 1200);
}

async function trial(mode: Mode): Promise<string> {
  const count = mode.dual ? 3 : 2;
  await using lab = await createNetnsLab(count);
  const relays = await Promise.all([...Array(count).keys()].map((i) => startNsRelay(lab, i, mode)));
  const [root, member] = relays as [RelayProcess, RelayProcess];
  try {
    await using pub = await startRtspPublisher(root.url("bench"), NUMBERED_SDP, { transport: "tcp" });
    for (let i = 0; i < 5; i++) await pub.send(packet(0));
    const seen = new Set<number>();
    let first = -1;
    await using reader = await startRtspReader(member.url("bench"), {
      transport: "udp",
      udpHost: lab.gateway,
      onRtp: (p) => {
        const i = new DataView(p.buffer, p.byteOffset).getUint32(12);
        if (i === 0) return;
        if (first < 0) first = i;
        seen.add(i);
      },
    });
    // With dual protection another member with a reader: the measured one gets the stream from it too.
    await using _other = mode.dual
      ? await startRtspReader(relays[2]!.url("bench"), {
        transport: "udp",
        udpHost: lab.gateway,
        onRtp: () => {},
      })
      : null;
    await delay(mode.dual ? 4000 : 2000); // the members attached (both parents), the Worker bound
    if (mode.loss) {
      const rule = ["-p", "udp", "--dport", String(MESH_PORT), "-m", "statistic", "--mode", "nth"];
      await sh(["ip", "netns", "exec", lab.nodes[1]!.netns, "iptables", "-A", "INPUT", ...rule, ...[
        "--every",
        "50",
        "--packet",
        "0",
        "-j",
        "DROP",
      ]]);
    }
    const total = SECONDS * RATE;
    const cpu0 = relays.map((r) => cpuSeconds(r.process.pid));
    const drops0 = udpDrops([reader.clientPort!]);
    const rx0 = await rxBytes(lab);
    const started = performance.now();
    let i = 1;
    const from = i;
    while (i <= total) {
      const due = Math.floor(((performance.now() - started) / 1000) * RATE);
      while (i <= Math.min(due, total)) await pub.send(packet(i++));
      await delay(1);
    }
    await delay(1000); // the last repairs, and the drain
    const cpu = relays.map((r, i) => cpuSeconds(r.process.pid) - cpu0[i]!);
    const readerDrops = udpDrops([reader.clientPort!]) - drops0;
    const rx = (await rxBytes(lab)) - rx0;
    const window = (performance.now() - started) / 1000;
    let missing = 0;
    for (let k = Math.max(from, first); k <= total; k++) if (!seen.has(k)) missing++;
    const resent = await metric(root, "msm_mesh_retransmits_total", { event: "sent" });
    const unavailable = await metric(root, "msm_mesh_retransmits_total", { event: "unavailable" });
    const capped = await metric(root, "msm_mesh_retransmits_total", { event: "capped" });
    const late = await metric(member, "msm_mesh_repairs_total", { path: "bench", event: "late" });
    const unrecovered = await metric(member, "msm_mesh_repairs_total", {
      path: "bench",
      event: "unrecovered",
    });
    const us = (s: number) => ((s * 1e6) / total).toFixed(1);
    return `  ${mode.name.padEnd(16)} missed ${String(missing).padStart(5)} (${
      (100 * missing / total).toFixed(3)
    } %; ${readerDrops} dropped by the kernel at the reader's socket)` +
      `  resent ${String(resent).padStart(5)} (${(100 * resent / total).toFixed(2)} %)` +
      `  into member ${(rx * 8 / window / 1e6).toFixed(2)} Mbit/s` +
      `  CPU root ${us(cpu[0]!)} µs/pkt, member ${us(cpu[1]!)} µs/pkt` +
      (mode.dual ? `, other member ${us(cpu[2]!)} µs/pkt` : "") + ` over ${window.toFixed(1)} s` +
      (mode.nack
        ? `; unavailable ${unavailable}, capped ${capped}, unrecovered ${unrecovered}, late ${late}`
        : "");
  } finally {
    await Promise.all(relays.map((r) => r.stop().catch(() => {})));
  }
}

if (import.meta.main) {
  await requireNetnsTools();
  console.log(
    `bench/mesh_nack.ts: ${RATE} pkt/s of 1200 bytes for ${SECONDS} s per mode, ${PLANE} plane, ` +
      `root -> member in network namespaces; load avg ${Deno.loadavg().join(" ")}`,
  );
  // `BENCH_NACK_MODES=dual` runs the modes whose names contain one of the comma-separated words.
  const only = Deno.env.get("BENCH_NACK_MODES")?.split(",");
  for (const mode of MODES) {
    if (!only || only.some((w) => mode.name.includes(w))) console.log(await trial(mode));
  }
}
