/**
 * Proves the fake Kubernetes API server against the list/watch contract the real one keeps.
 * @module
 */

import { deepStrictEqual as assertEquals, ok as assert, rejects as assertRejects } from "node:assert/strict";
import {
  type FakeKube,
  type FakeWatchEvent,
  matchesLabels,
  parseLabelSelector,
  relayPod,
  startFakeKube,
} from "./fake_kube.ts";

const POD_PATH = "/api/v1/namespaces/msm/pods";
const RELAY = "labelSelector=app.kubernetes.io%2Fname%3Dmsm-relay";

interface Api extends Disposable {
  readonly client: Deno.HttpClient;
  get(path: string, token?: string | null): Promise<{ status: number; body: Record<string, unknown> }>;
  watch(path: string): Promise<WatchReader>;
}

/** Reads a watch stream event by event (lines may span chunks). */
interface WatchReader extends AsyncDisposable {
  readonly status: number;
  /** The next event, or null at the end of the stream; throws after `ms` without one. */
  next(ms?: number): Promise<FakeWatchEvent | null>;
}

function api(kube: FakeKube): Api {
  const client = Deno.createHttpClient({ caCerts: [kube.caCertPem] });
  const headers = (token: string | null | undefined): Record<string, string> =>
    token === null ? {} : { authorization: `Bearer ${token ?? kube.token}` };
  return {
    client,
    async get(path, token) {
      const res = await fetch(kube.url + path, { client, headers: headers(token) });
      return { status: res.status, body: await res.json() };
    },
    async watch(path) {
      const ac = new AbortController();
      const res = await fetch(kube.url + path, { client, headers: headers(undefined), signal: ac.signal });
      const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
      let buf = "";
      let ended = false;
      return {
        status: res.status,
        async next(ms = 3000) {
          let timer: ReturnType<typeof setTimeout> | undefined;
          const timeout = new Promise<never>((_, reject) => {
            timer = setTimeout(() => reject(new Error(`no watch event within ${ms} ms`)), ms);
          });
          try {
            while (true) {
              const nl = buf.indexOf("\n");
              if (nl >= 0) {
                const line = buf.slice(0, nl);
                buf = buf.slice(nl + 1);
                return JSON.parse(line) as FakeWatchEvent;
              }
              if (ended) return null;
              const { value, done } = await Promise.race([reader.read(), timeout]);
              if (done) ended = true;
              else buf += value;
            }
          } finally {
            clearTimeout(timer);
          }
        },
        async [Symbol.asyncDispose]() {
          ac.abort();
          await reader.cancel().catch(() => {});
        },
      };
    },
    [Symbol.dispose]() {
      client.close();
    },
  };
}

function names(items: unknown): string[] {
  return (items as Array<{ metadata: { name: string } }>).map((o) => o.metadata.name);
}

function eventSummary(ev: FakeWatchEvent | null): string {
  if (ev === null) return "END";
  const o = ev.object as { metadata?: { name?: string }; code?: number };
  return ev.type === "ERROR" ? `ERROR ${o.code}` : `${ev.type} ${o.metadata?.name ?? ""}`.trim();
}

Deno.test("startFakeKube() serves HTTPS verified with its CA and is refused without it", async () => {
  await using kube = await startFakeKube();
  assert(/^https:\/\/127\.0\.0\.1:\d+$/.test(kube.url), kube.url);
  assert(kube.caCertPem.includes("BEGIN CERTIFICATE"));
  using a = api(kube);
  assertEquals((await a.get(POD_PATH)).status, 200);
  // the default trust store does not know the test CA
  await assertRejects(fetch(kube.url + POD_PATH, { headers: { authorization: `Bearer ${kube.token}` } }));
  // localhost is in the certificate too
  const res = await fetch(kube.url.replace("127.0.0.1", "localhost") + POD_PATH, {
    client: a.client,
    headers: { authorization: `Bearer ${kube.token}` },
  });
  assertEquals(res.status, 200);
  await res.body?.cancel();
});

Deno.test("fake API answers 401 with a Status without the right bearer token; setToken() rotates it", async () => {
  await using kube = await startFakeKube({ token: "first" });
  using a = api(kube);
  const none = await a.get(POD_PATH, null);
  assertEquals(none.status, 401);
  assertEquals(none.body.kind, "Status");
  assertEquals(none.body.code, 401);
  assertEquals(none.body.reason, "Unauthorized");
  assertEquals((await a.get(POD_PATH, "wrong")).status, 401);
  assertEquals((await a.get(POD_PATH, "first")).status, 200);
  kube.setToken("second");
  assertEquals((await a.get(POD_PATH, "first")).status, 401);
  assertEquals((await a.get(POD_PATH, "second")).status, 200);
  assertEquals(kube.count("list", "pods", 401), 3);
});

Deno.test("fake API LIST returns a typed list with the store's resourceVersion, filtered by selectors", async () => {
  await using kube = await startFakeKube();
  using a = api(kube);
  kube.createPod({ name: "relay-a", nodeName: "node-a", podIP: "10.0.0.1" });
  kube.createPod({ name: "relay-b", nodeName: "node-b", podIP: "10.0.0.2", labels: { tier: "edge" } });
  kube.createPod({
    name: "other",
    nodeName: "node-a",
    podIP: "10.0.0.9",
    labels: { "app.kubernetes.io/name": null },
  });
  kube.createPod({ name: "elsewhere", namespace: "other-ns", nodeName: "node-a", podIP: "10.0.0.8" });

  const all = await a.get(POD_PATH);
  assertEquals(all.status, 200);
  assertEquals(all.body.kind, "PodList");
  assertEquals(all.body.apiVersion, "v1");
  assertEquals((all.body.metadata as { resourceVersion: string }).resourceVersion, kube.resourceVersion);
  assertEquals(names(all.body.items), ["other", "relay-a", "relay-b"]);
  const item = (all.body.items as Array<{ metadata: Record<string, unknown> }>)[1]!;
  assertEquals(item.metadata.namespace, "msm");
  assert(typeof item.metadata.uid === "string" && typeof item.metadata.resourceVersion === "string");

  const cases: Array<[string, string[]]> = [
    ["app.kubernetes.io/name=msm-relay", ["relay-a", "relay-b"]],
    ["app.kubernetes.io/name==msm-relay,tier", ["relay-b"]],
    ["app.kubernetes.io/name!=msm-relay", ["other"]],
    ["!tier,app.kubernetes.io/name", ["relay-a"]],
    ["tier in (edge,core)", ["relay-b"]],
    ["tier notin (edge)", ["other", "relay-a"]],
  ];
  for (const [selector, expected] of cases) {
    const res = await a.get(`${POD_PATH}?labelSelector=${encodeURIComponent(selector)}`);
    assertEquals(names(res.body.items), expected, selector);
  }
  const byName = await a.get(`${POD_PATH}?fieldSelector=${encodeURIComponent("metadata.name=relay-b")}`);
  assertEquals(names(byName.body.items), ["relay-b"]);
  const byNode = await a.get(
    `${POD_PATH}?${RELAY}&fieldSelector=${encodeURIComponent("spec.nodeName=node-a")}`,
  );
  assertEquals(names(byNode.body.items), ["relay-a"]);
  const allNs = await a.get("/api/v1/pods");
  assertEquals(names(allNs.body.items), ["other", "relay-a", "relay-b", "elsewhere"]);

  const bad = await a.get(`${POD_PATH}?labelSelector=${encodeURIComponent("a in (b")}`);
  assertEquals([bad.status, bad.body.reason], [400, "BadRequest"]);
  const badField = await a.get(`${POD_PATH}?fieldSelector=spec.foo%3Dx`);
  assertEquals(badField.status, 400);
  assertEquals(kube.count("list", "pods"), 12);
});

Deno.test("parseLabelSelector() and matchesLabels() follow the Kubernetes selector grammar", () => {
  const labels = { app: "relay", zone: "a" };
  const table: Array<[string, boolean]> = [
    ["", true],
    ["app=relay", true],
    ["app==relay", true],
    ["app=other", false],
    ["app!=other", true],
    ["missing!=x", true],
    ["app", true],
    ["!app", false],
    ["!missing", true],
    ["zone in (a, b)", true],
    ["zone in (b)", false],
    ["zone notin (b)", true],
    ["missing notin (b)", true],
    ["app=relay,zone=b", false],
    [" app = relay , zone ", true],
  ];
  for (const [selector, expected] of table) {
    assertEquals(matchesLabels(parseLabelSelector(selector), labels), expected, selector);
  }
  for (const bad of ["a b", "=x", "a in (b", "a=b c"]) {
    let threw = false;
    try {
      parseLabelSelector(bad);
    } catch {
      threw = true;
    }
    assert(threw, `"${bad}" should not parse`);
  }
});

Deno.test("fake API GET serves nodes by name and endpointslices under discovery.k8s.io", async () => {
  await using kube = await startFakeKube();
  using a = api(kube);
  kube.setNode("node-a", { "topology.kubernetes.io/zone": "z1" });
  const node = await a.get("/api/v1/nodes/node-a");
  assertEquals(node.status, 200);
  assertEquals(node.body.kind, "Node");
  assertEquals((node.body.metadata as { labels: unknown }).labels, { "topology.kubernetes.io/zone": "z1" });
  assertEquals((await a.get("/api/v1/nodes/nope")).status, 404);
  assertEquals((await a.get("/api/v1/namespaces/msm/nodes")).status, 404);

  kube.setEndpointSlice("cams", "cam1", [{ address: "10.1.0.5", nodeName: "node-a", ready: true }], [
    { name: "rtsp", port: 8554 },
  ]);
  const slices = await a.get(
    "/apis/discovery.k8s.io/v1/namespaces/cams/endpointslices?labelSelector=kubernetes.io%2Fservice-name%3Dcam1",
  );
  assertEquals(slices.body.kind, "EndpointSliceList");
  assertEquals(slices.body.apiVersion, "discovery.k8s.io/v1");
  const slice = (slices.body.items as Array<Record<string, unknown>>)[0]!;
  assertEquals(slice.endpoints, [{
    addresses: ["10.1.0.5"],
    conditions: { ready: true, serving: true, terminating: false },
    nodeName: "node-a",
  }]);
  assertEquals(slice.ports, [{ name: "rtsp", port: 8554, protocol: "TCP" }]);
  assertEquals((await a.get("/api/v1/namespaces/cams/endpointslices")).status, 404);
});

Deno.test("fake API WATCH delivers ADDED, MODIFIED, DELETED in order after a resourceVersion", async () => {
  await using kube = await startFakeKube();
  using a = api(kube);
  kube.createPod({ name: "relay-a", nodeName: "node-a", podIP: "10.0.0.1" });
  const list = await a.get(`${POD_PATH}?${RELAY}`);
  const rv = (list.body.metadata as { resourceVersion: string }).resourceVersion;
  // a change between list and watch is replayed from the history
  kube.createPod({ name: "relay-b", nodeName: "node-b", podIP: "10.0.0.2" });
  await using w = await a.watch(`${POD_PATH}?${RELAY}&watch=1&resourceVersion=${rv}`);
  assertEquals(w.status, 200);
  const added = await w.next();
  assertEquals(eventSummary(added), "ADDED relay-b");
  assertEquals((added!.object as { kind: string }).kind, "Pod");
  kube.updatePod("relay-a", { ready: false });
  const modified = await w.next();
  assertEquals(eventSummary(modified), "MODIFIED relay-a");
  const status =
    (modified!.object as { status: { conditions: Array<{ type: string; status: string }> } }).status;
  assertEquals(status.conditions.find((c) => c.type === "Ready")?.status, "False");
  const rvBeforeDelete = Number(kube.resourceVersion);
  kube.deletePod("relay-b");
  const deleted = await w.next();
  assertEquals(eventSummary(deleted), "DELETED relay-b");
  // the deletion has its own resourceVersion
  assertEquals(
    Number((deleted!.object as { metadata: { resourceVersion: string } }).metadata.resourceVersion),
    rvBeforeDelete + 1,
  );
  // a graceful delete is a MODIFIED with deletionTimestamp first
  kube.deletePod("relay-a", { graceful: true });
  const marked = await w.next();
  assertEquals(eventSummary(marked), "MODIFIED relay-a");
  assert((marked!.object as { metadata: { deletionTimestamp?: string } }).metadata.deletionTimestamp);
  kube.deletePod("relay-a");
  assertEquals(eventSummary(await w.next()), "DELETED relay-a");
  assertEquals(kube.count("watch", "pods"), 1);
});

Deno.test("fake API WATCH from 0 starts with synthetic ADDED events; selectors turn leaving into DELETED", async () => {
  await using kube = await startFakeKube();
  using a = api(kube);
  kube.createPod({ name: "relay-a", nodeName: "node-a", podIP: "10.0.0.1" });
  kube.createPod({ name: "relay-b", nodeName: "node-b", podIP: "10.0.0.2" });
  await using w = await a.watch(`${POD_PATH}?${RELAY}&watch=true&resourceVersion=0`);
  assertEquals(eventSummary(await w.next()), "ADDED relay-a");
  assertEquals(eventSummary(await w.next()), "ADDED relay-b");
  kube.updatePod("relay-a", { labels: { "app.kubernetes.io/name": null } });
  assertEquals(eventSummary(await w.next()), "DELETED relay-a");
  kube.updatePod("relay-a", { ready: false }); // outside the selection: nothing
  kube.updatePod("relay-a", { labels: { "app.kubernetes.io/name": "msm-relay" } });
  assertEquals(eventSummary(await w.next()), "ADDED relay-a");
  kube.createPod({ name: "elsewhere", namespace: "other", nodeName: "node-c", podIP: "10.0.0.3" });
  kube.createPod({ name: "relay-c", nodeName: "node-c", podIP: "10.0.0.4" });
  assertEquals(eventSummary(await w.next()), "ADDED relay-c");
});

Deno.test("fake API WATCH sends BOOKMARK events with only a resourceVersion when allowed", async () => {
  await using kube = await startFakeKube({ bookmarkIntervalMs: 50 });
  using a = api(kube);
  kube.createPod({ name: "relay-a", nodeName: "node-a", podIP: "10.0.0.1" });
  kube.setNode("node-a"); // bumps the resourceVersion without a pod event
  const rv = kube.resourceVersion;
  {
    await using w = await a.watch(
      `${POD_PATH}?${RELAY}&watch=1&allowWatchBookmarks=true&resourceVersion=${rv}`,
    );
    const ev = await w.next(2000);
    assertEquals(ev, {
      type: "BOOKMARK",
      object: { kind: "Pod", apiVersion: "v1", metadata: { resourceVersion: rv } },
    });
  }
  {
    // without allowWatchBookmarks only real events come
    await using w = await a.watch(`${POD_PATH}?${RELAY}&watch=1&resourceVersion=${rv}`);
    await assertRejects(w.next(300), /no watch event/);
  }
});

Deno.test("fake API WATCH from an expired resourceVersion answers 410 (ERROR event or HTTP)", async () => {
  await using kube = await startFakeKube();
  using a = api(kube);
  kube.createPod({ name: "relay-a", nodeName: "node-a", podIP: "10.0.0.1" });
  const old = kube.resourceVersion;
  kube.expireHistory();
  {
    await using w = await a.watch(`${POD_PATH}?watch=1&resourceVersion=${old}`);
    assertEquals(w.status, 200);
    const ev = await w.next();
    assertEquals(ev?.type, "ERROR");
    const st = ev!.object as Record<string, unknown>;
    assertEquals([st.kind, st.code, st.reason], ["Status", 410, "Expired"]);
    assertEquals(await w.next(), null);
  }
  kube.setExpiredMode("http");
  const gone = await a.get(`${POD_PATH}?watch=1&resourceVersion=${old}`);
  assertEquals([gone.status, gone.body.kind, gone.body.code, gone.body.reason], [
    410,
    "Status",
    410,
    "Expired",
  ]);
  // a fresh list gives a resourceVersion that can be watched from
  const list = await a.get(POD_PATH);
  const fresh = (list.body.metadata as { resourceVersion: string }).resourceVersion;
  {
    await using w = await a.watch(`${POD_PATH}?watch=1&resourceVersion=${fresh}`);
    assertEquals(w.status, 200);
    kube.createPod({ name: "relay-b", nodeName: "node-b", podIP: "10.0.0.2" });
    assertEquals(eventSummary(await w.next()), "ADDED relay-b");
  }
});

Deno.test("fake API keeps a bounded event history: older resourceVersions expire", async () => {
  await using kube = await startFakeKube({ historyLimit: 3, expiredMode: "http" });
  using a = api(kube);
  kube.createPod({ name: "relay-a", nodeName: "node-a", podIP: "10.0.0.1" });
  const start = kube.resourceVersion;
  for (let i = 0; i < 3; i++) kube.updatePod("relay-a", { ready: i % 2 === 0 });
  {
    await using w = await a.watch(`${POD_PATH}?watch=1&resourceVersion=${start}`);
    assertEquals(w.status, 200);
    for (let i = 0; i < 3; i++) assertEquals(eventSummary(await w.next()), "MODIFIED relay-a");
  }
  kube.updatePod("relay-a", { ready: true });
  {
    await using w = await a.watch(`${POD_PATH}?watch=1&resourceVersion=${start}`);
    assertEquals(w.status, 410);
  }
});

Deno.test("fake API ends watch streams after timeoutSeconds and on closeWatches()", async () => {
  await using kube = await startFakeKube();
  using a = api(kube);
  const rv = kube.resourceVersion;
  {
    await using w = await a.watch(`${POD_PATH}?watch=1&timeoutSeconds=1&resourceVersion=${rv}`);
    const t0 = Date.now();
    assertEquals(await w.next(3000), null);
    assert(Date.now() - t0 >= 900, "closed too early");
  }
  {
    await using w = await a.watch(`${POD_PATH}?watch=1&resourceVersion=${rv}`);
    assertEquals(kube.openWatches, 1);
    kube.closeWatches();
    assertEquals(await w.next(), null);
    assertEquals(kube.openWatches, 0);
  }
});

Deno.test("fake API failNext() and forbid() answer Status errors to matching requests", async () => {
  await using kube = await startFakeKube();
  using a = api(kube);
  kube.failNext(2, 500, { resource: "pods", verb: "list" });
  assertEquals((await a.get("/api/v1/nodes")).status, 200);
  const failed = await a.get(POD_PATH);
  assertEquals([failed.status, failed.body.kind, failed.body.reason], [500, "Status", "InternalError"]);
  assertEquals((await a.get(POD_PATH)).status, 500);
  assertEquals((await a.get(POD_PATH)).status, 200);
  kube.failNext(1, 503);
  assertEquals((await a.get("/api/v1/nodes")).status, 503);
  kube.forbid({ resource: "nodes" });
  const denied = await a.get("/api/v1/nodes");
  assertEquals([denied.status, denied.body.reason], [403, "Forbidden"]);
  assertEquals((await a.get(POD_PATH)).status, 200);
  kube.allow();
  assertEquals((await a.get("/api/v1/nodes")).status, 200);
  assertEquals(
    [kube.count("list", "pods"), kube.count("list", "pods", 500), kube.count("list", "nodes", 403)],
    [4, 2, 1],
  );
});

Deno.test("fake API pause() breaks watches and refuses connections; resume() serves on the same port", async () => {
  await using kube = await startFakeKube();
  using a = api(kube);
  const url = kube.url;
  kube.createPod({ name: "relay-a", nodeName: "node-a", podIP: "10.0.0.1" });
  const w = await a.watch(`${POD_PATH}?watch=1&resourceVersion=${kube.resourceVersion}`);
  await kube.pause();
  // the stream breaks: no clean end
  await assertRejects(w.next());
  await w[Symbol.asyncDispose]();
  await assertRejects(a.get(POD_PATH));
  kube.createPod({ name: "relay-b", nodeName: "node-b", podIP: "10.0.0.2" }); // the store still changes
  await kube.resume();
  assertEquals(kube.url, url);
  const list = await a.get(POD_PATH);
  assertEquals(names(list.body.items), ["relay-a", "relay-b"]);
});

Deno.test("relayPod() builds a hostNetwork relay pod with named container ports and a Ready condition", () => {
  const pod = relayPod({
    name: "relay-a",
    nodeName: "node-a",
    podIP: "10.0.0.1",
    ready: false,
    ports: { rtsp: 8554, mesh: 7000 },
    creationTimestamp: "2024-01-01T00:00:00Z",
  });
  assertEquals(pod.metadata, {
    name: "relay-a",
    namespace: "msm",
    labels: { "app.kubernetes.io/name": "msm-relay" },
    creationTimestamp: "2024-01-01T00:00:00Z",
  });
  const spec = pod.spec as { nodeName: string; hostNetwork: boolean; containers: Array<{ ports: unknown }> };
  assertEquals([spec.nodeName, spec.hostNetwork], ["node-a", true]);
  assertEquals(spec.containers[0]!.ports, [
    { name: "rtsp", containerPort: 8554, hostPort: 8554, protocol: "TCP" },
    { name: "mesh", containerPort: 7000, hostPort: 7000, protocol: "UDP" },
  ]);
  const status = pod.status as { podIP: string; conditions: Array<{ type: string; status: string }> };
  assertEquals(status.podIP, "10.0.0.1");
  assertEquals(status.conditions.find((c) => c.type === "Ready")?.status, "False");
  const pending = relayPod({ name: "relay-b" });
  assertEquals((pending.spec as { nodeName?: string }).nodeName, undefined);
  assertEquals((pending.status as { podIP?: string }).podIP, undefined);
});
