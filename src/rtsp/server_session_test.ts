import { deepStrictEqual as assertEquals, match, notEqual, ok } from "node:assert/strict";
import { newSessionId, nextSessionState, SessionTimer } from "./server_session.ts";

Deno.test("nextSessionState() follows RFC 2326 A.2 for readers and publishers", () => {
  const cases: Array<[Parameters<typeof nextSessionState>, ReturnType<typeof nextSessionState>]> = [
    [["reader", "init", "SETUP"], "ready"],
    [["reader", "init", "PLAY"], null],
    [["reader", "ready", "PLAY"], "playing"],
    [["reader", "playing", "PAUSE"], "ready"],
    [["reader", "playing", "SETUP"], null],
    [["reader", "ready", "RECORD"], null],
    [["reader", "playing", "TEARDOWN"], "closed"],
    [["publisher", "ready", "RECORD"], "recording"],
    [["publisher", "ready", "PLAY"], null],
    [["publisher", "recording", "TEARDOWN"], "closed"],
  ];
  for (const [args, want] of cases) assertEquals(nextSessionState(...args), want, args.join(" "));
});

Deno.test("SessionTimer enforces the advertised timeout plus grace", () => {
  const t = new SessionTimer(0, 60);
  ok(!t.expired(69_000));
  ok(t.expired(70_001));
  t.touch(50_000);
  ok(!t.expired(110_000));
  ok(t.expired(120_001));
});

Deno.test("newSessionId() gives distinct 16-hex-digit ids", () => {
  const a = newSessionId();
  match(a, /^[0-9a-f]{16}$/);
  notEqual(a, newSessionId());
});
