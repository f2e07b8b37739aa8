/** Tests of the file follower: changes applied once each, rejected content and unreadable files logged once. */
import { deepStrictEqual as assertEquals, ok } from "node:assert/strict";
import { followFile } from "./file_follower.ts";
import { createLogger } from "./log.ts";

async function until(what: string, cond: () => boolean): Promise<void> {
  const deadline = performance.now() + 3000;
  while (!cond()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

Deno.test("followFile() applies each new content once, keeps the value on rejection or a missing file", async () => {
  const dir = await Deno.makeTempDir({ prefix: "msm-follow-" });
  const path = `${dir}/value`;
  const applied: number[] = [];
  const lines: string[] = [];
  try {
    await Deno.writeTextFile(path, "1\n");
    const stop = followFile<number>({
      path,
      initial: "1",
      what: "numbers",
      parse: (text) => (/^\d+$/.test(text) ? Number(text) : { rejected: `"${text}" is not a number` }),
      apply: (n) => applied.push(n),
      logger: createLogger({ level: "debug", write: (l) => lines.push(l) }),
      intervalMs: 10,
    });
    try {
      await new Promise((r) => setTimeout(r, 50));
      assertEquals(applied, [], "the initial content is not applied again");
      await Deno.writeTextFile(path, "2");
      await until("2", () => applied.length === 1);
      await Deno.writeTextFile(path, "two");
      await until("the rejection", () => lines.some((l) => l.includes("numbers file was rejected")));
      await Deno.remove(path);
      await until("the read error", () => lines.some((l) => l.includes("cannot read the numbers file")));
      await new Promise((r) => setTimeout(r, 60));
      await Deno.writeTextFile(path, "3");
      await until("3", () => applied.length === 2);
      assertEquals(applied, [2, 3]);
      ok(lines.filter((l) => l.includes("cannot read")).length === 1, "one line per spell of read errors");
      ok(lines.filter((l) => l.includes("numbers reloaded")).length === 2);
    } finally {
      stop();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
