import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { meshTrial } from "./mesh.ts";
import { compile, freeUdpPair } from "./support/dataplane_procs.ts";
import { startMeshBench } from "./support/mesh_cluster.ts";
import { hopLatency } from "./support/mesh_latency.ts";

// The bench's pieces, briefly (no figures asserted): a sealed chain of 3 relays, a reader at each depth, one
// short trial through the C blaster and stamp sink.
for (const plane of ["portable", "fast"] as const) {
  Deno.test(`mesh bench harness: a sealed chain of 3 relays delivers to a reader at every depth (${plane} plane)`, async () => {
    const bin = await Deno.makeTempDir({ prefix: "msm-mesh-bench-test-" });
    try {
      await compile(bin, ["blaster", "stamp_sink"]);
      await using bench = await startMeshBench({ plane, sealed: true, relays: 3, fanout: 1 });
      const readers = [];
      for (const relay of [0, 1, 2]) {
        const port = freeUdpPair();
        await bench.addReader(relay, port);
        readers.push({ port, relay, label: `relay ${relay}` });
      }
      // A chain, one relay at each depth, once the planner settled it (it may attach a member elsewhere first).
      const depths = await bench.settledDepths((d) => [...d].sort().join() === "0,1,2");
      assertEquals([...depths].sort(), [0, 1, 2]);
      readers.sort((a, b) => depths[a.relay]! - depths[b.relay]!);
      const { trial, latencies } = await meshTrial(bin, bench, readers, 500, 1000);
      assertEquals(trial.sent, 500);
      assertEquals(latencies.length, 3);
      for (const r of trial.readers) {
        assert(r.received > 0 && r.fromSend.packets > 0, `${r.label} got nothing: ${JSON.stringify(trial)}`);
      }
      assert(hopLatency(latencies[1]!, latencies[2]!).packets > 0, "no packet seen at depth 1 and 2");
      assertEquals(trial.relays.length, 3);
      // The fast plane's own counts say who sent what; the portable plane has none.
      for (const sends of trial.planes) assertEquals(sends.sent === undefined, plane === "portable");
      if (plane === "fast") {
        assert(trial.planes.every((p) => (p.cut_through ?? 0) > 0), JSON.stringify(trial.planes));
      }
      assert(trial.relays.every((w) => w.cpuSeconds > 0 && w.groups.some((g) => g.group === "main")));
    } finally {
      await Deno.remove(bin, { recursive: true });
    }
  });
}
