/**
 * The tree as a picture (issue 18), in headless Chromium: three relays (static discovery, fan-out 1, so the tree is
 * a chain A -> B -> C), a GStreamer camera only A pulls, RTSP readers on B and C. A's dashboard draws the whole tree
 * as a graph: a node per relay (the members with their readers, each linking to its own dashboard), an edge per
 * hop labelled with the loss and jitter its member measures on it (reported in its renewals); C's dashboard draws
 * the same tree, asked of the root.
 * @module
 */
import { ok as assert } from "node:assert/strict";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { startRelayCluster } from "./support/mesh.ts";
import { delay, REPO_ROOT, startGstCamera, withTimeout } from "./support/processes.ts";
import { startRtspReader } from "./support/rtsp_peers.ts";

const OUTPUT = join(REPO_ROOT, "tests", "output");

Deno.test("the root's dashboard draws the stream's whole tree, each hop with its loss and jitter", async () => {
  await using camera = await startGstCamera({ fps: 25, gop: 25 });
  await using cluster = await startRelayCluster({
    count: 3,
    zoneOf: (i) => (i === 2 ? "zone-2" : "zone-1"),
    discovery: "static",
    fanout: 1,
    argsOf: (i) => (i === 0 ? ["--path", `cam=${camera.url}`, "--pull-transport", "tcp"] : []),
  });
  const [a, b, c] = cluster.relays;
  await using _onB = await startRtspReader(b!.url("cam"), { transport: "tcp", onRtp: () => {} });
  await using _onC = await startRtspReader(c!.url("cam"), { transport: "tcp", onRtp: () => {} });
  const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox"] });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    await page.goto(`http://${a!.host}:${a!.adminPort}/`);
    const graph = page.getByTestId("tree-graph-cam");
    const [nb, nc] = [cluster.nodeName(1), cluster.nodeName(2)];
    // Both members in the plan, both hops measured (renewals carry them every second).
    await withTimeout(
      (async () => {
        while (
          !(await graph.isVisible().catch(() => false)) ||
          (await page.getByTestId(`hop-${nb}`).count()) === 0 ||
          (await page.getByTestId(`hop-${nc}`).count()) === 0
        ) {
          await delay(250);
        }
      })(),
      30_000,
      "the graph never showed both hops",
    );
    for (const node of [cluster.nodeName(0), nb, nc]) {
      assert((await page.getByTestId(`node-${node}`).count()) === 1, `no node ${node}`);
    }
    const hops = [
      await page.getByTestId(`hop-${nb}`).textContent(),
      await page.getByTestId(`hop-${nc}`).textContent(),
    ];
    console.log(`A's graph: hops ${JSON.stringify(hops)}`);
    for (const hop of hops) assert(/^\d+\.\d\d % lost, \d+\.\d ms$/.test(hop ?? ""), `hop label "${hop}"`);
    // The chain: A feeds one relay, which feeds the other.
    const edges = await page.locator('[data-testid^="edge-"]').evaluateAll((es) =>
      es.map((e) => e.getAttribute("data-testid"))
    );
    assert(edges.length === 2, `edges ${JSON.stringify(edges)}`);
    // Each member links to its own dashboard.
    const links = await graph.locator("a").evaluateAll((as) => as.map((x) => x.getAttribute("href")));
    assert(links.includes(`http://${b!.host}:${b!.adminPort}/`), `links ${JSON.stringify(links)}`);
    // A member's dashboard draws the same tree: it asks the root (the peer protocol's tree call).
    const onC = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
    onC.on("pageerror", (e) => errors.push(e.message));
    await onC.goto(`http://${c!.host}:${c!.adminPort}/`);
    await withTimeout(
      (async () => {
        while ((await onC.getByTestId(`hop-${nc}`).count()) === 0) await delay(250);
      })(),
      20_000,
      "C's dashboard never drew the whole tree",
    );
    for (const node of [cluster.nodeName(0), nb, nc]) {
      assert((await onC.getByTestId(`node-${node}`).count()) === 1, `C's graph has no node ${node}`);
    }
    assert(errors.length === 0, errors.join("\n"));
    await Deno.mkdir(OUTPUT, { recursive: true });
    // The tree section stays; the graph in it is redrawn as the hop figures change.
    await page.getByTestId("tree-cam").screenshot({ path: join(OUTPUT, "dashboard-tree-graph.png") });
  } finally {
    await browser.close();
  }
});
