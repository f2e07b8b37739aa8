/**
 * The README's Architecture section names files and functions a newcomer will look for: each must exist, so the
 * section cannot silently rot when code moves. (The flag table is held to the schema by its own test.)
 */
import assert from "node:assert/strict";

const ROOT = new URL("../", import.meta.url);
const readme = await Deno.readTextFile(new URL("README.md", ROOT));

/** The text of a `## ` section of the README. */
function section(title: string): string {
  const start = readme.indexOf(`\n## ${title}\n`);
  assert.ok(start >= 0, `README has a "${title}" section`);
  const end = readme.indexOf("\n## ", start + 1);
  return readme.slice(start, end < 0 ? undefined : end);
}

/** Every source file under src/, relative to src/. */
async function sourceFiles(dir = new URL("src/", ROOT), prefix = ""): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    if (e.isDirectory) out.push(...await sourceFiles(new URL(`${e.name}/`, dir), `${prefix}${e.name}/`));
    else if (e.name.endsWith(".ts")) out.push(`${prefix}${e.name}`);
  }
  return out;
}

Deno.test("README Architecture: every file it names exists", async () => {
  const files = await sourceFiles();
  const exists = async (path: string) => await Deno.stat(new URL(path, ROOT)).then(() => true, () => false);
  const named = [...section("Architecture").matchAll(/`([a-z_/]+\.ts)`/g)].map((m) => m[1]!)
    .filter((name) => name !== "_x.ts"); // the naming rule's example
  assert.ok(named.length >= 10, `names files: ${named.join(" ")}`);
  for (const name of named) {
    // A path from the repository root, from src/, or a file of the folder the text is about.
    const found = await exists(name) || files.some((f) => f === name || f.endsWith(`/${name}`));
    assert.ok(found, `README names ${name}: no such file`);
  }
  const folders = [...section("Architecture").matchAll(/`src\/([a-z]+)\/`/g)].map((m) => m[1]!);
  assert.ok(folders.length >= 8);
  for (const folder of folders) {
    assert.ok(files.some((f) => f.startsWith(`${folder}/`)), `README names src/${folder}/: no such folder`);
  }
});

Deno.test("README Architecture: every Class.member it names is a member of that class", async () => {
  const files = await sourceFiles();
  const texts = await Promise.all(files.map((f) => Deno.readTextFile(new URL(`src/${f}`, ROOT))));
  const named = [...section("Architecture").matchAll(/`([A-Z][A-Za-z]+)\.(#?[a-z][A-Za-z]*)`/g)];
  assert.ok(named.length >= 8, `names members: ${named.map((m) => m[0]).join(" ")}`);
  for (const [, cls, member] of named) {
    const text = texts.find((t) => new RegExp(`export class ${cls}\\b`).test(t!));
    assert.ok(text, `README names ${cls}: no exported class of that name in src/`);
    assert.ok(
      new RegExp(`\\n\\s+(readonly |async |static )*${member!.replace("#", "\\#")}\\b`).test(text),
      `README names ${cls}.${member}: not a member`,
    );
  }
});
