import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { copyCosts } from "./copy_costs.ts";
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
