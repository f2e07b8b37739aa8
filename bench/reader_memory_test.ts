import { equal, ok as assert } from "node:assert/strict";

// The bench's run, briefly (no figure asserted): 10 readers, no warm-up, no wait after they leave.
Deno.test("memory bench: readers of demo set up, play and leave, and the relay's memory is read each time", async () => {
  const output = new URL("./output/reader_memory.json", import.meta.url);
  await Deno.remove(output).catch(() => {}); // what is read below is this run's
  const run = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("./reader_memory.ts", import.meta.url).pathname],
    env: {
      BENCH_MEMORY_READERS: "10",
      BENCH_MEMORY_WAVE: "5",
      BENCH_MEMORY_AFTER_SECONDS: "0",
      BENCH_MEMORY_WARM_SECONDS: "0",
    },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(run.stdout) + new TextDecoder().decode(run.stderr);
  equal(run.code, 0, text);
  assert(/readers playing\s+10\.0/.test(text), text);
  assert(/memory per reader \(RSS growth \/ readers\)\s+-?\d/.test(text), text);
  const json = JSON.parse(await Deno.readTextFile(output));
  for (const at of ["idle", "joined", "after"]) {
    assert(
      json[at].rss > 0 && json[at].heapUsed > 0 && json[at].external > 0,
      `${at}: ${JSON.stringify(json)}`,
    );
  }
});
