import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { sleep } from "./kube_retry.ts";
import { OutageTracker } from "../outage.ts";
import { backoffDelay } from "../backoff.ts";

Deno.test("backoffDelay() doubles from initialMs, caps at maxMs and jitters between half and all", () => {
  const b = { initialMs: 100, maxMs: 1000 };
  const table: Array<[attempt: number, random: number, delay: number]> = [
    [0, 0, 50],
    [0, 0.5, 75],
    [0, 1, 100],
    [1, 0, 100],
    [2, 1, 400],
    [3, 1, 800],
    [4, 1, 1000],
    [4, 0, 500],
    [60, 1, 1000],
  ];
  for (const [attempt, random, delay] of table) {
    assertEquals(backoffDelay(attempt, b, random), delay, `attempt ${attempt}, random ${random}`);
  }
  for (let i = 0; i < 100; i++) {
    const d = backoffDelay(i % 8, b);
    assert(d >= 50 && d <= 1000, String(d));
  }
});

Deno.test("sleep() ends early on abort and leaves no timer", async () => {
  const ac = new AbortController();
  const t0 = Date.now();
  const p = sleep(10_000, ac.signal);
  ac.abort();
  await p;
  assert(Date.now() - t0 < 1000);
  await sleep(1, ac.signal);
});

Deno.test("OutageTracker says when to warn: at the start, then once per reminder period, and how long it lasted", () => {
  const t = new OutageTracker(60_000);
  assertEquals(t.recovered(0), undefined, "no outage, nothing to report");
  assertEquals(t.failed(1000), { kind: "started" });
  assert(t.failing);
  assertEquals(t.failed(30_000), { kind: "again" });
  assertEquals(t.failed(61_000), { kind: "reminder", failingForMs: 60_000, failedAttempts: 3 });
  assertEquals(t.failed(100_000), { kind: "again" });
  assertEquals(t.failed(121_000), { kind: "reminder", failingForMs: 120_000, failedAttempts: 5 });
  assertEquals(t.recovered(122_000), { outageMs: 121_000, failedAttempts: 5 });
  assert(!t.failing);
  assertEquals(t.failed(200_000), { kind: "started" }, "a new outage warns again");
});

Deno.test("OutageTracker counts failures the caller reported itself without starting a warning period", () => {
  const t = new OutageTracker(60_000);
  assertEquals(t.failed(1000, false), undefined);
  assert(t.failing);
  assertEquals(t.failed(2000, false), undefined);
  assertEquals(t.recovered(3000), { outageMs: 2000, failedAttempts: 2 });
});
