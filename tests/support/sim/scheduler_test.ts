import { deepStrictEqual as assertEquals, ok as assert, rejects } from "node:assert/strict";
import { RunawayError, SimScheduler } from "./scheduler.ts";

Deno.test("SimScheduler runs events in deadline order, ties in the order they were set", async () => {
  const s = new SimScheduler();
  try {
    const seen: string[] = [];
    s.at(20, () => seen.push("b@20"));
    s.at(10, () => seen.push("a@10"));
    s.at(20, () => seen.push("c@20"));
    s.at(0, () => seen.push("z@0"));
    await s.runUntil(15);
    assertEquals(seen, ["z@0", "a@10"]);
    assertEquals(s.now(), 15);
    await s.runUntil(100);
    assertEquals(seen, ["z@0", "a@10", "b@20", "c@20"]);
    assertEquals(s.now(), 100);
  } finally {
    s.close();
  }
});

Deno.test("SimScheduler drains the promise work an event starts before the clock moves", async () => {
  const s = new SimScheduler();
  try {
    const seen: string[] = [];
    const sleep = (ms: number) => new Promise<void>((r) => s.at(ms, r));
    s.at(10, () => {
      void (async () => {
        // A chain of awaits that ends in a new timer: it must run at 10 ms, not after the event at 11 ms.
        for (let i = 0; i < 50; i++) await Promise.resolve();
        seen.push(`chain done at ${s.now()}`);
        await sleep(5);
        seen.push(`slept until ${s.now()}`);
      })();
    });
    s.at(11, () => seen.push(`event at ${s.now()}`));
    await s.runUntil(100);
    assertEquals(seen, ["chain done at 10", "event at 11", "slept until 15"]);
  } finally {
    s.close();
  }
});

Deno.test("SimScheduler drops a dead owner's timers and refuses new ones", async () => {
  const s = new SimScheduler();
  try {
    const owner = { alive: true };
    const timers = s.timersFor(owner);
    const seen: number[] = [];
    timers.setTimeout(() => seen.push(1), 10);
    const cleared = timers.setTimeout(() => seen.push(2), 10);
    timers.clearTimeout(cleared);
    timers.setTimeout(() => seen.push(3), 30);
    await s.runUntil(20);
    owner.alive = false;
    assertEquals(timers.setTimeout(() => seen.push(4), 1), undefined);
    await s.runUntil(100);
    assertEquals(seen, [1]);
  } finally {
    s.close();
  }
});

Deno.test("SimScheduler stops a runaway loop of zero-delay timers", async () => {
  const s = new SimScheduler();
  try {
    const loop = () => void s.at(0, loop);
    loop();
    await rejects(s.runUntil(10, 1000), RunawayError);
  } finally {
    s.close();
  }
});

Deno.test("SimScheduler hands what a callback throws to onError and carries on", async () => {
  const s = new SimScheduler();
  try {
    const errors: unknown[] = [];
    s.onError = (err) => errors.push(err);
    let after = false;
    s.at(1, () => {
      throw new Error("boom");
    });
    s.at(2, () => after = true);
    await s.runUntil(10);
    assertEquals(errors.map(String), ["Error: boom"]);
    assert(after);
  } finally {
    s.close();
  }
});
