import assert from "node:assert/strict";
import { RtspProtocolError } from "../errors.ts";
import { formatRange, parseRange, type Range } from "./range.ts";

const cases: Array<{ name: string; input: string; output: string; parsed: Range }> = [
  { name: "open npt", input: "npt=0.000-", output: "npt=0.000-", parsed: { unit: "npt", start: "0.000" } },
  { name: "npt now", input: "npt=now-", output: "npt=now-", parsed: { unit: "npt", start: "now" } },
  {
    name: "closed npt",
    input: "npt=10-20.5",
    output: "npt=10-20.5",
    parsed: { unit: "npt", start: "10", end: "20.5" },
  },
  {
    name: "npt hh:mm:ss",
    input: "npt=0:01:02.5-1:00:00",
    output: "npt=0:01:02.5-1:00:00",
    parsed: { unit: "npt", start: "0:01:02.5", end: "1:00:00" },
  },
  { name: "npt end only", input: "npt=-20", output: "npt=-20", parsed: { unit: "npt", end: "20" } },
  {
    name: "spaces, upper-case unit, time parameter ignored",
    input: " NPT = 0.000 - ;time=19970123T143720Z",
    output: "npt=0.000-",
    parsed: { unit: "npt", start: "0.000" },
  },
  {
    name: "clock",
    input: "clock=19961108T142300Z-19961108T143520.25Z",
    output: "clock=19961108T142300Z-19961108T143520.25Z",
    parsed: { unit: "clock", start: "19961108T142300Z", end: "19961108T143520.25Z" },
  },
  {
    name: "smpte",
    input: "smpte=10:07:00-10:07:33:05.01",
    output: "smpte=10:07:00-10:07:33:05.01",
    parsed: { unit: "smpte", start: "10:07:00", end: "10:07:33:05.01" },
  },
];

Deno.test("Range: parse and format", async (t) => {
  for (const c of cases) {
    await t.step(c.name, () => {
      const parsed = parseRange(c.input);
      assert.deepEqual(parsed, c.parsed);
      assert.equal(formatRange(parsed), c.output);
      assert.deepEqual(parseRange(c.output), c.parsed);
    });
  }
});

const errors: Array<{ name: string; input: string; message: RegExp }> = [
  { name: "empty", input: "", message: /^Unsupported unit in Range ""$/ },
  { name: "unknown unit", input: "smpte-25=10:00:00-", message: /^Unsupported unit in Range "smpte-25=/ },
  { name: "no unit", input: "0.000-", message: /Unsupported unit/ },
  { name: "no dash", input: "npt=0.000", message: /^Range "npt=0.000" needs exactly one "-"$/ },
  { name: "two dashes", input: "npt=1-2-3", message: /exactly one/ },
  { name: "neither end", input: "npt=-", message: /neither start nor end/ },
  { name: "bad npt", input: "npt=abc-", message: /^Invalid npt time "abc" in Range "npt=abc-"$/ },
  { name: "bad clock", input: "clock=1996-", message: /^Invalid clock time "1996"/ },
  { name: "npt time in smpte", input: "smpte=1.5-", message: /smpte time "1.5"/ },
];

Deno.test("Range: parse errors are 400 and quote the value", async (t) => {
  for (const c of errors) {
    await t.step(c.name, () => {
      assert.throws(() => parseRange(c.input), (e: unknown) => {
        assert.ok(e instanceof RtspProtocolError);
        assert.equal(e.status, 400);
        assert.match(e.message, c.message);
        return true;
      });
    });
  }
});
