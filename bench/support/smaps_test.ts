import { equal } from "node:assert/strict";
import { smapsParts } from "./smaps.ts";

const EXE = "/usr/bin/deno";

/** A mapping's head line and its Rss line. */
const map = (range: string, perms: string, name: string, kib: number) =>
  `${range} ${perms} 00000000 00:00 0   ${name}\nSize: ${kib} kB\nRss:  ${kib} kB\nPss:  ${kib} kB\n`;

Deno.test("smapsParts() tells the executable, V8's cage, glibc's arenas, code and the rest apart", () => {
  const text = [
    map("55d0c0000000-55d0c4000000", "r-xp", EXE, 4000),
    map("55d0c8000000-55d0c8100000", "rw-p", "[heap]", 700),
    map("29bc8800000-29bc8840000", "rw-p", "", 256),
    map("33b2a340000-33b2a380000", "rw-p", "", 200),
    map("7fe1a0000000-7fe1a02f7000", "rw-p", "", 2208), // a thread arena: 64 MiB-aligned
    map("7fe1b9628000-7fe1b97c9000", "rw-p", "", 1644), // a large buffer
    map("7fe17c000000-7fe19bdc0000", "rwxp", "", 476), // V8's code range
    map("7fe1bb100000-7fe1bb200000", "r-xp", "/usr/lib/x86_64-linux-gnu/libc.so.6", 1600),
    map("7ffd00000000-7ffd00021000", "rw-p", "[stack]", 100),
  ].join("");
  const parts = smapsParts(text, EXE);
  equal(parts.executable, 4000 * 1024);
  equal(parts.mainArena, 700 * 1024);
  equal(parts.v8Heaps, 456 * 1024);
  equal(parts.threadArenas, 2208 * 1024);
  equal(parts.code, 476 * 1024);
  equal(parts.otherFiles, 1600 * 1024);
  equal(parts.otherAnonymous, (1644 + 100) * 1024);
});
