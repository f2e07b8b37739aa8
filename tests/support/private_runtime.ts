/**
 * A private copy of the `deno` executable for the relays a bench measures for memory. The kernel pages out only
 * pages no other process maps (`madvise(MADV_PAGEOUT)`, src/dataplane/startup_code.ts), and the bench itself runs
 * on the same executable: a relay started from it keeps resident every code page the bench also touched, which a
 * relay in its pod (the only process of its binary) would not. One copy per bench process, written back to disk
 * (the kernel pages out clean pages only), removed when the process exits.
 * @module
 */

let copy: string | null = null;

/** The path of the private copy, made on first use. */
export async function privateRuntime(): Promise<string> {
  if (copy) return copy;
  const dir = await Deno.makeTempDir({ prefix: "msm-runtime-" });
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
