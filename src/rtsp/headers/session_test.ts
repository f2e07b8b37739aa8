import assert from "node:assert/strict";
import { RtspProtocolError } from "../errors.ts";
import { formatSession, parseSession, type Session } from "./session.ts";

const cases: Array<{ name: string; input: string; output: string; parsed: Session }> = [
  { name: "id only", input: "12345678", output: "12345678", parsed: { id: "12345678" } },
  {
    name: "id and timeout",
    input: "abc123;timeout=60",
    output: "abc123;timeout=60",
    parsed: { id: "abc123", timeout: 60 },
  },
  {
    name: "spaces tolerated",
    input: " abc ; timeout = 60 ",
    output: "abc;timeout=60",
    parsed: { id: "abc", timeout: 60 },
  },
  {
    name: "parameter name is case-insensitive",
    input: "A1b2$-_.+;Timeout=5",
    output: "A1b2$-_.+;timeout=5",
    parsed: { id: "A1b2$-_.+", timeout: 5 },
  },
  {
    name: "unknown parameters ignored",
    input: "abc;foo=bar;timeout=30;baz",
    output: "abc;timeout=30",
    parsed: { id: "abc", timeout: 30 },
  },
  { name: "trailing semicolon", input: "abc;", output: "abc", parsed: { id: "abc" } },
];

Deno.test("Session: parse and format", async (t) => {
  for (const c of cases) {
    await t.step(c.name, () => {
      const parsed = parseSession(c.input);
      assert.deepEqual(parsed, c.parsed);
      assert.equal(formatSession(parsed), c.output);
      assert.deepEqual(parseSession(c.output), c.parsed);
    });
  }
});

const errors: Array<{ name: string; input: string; message: RegExp }> = [
  { name: "empty", input: "", message: /^Invalid session id in Session ""$/ },
  { name: "only a parameter", input: ";timeout=60", message: /^Invalid session id/ },
  { name: "space inside id", input: "ab cd", message: /Session "ab cd"/ },
  { name: "timeout not a number", input: "abc;timeout=soon", message: /^Invalid timeout "soon" in Session/ },
  { name: "timeout without value", input: "abc;timeout", message: /^Invalid timeout ""/ },
  { name: "negative timeout", input: "abc;timeout=-1", message: /timeout "-1"/ },
];

Deno.test("Session: parse errors are 400 and quote the value", async (t) => {
  for (const c of errors) {
    await t.step(c.name, () => {
      assert.throws(() => parseSession(c.input), (e: unknown) => {
        assert.ok(e instanceof RtspProtocolError);
        assert.equal(e.status, 400);
        assert.match(e.message, c.message);
        return true;
      });
    });
  }
});
