import { deepStrictEqual as assertEquals, ok as assert, rejects as assertRejects } from "node:assert/strict";
import { type FakeKube, startFakeKube } from "../../tests/support/fake_kube.ts";
import { createLogger, silentLogger } from "../log.ts";
import {
  backoffDelay,
  KubeApi,
  KubeApiError,
  type KubeObject,
  readLines,
  Reflector,
  type ReflectorStore,
  sleep,
} from "./kube_client.ts";

function streamOf(chunks: Uint8Array[]): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(c) {
      for (const chunk of chunks) c.enqueue(chunk);
      c.close();
    },
  });
}

async function collect(body: ReadableStream<Uint8Array>, maxLine?: number): Promise<string[]> {
  const out: string[] = [];
  for await (const line of readLines(body, maxLine)) out.push(line);
  return out;
}

async function waitFor(what: string, cond: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

Deno.test("readLines() reassembles lines split at every byte boundary, multi-byte characters included", async () => {
  const text = '{"type":"ADDED","object":{"n":"zoné-ü"}}\n{"type":"BOOKMARK"}\r\n\nlast';
  const bytes = new TextEncoder().encode(text);
  const expected = ['{"type":"ADDED","object":{"n":"zoné-ü"}}', '{"type":"BOOKMARK"}', "", "last"];
  for (let cut = 0; cut <= bytes.length; cut++) {
    assertEquals(
      await collect(streamOf([bytes.subarray(0, cut), bytes.subarray(cut)])),
      expected,
      `cut ${cut}`,
    );
  }
  // one byte per chunk
  assertEquals(await collect(streamOf([...bytes].map((b) => new Uint8Array([b])))), expected);
});

Deno.test("readLines() refuses a line longer than its limit and cancels the stream", async () => {
  let cancelled = false;
  const body = new ReadableStream<Uint8Array>({
    pull(c) {
      c.enqueue(new TextEncoder().encode("x".repeat(64)));
    },
    cancel() {
      cancelled = true;
    },
  });
  await assertRejects(collect(body, 100), /exceeds 100 characters/);
  assert(cancelled);
});

Deno.test("backoffDelay() doubles from initialMs, caps at maxMs and jitters between half and all", () => {
  const b = { initialMs: 100, maxMs: 1000 };
  const table: Array<[attempt: number, random: number, delay: number]> = [
    [0, 0, 50],
    [0, 0.5, 75],
    [0, 1, 100],
    [1, 0, 100],
    [2, 1, 400],
    [3, 1, 800],
    [4, 1, 1000],
    [4, 0, 500],
    [60, 1, 1000],
  ];
  for (const [attempt, random, delay] of table) {
    assertEquals(backoffDelay(attempt, b, random), delay, `attempt ${attempt}, random ${random}`);
  }
  for (let i = 0; i < 100; i++) {
    const d = backoffDelay(i % 8, b);
    assert(d >= 50 && d <= 1000, String(d));
  }
});

Deno.test("sleep() ends early on abort and leaves no timer", async () => {
  const ac = new AbortController();
  const t0 = Date.now();
  const p = sleep(10_000, ac.signal);
  ac.abort();
  await p;
  assert(Date.now() - t0 < 1000);
  await sleep(1, ac.signal);
});

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
  const dir = await kube.writeServiceAccountDir();
  const api = new KubeApi({
    apiUrl: new URL(kube.url),
    tokenFile: `${dir}/token`,
    caCertPem: kube.caCertPem,
    logger: silentLogger,
  });
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
    dir,
    async [Symbol.asyncDispose]() {
      await reflector.stop();
      api.close();
    },
  };
}

Deno.test("KubeApi.get() throws KubeApiError with the Status reason on a non-2xx answer", async () => {
  await using kube = await startFakeKube();
  await using r = await reflectorFor(kube, new RecordingStore());
  const ac = new AbortController();
  const res = await r.api.get("/api/v1/nodes", { labelSelector: "a" }, ac.signal);
  assertEquals(((await res.json()) as { kind: string }).kind, "NodeList");
  kube.forbid({ resource: "nodes" });
  const err = await r.api.get("/api/v1/nodes", {}, ac.signal).catch((e) => e);
  assert(err instanceof KubeApiError);
  assertEquals([err.status, err.reason], [403, "Forbidden"]);
  assert(/GET \/api\/v1\/nodes failed with status 403 \(Forbidden\): nodes is forbidden/.test(err.message));
  assertEquals(kube.requests[0]!.query, "?labelSelector=a");
});

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
  const logs: string[] = [];
  await using kube = await startFakeKube();
  const store = new RecordingStore();
  const dir = await kube.writeServiceAccountDir();
  const api = new KubeApi({
    apiUrl: new URL(kube.url),
    tokenFile: `${dir}/token`,
    caCertPem: kube.caCertPem,
    logger: silentLogger,
  });
  const reflector = new Reflector<KubeObject>({
    api,
    path: "/api/v1/nodes",
    store,
    logger: createLogger({ level: "debug", write: (l) => logs.push(l) }),
    backoff: { initialMs: 20, maxMs: 100 },
  });
  try {
    reflector.start();
    await reflector.firstSync;
    kube.failNext(1, 500, { resource: "nodes", verb: "watch" });
    kube.closeWatches();
    kube.setNode("node-x");
    await waitFor("node-x", () => store.objects.has("node-x"));
    assert(
      logs.some((l) => l.includes("Kubernetes API request failed; keeping the last view")),
      logs.join("\n"),
    );
    assert(logs.some((l) => l.includes("Kubernetes API reachable again")), logs.join("\n"));
    assertEquals(kube.count("list", "nodes"), 1);
  } finally {
    await reflector.stop();
    api.close();
  }
});
