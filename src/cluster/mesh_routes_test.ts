/**
 * Tests of the peer protocol's routes with `app.request()` against a real mesh and hub (no sockets, manual time):
 * each route's answer, and bad input (a malformed body: 400 with zod's message; an unknown path: 404; a stale
 * epoch: 409; a caller that is not the relay it names: 403; a relay that is not a member, child or parent: 404)
 * changing nothing. With a mesh key, only signed calls are answered, /paths included.
 * @module
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { MESH_AUTH_HEADER, signRequest } from "./mesh_auth.ts";
import { deriveKeyring } from "./mesh_keys.ts";
import type { JoinResponse, RenewResponse } from "./mesh_protocol.ts";
import {
  HARNESS_INCARNATION,
  HARNESS_WALL_MS,
  type MeshHarness,
  startMeshHarness,
} from "../../tests/support/mesh_harness.ts";

const B = {
  node: "node-b",
  host: "127.0.0.2",
  adminPort: 8080,
  meshPort: 7000,
  incarnation: "bbbbbbbbbbbbbbbb",
};
const C = { ...B, node: "node-c", host: "127.0.0.3", incarnation: "cccccccccccccccc" };

/** A call to `path` from `from` (an address), with a JSON body (a string is sent as is). */
async function call(
  h: MeshHarness,
  method: "GET" | "POST",
  path: string,
  body?: unknown,
  from = "127.0.0.2",
  headers: Record<string, string> = {},
): Promise<{ status: number; json: Record<string, unknown> }> {
  const init: RequestInit = {
    method,
    headers: { "content-type": "application/json", ...headers },
    ...(body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body) }),
  };
  const res = await h.routes.request(`http://127.0.0.1:8080${path}`, init, {
    remoteAddr: { transport: "tcp", hostname: from, port: 40000 },
  });
  return { status: res.status, json: await res.json() };
}

/** What a refused call must leave as it was. */
function state(h: MeshHarness, path: string): string {
  return JSON.stringify({
    tree: h.mesh.treeView(path),
    children: [...h.mesh.childCounts()],
    peers: h.mesh.peersView().map((p) => [p.node, p.live, p.suspectedUntil]),
    sent: h.port.sent.length,
  });
}

async function joined(h: MeshHarness, path = "pub"): Promise<JoinResponse> {
  const r = await call(h, "POST", "/mesh/v1/join", { path, from: B, readers: 1, suspects: [] });
  assertEquals(r.status, 200, JSON.stringify(r.json));
  return r.json as unknown as JoinResponse;
}

Deno.test("mesh routes: /join answers the place, the SDP and the epoch of a stream rooted here", async () => {
  await using h = await startMeshHarness();
  h.publish("pub");
  const join = await joined(h);
  assertEquals([join.root, join.parent.node, join.depth], ["node-a", "node-a", 1]);
  assert(join.epoch.startsWith(`node-a/${HARNESS_INCARNATION}/`), join.epoch);
  assert(join.sdp.includes("H264/90000"));
  assertEquals(h.mesh.treeView("pub")?.members, [{ node: "node-b", readers: 1 }]);
});

Deno.test("mesh routes: malformed bodies are 400 with zod's message, and change nothing", async () => {
  await using h = await startMeshHarness();
  h.publish("pub");
  const before = state(h, "pub");
  assertEquals(await call(h, "POST", "/mesh/v1/join", "{not json"), {
    status: 400,
    json: { error: "Body must be JSON" },
  });
  const bad = await call(h, "POST", "/mesh/v1/join", { path: "pub", from: B, readers: -1 });
  assertEquals(bad.status, 400);
  assert(/^readers: /.test(bad.json.error as string), String(bad.json.error));
  const long = await call(h, "POST", "/mesh/v1/subscribe", {
    path: "x".repeat(300),
    from: B,
    streamId: 1,
    epoch: "e",
  });
  assertEquals(long.status, 400);
  assert(/^path: /.test(long.json.error as string), String(long.json.error));
  const twice = await call(h, "POST", "/mesh/v1/renew", {
    from: B,
    paths: [{ path: "pub", readers: 1, epoch: "e" }, { path: "pub", readers: 2, epoch: "e" }],
  });
  assertEquals(twice, { status: 400, json: { error: "paths: each path at most once" } });
  for (const route of ["leave", "unsubscribe", "rejoin"]) {
    assertEquals((await call(h, "POST", `/mesh/v1/${route}`, { path: "pub" })).status, 400, route);
  }
  assertEquals(state(h, "pub"), before);
});

Deno.test("mesh routes: a join or subscribe naming an unknown path is 404 and changes nothing", async () => {
  await using h = await startMeshHarness();
  h.publish("pub");
  const before = state(h, "nope");
  // Even the suspects it names are not acted on.
  const join = await call(h, "POST", "/mesh/v1/join", {
    path: "nope",
    from: B,
    readers: 1,
    suspects: ["node-c"],
  });
  assertEquals(join, { status: 404, json: { error: `No stream at "nope" here` } });
  const sub = await call(h, "POST", "/mesh/v1/subscribe", { path: "nope", from: B, streamId: 7, epoch: "e" });
  assertEquals(sub, { status: 404, json: { error: `No stream at "nope" here` } });
  assertEquals(state(h, "nope"), before);
  assertEquals(h.hub.get("nope"), undefined, "no stream made for it");
});

Deno.test("mesh routes: a subscribe in a stale epoch is 409; in the root's epoch it feeds the child", async () => {
  await using h = await startMeshHarness();
  h.publish("pub");
  const { epoch } = await joined(h);
  const before = state(h, "pub");
  const stale = await call(h, "POST", "/mesh/v1/subscribe", {
    path: "pub",
    from: B,
    streamId: 7,
    epoch: "node-a/ffffffffffffffff/old",
  });
  assertEquals(stale.status, 409);
  assert(/join the root again/.test(stale.json.error as string), String(stale.json.error));
  assertEquals(state(h, "pub"), before);
  const ok = await call(h, "POST", "/mesh/v1/subscribe", {
    path: "pub",
    from: B,
    streamId: 7,
    epoch,
    burst: true,
  });
  assertEquals(ok, { status: 200, json: { tracks: 1, incarnation: HARNESS_INCARNATION } });
  assertEquals(h.mesh.childCounts(), new Map([["pub", 1]]));
  assertEquals(h.mesh.treeView("pub")?.children, ["node-b"]);
});

Deno.test("mesh routes: a call naming another relay than the caller is 403 (not_that_peer) and changes nothing", async () => {
  await using h = await startMeshHarness();
  h.publish("pub");
  const { epoch } = await joined(h);
  const before = state(h, "pub");
  const cases: Array<[string, unknown]> = [
    ["join", { path: "pub", from: C, readers: 1 }],
    ["renew", { from: C, paths: [{ path: "pub", readers: 1, epoch }] }],
    ["subscribe", { path: "pub", from: C, streamId: 9, epoch }],
    ["leave", { path: "pub", node: "node-b" }],
    ["unsubscribe", { path: "pub", node: "node-b" }],
    ["rejoin", { path: "pub", node: "node-b" }],
  ];
  for (const [route, body] of cases) {
    const r = await call(
      h,
      "POST",
      `/mesh/v1/${route}`,
      body,
      route === "join" || route === "renew" || route === "subscribe" ? "127.0.0.2" : "127.0.0.3",
    );
    assertEquals(r.status, 403, route);
  }
  assertEquals(state(h, "pub"), before);
  assertEquals(h.mesh.rejections().requests.get("not_that_peer"), cases.length);
});

Deno.test("mesh routes: without a key, a caller discovery does not know is 403 (unknown_peer)", async () => {
  await using h = await startMeshHarness();
  h.publish("pub");
  const before = state(h, "pub");
  const r = await call(h, "POST", "/mesh/v1/join", { path: "pub", from: B, readers: 1 }, "10.6.6.6");
  assertEquals(r.status, 403);
  assertEquals((await call(h, "GET", "/mesh/v1/paths", undefined, "10.6.6.6")).status, 403);
  assertEquals(h.mesh.rejections().requests.get("unknown_peer"), 2);
  assertEquals(state(h, "pub"), before);
});

Deno.test("mesh routes: non-members, non-children and non-parents get 404, and nothing changes", async () => {
  await using h = await startMeshHarness();
  h.publish("pub");
  await joined(h);
  const before = state(h, "pub");
  assertEquals(
    (await call(h, "POST", "/mesh/v1/leave", { path: "pub", node: "node-c" }, "127.0.0.3")).status,
    404,
  );
  assertEquals((await call(h, "POST", "/mesh/v1/unsubscribe", { path: "pub", node: "node-b" })).status, 404);
  assertEquals((await call(h, "POST", "/mesh/v1/rejoin", { path: "pub", node: "node-b" })).status, 404);
  assertEquals(state(h, "pub"), before);
  assertEquals((await call(h, "POST", "/mesh/v1/leave", { path: "pub", node: "node-b" })).status, 200);
  assertEquals(h.mesh.treeView("pub"), null, "its only member left: the tree closed");
});

Deno.test("mesh routes: /renew answers per path; stale epochs, non-members and unknown paths re-join", async () => {
  await using h = await startMeshHarness();
  h.publish("pub");
  h.publish("other");
  const { epoch } = await joined(h);
  const before = state(h, "pub");
  const r = await call(h, "POST", "/mesh/v1/renew", {
    from: B,
    paths: [
      { path: "pub", readers: 3, epoch },
      { path: "other", readers: 1, epoch },
      { path: "nope", readers: 1, epoch },
    ],
  });
  assertEquals(r.status, 200);
  const paths = (r.json as unknown as RenewResponse).paths;
  assertEquals(paths.pub, {
    parent: { node: "node-a", host: "127.0.0.1", adminPort: 8080, meshPort: 7000 },
    depth: 1,
    epoch,
  });
  assertEquals((paths.other as { status: number }).status, 404);
  assertEquals((paths.nope as { status: number }).status, 404);
  assertEquals(
    h.mesh.treeView("pub")?.members,
    [{ node: "node-b", readers: 3 }],
    "the renewal's readers count",
  );
  const stale = await call(h, "POST", "/mesh/v1/renew", {
    from: B,
    paths: [{ path: "pub", readers: 9, epoch: "x/y/z" }],
  });
  assertEquals((stale.json as unknown as RenewResponse).paths.pub, {
    status: 409,
    error: `"pub" runs in epoch ${epoch} here, not x/y/z: join again`,
  });
  const stranger = await call(h, "POST", "/mesh/v1/renew", {
    from: C,
    paths: [{ path: "pub", readers: 1, epoch }],
  }, "127.0.0.3");
  assertEquals((stranger.json as unknown as RenewResponse).paths.pub, {
    status: 404,
    error: `node-c is not a member of "pub" here: join again`,
  });
  assertEquals(h.mesh.treeView("pub")?.members, [{ node: "node-b", readers: 3 }], "refusals changed nothing");
  assert(before !== "");
});

Deno.test("mesh routes: /roots says where a path enters the mesh; /paths tells the configured cameras", async () => {
  await using h = await startMeshHarness({ pulls: { cam: "rtsp://user:secret@10.9.9.9/live" } });
  h.publish("pub");
  assertEquals(await call(h, "GET", "/mesh/v1/roots/pub"), { status: 200, json: { node: "node-a" } });
  assertEquals((await call(h, "GET", "/mesh/v1/roots/nope")).status, 404);
  // RTSP paths are not percent-decoded: "%" is a character of the path, encoded once by the asking relay.
  h.publish("cam%25x");
  assertEquals(await call(h, "GET", "/mesh/v1/roots/cam%2525x"), { status: 200, json: { node: "node-a" } });
  assertEquals((await call(h, "GET", "/mesh/v1/roots/x%25zz")).status, 404);
  const paths = await call(h, "GET", "/mesh/v1/paths");
  assertEquals(Object.keys(paths.json.paths as object), ["cam"]);
  assert(!JSON.stringify(paths.json).includes("secret"), "a fingerprint, never the URL");
});

Deno.test("mesh routes with a key: unsigned calls are 401 and change nothing; signed ones are answered", async () => {
  const ring = deriveKeyring(["routes-test-cluster-key-0123456789"]);
  await using h = await startMeshHarness({ keys: ring, pulls: { cam: "rtsp://10.9.9.9/live" } });
  h.publish("pub");
  const before = state(h, "pub");
  const unsigned = await call(h, "GET", "/mesh/v1/paths");
  assertEquals(unsigned.status, 401);
  assertEquals(unsigned.json.paths, undefined, "no paths told to an unauthenticated caller");
  assertEquals((await call(h, "POST", "/mesh/v1/join", { path: "pub", from: B, readers: 1 })).status, 401);
  assertEquals(state(h, "pub"), before);
  assertEquals(h.mesh.rejections().requests.get("missing"), 2);
  let n = 0;
  const signed = (method: string, path: string, body: string) => ({
    [MESH_AUTH_HEADER]: signRequest(
      ring,
      { method, path, body: new TextEncoder().encode(body) },
      { node: "node-a", incarnation: HARNESS_INCARNATION },
      HARNESS_WALL_MS,
      (++n).toString(16).padStart(24, "0"),
    ),
  });
  const paths = await call(
    h,
    "GET",
    "/mesh/v1/paths",
    undefined,
    "10.6.6.6",
    signed("GET", "/mesh/v1/paths", ""),
  );
  assertEquals([paths.status, Object.keys(paths.json.paths as object)], [200, ["cam"]]);
  const body = JSON.stringify({ path: "pub", from: B, readers: 1 });
  const join = await call(
    h,
    "POST",
    "/mesh/v1/join",
    body,
    "10.6.6.6",
    signed("POST", "/mesh/v1/join", body),
  );
  assertEquals(join.status, 200, "a key holder may call from anywhere");
});
