/**
 * The house rules of src/'s module graph, as a pure check over import edges (paths relative to src/), and a
 * reader of the real graph through `deno info --json`.
 *
 * The layers, each folder importing only the ones before it (plus the infrastructure modules at src/'s root):
 * `rtp` <- `rtsp` <- `config`, `dataplane`, `metrics` <- `relay` <- `cluster`, `viewer` <- `webrtc` <- `admin`; `app.ts` composes them
 * all and only `main.ts` imports it. A file whose name starts with `_` is private to its folder.
 * @module
 */

/** Modules at src/'s root that every folder may use: clocks, logging, error containment, addresses, backoff. */
export const INFRASTRUCTURE: ReadonlySet<string> = new Set([
  "clock.ts",
  "log.ts",
  "log_throttle.ts",
  "contain.ts",
  "address.ts",
  "backoff.ts",
  "outage.ts",
  "file_follower.ts",
]);

/** What each folder may import besides itself and {@linkcode INFRASTRUCTURE}. */
export const ALLOWED_FOLDERS: Readonly<Record<string, readonly string[]>> = {
  rtp: [],
  rtsp: ["rtp"],
  config: ["rtsp"],
  dataplane: ["rtp"],
  metrics: ["rtp", "rtsp"],
  relay: ["rtp", "rtsp", "config", "dataplane"],
  cluster: ["relay", "rtp", "rtsp", "config", "dataplane", "metrics"],
  viewer: ["relay", "rtp", "rtsp"],
  webrtc: ["relay", "rtp", "rtsp", "viewer", "dataplane"],
  admin: ["relay", "cluster", "metrics", "config", "rtp", "rtsp", "viewer", "webrtc"],
};

/** Infrastructure modules the protocol folders may import (they stay small, portable libraries). */
const PROTOCOL_INFRASTRUCTURE: Readonly<Record<string, readonly string[]>> = {
  rtp: [],
  rtsp: ["clock.ts", "log.ts", "contain.ts"],
};

/** One import: `from` imports `to`, both relative to src/ (e.g. `relay/stream.ts`). */
export interface ImportEdge {
  from: string;
  to: string;
}

/** The folder of a src/-relative path, or the file itself for modules at the root. */
export function unitOf(path: string): string {
  const slash = path.indexOf("/");
  return slash < 0 ? path : path.slice(0, slash);
}

/** True for a file private to its folder (`_name.ts`). */
function isPrivate(path: string): boolean {
  return (path.split("/").pop() ?? "").startsWith("_");
}

/** Every rule an edge set breaks, one sentence each; empty when the graph keeps the house rules. */
export function graphViolations(edges: readonly ImportEdge[]): string[] {
  const out: string[] = [];
  const unitEdges = new Map<string, Set<string>>();
  for (const { from, to } of edges) {
    const a = unitOf(from);
    const b = unitOf(to);
    if (a === b) continue;
    if (!unitEdges.has(a)) unitEdges.set(a, new Set());
    unitEdges.get(a)!.add(b);
    if (isPrivate(to)) out.push(`${from} imports ${to}, a file private to ${unitOf(to)}/`);
    if (to === "app.ts") {
      out.push(`${from} imports app.ts, the composition root (only main.ts may)`);
      continue;
    }
    if (!from.includes("/")) {
      if (INFRASTRUCTURE.has(from) && !INFRASTRUCTURE.has(to)) {
        out.push(`${from} imports ${to}; an infrastructure module imports only infrastructure`);
      }
      continue;
    }
    const protocol = PROTOCOL_INFRASTRUCTURE[a];
    if (!to.includes("/")) {
      if (!INFRASTRUCTURE.has(to)) out.push(`${from} imports ${to}, which is not an infrastructure module`);
      else if (protocol && !protocol.includes(to)) out.push(`${from} imports ${to}; ${a}/ may not`);
      continue;
    }
    const allowed = ALLOWED_FOLDERS[a];
    if (!allowed) out.push(`${from} is in ${a}/, a folder the layering does not know`);
    else if (!allowed.includes(b)) out.push(`${from} imports ${to}: ${a}/ may not import ${b}/`);
  }
  for (const cycle of unitCycles(unitEdges)) out.push(`folders import each other: ${cycle.join(" -> ")}`);
  return out;
}

/** Strongly connected components of more than one unit (Tarjan), each as a closed path for the message. */
function unitCycles(graph: ReadonlyMap<string, ReadonlySet<string>>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  let next = 0;
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const component: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      component.push(w);
    } while (w !== v);
    if (component.length > 1) out.push([...component.reverse(), component[0]!]);
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return out;
}

/**
 * The import edges among src/'s modules, as `deno info --json` resolves them, from an entry that imports every
 * non-test file under `srcDir` (so files `main.ts` does not reach, such as a Worker's, are read too).
 */
export async function readSourceGraph(srcDir: string, configPath: string): Promise<ImportEdge[]> {
  const files: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    for await (const e of Deno.readDir(dir)) {
      const path = `${dir}/${e.name}`;
      if (e.isDirectory) await walk(path);
      else if (e.name.endsWith(".ts") && !e.name.endsWith("_test.ts")) files.push(path);
    }
  };
  await walk(srcDir);
  const entry = await Deno.makeTempFile({ suffix: ".ts" });
  try {
    await Deno.writeTextFile(entry, files.map((f) => `import "file://${f}";\n`).join(""));
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["info", "--json", "--config", configPath, entry],
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!out.success) throw new Error(`deno info failed: ${new TextDecoder().decode(out.stderr)}`);
    const info = JSON.parse(new TextDecoder().decode(out.stdout)) as {
      modules: {
        specifier: string;
        dependencies?: { code?: { specifier: string }; type?: { specifier: string } }[];
      }[];
    };
    const root = `file://${srcDir}/`;
    const edges: ImportEdge[] = [];
    for (const m of info.modules) {
      if (!m.specifier.startsWith(root)) continue;
      for (const d of m.dependencies ?? []) {
        for (const target of [d.code?.specifier, d.type?.specifier]) {
          if (target?.startsWith(root)) {
            edges.push({ from: m.specifier.slice(root.length), to: target.slice(root.length) });
          }
        }
      }
    }
    return edges;
  } finally {
    await Deno.remove(entry);
  }
}
