import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { type FakeKube, startFakeKube } from "../../tests/support/fake_kube.ts";
import { createLogger, silentLogger } from "../log.ts";
import { KubeApi, type KubeObject } from "./kube_client.ts";
import { ObjectStore, Reflector, type ReflectorStore } from "./kube_reflector.ts";
import { sleep } from "./kube_retry.ts";

async function waitFor(what: string, cond: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

class RecordingStore implements ReflectorStore<KubeObject> {
  readonly objects = new Map<string, KubeObject>();
  readonly ops: string[] = [];
  replace(items: readonly KubeObject[]): void {
    this.objects.clear();
    for (const o of items) this.objects.set(o.metadata!.name!, o);
    this.ops.push(`replace ${items.map((o) => o.metadata!.name).join(",")}`);
  }
  apply(type: "ADDED" | "MODIFIED" | "DELETED", o: KubeObject): void {
    if (type === "DELETED") this.objects.delete(o.metadata!.name!);
    else this.objects.set(o.metadata!.name!, o);
    this.ops.push(`${type} ${o.metadata!.name}`);
  }
}

async function reflectorFor(kube: FakeKube, store: RecordingStore, path = "/api/v1/nodes") {
  const api = new KubeApi({ ...await kube.clientOptions(), logger: silentLogger });
  const reflector = new Reflector<KubeObject>({
    api,
    path,
    store,
    logger: silentLogger,
    backoff: { initialMs: 20, maxMs: 100 },
  });
  return {
    api,
    reflector,
    async [Symbol.asyncDispose]() {
      await reflector.stop();
      api.close();
    },
  };
}

Deno.test("Reflector resumes from a BOOKMARK's resourceVersion (no relist although its events left the history)", async () => {
  await using kube = await startFakeKube({ historyLimit: 3, bookmarkIntervalMs: 30, expiredMode: "http" });
  kube.setNode("node-a");
  const store = new RecordingStore();
  await using r = await reflectorFor(kube, store);
  r.reflector.start();
  await r.reflector.firstSync;
  await waitFor("the watch", () => kube.openWatches === 1);
  // pod churn pushes every node event out of the history; only bookmarks tell the reflector where it is
  for (let i = 0; i < 5; i++) kube.createPod({ name: `p${i}` });
  await waitFor("a bookmark", () => r.reflector.resourceVersion === kube.resourceVersion);
  kube.closeWatches();
  kube.setNode("node-b");
  await waitFor("node-b", () => store.objects.has("node-b"));
  assertEquals(kube.count("list", "nodes"), 1);
  assertEquals(kube.count("watch", "nodes", 410), 0);
  assertEquals(store.ops, ["replace node-a", "ADDED node-b"]);
});

Deno.test("Reflector relists on an ERROR 410 event and keeps its store until the new list replaces it", async () => {
  await using kube = await startFakeKube({ expiredMode: "event" });
  kube.setNode("node-a");
  const store = new RecordingStore();
  await using r = await reflectorFor(kube, store);
  r.reflector.start();
  await r.reflector.firstSync;
  kube.expireHistory();
  kube.closeWatches();
  kube.deleteNode("node-a");
  kube.setNode("node-c");
  await waitFor("the relist", () => store.objects.has("node-c"));
  assertEquals(kube.count("list", "nodes"), 2);
  assertEquals(store.ops, ["replace node-a", "replace node-c"]);
  assert(r.reflector.synced);
});

Deno.test("Reflector backs off after a failed watch, warns once, and resumes without relisting", async () => {
  const logs: LogLine[] = [];
  await using kube = await startFakeKube();
  await using r = await loggedReflector(kube, logs, { backoff: { initialMs: 20, maxMs: 100 } });
  r.reflector.start();
  await r.reflector.firstSync;
  kube.failNext(1, 500, { resource: "nodes", verb: "watch" });
  kube.closeWatches();
  kube.setNode("node-x");
  await waitFor("node-x", () => r.store.objects.has("node-x"));
  const msgs = logs.map((l) => l.msg);
  assert(
    msgs.some((m) => m.startsWith("Kubernetes API request failed; keeping the last view")),
    msgs.join("\n"),
  );
  assert(msgs.some((m) => m.startsWith("Kubernetes API reachable again")), msgs.join("\n"));
  assertEquals(kube.count("list", "nodes"), 1);
});

interface LogLine {
  level: string;
  msg: string;
  retryInMs?: number;
  outageS?: number;
  failingForS?: number;
  failedAttempts?: number;
  error?: string;
}

/** A reflector on the fake's nodes with a debug logger into `logs` and the given options. */
async function loggedReflector(
  kube: FakeKube,
  logs: LogLine[],
  options: Partial<ConstructorParameters<typeof Reflector<KubeObject>>[0]> = {},
) {
  const store = new RecordingStore();
  const api = new KubeApi({ ...await kube.clientOptions(), logger: silentLogger });
  const reflector = new Reflector<KubeObject>({
    api,
    path: "/api/v1/nodes",
    store,
    logger: createLogger({ level: "debug", write: (l) => logs.push(JSON.parse(l)) }),
    random: () => 0,
    ...options,
  });
  return {
    store,
    reflector,
    async [Symbol.asyncDispose]() {
      await reflector.stop();
      api.close();
    },
  };
}

Deno.test("Reflector starts its backoff over after a watch that streamed, so a new outage is retried at once", async () => {
  const logs: LogLine[] = [];
  await using kube = await startFakeKube({ bookmarkIntervalMs: 20 });
  await using r = await loggedReflector(kube, logs, { backoff: { initialMs: 40, maxMs: 10_000 } });
  r.reflector.start();
  await r.reflector.firstSync;
  // a first outage: five failed watches grow the backoff to 40 * 2^4 (random 0: half of it)
  kube.failNext(5, 500, { verb: "watch" });
  kube.closeWatches();
  await waitFor("the watch back", () => logs.some((l) => l.msg === "Kubernetes API reachable again"));
  assertEquals(
    logs.filter((l) => l.msg.includes("failed")).map((l) => [l.level, l.retryInMs]),
    [["warn", 20], ["debug", 40], ["debug", 80], ["debug", 160], ["debug", 320]],
  );
  const firstBack = logs.find((l) => l.msg === "Kubernetes API reachable again")!;
  assertEquals(firstBack.failedAttempts, 5);
  assert(firstBack.outageS !== undefined && firstBack.outageS >= 0.5, JSON.stringify(firstBack));
  // the watch streams (bookmarks), then the API goes away: the first retry comes after the initial delay
  const mark = logs.length;
  await waitFor("a bookmark", () => r.reflector.resourceVersion === kube.resourceVersion);
  await sleep(60, new AbortController().signal);
  await kube.pause();
  await waitFor("the outage warning", () => logs.slice(mark).some((l) => l.level === "warn"));
  const warn = logs.slice(mark).find((l) => l.level === "warn")!;
  assertEquals([warn.msg, warn.retryInMs], [
    "Kubernetes API request failed; keeping the last view and retrying",
    20,
  ]);
  await kube.resume();
  await waitFor(
    "the recovery",
    () => logs.slice(mark).some((l) => l.msg === "Kubernetes API reachable again"),
  );
  assertEquals(logs.slice(mark).filter((l) => l.level === "warn").length, 1, "one warning per outage");
  assertEquals(kube.count("list", "nodes"), 1, "no relist: the watch resumed");
});

Deno.test("Reflector reminds of a long outage at warn every outageReminderMs, retries in between at debug", async () => {
  const logs: LogLine[] = [];
  let now = 1000;
  await using kube = await startFakeKube();
  await using r = await loggedReflector(kube, logs, {
    backoff: { initialMs: 20, maxMs: 20 },
    outageReminderMs: 60_000,
    now: () => now,
  });
  r.reflector.start();
  await r.reflector.firstSync;
  await kube.pause();
  await waitFor("three failures", () => logs.filter((l) => l.msg.includes("failed")).length >= 3);
  now += 61_000; // a minute of retries later (the clock is the reflector's own, pinned here)
  await waitFor("the reminder", () => logs.some((l) => l.msg.startsWith("Kubernetes API still failing")));
  now += 1000;
  await kube.resume();
  await waitFor("the recovery", () => logs.some((l) => l.msg === "Kubernetes API reachable again"));
  const warns = logs.filter((l) => l.level === "warn");
  assertEquals(warns.map((l) => l.msg), [
    "Kubernetes API request failed; keeping the last view and retrying",
    "Kubernetes API still failing; keeping the last view and retrying",
  ]);
  assertEquals(warns[1]!.failingForS, 61);
  const back = logs.find((l) => l.msg === "Kubernetes API reachable again")!;
  assertEquals(back.outageS, 62);
  assert(back.failedAttempts! >= 4, JSON.stringify(back));
  assert(logs.filter((l) => l.level === "debug" && l.msg.includes("failed again")).length >= 2);
});

Deno.test("Reflector gives up on a LIST that gets no answer within requestTimeoutMs and retries", async () => {
  // An API server behind a silent partition: the TCP connection opens, nothing ever comes back.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const held: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const conn of listener) held.push(conn);
  })();
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(`${dir}/token`, "t");
  const logs: LogLine[] = [];
  const api = new KubeApi({
    apiUrl: new URL(`http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`),
    tokenFile: `${dir}/token`,
    caCertPem: "",
    logger: silentLogger,
  });
  const reflector = new Reflector<KubeObject>({
    api,
    path: "/api/v1/nodes",
    store: new RecordingStore(),
    logger: createLogger({ level: "debug", write: (l) => logs.push(JSON.parse(l)) }),
    backoff: { initialMs: 20, maxMs: 20 },
    requestTimeoutMs: 150,
  });
  try {
    const t0 = performance.now();
    reflector.start();
    await reflector.firstAttempt;
    const took = performance.now() - t0;
    assert(took >= 140 && took < 2000, `first attempt ended after ${took} ms`);
    await waitFor("a second attempt", () => logs.length >= 2);
    assertEquals(logs[0]!.level, "warn");
    assert(/no complete answer within 150 ms/.test(logs[0]!.error ?? ""), JSON.stringify(logs[0]));
    assert(reflector.failing && !reflector.synced);
  } finally {
    await reflector.stop();
    api.close();
    listener.close();
    for (const c of held) c.close();
    await accepting.catch(() => {});
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("Reflector measures an outage on the monotonic clock: a wall-clock step during it changes nothing", async () => {
  const logs: LogLine[] = [];
  await using kube = await startFakeKube();
  await using r = await loggedReflector(kube, logs, { backoff: { initialMs: 20, maxMs: 40 } });
  r.reflector.start();
  await r.reflector.firstSync;
  const realNow = Date.now;
  try {
    await kube.pause();
    await waitFor("the outage warning", () => logs.some((l) => l.level === "warn"));
    const stepped = realNow() + 3_600_000;
    Date.now = () => stepped; // an NTP step of one hour forward (a VM resumed)
    await sleep(100, new AbortController().signal);
    await kube.resume();
    await waitFor("the recovery", () => logs.some((l) => l.msg === "Kubernetes API reachable again"));
  } finally {
    Date.now = realNow;
  }
  const back = logs.find((l) => l.msg === "Kubernetes API reachable again")!;
  assert(back.outageS! < 5, `outage measured as ${back.outageS} s`);
  assertEquals(logs.filter((l) => l.msg.startsWith("Kubernetes API still failing")).length, 0, "no reminder");
});

Deno.test("ObjectStore keys objects by namespace/name and reports every change", () => {
  let changes = 0;
  const store = new ObjectStore<KubeObject>(() => changes++);
  store.replace([{ metadata: { namespace: "msm", name: "a" } }, { metadata: { name: "node-1" } }]);
  assertEquals([...store.objects.keys()], ["msm/a", "/node-1"]);
  store.apply("ADDED", { metadata: { namespace: "msm", name: "b" } });
  store.apply("MODIFIED", { metadata: { namespace: "msm", name: "a", labels: { x: "1" } } });
  store.apply("DELETED", { metadata: { name: "node-1" } });
  assertEquals([...store.objects.keys()], ["msm/a", "msm/b"]);
  assertEquals(store.objects.get("msm/a")?.metadata?.labels, { x: "1" });
  store.replace([]);
  assertEquals(store.objects.size, 0);
  assertEquals(changes, 5);
});
