import { equal, ok } from "node:assert/strict";
import { startHeapTrim } from "./heap_trim.ts";

const linux = Deno.build.os === "linux";

function rssBytes(): number {
  const pages = Number(Deno.readTextFileSync("/proc/self/statm").split(" ")[1]);
  return pages * 4096;
}

Deno.test({
  name: "startHeapTrim() gives back free pages below a live chunk, which glibc keeps without it",
  ignore: !linux,
  fn() {
    const trim = startHeapTrim(60_000);
    ok(trim, "heap trim unavailable on Linux with --allow-ffi");
    const libc = Deno.dlopen("libc.so.6", {
      malloc: { parameters: ["usize"], result: "pointer" },
      free: { parameters: ["pointer"], result: "void" },
      memset: { parameters: ["pointer", "i32", "usize"], result: "pointer" },
    });
    try {
      // 2,000 chunks of 32 KiB (under the mmap threshold: in the heap itself), touched so they are resident, each
      // followed by a small live one: free() alone cannot give their pages back (no free space at the top).
      const chunk = 32 * 1024;
      const pairs = Array.from({ length: 2000 }, () => {
        const p = libc.symbols.malloc(BigInt(chunk));
        ok(p);
        libc.symbols.memset(p, 1, BigInt(chunk));
        return [p, libc.symbols.malloc(64n)] as const;
      });
      const peak = rssBytes();
      for (const [p] of pairs) libc.symbols.free(p);
      const before = rssBytes();
      ok(peak - before < 16 * 1024 * 1024, `free() alone gave back ${peak - before} bytes`);
      trim.trim();
      const released = before - rssBytes();
      ok(released > 32 * 1024 * 1024, `released ${released} bytes of 62.5 MiB freed`);
      for (const [, fence] of pairs) libc.symbols.free(fence);
      equal(trim.stats.trims, 1);
    } finally {
      libc.close();
      trim.stop();
      trim.stop(); // idempotent
    }
  },
});

Deno.test({
  name: "startHeapTrim() trims on its timer until stopped",
  ignore: !linux,
  async fn() {
    const trim = startHeapTrim(5);
    ok(trim);
    try {
      for (let i = 0; i < 2000 && trim.stats.trims < 3; i++) await new Promise((r) => setTimeout(r, 5));
      ok(trim.stats.trims >= 3, `${trim.stats.trims} trims`);
    } finally {
      trim.stop();
    }
    const after = trim.stats.trims;
    await new Promise((r) => setTimeout(r, 30));
    equal(trim.stats.trims, after);
  },
});
