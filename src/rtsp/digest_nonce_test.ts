import assert from "node:assert/strict";
import { checkNonce, createNonce, NONCE_COUNT_WINDOW, NonceCounts, nonceTime } from "./digest_nonce.ts";

const SECRET = new Uint8Array(32).fill(7);
const T0 = 1_700_000_000_000;
const MAX_AGE = 60_000;
const SALT = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]);
const CLIENT = "10.0.0.7";

Deno.test("createNonce and checkNonce", async (t) => {
  const nonce = createNonce(SECRET, T0, CLIENT, SALT);
  await t.step("shape: time, salt, HMAC", () => {
    assert.match(nonce, /^[0-9a-f]{92}$/);
    assert.equal(nonce.slice(0, 12), T0.toString(16).padStart(12, "0"));
    assert.equal(nonce.slice(12, 28), "0102030405060708");
    assert.equal(nonceTime(nonce), T0);
    assert.ok(Number.isNaN(nonceTime("abc")));
    assert.equal(createNonce(SECRET, T0, CLIENT, SALT), nonce, "deterministic given its inputs");
    assert.notEqual(createNonce(SECRET, T0 + 1, CLIENT, SALT), nonce);
    assert.notEqual(
      createNonce(SECRET, T0, CLIENT, new Uint8Array(8)),
      nonce,
      "the salt tells challenges apart",
    );
  });
  const flip = (s: string, i: number) => s.slice(0, i) + (s[i] === "0" ? "1" : "0") + s.slice(i + 1);
  const cases: Array<
    { name: string; nonce: string; secret?: Uint8Array; now: number; binding?: string; expected: string }
  > = [
    { name: "fresh", nonce, now: T0, expected: "valid" },
    { name: "at max age", nonce, now: T0 + MAX_AGE, expected: "valid" },
    { name: "past max age", nonce, now: T0 + MAX_AGE + 1, expected: "stale" },
    { name: "far in the future (clock stepped back)", nonce, now: T0 - MAX_AGE - 1, expected: "stale" },
    { name: "another client address", nonce, now: T0, binding: "10.0.0.8", expected: "invalid" },
    { name: "other secret", nonce, secret: new Uint8Array(32).fill(8), now: T0, expected: "invalid" },
    { name: "time tampered", nonce: flip(nonce, 11), now: T0, expected: "invalid" },
    { name: "salt tampered", nonce: flip(nonce, 20), now: T0, expected: "invalid" },
    { name: "mac tampered", nonce: flip(nonce, 91), now: T0, expected: "invalid" },
    { name: "upper case", nonce: nonce.toUpperCase(), now: T0, expected: "invalid" },
    {
      name: "an old-style nonce (no salt, no binding)",
      nonce: nonce.slice(0, 12) + nonce.slice(28),
      now: T0,
      expected: "invalid",
    },
    { name: "garbage", nonce: "dcd98b7102dd2f0e8b11d0f600bfb0c093", now: T0, expected: "invalid" },
    { name: "empty", nonce: "", now: T0, expected: "invalid" },
  ];
  for (const c of cases) {
    await t.step(
      c.name,
      () =>
        assert.equal(
          checkNonce(c.nonce, c.secret ?? SECRET, c.now, MAX_AGE, c.binding ?? CLIENT),
          c.expected,
        ),
    );
  }
  await t.step("bad inputs", () => {
    assert.throws(() => createNonce(new Uint8Array(15), T0, CLIENT, SALT), RangeError);
    assert.throws(() => checkNonce(nonce, new Uint8Array(0), T0, MAX_AGE, CLIENT), RangeError);
    assert.throws(() => createNonce(SECRET, -1, CLIENT, SALT), RangeError);
    assert.throws(() => createNonce(SECRET, 1.5, CLIENT, SALT), RangeError);
    assert.throws(() => createNonce(SECRET, T0, CLIENT, new Uint8Array(4)), RangeError);
  });
});

Deno.test("NonceCounts: each count once, out of order within the window", () => {
  const counts = new NonceCounts({ maxAgeMs: MAX_AGE });
  const use = (nc: number, nonce = "a") => counts.use(nonce, T0, nc, T0);
  assert.equal(use(1), "fresh");
  assert.equal(use(1), "replay");
  assert.equal(use(0), "replay", "0 is no count");
  assert.equal(use(2), "fresh");
  assert.equal(use(10), "fresh");
  assert.deepEqual([use(5), use(5), use(9), use(2)], ["fresh", "replay", "fresh", "replay"]);
  assert.equal(use(10 + NONCE_COUNT_WINDOW), "fresh");
  assert.equal(use(10), "replay", "exactly at the window's edge, seen");
  assert.equal(use(11), "fresh", "at the edge, not seen");
  assert.equal(use(9), "replay", "below the window: refused, whether seen or not");
  assert.equal(use(1, "b"), "fresh", "another nonce counts apart");
  // A jump past the window keeps nothing of the counts below it.
  assert.equal(use(10 + 3 * NONCE_COUNT_WINDOW), "fresh");
  assert.equal(use(10 + NONCE_COUNT_WINDOW), "replay", "seen, now below the window");
  assert.equal(use(10 + 2 * NONCE_COUNT_WINDOW), "fresh", "at the edge, not seen");
  assert.equal(use(10 + 3 * NONCE_COUNT_WINDOW - 1), "fresh");
  // A jump of exactly the window keeps the old highest, at the edge.
  assert.equal(use(1, "c"), "fresh");
  assert.equal(use(1 + NONCE_COUNT_WINDOW, "c"), "fresh");
  assert.equal(use(1, "c"), "replay");
  assert.equal(counts.size, 3);
});

Deno.test("NonceCounts agrees with a set of every count seen, inside the window", () => {
  // Seeded walk: counts around a rising highest, with repeats.
  let seed = 12345;
  const next = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff);
  const counts = new NonceCounts({ maxAgeMs: MAX_AGE });
  const seen = new Set<number>();
  let highest = 0;
  for (let i = 0; i < 5000; i++) {
    const nc = Math.max(1, highest + (next() % 48) - 36);
    const expected = seen.has(nc) || nc < highest - NONCE_COUNT_WINDOW ? "replay" : "fresh";
    assert.equal(counts.use("n", T0, nc, T0), expected, `step ${i}: nc ${nc}, highest ${highest}`);
    seen.add(nc);
    highest = Math.max(highest, nc);
  }
});

Deno.test("NonceCounts is bounded: the oldest entry goes, and its nonce is forgotten rather than accepted again", () => {
  const counts = new NonceCounts({ maxEntries: 3, maxAgeMs: MAX_AGE });
  for (const [i, n] of ["a", "b", "c"].entries()) assert.equal(counts.use(n, T0 + i, 1, T0 + 10), "fresh");
  assert.equal(counts.use("d", T0 + 3, 1, T0 + 10), "fresh");
  assert.equal(counts.size, 3);
  assert.equal(counts.use("a", T0, 1, T0 + 10), "forgotten", "a replay of the dropped nonce");
  assert.equal(
    counts.use("a", T0, 2, T0 + 10),
    "forgotten",
    "even with a new count: stale, take a fresh nonce",
  );
  assert.equal(counts.use("e", T0 + 20, 1, T0 + 20), "fresh", "a nonce made later is remembered");
  assert.equal(counts.use("d", T0 + 3, 1, T0 + 20), "replay", "the entries kept still count");
  // An entry past the nonce lifetime is dropped without forgetting live nonces.
  const aging = new NonceCounts({ maxEntries: 2, maxAgeMs: MAX_AGE });
  aging.use("old", T0, 1, T0);
  aging.use("new", T0 + 2 * MAX_AGE, 1, T0 + 2 * MAX_AGE);
  aging.use("newer", T0 + 2 * MAX_AGE + 1, 1, T0 + 2 * MAX_AGE + 1);
  assert.equal(aging.size, 2);
  assert.equal(aging.use("late", T0 + 1, 1, T0 + 2 * MAX_AGE + 1), "fresh", "only a live drop forgets");
});
