import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { runSimulation } from "./simulation.ts";

Deno.test("runSimulation() serves every reader of a quiet 6-relay cluster, with no violation", async () => {
  const r = await runSimulation({ seed: 7, relays: 6, steps: 1, kinds: ["readersJoin"] });
  assertEquals(r.violations, [], r.trace.join("\n"));
  assert(r.gaps.length === 0 || r.gaps.every((g) => g.to - g.from < 1000), JSON.stringify(r.gaps));
  assert(r.events > 1000, `only ${r.events} events ran`);
});

Deno.test("runSimulation() repeats a seed exactly: same trace, same events, same packets", async () => {
  const options = { seed: 11, relays: 8, steps: 2, logLevel: "info" as const };
  const a = await runSimulation(options);
  const b = await runSimulation(options);
  assertEquals(b.trace, a.trace);
  assertEquals(b.events, a.events);
  assertEquals(b.gaps, a.gaps);
  assert(a.logLines > 20, `only ${a.logLines} log lines`);
  assertEquals([b.logLines, b.logHash], [a.logLines, a.logHash]);
  assertEquals(
    [...b.calls.entries()].map(([n, m]) => [n, [...m]]),
    [...a.calls.entries()].map(([n, m]) => [n, [...m]]),
  );
});
