import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { openWindow, threadGroup } from "./trial_window.ts";

Deno.test("threadGroup names the relay's threads by their comm", () => {
  assertEquals(threadGroup(100, 100, "deno"), "main");
  assertEquals(threadGroup(100, 101, "worker-1"), "Worker");
  assertEquals(threadGroup(100, 102, "V8 DefaultWorke"), "V8 platform");
  assertEquals(threadGroup(100, 103, "tokio-runtime-w"), "Tokio");
  assertEquals(threadGroup(100, 104, "deno"), "other (deno)");
});

Deno.test("openWindow counts a deno process's JavaScript to its main thread", async () => {
  // `deno run` runs JavaScript on the process's first thread (`deno test` does not, hence a child).
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      "console.log('busy'); const end = performance.now() + 3000; while (performance.now() < end);",
    ],
    stdout: "piped",
  }).spawn();
  try {
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    assertEquals((await reader.read()).value?.trim(), "busy");
    reader.releaseLock();
    const w = openWindow(child.pid);
    await new Promise((r) => setTimeout(r, 500));
    const cpu = w.end();
    assertEquals(cpu.groups[0]?.group, "main", JSON.stringify(cpu));
    assert(cpu.groups[0]!.seconds > 0.02, JSON.stringify(cpu));
    assertEquals(cpu.cpuSeconds, cpu.groups.reduce((s, g) => s + g.seconds, 0));
  } finally {
    child.kill();
    await child.status;
    await child.stdout.cancel().catch(() => {});
  }
});
