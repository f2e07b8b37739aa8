/**
 * Tests of error containment: counted per place, logged at most once per place every 10 s.
 * @module
 */
import { equal, ok } from "node:assert/strict";
import { contained, containedErrors, reportContained, setContainmentLogger } from "./contain.ts";
import { createLogger } from "./log.ts";

Deno.test("contained() counts what a callback throws and logs one line per place per window", () => {
  const lines: string[] = [];
  setContainmentLogger(createLogger({ write: (l) => lines.push(l) }));
  try {
    const before = containedErrors().get("test place") ?? 0;
    for (let i = 0; i < 5; i++) {
      contained("test place", () => {
        throw new TypeError(`bad ${i}`);
      });
    }
    let ran = false;
    contained("test place", () => (ran = true));
    reportContained("test other", "a string");
    ok(ran);
    equal((containedErrors().get("test place") ?? 0) - before, 5);
    const mine = lines.map((l) => JSON.parse(l)).filter((l) => String(l.where).startsWith("test "));
    equal(mine.length, 2, "one line for each place");
    equal(mine[0].error, "TypeError: bad 0");
    equal(mine[0].level, "error");
    equal(mine[1].error, "a string");
  } finally {
    setContainmentLogger(null);
  }
});
