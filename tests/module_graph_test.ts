/**
 * src/'s module graph keeps the house rules (tests/support/module_graph.ts): no folders that import each other,
 * each folder only the layers below it, private `_files` only within their folder. The rules themselves are
 * tested on small graphs first, so a check that stopped finding anything would fail here.
 */
import assert from "node:assert/strict";
import { fileURLToPath as fromFileUrl } from "node:url";
import { graphViolations, type ImportEdge, readSourceGraph } from "./support/module_graph.ts";

const SRC = fromFileUrl(new URL("../src", import.meta.url));
const CONFIG = fromFileUrl(new URL("../deno.json", import.meta.url));

const LAYERED: ImportEdge[] = [
  { from: "relay/stream.ts", to: "rtp/packet.ts" },
  { from: "relay/stream.ts", to: "clock.ts" },
  { from: "cluster/mesh.ts", to: "relay/hub.ts" },
  { from: "rtsp/server.ts", to: "contain.ts" },
  { from: "dataplane/shared_udp.ts", to: "dataplane/_libc.ts" },
  { from: "app.ts", to: "cluster/mesh.ts" },
];

Deno.test("module graph: a layered graph keeps the rules", () => {
  assert.deepEqual(graphViolations(LAYERED), []);
});

Deno.test("module graph: a folder cycle is found, with its path", () => {
  const found = graphViolations([...LAYERED, { from: "metrics/relay_metrics.ts", to: "relay/stream.ts" }, {
    from: "relay/rtsp_service.ts",
    to: "metrics/relay_metrics.ts",
  }]);
  assert.ok(found.some((v) => v.includes("metrics/ may not import relay/")), found.join("\n"));
  assert.ok(
    found.some((v) => v.startsWith("folders import each other:") && v.includes("metrics")),
    found.join("\n"),
  );
});

Deno.test("module graph: each forbidden edge of the layering is found", () => {
  const cases: [ImportEdge, string][] = [
    [{ from: "relay/hub.ts", to: "cluster/mesh.ts" }, "relay/ may not import cluster/"],
    [{ from: "rtsp/server.ts", to: "relay/limits.ts" }, "rtsp/ may not import relay/"],
    [{ from: "rtsp/server.ts", to: "address.ts" }, "rtsp/ may not"],
    [{ from: "metrics/relay_metrics.ts", to: "relay/stream.ts" }, "metrics/ may not import relay/"],
    [{ from: "config/schema.ts", to: "cluster/mesh_keys.ts" }, "config/ may not import cluster/"],
    [{ from: "relay/udp_pair.ts", to: "dataplane/_libc.ts" }, "private to dataplane/"],
    [{ from: "cluster/mesh.ts", to: "app.ts" }, "composition root"],
    [{ from: "clock.ts", to: "relay/stream.ts" }, "imports only infrastructure"],
    [{ from: "widgets/a.ts", to: "rtp/packet.ts" }, "does not know"],
  ];
  for (const [edge, message] of cases) {
    const found = graphViolations([...LAYERED, edge]);
    assert.ok(found.some((v) => v.includes(message)), `${edge.from} -> ${edge.to}: ${found.join("\n")}`);
  }
});

Deno.test("module graph: src/ keeps the house rules", async () => {
  const edges = await readSourceGraph(SRC, CONFIG);
  // The reader must have seen the graph, not an empty one: the relay imports RTP and the fast plane's worker
  // its private libc bindings.
  assert.ok(edges.some((e) => e.from === "relay/track.ts" && e.to.startsWith("rtp/")));
  assert.ok(edges.some((e) => e.from === "dataplane/shared_udp_worker.ts" && e.to === "dataplane/_libc.ts"));
  assert.deepEqual(graphViolations(edges), []);
});
