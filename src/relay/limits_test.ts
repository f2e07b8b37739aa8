/**
 * Tests of the refusal log on virtual time: one line per reason and client address per window with the count of
 * lines skipped, summaries when a window ends with lines skipped, every refusal counted, the table bounded, and
 * the throttle's invariant as a property.
 * @module
 */
import { deepStrictEqual as assertEquals, equal, ok } from "node:assert/strict";
import fc from "fast-check";
import { createLogger, type LogLevel } from "../log.ts";
import { LogThrottle, type Refusal, RefusalLog, type RefusalReason } from "./limits.ts";

/** A refusal log writing into an array, with its counter. */
function capture(level: LogLevel = "info", maxKeys?: number) {
  const lines: Array<Record<string, unknown>> = [];
  const counted: RefusalReason[] = [];
  const logger = createLogger({ level, write: (l) => lines.push(JSON.parse(l)) });
  const log = new RefusalLog({
    logger,
    onRefused: (r) => counted.push(r),
    ...(maxKeys !== undefined ? { maxKeys } : {}),
  });
  return { lines, counted, log };
}

const rate = (remote: string): Refusal => ({ reason: "request_rate", remote, status: 503, limit: 50 });

Deno.test("LogThrottle lets one line per key per window through and reports what it skipped", () => {
  const t = new LogThrottle<number>({ windowMs: 10_000 });
  equal(t.admit("a", 0, 1), 0);
  equal(t.admit("a", 5000, 2), null);
  equal(t.admit("a", 9999, 3), null);
  equal(t.admit("b", 9999, 4), 0, "keys are apart");
  equal(t.admit("a", 10_000, 5), 2, "next window: the line says 2 were skipped");
  equal(t.admit("a", 10_001, 6), null);
  assertEquals(t.flush(19_999), [], "window not over");
  assertEquals(t.flush(20_000), [{ key: "a", suppressed: 1, last: 6 }]);
  equal(t.size, 1, "b is forgotten (nothing skipped), a starts a new window at the summary");
  equal(t.admit("a", 25_000, 7), null, "no line within a window of the summary");
  assertEquals(t.flush(30_000), [{ key: "a", suppressed: 1, last: 7 }]);
  assertEquals(t.flush(40_000), []);
  equal(t.size, 0);
});

Deno.test("LogThrottle: lines at least a window apart per key, and every event written or counted (property)", () => {
  fc.assert(
    fc.property(
      fc.array(
        fc.record({
          gap: fc.integer({ min: 0, max: 4000 }),
          key: fc.constantFrom("a", "b", "c"),
          flush: fc.boolean(),
        }),
        { maxLength: 300 },
      ),
      (events) => {
        const windowMs = 10_000;
        const t = new LogThrottle<null>({ windowMs });
        const lastLine = new Map<string, number>();
        const lines = new Map<string, number>();
        const counted = new Map<string, number>();
        const sent = new Map<string, number>();
        const line = (key: string, at: number, suppressed: number) => {
          const prev = lastLine.get(key);
          if (prev !== undefined && at - prev < windowMs) {
            throw new Error(`${key}: lines ${at - prev} ms apart`);
          }
          lastLine.set(key, at);
          counted.set(key, (counted.get(key) ?? 0) + suppressed);
        };
        let now = 0;
        for (const e of events) {
          now += e.gap;
          sent.set(e.key, (sent.get(e.key) ?? 0) + 1);
          const s = t.admit(e.key, now, null);
          if (s !== null) {
            line(e.key, now, s);
            lines.set(e.key, (lines.get(e.key) ?? 0) + 1);
          }
          if (e.flush) { for (const f of t.flush(now)) line(f.key, now, f.suppressed); }
        }
        // Whatever is still pending comes out once the windows end.
        for (const f of t.flush(now + windowMs)) line(f.key, now + windowMs, f.suppressed);
        for (const [key, n] of sent) {
          if ((lines.get(key) ?? 0) + (counted.get(key) ?? 0) !== n) return false;
        }
        return t.flush(now + 2 * windowMs).length === 0;
      },
    ),
    { numRuns: 300 },
  );
});

Deno.test("RefusalLog counts every refusal and writes one line per reason and address per 10 s", () => {
  const { lines, counted, log } = capture();
  for (let i = 0; i < 100; i++) log.report(rate("10.0.0.1"), i * 10); // 100 in 1 s
  log.report(rate("10.0.0.2"), 500);
  log.report({ reason: "max_sessions_per_ip", remote: "10.0.0.1", status: 503, limit: 4 }, 600);
  equal(counted.length, 102);
  assertEquals(lines.map((l) => [l.msg, l.reason, l.remote, l.suppressed]), [
    ["rtsp request refused", "request_rate", "10.0.0.1", 0],
    ["rtsp request refused", "request_rate", "10.0.0.2", 0],
    ["rtsp request refused", "max_sessions_per_ip", "10.0.0.1", 0],
  ]);
  equal(lines[0]!.level, "warn");
  equal(lines[0]!.limit, 50);
  equal(lines[0]!.status, 503);
  log.flush(10_000);
  assertEquals(lines.at(-1), {
    ...lines.at(-1),
    msg: "rtsp refusals suppressed",
    reason: "request_rate",
    remote: "10.0.0.1",
    suppressed: 99,
  });
  equal(lines.length, 4, "keys with nothing skipped get no summary");
  log.report(rate("10.0.0.1"), 10_500);
  equal(lines.length, 4, "a summary opens a window too");
  log.report(rate("10.0.0.1"), 20_000);
  equal(lines.at(-1)!.suppressed, 1);
});

Deno.test("RefusalLog writes a first challenge at debug and an idle close as a connection line", () => {
  const { lines, counted, log } = capture("info");
  log.report({ reason: "auth_required", remote: "10.0.0.1", status: 401, method: "DESCRIBE" }, 0);
  log.report({ reason: "idle_timeout", remote: "10.0.0.1", status: null, limit: 60 }, 0);
  assertEquals(counted, ["auth_required", "idle_timeout"]);
  assertEquals(lines.map((l) => [l.level, l.msg, l.reason]), [[
    "info",
    "rtsp connection closed",
    "idle_timeout",
  ]]);
});

Deno.test("RefusalLog bounds its table: new addresses past it share one line per reason", () => {
  const { lines, counted, log } = capture("info", 2);
  log.report(rate("10.0.0.1"), 0);
  log.report(rate("10.0.0.2"), 0);
  for (let i = 3; i < 50; i++) log.report({ ...rate(`10.0.0.${i}`), detail: "x" }, 1);
  equal(log.size, 3);
  equal(counted.length, 49);
  assertEquals(lines.map((l) => l.remote), ["10.0.0.1", "10.0.0.2", "*"]);
  ok(!("detail" in lines[2]!), "the shared line names no single client's details");
});
