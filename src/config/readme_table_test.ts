import { equal, ok, throws } from "node:assert/strict";
import { FLAGS } from "./flags.ts";
import { flagTable, TABLE_END, TABLE_START, tableIn, withTable } from "./readme_table.ts";

const README = new URL("../../README.md", import.meta.url);

/** The lines only one side has: `-` the README's, `+` the generated table's. */
function lineDiff(readme: string, generated: string): string {
  const had = new Set(readme.split("\n"));
  const want = new Set(generated.split("\n"));
  return [
    ...[...had].filter((l) => !want.has(l)).map((l) => `- ${l}`),
    ...[...want].filter((l) => !had.has(l)).map((l) => `+ ${l}`),
  ].join("\n");
}

Deno.test("README.md's flag table is the one the flags' declarations generate", async () => {
  const readme = await Deno.readTextFile(README);
  const table = tableIn(readme);
  ok(table !== null, `README.md lacks ${TABLE_START} ... ${TABLE_END}`);
  const generated = flagTable();
  if (table !== generated) {
    throw new Error(
      "README.md's flag table differs from src/config/schema.ts's declarations; run `deno task readme:flags`\n" +
        lineDiff(table, generated),
    );
  }
});

Deno.test("flagTable() has a row per flag, with its variable, default and meaning", () => {
  const lines = flagTable().split("\n");
  equal(lines.length, FLAGS.length + 2);
  ok(/^\| Flag +\| Environment +\| Default +\| Meaning +\|$/.test(lines[0]!));
  ok(/^\| -+ \| -+ \| -+ \| -+ \|$/.test(lines[1]!));
  ok(lines.every((l) => l.length === lines[0]!.length), "columns padded to one width, as deno fmt does");
  const row = (flag: string) => lines.find((l) => l.startsWith(`| ${flag} `))!.split(/ +\| +/);
  ok(row("`--rtsp-port N`").includes("`MSM_RTSP_PORT`"));
  ok(row("`--rtsp-port N`").includes("`8554`"));
  ok(row("`--no-publish`").includes("`MSM_PUBLISH=false`"));
  ok(row("`--path NAME=URL` (repeatable)").includes("`MSM_PATH`"));
  ok(row("`--pull-transport auto\\|udp\\|tcp`"), "a | in a cell is escaped");
  ok(row("`-h`, `--help`"));
});

Deno.test("withTable() replaces what is between the markers, and needs them", () => {
  const readme = `# x\n\n${TABLE_START}\n\nold\n\n${TABLE_END}\n\nafter\n`;
  const written = withTable(readme, "| a |");
  equal(written, `# x\n\n${TABLE_START}\n\n| a |\n\n${TABLE_END}\n\nafter\n`);
  equal(tableIn(written), "| a |");
  equal(withTable(written, "| a |"), written);
  throws(() => withTable("# x\n", "| a |"), /lacks the markers/);
  equal(tableIn("# x\n"), null);
});
