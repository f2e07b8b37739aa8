import { deepStrictEqual as assertEquals, ok as assert, rejects as assertRejects } from "node:assert/strict";
import { type FakeKube, type FakeKubeOptions, startFakeKube } from "../../tests/support/fake_kube.ts";
import { createLogger } from "../log.ts";
import type { Peer } from "./discovery.ts";
import { KubernetesDiscovery, type KubernetesDiscoveryOptions } from "./kubernetes.ts";

const SELF = { rtsp: 8554, admin: 8080, mesh: 7000 };
const ZONE = "topology.kubernetes.io/zone";

function peer(node: string, host: string, extra: Partial<Peer> = {}): Peer {
  return { node, zone: "", host, rtspPort: 8554, adminPort: 8080, meshPort: 7000, ready: true, ...extra };
}

async function waitFor(what: string, cond: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** `discovery.start()`, failing the test instead of hanging when it never syncs. */
async function startWithin(discovery: KubernetesDiscovery, ms = 5000): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`start() did not resolve within ${ms} ms`)), ms);
  });
  try {
    await Promise.race([discovery.start(), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

interface LogRecord {
  level: string;
  msg: string;
  [k: string]: unknown;
}

interface Harness extends AsyncDisposable {
  kube: FakeKube;
  discovery: KubernetesDiscovery;
  saDir: string;
  logs: LogRecord[];
  /** Every view passed to onChange, in order. */
  changes: Array<readonly Peer[]>;
  /** node -> host, ready of the current view, for compact asserts. */
  view(): string[];
}

async function harness(
  setup: (kube: FakeKube) => void = () => {},
  fakeOptions: FakeKubeOptions = {},
  options: Partial<KubernetesDiscoveryOptions> = {},
): Promise<Harness> {
  const kube = await startFakeKube({ bookmarkIntervalMs: 200, ...fakeOptions });
  setup(kube);
  const saDir = await kube.writeServiceAccountDir();
  const logs: LogRecord[] = [];
  const discovery = new KubernetesDiscovery({
    apiUrl: kube.url,
    serviceAccountDir: saDir,
    selfPorts: SELF,
    logger: createLogger({ level: "debug", write: (line) => logs.push(JSON.parse(line)) }),
    backoff: { initialMs: 20, maxMs: 200 },
    env: () => undefined,
    ...options,
  });
  const changes: Array<readonly Peer[]> = [];
  discovery.onChange((peers) => changes.push(peers));
  return {
    kube,
    discovery,
    saDir,
    logs,
    changes,
    view: () =>
      discovery.peers().map((p) =>
        `${p.node}=${p.host}${p.ready ? "" : " not-ready"}${p.zone ? ` @${p.zone}` : ""}`
      ),
    async [Symbol.asyncDispose]() {
      await discovery.stop();
      await kube.close();
    },
  };
}

function threeRelays(kube: FakeKube): void {
  kube.setNode("node-a", { [ZONE]: "z1" });
  kube.setNode("node-b", { [ZONE]: "z1" });
  kube.setNode("node-c", { [ZONE]: "z2" });
  kube.createPod({ name: "relay-a", nodeName: "node-a", podIP: "10.0.0.1" });
  kube.createPod({ name: "relay-b", nodeName: "node-b", podIP: "10.0.0.2" });
  kube.createPod({ name: "relay-c", nodeName: "node-c", podIP: "10.0.0.3" });
}

const THREE = ["node-a=10.0.0.1 @z1", "node-b=10.0.0.2 @z1", "node-c=10.0.0.3 @z2"];

// --- configuration -------------------------------------------------------------------------------------------

Deno.test("KubernetesDiscovery.start() rejects with a clear message when the token file is missing", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const d = new KubernetesDiscovery({
      apiUrl: "https://127.0.0.1:1",
      serviceAccountDir: dir,
      selfPorts: SELF,
    });
    await assertRejects(
      d.start(),
      /Kubernetes discovery failed: reading the service account token .* file not found/,
    );
    assertEquals(d.synced, false);
    await d.stop();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// --- against the fake API server -----------------------------------------------------------------------------

Deno.test("KubernetesDiscovery syncs relay pods with zones from their Nodes, then notifies once", async () => {
  await using h = await harness((kube) => {
    threeRelays(kube);
    kube.createPod({
      name: "not-a-relay",
      nodeName: "node-a",
      podIP: "10.0.0.9",
      labels: { "app.kubernetes.io/name": "x" },
    });
    kube.createPod({ name: "elsewhere", namespace: "other", nodeName: "node-d", podIP: "10.0.0.8" });
  });
  assertEquals(h.discovery.synced, false);
  assertEquals(h.discovery.peers(), []);
  await startWithin(h.discovery);
  assertEquals(h.discovery.synced, true);
  assertEquals(h.view(), THREE);
  assertEquals(h.changes.length, 1);
  assertEquals(h.changes[0], h.discovery.peers());
  // the requests carried the selector and the namespace
  const podList = h.kube.requests.find((r) => r.verb === "list" && r.resource === "pods")!;
  assertEquals(podList.path, "/api/v1/namespaces/msm/pods");
  assert(podList.query.includes("labelSelector=app.kubernetes.io%2Fname%3Dmsm-relay"), podList.query);
  await waitFor("watches", () => h.kube.openWatches === 2);
  const watch = h.kube.requests.find((r) => r.verb === "watch" && r.resource === "pods")!;
  assert(
    /allowWatchBookmarks=true/.test(watch.query) && /resourceVersion=\d+/.test(watch.query),
    watch.query,
  );
});

Deno.test("KubernetesDiscovery applies ADDED, MODIFIED and DELETED pods and notifies each change", async () => {
  await using h = await harness((kube) => {
    threeRelays(kube);
    kube.setNode("node-d", { [ZONE]: "z2" });
  });
  await startWithin(h.discovery);
  h.kube.createPod({ name: "relay-d", nodeName: "node-d", podIP: "10.0.0.4" });
  await waitFor("ADDED relay-d", () => h.view().length === 4);
  assertEquals(h.view()[3], "node-d=10.0.0.4 @z2");

  h.kube.updatePod("relay-b", { ready: false });
  await waitFor("relay-b not ready", () => h.view()[1] === "node-b=10.0.0.2 not-ready @z1");
  h.kube.updatePod("relay-b", { ready: true, podIP: "10.0.0.22" });
  await waitFor("relay-b new IP", () => h.view()[1] === "node-b=10.0.0.22 @z1");

  h.kube.deletePod("relay-a", { graceful: true });
  await waitFor("relay-a terminating", () => h.view()[0] === "node-a=10.0.0.1 not-ready @z1");
  h.kube.deletePod("relay-a");
  await waitFor("DELETED relay-a", () => h.view().length === 3);
  assertEquals(h.view(), ["node-b=10.0.0.22 @z1", "node-c=10.0.0.3 @z2", "node-d=10.0.0.4 @z2"]);

  // a pod whose label no longer matches leaves the view
  h.kube.updatePod("relay-c", { labels: { "app.kubernetes.io/name": "retired" } });
  await waitFor("relay-c unselected", () => h.view().length === 2);
  assertEquals(h.changes.length, 7);
  assertEquals(h.changes.at(-1), h.discovery.peers());
});

Deno.test("KubernetesDiscovery follows Node zone label changes and takes ports from named container ports", async () => {
  await using h = await harness((kube) => {
    threeRelays(kube);
    kube.createPod({
      name: "relay-d",
      nodeName: "node-d",
      podIP: "10.0.0.4",
      ports: { rtsp: 9554, admin: 9080 },
    });
  });
  await startWithin(h.discovery);
  const d = h.discovery.peers().find((p) => p.node === "node-d")!;
  assertEquals(d, peer("node-d", "10.0.0.4", { rtspPort: 9554, adminPort: 9080, meshPort: 7000 }));
  h.kube.setNode("node-d", { [ZONE]: "z3" });
  await waitFor("node-d zone", () => h.view()[3] === "node-d=10.0.0.4 @z3");
  h.kube.setNode("node-a", { [ZONE]: "z9" });
  await waitFor("node-a zone", () => h.view()[0] === "node-a=10.0.0.1 @z9");
  h.kube.deleteNode("node-c");
  await waitFor("node-c zone gone", () => h.view()[2] === "node-c=10.0.0.3");
  h.kube.updatePod("relay-d", { ports: { mesh: 7700 } });
  await waitFor("relay-d ports", () => h.discovery.peers()[3]!.meshPort === 7700);
  assertEquals(h.discovery.peers()[3], peer("node-d", "10.0.0.4", { zone: "z3", meshPort: 7700 }));
});

Deno.test("KubernetesDiscovery prefers the ready, then newest pod when two share a node (rolling update)", async () => {
  await using h = await harness((kube) => {
    kube.createPod({
      name: "relay-old",
      nodeName: "node-a",
      podIP: "10.0.0.1",
      creationTimestamp: "2024-01-01T00:00:00Z",
    });
  });
  await startWithin(h.discovery);
  h.kube.createPod({
    name: "relay-new",
    nodeName: "node-a",
    podIP: "10.0.0.1",
    ready: false,
    ports: { admin: 9999 },
    creationTimestamp: "2024-01-02T00:00:00Z",
  });
  await delay(200);
  assertEquals(h.discovery.peers(), [peer("node-a", "10.0.0.1")]);
  h.kube.deletePod("relay-old", { graceful: true });
  await waitFor("old terminating", () => h.view()[0] === "node-a=10.0.0.1 not-ready");
  assertEquals(h.discovery.peers()[0]!.adminPort, 9999);
  h.kube.updatePod("relay-new", { ready: true });
  await waitFor("new ready", () => h.view()[0] === "node-a=10.0.0.1");
  assertEquals(h.discovery.peers(), [peer("node-a", "10.0.0.1", { adminPort: 9999 })]);
});

Deno.test('KubernetesDiscovery falls back to zone "" when Nodes are forbidden, warning once', async () => {
  await using h = await harness((kube) => {
    threeRelays(kube);
    kube.forbid({ resource: "nodes" });
  });
  await startWithin(h.discovery);
  assertEquals(h.view(), ["node-a=10.0.0.1", "node-b=10.0.0.2", "node-c=10.0.0.3"]);
  await waitFor("retries", () => h.kube.count("list", "nodes", 403) >= 3);
  const warnings = h.logs.filter((l) => l.level === "warn");
  assertEquals(warnings.length, 1, JSON.stringify(warnings));
  assert(/cannot read Nodes \(403\)/.test(warnings[0]!.msg));
  // RBAC fixed: zones appear
  h.kube.allow();
  await waitFor("zones", () => h.view()[0] === "node-a=10.0.0.1 @z1", 3000);
});

Deno.test("KubernetesDiscovery relists on 410 mid-run, keeping the view meanwhile (ERROR event and HTTP 410)", async () => {
  for (const mode of ["event", "http"] as const) {
    await using h = await harness(threeRelays, { expiredMode: mode });
    await startWithin(h.discovery);
    await waitFor("watches", () => h.kube.openWatches === 2);
    assertEquals(h.kube.count("list", "pods"), 1);
    h.kube.expireHistory();
    h.kube.closeWatches();
    // a change the relist has to pick up (the history that had it is gone)
    h.kube.deletePod("relay-c");
    assertEquals(h.view(), THREE);
    await waitFor(`${mode}: relist`, () => h.view().length === 2);
    assertEquals(h.kube.count("list", "pods"), 2, mode);
    const expired = h.kube.requests.filter((r) => r.verb === "watch" && r.resource === "pods").length;
    assert(expired >= 2, `${mode}: ${expired} watches`);
    // the view never went through an empty or partial state
    assertEquals(h.changes.map((c) => c.length), [3, 2], mode);
    assert(h.discovery.synced);
  }
});

Deno.test("KubernetesDiscovery resumes a closed watch from its resourceVersion without relisting", async () => {
  await using h = await harness(threeRelays);
  await startWithin(h.discovery);
  await waitFor("watches", () => h.kube.openWatches === 2);
  for (let i = 1; i <= 3; i++) {
    h.kube.closeWatches();
    h.kube.updatePod("relay-a", { podIP: `10.0.1.${i}` }); // happens while no watch is open
    await waitFor(`change ${i}`, () => h.view()[0] === `node-a=10.0.1.${i} @z1`);
    await waitFor("watches again", () => h.kube.openWatches === 2);
  }
  assertEquals(h.kube.count("list", "pods"), 1);
  assertEquals(h.kube.count("list", "nodes"), 1);
  assertEquals(h.kube.count("watch", "pods"), 4);
});

Deno.test("KubernetesDiscovery keeps the last view through an API outage and catches up after it", async () => {
  await using h = await harness(threeRelays);
  await startWithin(h.discovery);
  await waitFor("watches", () => h.kube.openWatches === 2);
  await h.kube.pause();
  h.kube.deletePod("relay-b");
  h.kube.createPod({ name: "relay-d", nodeName: "node-d", podIP: "10.0.0.4" });
  await delay(400); // several failed retries
  assertEquals(h.view(), THREE);
  assert(h.discovery.synced);
  assertEquals(h.changes.length, 1);
  await h.kube.resume();
  await waitFor(
    "catch-up",
    () => h.view().join() === "node-a=10.0.0.1 @z1,node-c=10.0.0.3 @z2,node-d=10.0.0.4",
  );
  // the history still had the outage's events: resumed, not relisted
  assertEquals(h.kube.count("list", "pods"), 1);
  assert(h.logs.some((l) => l.level === "warn" && l.msg.includes("keeping the last view")));
  assert(h.logs.some((l) => l.msg === "Kubernetes API reachable again"));

  // a longer outage whose events were compacted away: relist on resume
  await h.kube.pause();
  h.kube.updatePod("relay-a", { ready: false });
  h.kube.expireHistory();
  await delay(100);
  await h.kube.resume();
  await waitFor("relisted", () => h.view()[0] === "node-a=10.0.0.1 not-ready @z1");
  assertEquals(h.kube.count("list", "pods"), 2);
});

Deno.test("KubernetesDiscovery retries 500s with a growing backoff before its first sync", async () => {
  await using h = await harness(threeRelays, {}, {
    backoff: { initialMs: 40, maxMs: 1000 },
    random: () => 0,
  });
  h.kube.failNext(3, 500, { resource: "pods", verb: "list" });
  await startWithin(h.discovery);
  assertEquals(h.view(), THREE);
  const lists = h.kube.requests.filter((r) => r.verb === "list" && r.resource === "pods");
  assertEquals(lists.map((r) => r.status), [500, 500, 500, 200]);
  // random 0: delays are exactly half the ceiling, 20, 40, 80 ms
  const gaps = lists.slice(1).map((r, i) => r.time - lists[i]!.time);
  [20, 40, 80].forEach((min, i) =>
    assert(gaps[i]! >= min - 2, `gap ${i} was ${gaps[i]} ms, expected >= ${min}`)
  );
  const failures = h.logs.filter((l) => l.msg.includes("request failed"));
  assertEquals(failures.map((l) => l.level), ["warn", "debug", "debug"]);
});

Deno.test("KubernetesDiscovery re-reads the rotated token file after 401s and recovers", async () => {
  await using h = await harness(threeRelays);
  await startWithin(h.discovery);
  await waitFor("watches", () => h.kube.openWatches === 2);
  h.kube.setToken("rotated-token");
  h.kube.closeWatches();
  await waitFor("401s", () => h.kube.count("watch", "pods", 401) >= 2);
  h.kube.updatePod("relay-a", { ready: false });
  await delay(100);
  assertEquals(h.view(), THREE);
  await Deno.writeTextFile(`${h.saDir}/token`, "rotated-token\n");
  await waitFor("recovered", () => h.view()[0] === "node-a=10.0.0.1 not-ready @z1");
  const last = h.kube.requests.at(-1)!;
  assertEquals(last.token, "rotated-token");
});

Deno.test("KubernetesDiscovery.serviceEndpoints() watches a Service's EndpointSlices on first use", async () => {
  await using h = await harness((kube) => {
    threeRelays(kube);
    kube.setEndpointSlice("cams", "cam1", [
      { address: "10.1.0.5", nodeName: "node-b", ready: true },
      { address: "10.1.0.6", nodeName: "node-c", ready: false },
    ], [{ name: "rtsp", port: 8554 }]);
    kube.setEndpointSlice("cams", "cam2", [{ address: "10.1.0.7", nodeName: "node-a" }], [{ port: 554 }]);
  });
  await startWithin(h.discovery);
  assertEquals(h.kube.count("list", "endpointslices"), 0);
  assertEquals(h.discovery.serviceEndpoints("cams", "cam1"), []);
  await waitFor("cam1 endpoints", () => h.discovery.serviceEndpoints("cams", "cam1").length === 1);
  assertEquals(h.discovery.serviceEndpoints("cams", "cam1"), [
    { address: "10.1.0.5", nodeName: "node-b", ports: [{ name: "rtsp", port: 8554 }] },
  ]);
  const sliceList = h.kube.requests.find((r) => r.verb === "list" && r.resource === "endpointslices")!;
  assertEquals(sliceList.path, "/apis/discovery.k8s.io/v1/namespaces/cams/endpointslices");
  assert(sliceList.query.includes("labelSelector=kubernetes.io%2Fservice-name%3Dcam1"), sliceList.query);
  const notified = h.changes.length;
  assert(notified >= 2, "the endpoints' arrival notified listeners");

  // the camera pod moves to node-a
  h.kube.setEndpointSlice("cams", "cam1", [{ address: "10.1.0.8", nodeName: "node-a", ready: true }], [
    { name: "rtsp", port: 8554 },
  ]);
  await waitFor("moved", () => h.discovery.serviceEndpoints("cams", "cam1")[0]?.nodeName === "node-a");
  assert(h.changes.length > notified);
  assertEquals(h.changes.at(-1), h.discovery.peers());
  h.kube.deleteEndpointSlice("cams", "cam1-slice");
  await waitFor("gone", () => h.discovery.serviceEndpoints("cams", "cam1").length === 0);
  assertEquals(h.kube.count("list", "endpointslices"), 1);
});

Deno.test("KubernetesDiscovery.stop() before the first sync rejects start() and leaves nothing running", async () => {
  await using h = await harness(threeRelays);
  await h.kube.pause();
  const rejected = assertRejects(h.discovery.start(), /stopped before its first sync/);
  await delay(100);
  await h.discovery.stop();
  await rejected;
  assertEquals(h.discovery.synced, false);
});
