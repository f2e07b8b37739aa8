/**
 * Where a process's resident memory is, from /proc/PID/smaps, in the parts bench/README.md's footprint section
 * names: the executable's pages, V8's heaps, malloc, the rest. The classification reads addresses and names only
 * (a heuristic that holds for Deno on x86-64 Linux): V8 keeps its heaps in the pointer-compression cage, mapped
 * below the 0x7f... region where glibc's thread arenas (64 MiB-aligned), thread stacks, V8's code ranges (rwx)
 * and large `mmap`ed buffers (ArrayBuffer backing stores of 128 KiB and more) live.
 * @module
 */

/** Resident bytes by part. */
export interface SmapsParts {
  /** Pages of the executable (file-backed: shared, clean). */
  executable: number;
  /** Other file-backed pages: shared libraries, memory-mapped caches. */
  otherFiles: number;
  /** V8's heaps: anonymous mappings below 0x7f00_0000_0000. */
  v8Heaps: number;
  /** glibc's main arena (`[heap]`). */
  mainArena: number;
  /** glibc's thread arenas: anonymous mappings at 64 MiB-aligned addresses of at most 64 MiB. */
  threadArenas: number;
  /** V8's code ranges (rwx). */
  code: number;
  /** Everything else anonymous: large malloc'd or mmap'd buffers, stacks. */
  otherAnonymous: number;
}

const ARENA_ALIGN = 64n * 1024n * 1024n;
const HIGH = 0x7f00_0000_0000n;

/**
 * Splits the text of /proc/PID/smaps into {@linkcode SmapsParts}.
 * @param text the file's contents
 * @param executable path of the process's executable (`/proc/PID/exe`)
 */
export function smapsParts(text: string, executable: string): SmapsParts {
  const parts: SmapsParts = {
    executable: 0,
    otherFiles: 0,
    v8Heaps: 0,
    mainArena: 0,
    threadArenas: 0,
    code: 0,
    otherAnonymous: 0,
  };
  let kind: keyof SmapsParts = "otherAnonymous";
  for (const line of text.split("\n")) {
    const head = /^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head) {
      const start = BigInt(`0x${head[1]}`);
      const end = BigInt(`0x${head[2]}`);
      const perms = head[3]!;
      const name = head[4]!.trim();
      if (name === executable) kind = "executable";
      else if (name === "[heap]") kind = "mainArena";
      else if (name.startsWith("/")) kind = "otherFiles";
      else if (name !== "") kind = "otherAnonymous"; // [stack], [vdso], ...
      else if (perms.includes("x")) kind = "code";
      else if (start < HIGH) kind = "v8Heaps";
      else if (start % ARENA_ALIGN === 0n && end - start <= ARENA_ALIGN) kind = "threadArenas";
      else kind = "otherAnonymous";
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss) parts[kind] += Number(rss[1]) * 1024;
  }
  return parts;
}

/** {@linkcode smapsParts} of a running process; null when it is gone. */
export function readSmapsParts(pid: number): SmapsParts | null {
  try {
    return smapsParts(Deno.readTextFileSync(`/proc/${pid}/smaps`), Deno.readLinkSync(`/proc/${pid}/exe`));
  } catch {
    return null;
  }
}

/** One line: each part in MiB. */
export function formatSmapsParts(p: SmapsParts): string {
  const m = (b: number) => (b / 2 ** 20).toFixed(1);
  return `executable ${m(p.executable)}, V8 heaps ${m(p.v8Heaps)}, malloc main ${m(p.mainArena)} + threads ${
    m(p.threadArenas)
  }, other anonymous ${m(p.otherAnonymous)}, code ${m(p.code)}, other files ${m(p.otherFiles)} MiB`;
}
