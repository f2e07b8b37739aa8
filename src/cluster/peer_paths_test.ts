/**
 * Tests of learning the peers' configured paths with scripted answers and a manual clock: peers asked when due and a
 * few at a time, refusals counted as "nothing", silent peers asked again soon, departed peers forgotten, and one
 * warning per conflict.
 * @module
 */
import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { createLogger } from "../log.ts";
import { FIRST_RETRY_MS, type PathFingerprints } from "./path_config.ts";
import { PeerPaths } from "./peer_paths.ts";

const FP1 = "1111111111111111";
const FP2 = "2222222222222222";

function setup(answers: Record<string, PathFingerprints | null>, maxFetches = 8) {
  let now = 0;
  const asked: string[] = [];
  const warnings: string[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const p = new PeerPaths({
    self: "a",
    now: () => now,
    maxFetches,
    logger: createLogger({ level: "warn", write: (line) => warnings.push(line) }),
    fetch: async (node) => {
      asked.push(node);
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await Promise.resolve();
      inFlight--;
      return answers[node] ?? null;
    },
  });
  return { p, asked, warnings, advance: (ms: number) => (now += ms), maxInFlight: () => maxInFlight };
}

Deno.test("PeerPaths.refresh() learns who is configured with what; changes say roots may have moved", async () => {
  const { p, asked } = setup({ b: { cam: FP1 }, c: {} });
  p.setOwn(new Map([["door", "rtsp://door/live"]]));
  assertEquals(await p.refresh(["a", "b", "c"]), true);
  assertEquals(asked.sort(), ["b", "c"], "never itself");
  assertEquals(p.configured("cam"), new Set(["b"]));
  assertEquals(p.configured("door"), new Set(["a"]));
  assertEquals([p.known("b"), p.known("c"), p.known("d")], [true, true, false]);
  assertEquals(await p.refresh(["a", "b", "c"]), false, "nobody due: nothing asked, nothing moved");
  assertEquals(asked.length, 2);
  assertEquals(Object.keys(p.own()), ["door"]);
});

Deno.test("PeerPaths: a silent peer is asked again after a short wait; a departed one is forgotten", async () => {
  const answers: Record<string, PathFingerprints | null> = { b: null };
  const { p, asked, advance } = setup(answers);
  assertEquals(await p.refresh(["a", "b"]), false);
  assertEquals(p.known("b"), false, "no answer is no knowledge");
  await p.refresh(["a", "b"]);
  assertEquals(asked, ["b"], "not again at once");
  advance(FIRST_RETRY_MS);
  answers.b = { cam: FP1 };
  assertEquals(await p.refresh(["a", "b"]), true);
  assertEquals(await p.refresh(["a"]), true, "b left: it was configured with cam, so roots may move");
  assertEquals(p.configured("cam"), new Set());
});

Deno.test("PeerPaths asks at most maxFetches peers at once", async () => {
  const peers = Array.from({ length: 20 }, (_, i) => `p${i}`);
  const { p, asked, maxInFlight } = setup(Object.fromEntries(peers.map((n) => [n, {}])), 3);
  await p.refresh(["a", ...peers]);
  assertEquals([asked.length, maxInFlight()], [3, 3]);
});

Deno.test("PeerPaths warns once about relays configured with different cameras for one path", async () => {
  const { p, warnings, advance } = setup({ b: { cam: FP1 }, c: { cam: FP2 } });
  await p.refresh(["a", "b", "c"]);
  assertEquals(warnings.length, 1);
  const line = JSON.parse(warnings[0]!);
  assertEquals(line.path, "cam");
  assertEquals(line.relays, [`b (${FP1})`, `c (${FP2})`]);
  advance(1_000_000);
  await p.refresh(["a", "b", "c"]);
  assertEquals(warnings.length, 1, "the same conflict: no second warning");
});
