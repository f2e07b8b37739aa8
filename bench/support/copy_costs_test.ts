import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { copyCosts, splitMeshCopy } from "./copy_costs.ts";
import type { WindowCpu } from "./trial_window.ts";

const window = (worker: number, main: number): WindowCpu => ({
  seconds: 30,
  cpuSeconds: worker + main,
  groups: [{ group: "Worker", threads: 1, seconds: worker }, { group: "main", threads: 1, seconds: main }],
  exited: [],
});

Deno.test("copy costs are split by thread group: the Worker's data plane apart from the main thread's", () => {
  const costs = copyCosts(
    { w: window(2.4, 0.4), sent: 60_000 },
    { w: window(3.84, 0.4), sent: 60_000 },
    { w: window(4.56, 0.64), sent: 60_000 },
    4,
  );
  const round = (v: number) => Math.round(v * 100) / 100;
  assertEquals(
    costs.map((c) => [c.group, round(c.udpCopyUs), round(c.meshCopyUs)]),
    [["all", 6, 10], ["Worker", 6, 9], ["main", 0, 1]],
  );
});

Deno.test("a mesh copy's cost is split into the children's control plane (per child and second) and the data path", () => {
  // No media: the root alone 0.3 % of a core, with 4 children 1.1 %: 2 ms/s per child, 1 µs per copy at 2,000/s.
  const a0 = window(0.03, 0.06);
  const c0 = window(0.09, 0.24);
  const split = splitMeshCopy(a0, c0, 4, 10, 2000);
  const round = (v: number) => Math.round(v * 100) / 100;
  assertEquals(
    [split.controlMsPerChildSecond, split.controlPerCopyUs, split.dataPerCopyUs].map(round),
    [2, 1, 9],
  );
  assertEquals(round(splitMeshCopy(a0, c0, 4, 10, 10_000).dataPerCopyUs), 9.8);
});
