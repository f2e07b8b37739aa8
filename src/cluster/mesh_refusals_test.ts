/**
 * Tests of the mesh's refusal log: counts per reason, one line per reason and address per window with the count of
 * lines held back, and one line per reason beyond 64 addresses.
 * @module
 */
import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { createLogger } from "../log.ts";
import { MeshRefusals } from "./mesh_refusals.ts";

function setup() {
  let now = 0;
  const lines: Array<Record<string, unknown>> = [];
  const r = new MeshRefusals(createLogger({ write: (l) => lines.push(JSON.parse(l)) }), () => now);
  return { r, lines, advance: (ms: number) => (now += ms) };
}

Deno.test("MeshRefusals counts refused requests per reason", () => {
  const { r, lines } = setup();
  r.countRequest("stale");
  r.countRequest("stale");
  r.countRequest("replay");
  assertEquals(r.requests, new Map([["stale", 2], ["replay", 1]]));
  assertEquals(lines, [], "counting writes no line");
});

Deno.test("MeshRefusals.log() writes one line per reason and address per 10 s, then the count held back", () => {
  const { r, lines, advance } = setup();
  for (let i = 0; i < 5; i++) r.log("peer request refused", "unknown_peer", "10.0.0.9", "no");
  r.log("peer request refused", "unknown_peer", "10.0.0.8", "no");
  assertEquals(lines.map((l) => l.from), ["10.0.0.9", "10.0.0.8"]);
  advance(10_000);
  r.flush();
  assertEquals(lines.slice(2).map((l) => [l.msg, l.from, l.suppressed]), [
    ["peer request refused (repeats)", "10.0.0.9", 4],
  ]);
});

Deno.test("MeshRefusals.log(): beyond 64 addresses, one line per reason", () => {
  const { r, lines } = setup();
  for (let i = 0; i < 200; i++) r.log("mesh packet refused", "malformed", `10.1.${i >> 8}.${i & 255}`, "x");
  assertEquals(lines.length, 65);
  assertEquals(lines.at(-1)!.from, "10.1.0.64");
});
