/**
 * The relay loads only what it uses (issue 16, "a small footprint"): the modules `main.ts` and the fast plane's
 * Worker load when they start, read from `deno info --json` (tests/support/runtime_graph.ts). A graph, not an
 * RSS threshold, so it holds on a busy machine; bench/README.md ("footprint") says what each module costs.
 */
import assert from "node:assert/strict";
import { type DenoInfo, readStartGraph, startGraph } from "./support/runtime_graph.ts";

const ROOT = new URL("../", import.meta.url);

/** The npm packages the relay runs at start, each for a feature that is always on. */
const START_PACKAGES = [
  "@hono/zod-openapi", // the admin API and its OpenAPI document
  "hono", // the admin HTTP app and the mesh's peer routes
  "sdp-transform", // SDP of every stream
  // The --config file's parser: loadConfig() is synchronous, so it cannot import() it when a file is named;
  // 0.7 MiB of heap (bench/README.md, footprint).
  "yaml",
  "zod", // the config, the admin API's and the peer protocol's schemas
];

Deno.test("startGraph() follows the imports that run, and lists what only import() reaches", () => {
  const info: DenoInfo = {
    roots: ["file:///r/main.ts"],
    redirects: { "npm:zod@4": "npm:/zod@4" },
    modules: [
      {
        specifier: "file:///r/main.ts",
        dependencies: [
          { code: { specifier: "file:///r/a.ts" } },
          { code: { specifier: "file:///r/kube.ts" }, isDynamic: true },
          {}, // `import type`: no code
        ],
      },
      {
        specifier: "file:///r/a.ts",
        dependencies: [{ code: { specifier: "npm:zod@4" } }, { code: { specifier: "node:crypto" } }],
      },
      { specifier: "file:///r/kube.ts", dependencies: [{ code: { specifier: "npm:/models@5" } }] },
      { specifier: "npm:/zod@4", kind: "npm", npmPackage: "zod@4.6.7" },
      { specifier: "npm:/models@5", kind: "npm", npmPackage: "@k/models@5.1.0_zod@4.6.7" },
      { specifier: "node:crypto", kind: "node" },
    ],
  };
  assert.deepEqual(startGraph(info, "file:///r/"), {
    files: ["a.ts", "main.ts"],
    npm: ["zod"],
    node: ["node:crypto"],
    dynamicFiles: ["kube.ts"],
  });
});

Deno.test("main.ts loads at start only the npm packages of features that are on", async () => {
  const graph = await readStartGraph(ROOT, "main.ts");
  assert.ok(graph.files.includes("src/app.ts"), "the walk must see the relay itself");
  // Test and tooling packages (kubernetes-models, playwright-core, fast-check, parse-prometheus-text-format)
  // must not load in a running relay.
  assert.deepEqual(graph.npm, START_PACKAGES);
});

Deno.test("main.ts loads no test, bench or script file, and Kubernetes discovery only in a pod", async () => {
  const graph = await readStartGraph(ROOT, "main.ts");
  assert.deepEqual(graph.files.filter((f) => !f.startsWith("src/") && f !== "main.ts"), []);
  assert.deepEqual(graph.files.filter((f) => /^src\/cluster\/kube/.test(f)), []);
  // ... yet it is in the graph behind import(), so `deno compile` embeds it.
  assert.ok(graph.dynamicFiles.includes("src/cluster/kubernetes.ts"), graph.dynamicFiles.join(", "));
  assert.ok(graph.dynamicFiles.includes("src/cluster/kube_reflector.ts"), graph.dynamicFiles.join(", "));
});

Deno.test("the fast plane's Worker loads only the data plane, RTP and addresses", async () => {
  const graph = await readStartGraph(ROOT, "src/dataplane/shared_udp_worker.ts");
  assert.ok(graph.files.includes("src/dataplane/_libc.ts"), graph.files.join(", "));
  assert.deepEqual(
    graph.files.filter((f) => !/^src\/(dataplane|rtp)\//.test(f) && f !== "src/address.ts"),
    [],
  );
  assert.deepEqual([graph.npm, graph.node, graph.dynamicFiles], [[], [], []]);
});
