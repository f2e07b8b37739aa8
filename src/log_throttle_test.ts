/**
 * Tests of {@linkcode LogThrottle} on virtual time: one line per key per window, what was skipped reported, and its
 * invariant as a property.
 * @module
 */
import { deepStrictEqual as assertEquals, equal } from "node:assert/strict";
import fc from "fast-check";
import { LogThrottle } from "./log_throttle.ts";

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
