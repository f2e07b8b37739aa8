/**
 * mulberry32: a small seeded generator, uniform in [0, 1), for tests and benches that must repeat exactly
 * (split points, loss patterns, fuzz inputs). Not for anything secret.
 * @module
 */

/** A generator seeded with `seed` (taken as an unsigned 32-bit number). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
