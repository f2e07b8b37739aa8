import { deepStrictEqual as assertEquals, equal, notEqual, ok } from "node:assert/strict";
import { configDefaults, configSchema } from "../config/schema.ts";
import { silentLogger } from "../log.ts";
import { StreamHub } from "../relay/hub.ts";
import { NO_RTSP_LIMITS, RtspService } from "../relay/rtsp_service.ts";
import { FakePortPairs } from "../../tests/support/fake_port_pairs.ts";
import type { StreamSource } from "../relay/stream.ts";
import { createAdminApp } from "./app.ts";
import { widePath } from "./openapi.ts";

/** Every route of the admin surface (ARCHITECTURE.md "Admin surface" plus config and paths), as `METHOD path`. */
const ROUTES = [
  "GET /healthz",
  "GET /readyz",
  "GET /metrics",
  "GET /api/v1/streams",
  "GET /api/v1/streams/{path}",
  "GET /api/v1/sessions",
  "DELETE /api/v1/sessions/{id}",
  "GET /api/v1/peers",
  "GET /api/v1/tree/{path}",
  "GET /api/v1/config",
  "POST /api/v1/paths",
  "DELETE /api/v1/paths/{name}",
  "GET /api/openapi.json",
].sort();

/** An admin token of the shortest accepted length. */
const TOKEN = "t0k-0123456789ab";

/** Routes that stay open whatever the auth settings. */
const OPEN = new Set(["GET /healthz", "GET /readyz", "GET /api/openapi.json"]);

interface Operation {
  security?: Array<Record<string, string[]>>;
  parameters?: Array<{ name: string; in: string; required?: boolean }>;
  requestBody?: { required?: boolean; content: Record<string, { schema: unknown }> };
  responses: Record<string, { description: string; content?: Record<string, { schema: unknown }> }>;
}

interface Document {
  openapi: string;
  info: { title: string; version: string };
  components: { securitySchemes: Record<string, unknown>; schemas: Record<string, unknown> };
  paths: Record<string, Record<string, Operation>>;
}

function appWith(config: Record<string, unknown>) {
  const hub = new StreamHub({
    logger: silentLogger,
    pulls: {},
    demo: false,
    publish: true,
    bindPair: new FakePortPairs(32).bind,
    lingerSeconds: 1,
    gopCacheBytes: 0,
    maxTracks: configDefaults().maxTracksPerStream,
    createSource: () => ({}) as StreamSource,
  });
  const rtsp = new RtspService({
    hub,
    logger: silentLogger,
    sessionTimeoutSeconds: 60,
    sourceWaitMs: 1000,
    limits: NO_RTSP_LIMITS,
  });
  return createAdminApp({ hub, rtsp, ready: () => true, node: "n", config: configSchema.parse(config) });
}

async function documentOf(config: Record<string, unknown>): Promise<Document> {
  const res = await appWith(config).request("/api/openapi.json");
  equal(res.status, 200);
  return await res.json();
}

function operations(doc: Document): Array<[string, Operation]> {
  return Object.entries(doc.paths).flatMap(([path, ops]) =>
    Object.entries(ops).map(([method, op]): [string, Operation] => [`${method.toUpperCase()} ${path}`, op])
  );
}

/** Every `$ref` inside `value`. */
function refs(value: unknown): string[] {
  if (Array.isArray(value)) return value.flatMap(refs);
  if (value === null || typeof value !== "object") return [];
  return Object.entries(value).flatMap(([k, v]) => (k === "$ref" && typeof v === "string" ? [v] : refs(v)));
}

Deno.test("GET /api/openapi.json is an OpenAPI 3.1 document listing every route once", async () => {
  const doc = await documentOf({ adminToken: TOKEN });
  equal(doc.openapi, "3.1.0");
  equal(doc.info.title, "msm-relay admin API");
  assertEquals(operations(doc).map(([key]) => key).sort(), ROUTES);
  assertEquals(doc.components.securitySchemes.bearerAuth, {
    type: "http",
    scheme: "bearer",
    description: "The admin token (`--admin-token`, `MSM_ADMIN_TOKEN` or `--admin-token-file`)",
  });
});

Deno.test("GET /api/openapi.json declares path parameters, bodies and JSON schemas for every answer", async () => {
  const doc = await documentOf({ adminToken: TOKEN });
  for (const [key, op] of operations(doc)) {
    const names = [...key.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
    assertEquals(
      (op.parameters ?? []).map((p) => [p.name, p.in, p.required]),
      names.map((n) => [n, "path", true]),
    );
    for (const [status, res] of Object.entries(op.responses)) {
      ok(res.description, `${key} ${status} has a description`);
      if (status === "204") equal(res.content, undefined, `${key} 204 has no body`);
      else ok(Object.values(res.content ?? {})[0]?.schema, `${key} ${status} has a schema`);
    }
  }
  const add = doc.paths["/api/v1/paths"]!.post!;
  equal(add.requestBody?.required, true);
  assertEquals(add.requestBody?.content["application/json"]?.schema, {
    $ref: "#/components/schemas/AddPath",
  });
  assertEquals(Object.keys(add.responses).sort(), ["201", "400", "401", "403", "409", "413", "415", "429"]);
  const addPath = doc.components.schemas.AddPath as {
    required: string[];
    properties: Record<string, unknown>;
  };
  assertEquals(addPath.required, ["name", "url"]);
  for (const ref of refs(doc)) {
    const name = ref.replace("#/components/schemas/", "");
    notEqual(name, ref, `${ref} points into components.schemas`);
    ok(doc.components.schemas[name], `${ref} resolves`);
  }
});

Deno.test("GET /api/openapi.json marks mutations, and reads when guarded, with the bearer scheme", async () => {
  for (const guardedReads of [false, true]) {
    const doc = await documentOf({ adminToken: TOKEN, adminAuthReads: guardedReads });
    for (const [key, op] of operations(doc)) {
      const needsToken = !OPEN.has(key) && (!key.startsWith("GET ") || guardedReads);
      assertEquals(op.security, needsToken ? [{ bearerAuth: [] }] : [], key);
      equal("401" in op.responses, needsToken, `${key} documents 401`);
      equal("429" in op.responses, needsToken, `${key} documents 429 (too many wrong tokens)`);
    }
  }
});

Deno.test("every documented route is served (no route answers the 'No route' 404)", async () => {
  const app = appWith({ adminToken: TOKEN });
  const doc = await documentOf({ adminToken: TOKEN });
  for (const [key] of operations(doc)) {
    const [method, path] = key.split(" ") as [string, string];
    // Stream and path names may hold '/', session ids do not.
    const url = path.replace("{id}", "some-id").replace(/\{[^}]+\}/g, "some/path");
    const res = await app.request(url, {
      method,
      headers: { Authorization: `Bearer ${TOKEN}`, "Content-Type": "application/json" },
      ...(method === "POST" ? { body: "{}" } : {}),
    });
    const text = await res.text();
    ok(!text.includes("No route for"), `${key}: ${res.status} ${text}`);
  }
});

Deno.test("widePath() lets the last parameter span segments", () => {
  equal(widePath("/api/v1/tree/{path}"), "/api/v1/tree/{path{.+}}");
  equal(widePath("/api/v1/paths/{name}"), "/api/v1/paths/{name{.+}}");
  equal(widePath("/api/v1/streams"), "/api/v1/streams");
});
