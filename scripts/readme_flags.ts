/**
 * `deno task readme:flags`: writes the table of flags and environment variables into README.md, between its two
 * markers, from the flags' declarations in src/config/schema.ts. A test (src/config/readme_table_test.ts) fails
 * when the README's table is not the generated one.
 * @module
 */
import { flagTable, withTable } from "../src/config/readme_table.ts";

const README = new URL("../README.md", import.meta.url);

if (import.meta.main) {
  const before = await Deno.readTextFile(README);
  const after = withTable(before, flagTable());
  if (after === before) console.log("README.md: the flag table is up to date");
  else {
    await Deno.writeTextFile(README, after);
    console.log("README.md: flag table written");
  }
}
