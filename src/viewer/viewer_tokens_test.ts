/**
 * Tests of viewer tokens: one opens one WebSocket of its path before it expires; a token for another path, a
 * changed one, an expired one, one used already, one of another relay (another key) and garbage are refused.
 * @module
 */
import { deepStrictEqual as assertEquals } from "node:assert/strict";
import fc from "fast-check";
import { ViewerTokens } from "./viewer_tokens.ts";

Deno.test("ViewerTokens: a token opens its path once, before it expires", () => {
  const t = new ViewerTokens(60_000);
  const token = t.issue("lobby/door", "guard", 1_000);
  assertEquals(t.check(token, "lobby/cam", 2_000), {
    ok: false,
    reason: "token not issued here for this path",
  });
  assertEquals(t.check(token, "lobby/door", 2_000), { ok: true, user: "guard" });
  assertEquals(t.check(token, "lobby/door", 3_000), { ok: false, reason: "token used already" });
  const late = t.issue("lobby/door", "guard", 10_000);
  assertEquals(t.check(late, "lobby/door", 70_000), { ok: false, reason: "token expired" });
  // Its expiry pushed into the future: the signature no longer matches.
  const [, who, mac] = t.issue("lobby/door", "guard", 100_000).split(".");
  assertEquals(t.check(`999999999999.${who}.${mac}`, "lobby/door", 100_001).ok, false);
  // Another relay (another key) did not issue it.
  assertEquals(new ViewerTokens().check(t.issue("x", "u", 0), "x", 1).ok, false);
  assertEquals(t.ttlSeconds, 60);
});

Deno.test("ViewerTokens refuses whatever an outsider makes up, never throws (property)", () => {
  const t = new ViewerTokens();
  fc.assert(fc.property(fc.string({ maxLength: 300 }), fc.string({ maxLength: 40 }), (token, path) => {
    return t.check(token, path, Date.now()).ok === false;
  }));
});

Deno.test("ViewerTokens remembers a bounded number of used tokens", () => {
  const t = new ViewerTokens(60_000, 3);
  const tokens = [0, 1, 2, 3, 4].map((i) => t.issue("p", `u${i}`, 0));
  for (const token of tokens) assertEquals(t.check(token, "p", 1).ok, true);
  // The table holds 3; the rest were forgotten, but every one of them expires in a minute anyway.
  assertEquals(t.check(tokens[4]!, "p", 2), { ok: false, reason: "token used already" });
});
