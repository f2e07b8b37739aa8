/**
 * Tests of the admin app through `app.request()`, against a real {@linkcode StreamHub} and
 * {@linkcode RtspService} (fake camera sources that install an SDP, fake RTSP connections), light fakes of the
 * metrics and the mesh views. Every answer is parsed with the schema the route declares.
 * @module
 */
import { deepStrictEqual as assertEquals, equal, match, ok } from "node:assert/strict";
import type { z } from "@hono/zod-openapi";
import { Hono } from "hono";
import { configDefaults, configSchema, type RelayConfig } from "../config/schema.ts";
import { silentLogger } from "../log.ts";
import { writeRtpHeader } from "../rtp/packet.ts";
import { parseSession } from "../rtsp/headers/session.ts";
import { InterleavedWriter } from "../rtsp/interleaved_writer.ts";
import { request } from "../rtsp/message.ts";
import { parseSdp } from "../rtsp/sdp.ts";
import type { RtspConnection } from "../rtsp/server.ts";
import { StreamHub } from "../relay/hub.ts";
import { NO_RTSP_LIMITS, RtspService } from "../relay/rtsp_service.ts";
import { FakePortPairs } from "../../tests/support/fake_port_pairs.ts";
import type { Stream, StreamSource } from "../relay/stream.ts";
import { type AdminDeps, createAdminApp, type ReadinessChecks, type ReceiverStatsLike } from "./app.ts";
import {
  configViewSchema,
  errorSchema,
  healthSchema,
  pathSchema,
  peerListSchema,
  readinessSchema,
  sessionListSchema,
  streamListSchema,
  streamSchema,
  treeSchema,
} from "./schemas.ts";

const HOST = "127.0.0.1";
const BASE = `rtsp://${HOST}:8554`;
const TOKEN = "t0k-admin-s3cret";
const AUTH = { Authorization: `Bearer ${TOKEN}` };

const CAMERA_SDP = [
  "v=0",
  "o=- 1 1 IN IP4 10.0.0.9",
  "s=camera",
  "t=0 0",
  "m=video 0 RTP/AVP 96",
  "a=rtpmap:96 H264/90000",
  "a=control:video",
  "",
].join("\r\n");

/** A camera (or the demo) that is ready at once. */
class FakeSource implements StreamSource {
  constructor(readonly stream: Stream, readonly kind: "pull" | "demo") {}
  start(): void {
    if (this.stream.description) return;
    this.stream.setDescription(parseSdp(CAMERA_SDP));
    this.stream.setState("ready");
  }
  stop(): Promise<void> {
    return Promise.resolve();
  }
  info(): Record<string, unknown> {
    return { url: "rtsp://camera.invalid/1" };
  }
}

let nextClientPort = 40_000 + Math.floor(Math.random() * 10_000);

/** An RTSP client connection that swallows what the relay writes. */
class FakeConn implements RtspConnection {
  readonly id: string;
  readonly remote: Deno.NetAddr;
  readonly local: Deno.NetAddr = { transport: "tcp", hostname: HOST, port: 8554 };
  readonly writer = new InterleavedWriter({ write: (p) => Promise.resolve(p.length) }, {
    maxQueuedBytes: configDefaults().readerQueueBytes,
  });
  lastActivity = 0;
  onFrame: ((channel: number, payload: Uint8Array) => void) | null = null;
  closed = false;
  constructor() {
    const port = nextClientPort++;
    this.id = `c${port}`;
    this.remote = { transport: "tcp", hostname: HOST, port };
  }
  close(): void {
    this.closed = true;
    this.writer.close();
  }
}

/** Fixed receiver statistics for every track. */
const HOP_SNAPSHOT = {
  valid: true,
  received: 99,
  expected: 100,
  lostReported: 1,
  jitterSeconds: 0.002,
  duplicates: 0,
  reordered: 2,
};
const fakeStats: ReceiverStatsLike = { snapshot: () => HOP_SNAPSHOT };

interface HarnessOptions {
  /** Config fields (validated with the config schema); `null` for no config at all. */
  config?: Record<string, unknown> | null;
  mesh?: AdminDeps["mesh"];
}

/** A hub with cameras `cam` and `lobby/door`, the demo, the RTSP service and the admin app. */
class Harness implements AsyncDisposable {
  readonly hub: StreamHub;
  readonly svc: RtspService;
  readonly config: RelayConfig | null;
  readonly checks: ReadinessChecks = { rtsp: true, mesh: true, discovery: true };
  readonly logged: Array<[string, Record<string, unknown> | undefined]> = [];
  ready = true;
  readonly app: ReturnType<typeof createAdminApp>;
  #cseq = 0;

  constructor(options: HarnessOptions = {}) {
    this.config = options.config === null ? null : configSchema.parse({
      adminToken: TOKEN,
      meshKey: "mesh-s3cret-0123456789",
      users: [{ name: "alice", password: "alice-s3cret", rights: "read" }],
      paths: { cam: "rtsp://viewer:cam-s3cret@camera.invalid/1", "lobby/door": "rtsp://camera.invalid/2" },
      ...options.config,
    });
    this.hub = new StreamHub({
      logger: silentLogger,
      pulls: this.config?.paths ?? {},
      demo: true,
      publish: true,
      bindPair: new FakePortPairs(32).bind,
      lingerSeconds: 30,
      gopCacheBytes: 0,
      maxTracks: configDefaults().maxTracksPerStream,
      createSource: (stream, kind) => new FakeSource(stream, kind),
    });
    this.svc = new RtspService({
      hub: this.hub,
      logger: silentLogger,
      sessionTimeoutSeconds: 60,
      sourceWaitMs: 1000,
      limits: NO_RTSP_LIMITS,
    });
    const logger = {
      ...silentLogger,
      info: (msg: string, fields?: Record<string, unknown>) => void this.logged.push([msg, fields]),
      error: (msg: string, fields?: Record<string, unknown>) => void this.logged.push([msg, fields]),
    };
    this.app = createAdminApp({
      hub: this.hub,
      rtsp: this.svc,
      ready: () => this.ready,
      readiness: () => ({ ...this.checks }),
      metrics: {
        expose: () => "# TYPE msm_rtsp_sessions gauge\nmsm_rtsp_sessions 0\n",
        receiverStats: (s) => s.tracks.map(() => fakeStats),
      },
      node: "node-a",
      ...(this.config ? { config: this.config } : {}),
      ...(options.mesh ? { mesh: options.mesh } : {}),
      logger,
    });
  }

  /** Sends an admin request; returns the status, headers and parsed JSON body (or text). */
  async call(method: string, route: string, init: { headers?: Record<string, string>; body?: string } = {}) {
    const res = await this.app.request(route, { method, ...init });
    const text = await res.text();
    const type = res.headers.get("content-type") ?? "";
    return {
      status: res.status,
      headers: res.headers,
      text,
      body: (type.startsWith("application/json") && text ? JSON.parse(text) : null) as unknown,
    };
  }

  /** A TCP reader of `path`, playing; returns its connection and session id. */
  async tcpReader(path: string): Promise<{ conn: FakeConn; id: string }> {
    const conn = new FakeConn();
    const send = async (method: string, url: string, headers: Record<string, string>) => {
      const req = request(method, url, { CSeq: String(++this.#cseq), ...headers });
      const res = await this.svc.handle(req, conn);
      this.svc.responseSent(req, res, conn);
      return res;
    };
    const setup = await send("SETUP", `${BASE}/${path}/trackID=0`, {
      Transport: "RTP/AVP/TCP;unicast;interleaved=0-1",
    });
    equal(setup.status, 200, `SETUP ${path}: ${setup.status} ${new TextDecoder().decode(setup.body)}`);
    const id = parseSession(setup.headers.get("Session")!).id;
    equal((await send("PLAY", `${BASE}/${path}/`, { Session: id })).status, 200);
    return { conn, id };
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.svc.stop();
    await this.hub.close();
    await new Promise((r) => setTimeout(r, 0));
  }
}

/** Parses `body` with `schema`, failing the test with the zod message. */
function parsed<S extends z.ZodType>(schema: S, body: unknown): z.infer<S> {
  const r = schema.safeParse(body);
  ok(r.success, `answer does not match its schema: ${r.error?.message}\n${JSON.stringify(body)}`);
  return r.data;
}

/** One H.264 IDR RTP packet. */
function rtp(seq: number): Uint8Array {
  const p = new Uint8Array(14);
  writeRtpHeader(p, 0, { marker: true, payloadType: 96, sequence: seq, timestamp: seq * 3600, ssrc: 0x1234 });
  p[12] = 0x65;
  p[13] = 0x88;
  return p;
}

const JSON_TYPE = { "Content-Type": "application/json" };

Deno.test("createAdminApp() answers /healthz always and /readyz 200 or 503 with its checks", async () => {
  await using h = new Harness({ config: { adminAuthReads: true } });
  const health = await h.call("GET", "/healthz");
  assertEquals([health.status, parsed(healthSchema, health.body)], [200, { status: "ok", node: "node-a" }]);
  const ready = await h.call("GET", "/readyz");
  equal(ready.status, 200);
  assertEquals(parsed(readinessSchema, ready.body), {
    ready: true,
    checks: { rtsp: true, mesh: true, discovery: true },
  });
  h.checks.discovery = false;
  const syncing = await h.call("GET", "/readyz");
  equal(syncing.status, 503);
  assertEquals(parsed(readinessSchema, syncing.body).checks?.discovery, false);
  h.checks.discovery = true;
  h.ready = false; // draining
  equal((await h.call("GET", "/readyz")).status, 503);
});

Deno.test("createAdminApp() serves Prometheus text at /metrics, behind the token when reads are guarded", async () => {
  {
    await using h = new Harness();
    const res = await h.call("GET", "/metrics");
    equal(res.status, 200);
    equal(res.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
    match(res.text, /^msm_rtsp_sessions 0$/m);
  }
  {
    await using h = new Harness({ config: { adminAuthReads: true } });
    const refused = await h.call("GET", "/metrics");
    equal(refused.status, 401);
    equal(refused.headers.get("www-authenticate"), 'Bearer realm="msm-relay"');
    parsed(errorSchema, refused.body);
    equal((await h.call("GET", "/metrics", { headers: AUTH })).status, 200);
  }
});

Deno.test("createAdminApp() lists streams with readers, per-sink counters and per-hop statistics", async () => {
  await using h = new Harness();
  equal(parsed(streamListSchema, (await h.call("GET", "/api/v1/streams")).body).streams.length, 0);
  const reader = await h.tcpReader("cam");
  await h.tcpReader("lobby/door");
  const track = h.hub.get("cam")!.tracks[0]!;
  for (let seq = 1; seq <= 5; seq++) track.ingestRtp(rtp(seq));

  const list = parsed(streamListSchema, (await h.call("GET", "/api/v1/streams")).body);
  assertEquals(list.streams.map((s) => s.path).sort(), ["cam", "lobby/door"]);
  const res = await h.call("GET", "/api/v1/streams/cam");
  equal(res.status, 200);
  const cam = parsed(streamSchema, res.body);
  assertEquals([cam.kind, cam.source.state, cam.source.error, cam.readers], ["pull", "ready", null, 1]);
  equal(cam.source.url, "rtsp://camera.invalid/1");
  equal(cam.tracks.length, 1);
  const t = cam.tracks[0]!;
  assertEquals([t.codec, t.clockRate, t.packetsIn, t.packetsOut], ["H264", 90000, 5, 5]);
  assertEquals(t.forwarded, { udp: 0, tcp: 5, mesh: 0 });
  assertEquals(t.hop, {
    hop: "source",
    valid: true,
    received: 99,
    expected: 100,
    lost: 1,
    jitterSeconds: 0.002,
    duplicates: 0,
    reordered: 2,
  });
  assertEquals([t.lost, t.jitterSeconds], [1, 0.002]);
  assertEquals([cam.packetsIn, cam.packetsOut], [5, 5]);
  ok(reader.conn.writer.queuedBytes >= 0);

  // A path with '/' is one parameter.
  equal(parsed(streamSchema, (await h.call("GET", "/api/v1/streams/lobby/door")).body).path, "lobby/door");
  const missing = await h.call("GET", "/api/v1/streams/nope/deeper");
  equal(missing.status, 404);
  assertEquals(parsed(errorSchema, missing.body), { error: 'No active stream at path "nope/deeper"' });
});

Deno.test("createAdminApp() lists sessions and kicks one with DELETE, closing its TCP connection", async () => {
  await using h = new Harness();
  const a = await h.tcpReader("cam");
  const b = await h.tcpReader("cam");
  const list = parsed(sessionListSchema, (await h.call("GET", "/api/v1/sessions")).body);
  assertEquals(list.sessions.map((s) => s.id).sort(), [a.id, b.id].sort());
  const s = list.sessions.find((x) => x.id === a.id)!;
  assertEquals([s.role, s.path, s.state, s.transport], ["reader", "cam", "playing", ["tcp"]]);
  equal(s.remote, HOST);

  const noToken = await h.call("DELETE", `/api/v1/sessions/${a.id}`);
  equal(noToken.status, 401);
  equal(noToken.headers.get("www-authenticate"), 'Bearer realm="msm-relay"');
  const wrong = await h.call("DELETE", `/api/v1/sessions/${a.id}`, {
    headers: { Authorization: "Bearer x" },
  });
  equal(wrong.status, 401);
  equal(wrong.headers.get("www-authenticate"), 'Bearer realm="msm-relay", error="invalid_token"');
  assertEquals(parsed(errorSchema, wrong.body), { error: "Invalid bearer token" });
  equal(h.svc.sessions().length, 2, "a refused kick ends nothing");

  const kicked = await h.call("DELETE", `/api/v1/sessions/${a.id}`, { headers: AUTH });
  assertEquals([kicked.status, kicked.text], [204, ""]);
  equal(a.conn.closed, true);
  equal(b.conn.closed, false);
  assertEquals(h.svc.sessions().map((x) => x.id), [b.id]);
  equal(h.hub.get("cam")?.refs, 1);
  assertEquals(h.logged.find(([m]) => m === "session kicked")?.[1]?.session, a.id);

  const again = await h.call("DELETE", `/api/v1/sessions/${a.id}`, { headers: AUTH });
  equal(again.status, 404);
  assertEquals(parsed(errorSchema, again.body), { error: `No session with id "${a.id}"` });
});

Deno.test("createAdminApp() refuses changes with 403 when no admin token is configured", async () => {
  await using h = new Harness({ config: { adminToken: undefined } });
  const reader = await h.tcpReader("cam");
  const kick = await h.call("DELETE", `/api/v1/sessions/${reader.id}`, { headers: AUTH });
  equal(kick.status, 403);
  match(parsed(errorSchema, kick.body).error, /no admin token is configured/);
  const add = await h.call("POST", "/api/v1/paths", {
    headers: { ...AUTH, ...JSON_TYPE },
    body: JSON.stringify({ name: "x", url: "rtsp://h/x" }),
  });
  equal(add.status, 403);
  equal((await h.call("DELETE", "/api/v1/paths/cam", { headers: AUTH })).status, 403);
  equal(h.svc.sessions().length, 1);
  equal(h.hub.pulls().size, 2);
  // Reads stay open.
  equal((await h.call("GET", "/api/v1/sessions")).status, 200);
});

Deno.test("createAdminApp() guards every /api/v1 read when adminAuthReads is set", async () => {
  await using h = new Harness({ config: { adminAuthReads: true } });
  for (const route of ["/api/v1/streams", "/api/v1/streams/cam", "/api/v1/sessions", "/api/v1/config"]) {
    const res = await h.call("GET", route);
    equal(res.status, 401, route);
    parsed(errorSchema, res.body);
    equal((await h.call("GET", route, { headers: { Authorization: "Bearer wrong" } })).status, 401, route);
  }
  equal((await h.call("GET", "/api/v1/sessions", { headers: AUTH })).status, 200);
  // Probes and the document stay open.
  for (const route of ["/healthz", "/readyz", "/api/openapi.json"]) {
    equal((await h.call("GET", route)).status, 200, route);
  }
});

Deno.test("createAdminApp() shows the config without any secret", async () => {
  await using h = new Harness({ config: { adminAuthReads: true } });
  const res = await h.call("GET", "/api/v1/config", { headers: AUTH });
  equal(res.status, 200);
  ok(!/s3cret/.test(res.text), res.text);
  const view = parsed(configViewSchema, res.body);
  assertEquals([view.adminToken, view.meshKey, view.users[0]?.password], ["***", "***", "***"]);
  assertEquals(view.paths, {
    cam: "rtsp://viewer:***@camera.invalid/1",
    "lobby/door": "rtsp://camera.invalid/2",
  });
  assertEquals([view.adminAuthReads, view.rtspPort, view.users[0]?.name], [true, 8554, "alice"]);
});

Deno.test("createAdminApp() answers 404 for the config when it has none", async () => {
  await using h = new Harness({ config: null });
  const res = await h.call("GET", "/api/v1/config");
  equal(res.status, 404);
  parsed(errorSchema, res.body);
});

Deno.test("createAdminApp() adds and removes camera paths at run time", async () => {
  await using h = new Harness();
  const post = (body: string, headers: Record<string, string> = { ...AUTH, ...JSON_TYPE }) =>
    h.call("POST", "/api/v1/paths", { headers, body });

  const added = await post(JSON.stringify({ name: "yard/east", url: "rtsp://op:yard-s3cret@192.0.2.7/1" }));
  equal(added.status, 201);
  assertEquals(parsed(pathSchema, added.body), { name: "yard/east", url: "rtsp://op:***@192.0.2.7/1" });
  equal(h.hub.pulls().get("yard/east"), "rtsp://op:yard-s3cret@192.0.2.7/1");
  equal(h.hub.kindOf("yard/east"), "pull");
  ok(!JSON.stringify(h.logged).includes("s3cret"), "the log shows no password");
  const config = parsed(configViewSchema, (await h.call("GET", "/api/v1/config")).body);
  equal(config.paths["yard/east"], "rtsp://op:***@192.0.2.7/1");

  for (const name of ["yard/east", "cam", "demo"]) {
    const conflict = await post(JSON.stringify({ name, url: "rtsp://192.0.2.8/x" }));
    equal(conflict.status, 409, name);
    parsed(errorSchema, conflict.body);
  }
  equal(h.hub.pulls().get("yard/east"), "rtsp://op:yard-s3cret@192.0.2.7/1", "a conflict changes nothing");

  // Removing a path with a reader ends its stream.
  await h.tcpReader("lobby/door");
  ok(h.hub.get("lobby/door"));
  const removed = await h.call("DELETE", "/api/v1/paths/lobby/door", { headers: AUTH });
  equal(removed.status, 204);
  equal(h.hub.get("lobby/door"), undefined);
  equal(h.hub.pulls().has("lobby/door"), false);
  const gone = await h.call("DELETE", "/api/v1/paths/lobby/door", { headers: AUTH });
  equal(gone.status, 404);
  assertEquals(parsed(errorSchema, gone.body), { error: 'No camera is configured at path "lobby/door"' });
  equal((await h.call("DELETE", "/api/v1/paths/yard/east", { headers: AUTH })).status, 204);
  assertEquals([...h.hub.pulls().keys()], ["cam"]);
});

Deno.test("createAdminApp() answers 400 with the zod message for a malformed or invalid body", async () => {
  await using h = new Harness();
  const post = (body: string, headers: Record<string, string> = { ...AUTH, ...JSON_TYPE }) =>
    h.call("POST", "/api/v1/paths", { headers, body });
  const cases: Array<[string, string]> = [
    ['{"name": "x",', "Malformed JSON in request body"],
    [
      JSON.stringify({ name: "bad name", url: "http://h/x" }),
      "name: path names use letters, digits, '_', '.', '~', '-' and '/' between segments; " +
      "url: camera URLs start with rtsp://",
    ],
    [JSON.stringify({ name: "x" }), "url: Invalid input: expected string, received undefined"],
    [JSON.stringify([1]), "(root): Invalid input: expected object, received array"],
  ];
  for (const [body, error] of cases) {
    const res = await post(body);
    equal(res.status, 400, body);
    assertEquals(parsed(errorSchema, res.body), { error }, body);
  }
  equal((await post("name=x", { ...AUTH, "Content-Type": "text/plain" })).status, 415);
  const big = await post(JSON.stringify({ name: "x", url: "rtsp://h/" + "a".repeat(70_000) }));
  equal(big.status, 413);
  parsed(errorSchema, big.body);
  const badName = await h.call("DELETE", "/api/v1/paths/a%20b", { headers: AUTH });
  equal(badName.status, 400);
  match(parsed(errorSchema, badName.body).error, /^name: path names use/);
  equal(h.hub.pulls().size, 2);
});

Deno.test("createAdminApp() shows the mesh's peers and trees, checked against their schemas", async () => {
  const peer = {
    node: "node-a",
    zone: "z1",
    host: "127.0.0.1",
    rtspPort: 8554,
    adminPort: 8080,
    meshPort: 7000,
    ready: true,
  };
  let tree: Record<string, unknown> | null = {
    path: "cam",
    node: "node-a",
    role: "root",
    root: "node-a",
    parent: null,
    parents: [],
    children: ["node-b"],
    state: "ready",
    plan: { "node-b": "node-a" },
    members: [{ node: "node-b", readers: 2 }],
  };
  await using h = new Harness({
    mesh: {
      routes: () => new Hono().get("/ping", (c) => c.text("pong")),
      peersView: () => [
        { ...peer, self: true, live: true, suspectedUntil: null },
        { ...peer, node: "node-b", self: false, live: false, suspectedUntil: "2030-01-01T00:00:00.000Z" },
      ],
      treeView: (path) => (path === "cam" || path === "a/b" ? tree : null),
    },
  });
  const peers = parsed(peerListSchema, (await h.call("GET", "/api/v1/peers")).body);
  assertEquals(peers.peers.map((p) => [p.node, p.self, p.live]), [["node-a", true, true], [
    "node-b",
    false,
    false,
  ]]);
  const t = parsed(treeSchema, (await h.call("GET", "/api/v1/tree/cam")).body);
  assertEquals([t.role, t.parent, t.children, t.plan], ["root", null, ["node-b"], { "node-b": "node-a" }]);
  equal((await h.call("GET", "/api/v1/tree/a/b")).status, 200);
  const none = await h.call("GET", "/api/v1/tree/other");
  equal(none.status, 404);
  parsed(errorSchema, none.body);
  // The peer protocol is mounted unchanged, outside the admin token.
  equal((await h.call("GET", "/mesh/v1/ping")).text, "pong");
  // A view that breaks its schema is a bug: 500 naming the field.
  tree = { ...tree, role: "leaf" };
  const broken = await h.call("GET", "/api/v1/tree/cam");
  equal(broken.status, 500);
  match(parsed(errorSchema, broken.body).error, /tree view does not match its schema: role:/);
});

Deno.test("createAdminApp() without a mesh has no peers and no trees", async () => {
  await using h = new Harness();
  assertEquals(parsed(peerListSchema, (await h.call("GET", "/api/v1/peers")).body), { peers: [] });
  equal((await h.call("GET", "/api/v1/tree/cam")).status, 404);
});

Deno.test("createAdminApp() answers unknown routes with a JSON 404", async () => {
  await using h = new Harness();
  const res = await h.call("GET", "/api/v1/nothing");
  equal(res.status, 404);
  assertEquals(parsed(errorSchema, res.body), { error: "No route for GET /api/v1/nothing" });
});

Deno.test("createAdminApp() answers 421 to a Host it was not configured for, on every route", async () => {
  await using h = new Harness({
    config: {
      adminHosts: ["relay.example"],
      peers: [{ node: "b", host: "relay-b.lan", adminPort: 1, meshPort: 2 }],
    },
    mesh: {
      routes: () => new Hono().get("/ping", (c) => c.text("pong")),
      peersView: () => [],
      treeView: () => null,
    },
  });
  const routes = [
    "/",
    "/favicon.svg",
    "/healthz",
    "/readyz",
    "/metrics",
    "/api/v1/sessions",
    "/api/openapi.json",
  ];
  for (const route of [...routes, "/mesh/v1/ping"]) {
    const refused = await h.call("GET", route, { headers: { Host: "evil.example:8080" } });
    equal(refused.status, 421, route);
    match(parsed(errorSchema, refused.body).error, /^Host "evil.example:8080" is not a name of this relay/);
    for (
      const host of [
        "127.0.0.1:8080",
        "[::1]:8080",
        "localhost:8080",
        "Relay.Example",
        "node-a",
        "relay-b.lan",
      ]
    ) {
      equal(
        (await h.call("GET", route, { headers: { Host: host } })).status,
        200,
        `${route} with Host ${host}`,
      );
    }
  }
  const metrics = await h.call("GET", "/metrics");
  match(metrics.text, /^msm_rtsp_sessions 0$/m, "the relay's metrics first");
  match(metrics.text, /^msm_admin_requests_refused_total\{reason="host"\} 8$/m);
});

Deno.test("createAdminApp() answers 415 to a body that is not JSON under /api/v1 and /mesh/v1, before auth", async () => {
  let joins = 0;
  await using h = new Harness({
    mesh: {
      routes: () =>
        new Hono().post("/join", (c) => {
          joins++;
          return c.json({ ok: true });
        }),
      peersView: () => [],
      treeView: () => null,
    },
  });
  const plain = { "Content-Type": "text/plain;charset=UTF-8" };
  const join = JSON.stringify({ path: "cam" });
  const meshPlain = await h.call("POST", "/mesh/v1/join", { headers: plain, body: join });
  equal(meshPlain.status, 415);
  equal(
    parsed(errorSchema, meshPlain.body).error,
    'Request bodies must be JSON: send Content-Type: application/json (got "text/plain;charset=UTF-8")',
  );
  equal(joins, 0, "the handler never ran");
  equal((await h.call("POST", "/mesh/v1/join", { headers: JSON_TYPE, body: join })).status, 200);
  equal(joins, 1);
  const form = { "Content-Type": "application/x-www-form-urlencoded" };
  equal(
    (await h.call("POST", "/api/v1/paths", { headers: form, body: "name=x" })).status,
    415,
    "without a token",
  );
  const { id } = await h.tcpReader("cam");
  const kick = await h.call("DELETE", `/api/v1/sessions/${id}`, {
    headers: { ...AUTH, ...plain, "Content-Length": "2" },
    body: "{}",
  });
  equal(kick.status, 415, "a body on a DELETE too");
  equal(h.svc.sessions().length, 1, "the session is still there");
  match(
    (await h.call("GET", "/metrics")).text,
    /^msm_admin_requests_refused_total\{reason="content_type"\} 3$/m,
  );
});

Deno.test("createAdminApp() never shows a camera URL's secrets in an error answer", async () => {
  await using h = new Harness({
    mesh: {
      routes: () =>
        new Hono().get("/boom", () => {
          throw new Error("DESCRIBE rtsp://u:cam-s3cret@192.0.2.7/x?token=tok-s3cret&channel=1 timed out");
        }),
      peersView: () => [],
      treeView: () => null,
    },
  });
  const res = await h.call("GET", "/mesh/v1/boom");
  equal(res.status, 500);
  equal(
    parsed(errorSchema, res.body).error,
    "DESCRIBE rtsp://u:***@192.0.2.7/x?token=***&channel=1 timed out",
  );
});

Deno.test("createAdminApp() logs a route's unexpected errors at most once per window, whatever the path", async () => {
  await using h = new Harness({
    mesh: {
      routes: () =>
        new Hono().get("/boom/:x", () => {
          throw new Error("a bug a client found");
        }),
      peersView: () => [],
      treeView: () => null,
    },
  });
  for (let i = 0; i < 50; i++) equal((await h.call("GET", `/mesh/v1/boom/${i}`)).status, 500);
  const lines = h.logged.filter(([msg]) => msg === "admin request failed");
  equal(lines.length, 1, "50 failures of one route within the window: one line");
  equal(lines[0]![1]?.request, "GET /mesh/v1/boom/0");
});
