/**
 * The modules a program loads when it starts: the graph `deno info --json` gives, walked from the entry along
 * the imports that run (not `import type`, not `@ts-types`, not `import()`). What is reached only through a
 * dynamic `import()` is listed apart: it loads when the feature is used, and `deno compile` still embeds it.
 * @module
 */
import { fileURLToPath } from "node:url";

/** The parts of `deno info --json` the walk reads. */
export interface DenoInfo {
  roots: string[];
  modules: Array<{
    specifier: string;
    kind?: string;
    npmPackage?: string;
    dependencies?: Array<{ code?: { specifier: string }; isDynamic?: boolean }>;
  }>;
  redirects: Record<string, string>;
}

/** What loads at start, and what only behind an `import()`. */
export interface StartGraph {
  /** Local files loaded at start, relative to `base`, sorted. */
  files: string[];
  /** npm packages loaded at start, by name without the version, sorted. */
  npm: string[];
  /** Node built-ins loaded at start (`node:crypto`), sorted. */
  node: string[];
  /** Local files reached only through a dynamic `import()`, relative to `base`, sorted. */
  dynamicFiles: string[];
}

/** `hono@4.13.19`, `@hono/zod-openapi@1.6.3_hono@4.13.19` -> the name alone. */
function packageName(npmPackage: string): string {
  const at = npmPackage.indexOf("@", 1);
  return at < 0 ? npmPackage : npmPackage.slice(0, at);
}

/**
 * Walks a graph from its first root.
 * @param info the output of `deno info --json ENTRY`
 * @param base the `file:` URL of the folder paths are shown relative to (with a trailing slash)
 * @returns the modules loaded at start and those behind `import()`
 */
export function startGraph(info: DenoInfo, base: string): StartGraph {
  const byUrl = new Map(info.modules.map((m) => [m.specifier, m]));
  const resolve = (s: string) => info.redirects[s] ?? s;
  const walk = (from: string[], followDynamic: boolean) => {
    const seen = new Set<string>();
    const queue = [...from];
    while (queue.length > 0) {
      const url = resolve(queue.pop()!);
      if (seen.has(url)) continue;
      seen.add(url);
      for (const dep of byUrl.get(url)?.dependencies ?? []) {
        if (dep.code && (followDynamic || !dep.isDynamic)) queue.push(dep.code.specifier);
      }
    }
    return seen;
  };
  const root = info.roots[0];
  if (root === undefined) throw new Error("The module graph has no root");
  const atStart = walk([root], false);
  const everything = walk([root], true);
  const local = (urls: Iterable<string>) =>
    [...urls].filter((u) => u.startsWith(base)).map((u) => u.slice(base.length)).sort();
  const npm = new Set<string>();
  const node: string[] = [];
  for (const url of atStart) {
    const m = byUrl.get(url);
    if (m?.kind === "npm" && m.npmPackage) npm.add(packageName(m.npmPackage));
    if (url.startsWith("node:")) node.push(url);
  }
  return {
    files: local(atStart),
    npm: [...npm].sort(),
    node: node.sort(),
    dynamicFiles: local([...everything].filter((u) => !atStart.has(u))),
  };
}

/**
 * Runs `deno info --json` on `entry` (a path relative to `root`) and walks it.
 * @param root the repository's `file:` URL, with a trailing slash
 */
export async function readStartGraph(root: URL, entry: string): Promise<StartGraph> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", entry],
    cwd: fileURLToPath(root),
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new Error(`deno info ${entry} failed: ${new TextDecoder().decode(out.stderr).slice(0, 500)}`);
  }
  return startGraph(JSON.parse(new TextDecoder().decode(out.stdout)) as DenoInfo, root.href);
}
