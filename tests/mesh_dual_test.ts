/**
 * Dual-path protection with real relay processes: six relays in two zones (static discovery, fan-out 2,
 * `--protection dual`, sealed mesh), a publisher of numbered packets on A (the root), a UDP reader on every other
 * relay counting every packet. Each member gets two parents whose paths from the root share no relay but the root
 * and merges them; B, C and D are then SIGKILLed one after the other while the stream runs: the readers on the
 * surviving relays must miss no packet (the kernel's own drops at their sockets aside), out of order none.
 * @module
 */
import { ok as assert } from "node:assert/strict";
import { startRelayCluster } from "./support/mesh.ts";
import { delay } from "./support/processes.ts";
import { startRtspPublisher, startRtspReader } from "./support/rtsp_peers.ts";
import { NUMBERED_SDP, numberedPacket } from "./support/numbered_stream.ts";
import { udpDrops } from "./support/udp_drops.ts";

const linux = Deno.build.os === "linux";

for (const fast of [false, true]) {
  Deno.test({
    name:
      `dual-path protection, ${
        fast ? "fast" : "portable"
      } plane: SIGKILL of one relay after another costs the ` +
      "surviving readers no packet",
    ignore: !linux,
    async fn() {
      await using cluster = await startRelayCluster({
        count: 6,
        zoneOf: (i) => (i < 3 ? "zone-1" : "zone-2"),
        discovery: "static",
        fanout: 2,
        // A second of latency budget: on a loaded machine one path can lag the other by more than the default 200 ms,
        // and a member would then move on past packets the other path still brings.
        argsOf: () => [
          ...[
            "--protection",
            "dual",
            "--data-plane",
            fast ? "fast" : "portable",
            "--mesh-nack-budget-ms",
            "1000",
          ],
        ],
        // On the fast plane a member's Worker must not send one path's packet while the main thread delivers the
        // other path's copy of it (a race this test found: 366 repeats at one reader).
        ...(fast ? { permissions: ["--allow-ffi"] } : { permissions: [] }),
      });
      const relays = cluster.relays;
      const root = relays[0]!;
      await using pub = await startRtspPublisher(root.url("ingress"), NUMBERED_SDP, { transport: "tcp" });
      for (let i = 0; i < 5; i++) await pub.send(numberedPacket(0));
      const seen = new Map<number, { indexes: number[] }>();
      const readers = [];
      for (let i = 1; i < relays.length; i++) {
        const log = { indexes: [] as number[] };
        seen.set(i, log);
        readers.push(
          await startRtspReader(relays[i]!.url("ingress"), {
            transport: "udp",
            onRtp: (p) => {
              const index = new DataView(p.buffer, p.byteOffset).getUint32(12);
              if (index > 0) log.indexes.push(index);
            },
          }),
        );
      }
      try {
        // Every member joined with two parents before the window starts.
        const deadline = Date.now() + 15_000;
        let parents: Record<string, readonly string[]> = {};
        while (Date.now() < deadline) {
          for (let i = 1; i <= 100; i++) await pub.send(numberedPacket(i));
          const tree = await root.get<{ planParents?: Record<string, string[]> }>("/api/v1/tree/ingress");
          parents = tree.body?.planParents ?? {};
          const views = await Promise.all(
            relays.slice(1).map((r) => r.get<{ parents?: string[] }>("/api/v1/tree/ingress")),
          );
          const two = views.filter((v) => (v.body?.parents?.length ?? 0) === 2).length;
          if (Object.keys(parents).length === 5 && two >= 4) break;
          await delay(200);
        }
        console.log(`plan: ${JSON.stringify(parents)}`);
        const drops0 = udpDrops(readers.map((r) => r.clientPort!));
        const FIRST = 1000;
        const PACKETS = 12_000;
        const killAt = new Map([[3000, 1], [6000, 2], [9000, 3]]);
        const dead = new Set<number>();
        const started = performance.now();
        for (let i = FIRST; i < FIRST + PACKETS; i++) {
          await pub.send(numberedPacket(i));
          const k = killAt.get(i - FIRST);
          if (k !== undefined) {
            dead.add(k);
            await relays[k]!.stop("SIGKILL");
            console.log(`SIGKILL ${cluster.nodeName(k)} at packet ${i}`);
          }
          if (i % 10 === 9) {
            const ahead = started + (i - FIRST + 1) - performance.now();
            if (ahead > 0) await delay(ahead);
          }
        }
        await delay(1000);
        const kernelDrops = udpDrops(readers.map((r) => r.clientPort!)) - drops0;
        for (const [i, log] of seen) {
          if (dead.has(i)) continue;
          const got = new Set(log.indexes.filter((x) => x >= FIRST));
          let missing = 0;
          for (let x = FIRST; x < FIRST + PACKETS; x++) if (!got.has(x)) missing++;
          let backwards = 0;
          for (let k = 1; k < log.indexes.length; k++) {
            if (log.indexes[k]! <= log.indexes[k - 1]!) backwards++;
          }
          console.log(
            `${cluster.nodeName(i)}: missed ${missing} of ${PACKETS}, ${backwards} out of order or repeated`,
          );
          assert(
            missing <= kernelDrops,
            `${cluster.nodeName(i)} missed ${missing} (kernel drops ${kernelDrops})`,
          );
          assert(backwards === 0, `${cluster.nodeName(i)}: ${backwards} packets out of order or repeated`);
        }
      } finally {
        for (const r of readers) await r.close().catch(() => {});
      }
    },
  });
}
