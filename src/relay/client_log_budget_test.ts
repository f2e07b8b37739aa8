/**
 * Tests of {@linkcode ClientLogBudget}: a burst per address, then a steady rate, the rest counted and summarised.
 * @module
 */
import { deepStrictEqual as assertEquals, equal } from "node:assert/strict";
import { ClientLogBudget } from "./client_log_budget.ts";
import { createLogger } from "../log.ts";

Deno.test("ClientLogBudget lets a burst through per address, then 2 lines/s, and summarises the rest", () => {
  const lines: Array<Record<string, unknown>> = [];
  const budget = new ClientLogBudget(createLogger({ write: (l) => lines.push(JSON.parse(l)) }), {
    burst: 10,
  });
  for (let i = 0; i < 100; i++) budget.info("10.0.0.1", "session started", { i }, 0);
  budget.info("10.0.0.2", "session started", { i: 0 }, 0);
  equal(
    lines.filter((l) => l.msg === "session started").length,
    11,
    "10 of the first address, 1 of the other",
  );
  budget.flush(0);
  assertEquals(lines.at(-1)!.suppressed, 90);
  assertEquals(lines.at(-1)!.remote, "10.0.0.1");
  // A second later: two more lines.
  for (let i = 0; i < 10; i++) budget.info("10.0.0.1", "session ended", { i }, 1000);
  equal(lines.filter((l) => l.msg === "session ended").length, 2);
  const n = lines.length;
  budget.flush(1000);
  budget.flush(2000);
  equal(lines.length, n + 1, "one summary, then nothing while quiet");
});
