/**
 * Tests of batched renewals on manual time: one call per root per lease whatever the number of paths and whenever
 * they joined, answers dispatched per path, failures, aborts, long lists split under the body budget; and the
 * nonce cache at a root of 100 relays x 30 paths, with and without batching.
 * @module
 */
import { deepStrictEqual as assertEquals, ok as assert, rejects } from "node:assert/strict";
import { ManualTimers } from "../../tests/support/manual_timers.ts";
import { seededRandom } from "../../tests/support/seeded_random.ts";
import { MESH_AUTH_SKEW_MS, MESH_NONCE_CAPACITY, NonceCache } from "./mesh_auth.ts";
import type { PeerRef, RenewItem, RenewResult } from "./mesh_protocol.ts";
import { RenewBatcher, type RenewBatcherOptions } from "./renew_batcher.ts";

const ref = (node: string): PeerRef => ({ node, host: `h-${node}`, adminPort: 8080, meshPort: 7000 });
const ROOT = ref("root");
const item = (path: string, readers = 1): RenewItem => ({ path, readers, epoch: "root/0011223344556677/e" });
const placed = (path: string): RenewResult => ({ parent: ROOT, depth: 1, epoch: `e-${path}` });

/** Lets promise chains (send, answer, the next request) run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
}

function harness(over: Partial<RenewBatcherOptions> = {}) {
  const timers = new ManualTimers(0);
  const calls: Array<{ at: number; root: string; paths: string[] }> = [];
  const b = new RenewBatcher({
    timers,
    now: timers.now,
    periodMs: 1000,
    send: (root, items) => {
      calls.push({ at: timers.now(), root: root.node, paths: items.map((i) => i.path) });
      return Promise.resolve(Object.fromEntries(items.map((i) => [i.path, placed(i.path)])));
    },
    ...over,
  });
  const run = async (ms: number, step = 10) => {
    for (let t = 0; t < ms; t += step) {
      timers.advance(step);
      await settle();
    }
  };
  return { b, timers, calls, run };
}

Deno.test("RenewBatcher sends the renewals of one instant in one call after a short gather", async () => {
  const { b, calls, run } = harness();
  const answers = Promise.all(["a", "b", "c"].map((p) => b.renew(ROOT, item(p))));
  assertEquals(b.queued, 3);
  await run(10);
  assertEquals(calls, []);
  await run(10);
  assertEquals(calls, [{ at: 20, root: "root", paths: ["a", "b", "c"] }]);
  assertEquals(await answers, ["a", "b", "c"].map(placed));
  assertEquals([b.calls, b.items, b.queued], [1, 3, 0]);
});

Deno.test("RenewBatcher: one call per root per lease, whenever each path joined", async () => {
  const { b, calls, run } = harness();
  const random = seededRandom(14);
  let stop = false;
  // 30 sources that start at random times over 5 s and ask again as soon as their answer arrives.
  const starts = Array.from({ length: 30 }, () => Math.floor(random() * 5000));
  const started = new Set<number>();
  const source = async (i: number) => {
    while (!stop) await b.renew(ROOT, item(`p${i}`));
  };
  const pending: Promise<void>[] = [];
  for (let t = 0; t < 20_000; t += 10) {
    for (let i = 0; i < 30; i++) {
      if (!started.has(i) && starts[i]! <= t) {
        started.add(i);
        pending.push(source(i));
      }
    }
    await run(10);
  }
  stop = true;
  await run(2000);
  await Promise.all(pending);
  const late = calls.filter((c) => c.at >= 6000 && c.at < 20_000);
  assert(late.length <= 14, `${late.length} calls in 14 s`);
  assert(late.every((c) => c.paths.length === 30), "every call carries every path");
  for (let i = 1; i < calls.length; i++) assert(calls[i]!.at - calls[i - 1]!.at >= 1000, "a lease apart");
});

Deno.test("RenewBatcher keeps roots apart and answers 502 for a path the root left out", async () => {
  const { b, calls, run } = harness({
    send: (root, items) => {
      calls.push({ at: 0, root: root.node, paths: items.map((i) => i.path) });
      return Promise.resolve(root.node === "r1" ? { a: placed("a") } : {});
    },
  });
  const a = b.renew(ref("r1"), item("a"));
  const x = b.renew(ref("r1"), item("x"));
  const c = b.renew(ref("r2"), item("c"));
  await run(20);
  assertEquals(calls.map((k) => `${k.root}:${k.paths.join(",")}`).sort(), ["r1:a,x", "r2:c"]);
  assertEquals(await a, placed("a"));
  assertEquals(await x, { status: 502, error: `r1 renew: no answer for "x"` });
  assertEquals((await c as { status: number }).status, 502);
});

Deno.test("RenewBatcher: a root that does not answer fails every path of the call", async () => {
  const { b, run } = harness({ send: () => Promise.reject(new Error("connection refused")) });
  const both = [b.renew(ROOT, item("a")), b.renew(ROOT, item("b"))];
  const checked = both.map((p) => rejects(p, /connection refused/));
  await run(20);
  await Promise.all(checked);
});

Deno.test("RenewBatcher: an aborted renewal leaves the queue; a call with nothing left is not sent", async () => {
  const { b, calls, run } = harness();
  const ac = new AbortController();
  const r = b.renew(ROOT, item("a"), ac.signal);
  const checked = rejects(r, /stopped/);
  ac.abort(new Error("stopped"));
  await checked;
  assertEquals(b.queued, 0);
  await run(50);
  assertEquals(calls, []);
  await rejects(b.renew(ROOT, item("a"), ac.signal), /stopped/, "already aborted: refused at once");
});

Deno.test("RenewBatcher: the same path asked twice in one wait goes once, with the latest readers", async () => {
  const seen: RenewItem[] = [];
  const { b, run } = harness({
    send: (_root, items) => {
      seen.push(...items);
      return Promise.resolve(Object.fromEntries(items.map((i) => [i.path, placed(i.path)])));
    },
  });
  const both = Promise.all([b.renew(ROOT, item("a", 1)), b.renew(ROOT, item("a", 5))]);
  await run(20);
  assertEquals(await both, [placed("a"), placed("a")]);
  assertEquals(seen, [item("a", 5)]);
});

Deno.test("RenewBatcher splits long lists so each call stays under the byte budget", async () => {
  const { b, calls, run } = harness({ maxBytes: 4096 });
  const long = (i: number) => `${"é".repeat(100)}-${i}`;
  const all = Promise.all(Array.from({ length: 50 }, (_, i) => b.renew(ROOT, item(long(i)))));
  await run(20);
  await all;
  assert(calls.length > 1, `${calls.length} calls`);
  assertEquals(calls.flatMap((c) => c.paths).length, 50);
  for (const c of calls) {
    const bytes = new TextEncoder().encode(JSON.stringify(c.paths.map((p) => item(p)))).length;
    assert(bytes <= 4096 + 64, `${bytes} bytes`);
  }
});

Deno.test("RenewBatcher.close() fails what waits and refuses new renewals", async () => {
  const { b, calls, run } = harness();
  const waiting = rejects(b.renew(ROOT, item("a")), /closed/);
  b.close();
  await waiting;
  await rejects(b.renew(ROOT, item("b")), /closed/);
  await run(50);
  assertEquals(calls, []);
});

/**
 * A root of 30 paths with 99 members that read all of them: every call it takes spends a nonce that stays in its
 * cache for the signature window. One call per member per path (the old renewals) fills it to ~90 % of the
 * capacity at which it refuses calls; one call per member per lease stays near 3 %.
 */
Deno.test("nonce cache at a root of 100 relays x 30 paths: batched renewals stay far below its refusal rate", async () => {
  const members = 99;
  const paths = 30;
  const seconds = 64;
  const peak = async (batched: boolean) => {
    const timers = new ManualTimers(0);
    const wall = 1_800_000_000_000;
    const nonces = new NonceCache();
    let refused = 0;
    let max = 0;
    let n = 0;
    const take = () => {
      const now = wall + timers.now();
      if (nonces.add(`nonce-${++n}`, now + MESH_AUTH_SKEW_MS + 1, now) !== true) refused++;
      max = Math.max(max, nonces.size);
    };
    let stop = false;
    const random = seededRandom(100);
    const loops: Promise<void>[] = [];
    for (let m = 0; m < members; m++) {
      const batcher = new RenewBatcher({
        timers,
        now: timers.now,
        periodMs: 1000,
        send: (_root, items) => {
          take();
          return Promise.resolve(Object.fromEntries(items.map((i) => [i.path, placed(i.path)])));
        },
      });
      for (let p = 0; p < paths; p++) {
        const offset = Math.floor(random() * 1000);
        loops.push((async () => {
          await new Promise<void>((r) => timers.setTimeout(r, offset));
          while (!stop) {
            if (batched) await batcher.renew(ROOT, item(`p${p}`));
            else {
              take(); // the old way: one signed call per path per lease
              await new Promise<void>((r) => timers.setTimeout(r, 1000));
            }
          }
        })());
      }
    }
    for (let t = 0; t < seconds * 1000; t += 50) {
      timers.advance(50);
      await settle();
      if (t % 500 === 0) nonces.sweep(wall + timers.now()); // as the mesh does
    }
    stop = true;
    for (let t = 0; t < 3000; t += 50) {
      timers.advance(50);
      await settle();
    }
    await Promise.all(loops);
    return { max, refused };
  };
  const old = await peak(false);
  const now = await peak(true);
  console.log(
    `nonce cache peak at the root (capacity ${MESH_NONCE_CAPACITY}): one call per path ${old.max} ` +
      `(${(100 * old.max / MESH_NONCE_CAPACITY).toFixed(1)} %), batched ${now.max} ` +
      `(${(100 * now.max / MESH_NONCE_CAPACITY).toFixed(1)} %); refused ${old.refused} and ${now.refused}`,
  );
  assert(old.max > 0.8 * MESH_NONCE_CAPACITY, "the old way comes close to the refusal point");
  assert(now.max < 0.05 * MESH_NONCE_CAPACITY, "batched renewals stay far from it");
  assertEquals(now.refused, 0);
});
