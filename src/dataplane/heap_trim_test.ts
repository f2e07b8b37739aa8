import { equal, ok } from "node:assert/strict";
import { startHeapTrim } from "./heap_trim.ts";

const linux = Deno.build.os === "linux";

Deno.test({
  name: "startHeapTrim() gives back free pages below a live chunk, which glibc keeps without it",
  ignore: !linux,
  async fn() {
    // In a process of its own (see the probe's comment): the runner's other modules allocate on other threads.
    const probe = new URL("./testdata/heap_trim_probe.ts", import.meta.url);
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-ffi", "--no-config", probe.pathname],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    equal(out.code, 0, stderr);
    const { touched, kept, left, trims } = JSON.parse(new TextDecoder().decode(out.stdout));
    ok(touched > 2000 * 6, `${touched} pages resident after memset`);
    ok(kept > touched / 2, `free() alone gave back ${touched - kept} of ${touched} pages`);
    ok(left < kept / 4, `after malloc_trim ${left} of ${kept} freed pages still resident`);
    equal(trims, 1);
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
