import { equal, ok } from "node:assert/strict";
import { startHeapTrim } from "./heap_trim.ts";

const linux = Deno.build.os === "linux";

const PAGE = 4096;

type Libc = Deno.DynamicLibrary<{
  malloc: { parameters: ["usize"]; result: "pointer" };
  free: { parameters: ["pointer"]; result: "void" };
  memset: { parameters: ["pointer", "i32", "usize"]; result: "pointer" };
  mincore: { parameters: ["pointer", "usize", "buffer"]; result: "i32" };
}>;

/**
 * Resident pages among the whole pages inside each chunk, asked of the kernel with mincore(2): the figure belongs
 * to these chunks alone, so other threads of the process (V8's collector, the test runner) cannot move it the way
 * they move the process's RSS.
 */
function residentPages(libc: Libc, chunks: readonly Deno.PointerObject[], size: number): number {
  const vec = new Uint8Array(Math.ceil(size / PAGE));
  let resident = 0;
  for (const p of chunks) {
    const at = BigInt(Deno.UnsafePointer.value(p));
    const first = (at + BigInt(PAGE - 1)) & ~BigInt(PAGE - 1);
    const pages = Number((at + BigInt(size) - first) / BigInt(PAGE));
    if (pages <= 0) continue;
    const rc = libc.symbols.mincore(Deno.UnsafePointer.create(first), BigInt(pages * PAGE), vec);
    equal(rc, 0, "mincore failed");
    for (let i = 0; i < pages; i++) resident += vec[i]! & 1;
  }
  return resident;
}

Deno.test({
  name: "startHeapTrim() gives back free pages below a live chunk, which glibc keeps without it",
  ignore: !linux,
  fn() {
    const trim = startHeapTrim(60_000);
    ok(trim, "heap trim unavailable on Linux with --allow-ffi");
    const libc: Libc = Deno.dlopen("libc.so.6", {
      malloc: { parameters: ["usize"], result: "pointer" },
      free: { parameters: ["pointer"], result: "void" },
      memset: { parameters: ["pointer", "i32", "usize"], result: "pointer" },
      mincore: { parameters: ["pointer", "usize", "buffer"], result: "i32" },
    });
    try {
      // 2,000 chunks of 32 KiB (under the mmap threshold: in the heap itself), touched so they are resident, each
      // followed by a small live one: free() alone cannot give their pages back (no free space at the top).
      const chunk = 32 * 1024;
      const pairs = Array.from({ length: 2000 }, () => {
        const p = libc.symbols.malloc(BigInt(chunk));
        ok(p);
        libc.symbols.memset(p, 1, BigInt(chunk));
        const fence = libc.symbols.malloc(64n);
        ok(fence);
        return [p, fence] as const;
      });
      const chunks = pairs.map(([p]) => p);
      const touched = residentPages(libc, chunks, chunk);
      ok(touched > 2000 * 6, `${touched} pages resident after memset`);
      for (const p of chunks) libc.symbols.free(p);
      const kept = residentPages(libc, chunks, chunk);
      ok(kept > touched / 2, `free() alone gave back ${touched - kept} of ${touched} pages`);
      trim.trim();
      const left = residentPages(libc, chunks, chunk);
      ok(left < kept / 4, `after malloc_trim ${left} of ${kept} freed pages still resident`);
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
