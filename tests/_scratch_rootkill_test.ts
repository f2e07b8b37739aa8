import { ok as assert } from "node:assert/strict";
import { delay, startGstCamera } from "./support/processes.ts";
import { startRelayCluster } from "./support/mesh.ts";
import { startProgressReader } from "./support/progress_reader.ts";
import { treeOf } from "./support/tree_scenario.ts";

Deno.test("scratch: every relay configured, SIGKILL the root, readers decode on", async () => {
  const first = 20 + Math.floor(Math.random() * 150);
  await using camera = await startGstCamera({ host: "127.0.0.1", fps: 25 });
  await using cluster = await startRelayCluster({
    count: 6,
    firstOctet: first,
    zoneOf: (i) => (i < 3 ? "z1" : "z2"),
    discovery: "static",
    argsOf: () => ["--path", `cam=${camera.url}`, "--pull-transport", "tcp"],
  });
  await delay(2500);
  // Who is the root?
  let root = -1;
  for (let i = 0; i < 6; i++) {
    const t = await treeOf(cluster.relays[i]!, "cam");
    if (t?.role === "root") root = i;
  }
  const readerIdx = [0, 1, 2, 3, 4, 5].filter((i) => i !== root).slice(0, 3);
  const readers = readerIdx.map((i) => startProgressReader(cluster.relays[i]!.url("cam"), "tcp", `r${i}`));
  try {
    for (const r of readers) await r.waitForFrames(25, 20_000);
    for (let i = 0; i < 6; i++) {
      const t = await treeOf(cluster.relays[i]!, "cam");
      if (t?.role === "root") root = i;
    }
    console.log(`root ${root}, readers on ${readerIdx}`);
    const before = readers.map((r) => r.frames());
    const killAt = Date.now();
    await cluster.relays[root]!.stop("SIGKILL");
    await delay(6000);
    const after = readers.map((r) => r.frames());
    for (let k = 0; k < readers.length; k++) {
      console.log(`reader ${readerIdx[k]}: ${before[k]} -> ${after[k]} frames, gap ${readers[k]!.longestGapMs(killAt, Date.now())} ms`);
    }
    for (let i = 0; i < 6; i++) {
      if (i === root) continue;
      const t = await treeOf(cluster.relays[i]!, "cam");
      console.log(`relay ${i}: ${JSON.stringify(t)}`);
    }
    for (let k = 0; k < readers.length; k++) assert(after[k]! - before[k]! > 100, `reader ${readerIdx[k]} stalled`);
  } finally {
    for (const r of readers) await r.stop();
  }
});
