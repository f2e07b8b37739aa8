import { deepStrictEqual as assertEquals } from "node:assert/strict";
import fc from "fast-check";
import { compileGlob } from "./path_glob.ts";

/** The textbook definition, by dynamic programming over (glob prefix, path prefix): obviously right, O(n·m) memory. */
function reference(glob: string, path: string): boolean {
  // m[j] after row i: glob[0..i) matches path[0..j)
  let m = Array.from({ length: path.length + 1 }, (_, j) => j === 0);
  for (const g of glob) {
    const next = Array.from({ length: path.length + 1 }, () => false);
    for (let j = 0; j <= path.length; j++) {
      if (g === "*") next[j] = m[j]! || (j > 0 && next[j - 1]!);
      else next[j] = j > 0 && m[j - 1]! && (g === "?" || g === path[j - 1]);
    }
    m = next;
  }
  return m[path.length]!;
}

const cases: Array<[glob: string, path: string, matches: boolean]> = [
  ["*", "", true],
  ["*", "a/b/c", true],
  ["", "", true],
  ["", "a", false],
  ["cam", "cam", true],
  ["cam", "cam1", false],
  ["cam?", "cam1", true],
  ["cam?", "cam", false],
  ["cam?", "cam10", false],
  ["cams/*", "cams/door", true],
  ["cams/*", "cams/", true],
  ["cams/*", "cams", false],
  ["cams/*", "other/cams/door", false],
  ["*/main", "site/cam/main", true],
  ["*/main", "site/cam/main2", false],
  ["site-*-*-*.live", "site-1-2-3.live", true],
  ["site-*-*-*.live", "site-1-2.live", false],
  ["site-*-*-*.live", "site----.live", true],
  ["site-*-*-*.live", "site-a/b-c-d.live", true],
  ["a*a", "a", false], // head and tail must not overlap
  ["a*a", "aa", true],
  ["a*b*a", "aba", true],
  ["a*b*a", "abba", true],
  ["a*b*a", "aab", false],
  ["*?*", "", false],
  ["*?*", "x", true],
  ["**", "anything", true],
  ["?*?", "ab", true],
  ["?*?", "a", false],
  ["a.b", "axb", false], // no regex meaning
  ["(x)+", "(x)+", true],
];

Deno.test("compileGlob() matches whole paths: * any run (slashes too), ? one character", () => {
  for (const [glob, path, matches] of cases) {
    assertEquals(compileGlob(glob)(path), matches, `${glob} ~ ${path}`);
    assertEquals(reference(glob, path), matches, `reference: ${glob} ~ ${path}`);
  }
});

Deno.test("compileGlob() agrees with the reference matcher on short inputs", () => {
  // A small alphabet makes matches and near misses common.
  const glob = fc.string({ unit: fc.constantFrom("a", "b", "-", "/", "*", "?"), maxLength: 8 });
  const path = fc.string({ unit: fc.constantFrom("a", "b", "-", "/"), maxLength: 12 });
  fc.assert(
    fc.property(glob, path, (g, p) => compileGlob(g)(p) === reference(g, p)),
    { numRuns: 20_000 },
  );
});

Deno.test("compileGlob() answers long near misses and long matches (where a backtracking regex takes hours)", () => {
  const match = compileGlob("site-*-*-*.live");
  assertEquals(match("site-" + "-".repeat(100_000) + ".liv"), false);
  assertEquals(match("site-" + "-".repeat(100_000) + ".live"), true);
  assertEquals(compileGlob("*a*a*a*b")("a".repeat(100_000)), false);
});
