/**
 * A private copy of the `deno` executable for the relays a test or bench measures for memory. The kernel pages out
 * only pages no other process maps (`madvise(MADV_PAGEOUT)`, src/dataplane/startup_code.ts), and the test runner
 * or bench runs on the same executable: a relay started from it keeps resident every code page the runner also
 * touched, which a relay in its pod (the only process of its binary) would not. One copy per process, written back
 * to disk (the kernel pages out clean pages only) on a disk-backed filesystem (a tmpfs copy is memory the kernel
 * cannot page out without swap), removed when the process exits.
 * @module
 */

let copy: string | null = null;

/** Filesystems whose files live in memory: a copy there cannot be paged out. */
const IN_MEMORY = new Set(["tmpfs", "ramfs"]);

/**
 * The type of the filesystem `path` lives on, from a `/proc/self/mountinfo` text (the mount point that is the
 * longest prefix of `path`), or null when none matches. Pure.
 */
export function filesystemOf(mountinfo: string, path: string): string | null {
  let best: { at: string; type: string } | null = null;
  for (const line of mountinfo.split("\n")) {
    const [left, right] = line.split(" - ");
    const at = left?.split(" ")[4]?.replaceAll("\\040", " ");
    const type = right?.split(" ")[0];
    if (!at || !type) continue;
    const under = path === at || path.startsWith(at.endsWith("/") ? at : `${at}/`);
    if (under && (!best || at.length > best.at.length)) best = { at, type };
  }
  return best?.type ?? null;
}

/** Where the copy goes: the first candidate directory that exists on a disk-backed filesystem. */
function copyParent(): string | undefined {
  let mountinfo = "";
  try {
    mountinfo = Deno.readTextFileSync("/proc/self/mountinfo");
  } catch {
    return undefined; // not Linux: the default temporary directory
  }
  const home = Deno.env.get("HOME");
  const candidates = [
    Deno.env.get("TMPDIR") ?? "/tmp",
    Deno.env.get("XDG_CACHE_HOME") ?? (home ? `${home}/.cache` : null),
    "/var/tmp",
    Deno.cwd(),
  ].filter((d): d is string => d !== null);
  for (const dir of candidates) {
    try {
      if (!Deno.statSync(dir).isDirectory) continue;
      const real = Deno.realPathSync(dir);
      if (!IN_MEMORY.has(filesystemOf(mountinfo, real) ?? "tmpfs")) return real;
    } catch { /* missing or unreadable: the next one */ }
  }
  return undefined;
}

/** The path of the private copy, made on first use. */
export async function privateRuntime(): Promise<string> {
  if (copy) return copy;
  const parent = copyParent();
  const dir = await Deno.makeTempDir(
    parent ? { prefix: "msm-runtime-", dir: parent } : { prefix: "msm-runtime-" },
  );
  const path = `${dir}/deno`;
  await Deno.copyFile(Deno.execPath(), path);
  await Deno.chmod(path, 0o755);
  const file = await Deno.open(path, { read: true, write: true });
  await file.sync();
  file.close();
  globalThis.addEventListener("unload", () => {
    try {
      Deno.removeSync(dir, { recursive: true });
    } catch { /* already gone */ }
  });
  copy = path;
  return path;
}
