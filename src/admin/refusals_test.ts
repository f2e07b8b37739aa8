import { deepStrictEqual as assertEquals, equal, match } from "node:assert/strict";
import { createLogger } from "../log.ts";
import { AdminRefusals } from "./refusals.ts";

function logged() {
  const lines: Array<Record<string, unknown>> = [];
  const logger = createLogger({ level: "debug", write: (l) => void lines.push(JSON.parse(l)), now: () => 0 });
  return { lines, logger };
}

Deno.test("AdminRefusals counts every refusal and logs one line per reason per window", () => {
  const { lines, logger } = logged();
  const refusals = new AdminRefusals({ logger, windowMs: 10_000 });
  const bad = { reason: "bad_token", request: "POST /api/v1/paths", status: 401 } as const;
  for (let i = 0; i < 50; i++) refusals.report({ ...bad, remote: `192.0.2.${i}` }, 1000 + i);
  refusals.report({ reason: "host", remote: "192.0.2.1", request: "GET /", status: 421 }, 1100);
  refusals.report({ ...bad, remote: "192.0.2.99" }, 11_000);
  assertEquals(
    lines.map((l) => [l.level, l.msg, l.reason, l.remote, l.suppressed]),
    [
      ["warn", "admin request refused", "bad_token", "192.0.2.0", 0],
      ["warn", "admin request refused", "host", "192.0.2.1", 0],
      ["warn", "admin request refused", "bad_token", "192.0.2.99", 49],
    ],
  );
  const text = refusals.expose();
  match(text, /^msm_admin_requests_refused_total\{reason="bad_token"\} 51$/m);
  match(text, /^msm_admin_requests_refused_total\{reason="host"\} 1$/m);
  match(text, /^msm_admin_requests_refused_total\{reason="locked_out"\} 0$/m, "every reason from the start");
});

Deno.test("AdminRefusals logs a missing token at debug and summarises skipped lines at the next refusal", () => {
  const { lines, logger } = logged();
  const refusals = new AdminRefusals({ logger, windowMs: 10_000 });
  const host = { reason: "host", remote: "192.0.2.1", request: "GET /", status: 421 } as const;
  refusals.report({ reason: "missing_token", remote: "192.0.2.1", request: "GET /metrics", status: 401 }, 0);
  refusals.report(host, 0);
  refusals.report(host, 1);
  refusals.report(host, 2);
  refusals.report({ reason: "content_type", remote: "192.0.2.3", request: "POST /x", status: 415 }, 20_000);
  assertEquals(lines.map((l) => [l.level, l.msg, l.reason, l.suppressed]), [
    ["debug", "admin request refused", "missing_token", 0],
    ["warn", "admin request refused", "host", 0],
    ["warn", "admin request refused", "content_type", 0],
    ["warn", "admin refusals suppressed", "host", 2],
  ]);
  equal(lines.some((l) => "token" in l), false);
});
