/**
 * Gives back the memory of the runtime's code that only start-up used (Linux 5.4+ with `--allow-ffi`, as
 * `deno task start` and the binary run the relay).
 *
 * Why: the `deno` executable (or the compiled relay) is a 95 MB file. Starting a relay pages in 44 MiB of it: the
 * V8 snapshot the isolates are built from, the module loader, the TypeScript transpiler, the npm resolver, ICU
 * data, and the code of everything that ran once. A running relay uses about a third of that. The kernel keeps
 * the rest resident (and charged to the pod) until memory runs short, because clean file pages are only reclaimed
 * under pressure. `madvise(MADV_PAGEOUT)` over the read-only mappings of the executable and every other mapped
 * file (Deno's caches, libraries) reclaims them now, then `MADV_RANDOM` keeps a later fault from reading ahead;
 * a page the relay still uses faults back in from the file on its next use (a few hundred microseconds, once).
 * Pages that another process maps too (libc; a second Deno on the machine) are left alone by the kernel.
 *
 * Only read-only and executable mappings are advised: writable ones may hold private copies that have no file
 * to come back from. Once, after start-up, never periodically: evicting the working set over and over would trade
 * CPU for a smaller number.
 * @module
 */
import { openLibcWherePermitted } from "./_libc.ts";

/** How long after start-up the relay pages out the code only start-up used. */
export const STARTUP_CODE_SETTLE_MS = 3_000;

/** `MADV_PAGEOUT` (linux/mman-common.h). */
const MADV_PAGEOUT = 21;
/** `MADV_RANDOM`: no read-ahead around a fault. */
const MADV_RANDOM = 1;

/** One mapping of a file, as a line of `/proc/self/maps` gives it. */
export interface FileMapping {
  /** First byte (page-aligned). */
  readonly start: bigint;
  /** Bytes mapped. */
  readonly length: number;
  /** Permissions, e.g. `r-xp`. */
  readonly perms: string;
}

/**
 * The read-only and executable mappings of files in a `/proc/PID/maps` text: what start-up code may be evicted
 * from. Writable mappings, anonymous ones and the kernel's (`[vdso]`) are left out. Pure.
 * @param maps the text of `/proc/PID/maps`
 * @param wanted which files, by their path as the kernel prints it (resolved, no symlinks)
 */
export function readOnlyMappingsOf(maps: string, wanted: (path: string) => boolean): FileMapping[] {
  const out: FileMapping[] = [];
  for (const line of maps.split("\n")) {
    // "start-end perms offset dev inode path": the path is the rest of the line, and may hold spaces.
    const m = /^([0-9a-f]+)-([0-9a-f]+) ([-rwxps]{4}) [0-9a-f]+ [0-9a-f]+:[0-9a-f]+ \d+\s+(.*)$/.exec(line);
    if (!m || !m[4]!.startsWith("/") || !wanted(m[4]!) || m[3]!.includes("w")) continue;
    const start = BigInt(`0x${m[1]}`);
    const length = Number(BigInt(`0x${m[2]}`) - start);
    if (length > 0) out.push({ start, length, perms: m[3]! });
  }
  return out;
}

/** What {@linkcode dropStartupCode} did. */
export interface StartupCodeDrop {
  /** Mappings advised (of every file). */
  readonly mappings: number;
  /** Bytes of them (mapped, not resident). */
  readonly advisedBytes: number;
  /** The executable's resident bytes before and right after (from `/proc/self/smaps`). */
  readonly residentBefore: number;
  readonly residentAfter: number;
}

/** Resident bytes of `path`'s mappings in `/proc/self/smaps`. */
export function residentBytesOf(smaps: string, path: string): number {
  let inFile = false;
  let kib = 0;
  for (const line of smaps.split("\n")) {
    if (/^[0-9a-f]+-[0-9a-f]+ /.test(line)) {
      inFile = line.endsWith(` ${path}`);
    } else if (inFile && line.startsWith("Rss:")) {
      kib += Number(/(\d+)/.exec(line)?.[1] ?? 0);
    }
  }
  return kib * 1024;
}

const LIBC = {
  madvise: { parameters: ["pointer", "usize", "i32"], result: "i32" },
  open: { parameters: ["buffer", "i32"], result: "i32" },
  read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  close: { parameters: ["i32"], result: "i32" },
  readlink: { parameters: ["buffer", "buffer", "usize"], result: "isize" },
} as const satisfies Deno.ForeignLibraryInterface;

type Libc = Deno.DynamicLibrary<typeof LIBC>;

const O_RDONLY_CLOEXEC = 0o2000000;

const cString = (s: string) => new TextEncoder().encode(`${s}\0`);

/**
 * Reads a file of `/proc/self` through libc: Deno asks `--allow-all` for `/proc/self` (it could reveal the
 * process's secrets), and the relay runs with named permissions; FFI, which it holds, is all access anyway.
 */
function readProc(lib: Libc, path: string): string {
  const fd = lib.symbols.open(cString(path), O_RDONLY_CLOEXEC);
  if (fd < 0) throw new Error(`open ${path} failed`);
  try {
    const chunks: Uint8Array[] = [];
    for (;;) {
      const buf = new Uint8Array(65_536);
      const n = Number(lib.symbols.read(fd, buf, BigInt(buf.length)));
      if (n < 0) throw new Error(`read ${path} failed`);
      if (n === 0) break;
      chunks.push(buf.subarray(0, n));
    }
    const decoder = new TextDecoder();
    return chunks.map((c, i) => decoder.decode(c, { stream: i < chunks.length - 1 })).join("");
  } finally {
    lib.symbols.close(fd);
  }
}

/** The executable's path as `/proc/self/maps` prints it. */
function executablePath(lib: Libc): string {
  const buf = new Uint8Array(4096);
  const n = Number(lib.symbols.readlink(cString("/proc/self/exe"), buf, BigInt(buf.length)));
  if (n <= 0) throw new Error("readlink /proc/self/exe failed");
  return new TextDecoder().decode(buf.subarray(0, n));
}

/** The executable's resident bytes now, or null where `/proc` cannot be read (not Linux, no FFI). */
export function executableResidentBytes(): number | null {
  const lib = openLibcWherePermitted(LIBC);
  if (!lib) return null;
  try {
    return residentBytesOf(readProc(lib, "/proc/self/smaps"), executablePath(lib));
  } catch {
    return null;
  } finally {
    lib.close();
  }
}

/**
 * Advises the kernel to page out the read-only mappings of the executable and the other files mapped now (see
 * the module's comment).
 * @returns what was advised, or null where it cannot run: not Linux, FFI not permitted, a kernel without
 *   `MADV_PAGEOUT` (EINVAL), or an executable not found among the mappings
 */
export function dropStartupCode(): StartupCodeDrop | null {
  const lib = openLibcWherePermitted(LIBC);
  if (!lib) return null;
  try {
    const path = executablePath(lib);
    // Every file's, not only the executable's: Deno's caches (`deno run` maps its SQLite files) and libraries
    // only start-up used; pages of libc and the like, which every process maps, stay where they are.
    const mappings = readOnlyMappingsOf(readProc(lib, "/proc/self/maps"), () => true);
    if (mappings.length === 0) return null;
    const residentBefore = residentBytesOf(readProc(lib, "/proc/self/smaps"), path);
    let advisedBytes = 0;
    for (const m of mappings) {
      // A mapping may have gone between the read and now (V8 unmaps builtins copies): EINVAL/ENOMEM then.
      const at = Deno.UnsafePointer.create(m.start);
      if (lib.symbols.madvise(at, BigInt(m.length), MADV_PAGEOUT) === 0) advisedBytes += m.length;
      lib.symbols.madvise(at, BigInt(m.length), MADV_RANDOM);
    }
    if (advisedBytes === 0) return null;
    const residentAfter = residentBytesOf(readProc(lib, "/proc/self/smaps"), path);
    return { mappings: mappings.length, advisedBytes, residentBefore, residentAfter };
  } catch {
    return null;
  } finally {
    lib.close();
  }
}
