/**
 * Tests of {@linkcode EventLoopLagMonitor}: a timer's lateness, the worst one per scrape.
 * @module
 */
import assert from "node:assert/strict";
import { EventLoopLagMonitor } from "./event_loop_lag.ts";

Deno.test("EventLoopLagMonitor.takeMaxSeconds() reports the worst lateness since the previous call", () => {
  const m = new EventLoopLagMonitor();
  assert.equal(m.takeMaxSeconds(), 0);
  m.record(1000, 1003);
  m.record(1250, 1290);
  m.record(1500, 1501);
  assert.equal(m.takeMaxSeconds(), 0.04);
  assert.equal(m.lastSeconds, 0.001);
  assert.equal(m.takeMaxSeconds(), 0.001, "no probe since: the latest one");
  m.record(2000, 1999); // early timers are not negative lag
  assert.equal(m.takeMaxSeconds(), 0);
  assert.equal(m.samples, 4);
});

Deno.test("EventLoopLagMonitor measures a blocked event loop", async () => {
  const m = new EventLoopLagMonitor({ intervalMs: 20 });
  m.start();
  assert.ok(m.running);
  try {
    await new Promise((r) => setTimeout(r, 50));
    m.takeMaxSeconds();
    const until = performance.now() + 150;
    while (performance.now() < until) { /* busy: the probe cannot fire */ }
    const before = m.samples;
    for (let i = 0; i < 100 && m.samples === before; i++) await new Promise((r) => setTimeout(r, 5));
    const lag = m.takeMaxSeconds();
    assert.ok(lag >= 0.1 && lag < 1, `lag ${lag} s`);
  } finally {
    m.stop();
  }
  assert.equal(m.running, false);
});
