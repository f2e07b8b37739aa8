/**
 * The path globs of RTSP users (`--user NAME:PASSWORD:RIGHTS:GLOB`): `*` matches any run of characters, slashes
 * included, `?` exactly one, any other character itself. No RegExp is built from the glob: a backtracking regex
 * such as `^site-.*-.*-.*\.live$` takes time cubic in the path's length on a path that almost matches (seconds of
 * blocked event loop for 3 KB), while this matcher places each fixed-length piece between the stars at its
 * leftmost fit, once, in O(|glob| × |path|) at worst.
 * @module
 */

/** A compiled glob: the fixed-length pieces between its stars. */
interface Pieces {
  /** The glob had no `*`: the path must be exactly `head`. */
  exact: boolean;
  head: string;
  middle: string[];
  tail: string;
}

/** True when `piece` (with `?` for any character) matches `s` at `at`; the caller checks that it fits. */
function matchesAt(piece: string, s: string, at: number): boolean {
  for (let i = 0; i < piece.length; i++) {
    const c = piece.charCodeAt(i);
    if (c !== 0x3f && c !== s.charCodeAt(at + i)) return false;
  }
  return true;
}

/** The leftmost index in [from, end - piece.length] where `piece` matches `s`, or -1. */
function leftmost(piece: string, s: string, from: number, end: number): number {
  for (let at = from; at + piece.length <= end; at++) if (matchesAt(piece, s, at)) return at;
  return -1;
}

function compile(glob: string): Pieces {
  const parts = glob.split("*");
  if (parts.length === 1) return { exact: true, head: glob, middle: [], tail: "" };
  return {
    exact: false,
    head: parts[0]!,
    middle: parts.slice(1, -1).filter((p) => p !== ""),
    tail: parts[parts.length - 1]!,
  };
}

/**
 * Compiles a path glob into a matcher. Characters are UTF-16 code units, as in the paths the relay compares.
 * @param glob e.g. `cams/*`, `site-*-*-*.live`, `door?`
 * @returns a function telling whether a whole path matches
 * @example compileGlob("site-*.live")("site-12/a.live") // true
 * @example compileGlob("cam?")("cam10") // false
 */
export function compileGlob(glob: string): (path: string) => boolean {
  const { exact, head, middle, tail } = compile(glob);
  if (exact) return (path) => path.length === head.length && matchesAt(head, path, 0);
  return function matchGlob(path: string): boolean {
    // The head and the tail are anchored and must not overlap; stars take everything between.
    const end = path.length - tail.length;
    if (end < head.length || !matchesAt(head, path, 0) || !matchesAt(tail, path, end)) return false;
    // Each piece at its leftmost fit: a fixed-length piece placed later could only leave less room to the rest.
    let at = head.length;
    for (const piece of middle) {
      const found = leftmost(piece, path, at, end);
      if (found < 0) return false;
      at = found + piece.length;
    }
    return true;
  };
}
