/**
 * Tests of the refusal log on virtual time: one line per reason and client address per window with the count of
 * lines skipped, summaries when a window ends with lines skipped, every refusal counted, the table bounded.
 * @module
 */
import { deepStrictEqual as assertEquals, equal, ok } from "node:assert/strict";
import { createLogger, type LogLevel } from "../log.ts";
import { RefusalLog } from "./limits.ts";
import type { Refusal, RefusalReason } from "../rtsp/refusals.ts";

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
