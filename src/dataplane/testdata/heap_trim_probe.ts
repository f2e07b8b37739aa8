/**
 * Child-process half of heap_trim_test.ts: frees 2,000 resident heap chunks that sit below live ones, trims, and
 * prints how many of their pages were resident after memset, after free() and after malloc_trim as JSON.
 *
 * It runs in a process of its own because the test runner's other modules run on threads of the same process:
 * their allocations reuse the freed chunks between free() and the count (CI counted a quarter of them resident
 * again), which no trim can give back.
 * @module
 */
import { startHeapTrim } from "../heap_trim.ts";

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
    if (rc !== 0) throw new Error("mincore failed");
    for (let i = 0; i < pages; i++) resident += vec[i]! & 1;
  }
  return resident;
}

const trim = startHeapTrim(60_000);
if (!trim) throw new Error("heap trim unavailable on Linux with --allow-ffi");
const libc: Libc = Deno.dlopen("libc.so.6", {
  malloc: { parameters: ["usize"], result: "pointer" },
  free: { parameters: ["pointer"], result: "void" },
  memset: { parameters: ["pointer", "i32", "usize"], result: "pointer" },
  mincore: { parameters: ["pointer", "usize", "buffer"], result: "i32" },
});
// 2,000 chunks of 32 KiB (under the mmap threshold: in the heap itself), touched so they are resident, each
// followed by a small live one: free() alone cannot give their pages back (no free space at the top).
const chunk = 32 * 1024;
const pairs = Array.from({ length: 2000 }, () => {
  const p = libc.symbols.malloc(BigInt(chunk));
  const fence = libc.symbols.malloc(64n);
  if (!p || !fence) throw new Error("malloc failed");
  libc.symbols.memset(p, 1, BigInt(chunk));
  return [p, fence] as const;
});
const chunks = pairs.map(([p]) => p);
const touched = residentPages(libc, chunks, chunk);
for (const p of chunks) libc.symbols.free(p);
const kept = residentPages(libc, chunks, chunk);
trim.trim();
const left = residentPages(libc, chunks, chunk);
for (const [, fence] of pairs) libc.symbols.free(fence);
console.log(JSON.stringify({ touched, kept, left, trims: trim.stats.trims }));
libc.close();
trim.stop();
