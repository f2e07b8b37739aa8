/**
 * The admin HTTP API (Hono with `@hono/zod-openapi`). A factory that never listens: main.ts serves it, tests call
 * `app.request()`. Every request and response has a zod schema (src/admin/schemas.ts); the route definitions
 * (src/admin/openapi.ts) validate requests with them and `GET /api/openapi.json` is generated from them.
 *
 * Auth (src/admin/auth.ts): mutations need `Authorization: Bearer <admin token>` and are refused (403) when no
 * token is configured; reads under `/api/v1/` and `/metrics` need it too with `adminAuthReads`. `/healthz`,
 * `/readyz`, `/api/openapi.json` and the peer protocol under `/mesh/v1/` stay open (the peer protocol has its
 * own guard, and is not mounted at all on a lone relay). Wrong tokens are limited per client (429 once over the
 * limit).
 *
 * Before any of that, on every route: a Host header naming a DNS name this relay was not configured for gets 421
 * (DNS rebinding, src/admin/host_check.ts), and a body under `/api/v1/` or `/mesh/v1/` that is not
 * `application/json` gets 415 (cross-site requests, src/admin/json_only.ts). Refusals are counted in
 * `msm_admin_requests_refused_total` and logged throttled (src/admin/refusals.ts).
 * @module
 */
import type { DatagramPlane } from "../webrtc/webrtc_port.ts";
import { OpenAPIHono, type z } from "@hono/zod-openapi";
import type { Context, Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { HTTPException } from "hono/http-exception";
import type { RelayConfig } from "../config/schema.ts";
import type { Logger } from "../log.ts";
import type { StreamHub } from "../relay/hub.ts";
import type { RtspService } from "../relay/rtsp_service.ts";
import type { Stream } from "../relay/stream.ts";
import type { RtpReceiverSnapshot } from "../rtp/receiver_stats.ts";
import { monotonicMs } from "../clock.ts";
import { LogThrottle } from "../log_throttle.ts";
import { adminAuth, clientAddress } from "./auth.ts";
import { AuthLimiter } from "./auth_limiter.ts";
import { dashboardRoutes } from "./dashboard.ts";
import { type ViewerAccess, viewerRoutes } from "./viewer.ts";
import { ViewerRegistry } from "../viewer/viewer_registry.ts";
import { adminHostCheck } from "./host_check.ts";
import { jsonBodiesOnly } from "./json_only.ts";
import { adminRoutes, BEARER_SCHEME, bearerSecurityScheme, OPENAPI_INFO, widePath } from "./openapi.ts";
import { redactConfig, redactUrl, redactUrls } from "./redact.ts";
import { type AdminRefusalReason, AdminRefusals } from "./refusals.ts";
import {
  peerListSchema,
  type readinessChecksSchema,
  type sessionSchema,
  type streamSchema,
  treeSchema,
} from "./schemas.ts";

/** What readiness waits for: RTSP and mesh listening, discovery synced. */
export type ReadinessChecks = z.infer<typeof readinessChecksSchema>;

/** What the admin app reads. It holds no state of its own. */
export interface AdminDeps {
  hub: StreamHub;
  rtsp: RtspService;
  /** True once every listener is up (and false again while draining). */
  ready: () => boolean;
  /** Detail of readiness for `/readyz`; when given, every check must pass too. */
  readiness?: () => ReadinessChecks;
  /** Prometheus exposition and per-track receiver statistics (a `RelayMetrics`). */
  metrics?: AdminMetrics;
  /** Node name. */
  node: string;
  /**
   * The effective configuration: `GET /api/v1/config` shows it without secrets, and its `adminToken` and
   * `adminAuthReads` drive auth. Without it no token is set: changes are refused (403) and reads are open.
   */
  config?: RelayConfig;
  /** Where admin changes (paths added or removed, sessions kicked) are logged. */
  logger?: Logger;
  /** Who may watch in a browser (`/watch`): the RTSP server's rules. Absent: everyone. */
  viewerAccess?: ViewerAccess;
  /** The browser viewers playing (listed with the sessions, counted with the readers). @default one of its own */
  viewers?: ViewerRegistry;
  /** The fast data plane, when the relay runs one: the WebRTC port's socket is then its Worker's. */
  plane?: DatagramPlane;
  /**
   * Whether to mount the mesh's peer protocol under `/mesh/v1` (false on a lone relay, which has no peers).
   * @default true when `mesh` is given
   */
  meshProtocol?: boolean;
  /** The mesh: peer protocol routes and views. */
  mesh?: {
    routes(): Hono;
    peersView(): unknown[];
    treeView(path: string): Record<string, unknown> | null;
    /** At a member: the root's view of the whole tree (its plan and hops), or null. */
    wholeTree?(path: string): Promise<Record<string, unknown> | null>;
  };
}

/** What the admin app reads of the metrics (implemented by `RelayMetrics`). */
export interface AdminMetrics {
  /** Prometheus text format 0.0.4. */
  expose(): string;
  /** Receiver statistics of a stream's tracks (index-aligned; holes for tracks without). */
  receiverStats(stream: Stream): readonly (ReceiverStatsLike | undefined)[];
}

/** JSON view of a stream (`GET /api/v1/streams/{path}`). */
export type StreamView = z.infer<typeof streamSchema>;

/** Per-track receiver statistics (an `RtpReceiverStats`). */
export interface ReceiverStatsLike {
  snapshot(): Pick<
    RtpReceiverSnapshot,
    "valid" | "received" | "expected" | "lostReported" | "jitterSeconds" | "duplicates" | "reordered"
  >;
}

/**
 * Builds the JSON view of one stream: source, readers, per-track counters (in, out per sink, dropped) and the
 * receiver statistics of the hop into this relay (`source` from a camera or publisher, `mesh` from a parent).
 * @param stream the stream
 * @param readers reader sessions on its path
 * @param stats receiver statistics per track index, when measured
 * @returns a value of `streamSchema`
 * @example streamView(hub.get("demo")!, 2, metrics.receiverStats(stream))
 */
export function streamView(
  stream: Stream,
  readers: number,
  stats: readonly (ReceiverStatsLike | undefined)[] = [],
): StreamView {
  const hop = stream.kind === "mesh" ? "mesh" : "source";
  const tracks = stream.tracks.map((t) => {
    const media = stream.description?.medias[t.index];
    const f = t.counters.forwarded;
    const snap = stats[t.index]?.snapshot();
    const gop = t.gopCache;
    return {
      index: t.index,
      type: media?.type,
      codec: media?.encoding,
      clockRate: t.clockRate,
      packetsIn: t.counters.packetsIn,
      bytesIn: t.counters.bytesIn,
      packetsOut: f.udp + f.tcp + f.mesh,
      forwarded: { udp: f.udp, tcp: f.tcp, mesh: f.mesh },
      dropped: { ...t.counters.dropped },
      readerReports: t.counters.readerReports,
      ...(snap
        ? {
          lost: snap.lostReported,
          jitterSeconds: snap.jitterSeconds,
          hop: {
            hop,
            valid: snap.valid,
            received: snap.received,
            expected: snap.expected,
            lost: snap.lostReported,
            jitterSeconds: snap.jitterSeconds,
            duplicates: snap.duplicates,
            reordered: snap.reordered,
          } as const,
        }
        : {}),
      ...(gop ? { gopCacheBytes: gop.bytes } : {}),
    };
  });
  return {
    path: stream.path,
    kind: stream.kind,
    source: {
      ...(stream.source?.info() ?? {}),
      state: stream.state,
      error: stream.lastError,
      sessions: stream.sourceSessions,
    },
    readers,
    tracks,
    packetsIn: tracks.reduce((n, t) => n + t.packetsIn, 0),
    packetsOut: tracks.reduce((n, t) => n + t.packetsOut, 0),
  };
}

/** `field: problem; ...` of a zod failure (the same form as config errors). */
function zodMessage(error: { issues: ReadonlyArray<{ path: ReadonlyArray<PropertyKey>; message: string }> }) {
  return error.issues.map((i) => `${i.path.length ? i.path.map(String).join(".") : "(root)"}: ${i.message}`)
    .join("; ");
}

/** Checks a view handed by another component against its schema; a mismatch is a bug (500). */
function conform<S extends z.ZodType>(schema: S, value: unknown, what: string): z.infer<S> {
  const r = schema.safeParse(value);
  if (!r.success) throw new Error(`The ${what} view does not match its schema: ${zodMessage(r.error)}`);
  return r.data;
}

/** Largest request body the admin API reads. */
const MAX_BODY_BYTES = 64 * 1024;
/** At most one "admin request failed" line per route per this many ms (the others are counted in the next). */
const ERROR_LOG_WINDOW_MS = 10_000;

/**
 * Creates the admin app.
 * @param deps the relay's parts it reads and the configuration
 * @returns the Hono app (an `OpenAPIHono`)
 * @example const app = createAdminApp(deps); await app.request("/healthz")
 */
export function createAdminApp(deps: AdminDeps): OpenAPIHono {
  const config = deps.config;
  const routes = adminRoutes({ readsNeedToken: config?.adminAuthReads ?? false });
  const log = deps.logger;
  const app = new OpenAPIHono({
    defaultHook: (result, c) => {
      if (!result.success) return c.json({ error: zodMessage(result.error) }, 400);
    },
  });
  const viewers = deps.viewers ?? new ViewerRegistry();
  const readersOf = () => addCounts(deps.rtsp.readersByPath(), viewers.byPath());
  const view = (s: Stream, readers: ReadonlyMap<string, number>) =>
    streamView(s, readers.get(s.path) ?? 0, deps.metrics?.receiverStats(s));

  // Guards first: Hono runs middleware in registration order.
  const refusals = new AdminRefusals({ logger: log });
  const refused = (c: Context, reason: AdminRefusalReason, status: number, detail: string) =>
    refusals.report({
      reason,
      remote: clientAddress(c),
      request: `${c.req.method} ${c.req.path.slice(0, 200)}`,
      status,
      detail,
    }, monotonicMs());
  app.use(
    "*",
    adminHostCheck({
      // Besides --admin-host: names this relay's operator already gave relays (its node, static peers' hosts).
      names: [...(config?.adminHosts ?? []), deps.node, ...(config?.peers ?? []).map((p) => p.host)],
      onRefused: (c, detail) => refused(c, "host", 421, detail),
    }),
  );
  const jsonOnly = jsonBodiesOnly({ onRefused: (c, detail) => refused(c, "content_type", 415, detail) });
  app.use("/api/v1/*", jsonOnly);
  const guard = adminAuth({
    token: config?.adminToken,
    reads: config?.adminAuthReads ?? false,
    limiter: new AuthLimiter(),
    onRefused: refused,
  });
  app.use("/metrics", guard);
  app.use("/api/v1/*", guard);
  const limit = bodyLimit({
    maxSize: MAX_BODY_BYTES,
    onError: (c) => c.json({ error: `Request body exceeds ${MAX_BODY_BYTES} bytes` }, 413),
  });
  app.use("/api/v1/*", limit);
  if (deps.mesh && deps.meshProtocol !== false) {
    // Before the mesh's own guard, which reads the body to check its signature; an oversized body is refused for
    // its size whatever its type. A lone relay mounts no peer protocol: its /mesh/v1 is a plain 404.
    app.use("/mesh/v1/*", limit);
    app.use("/mesh/v1/*", jsonOnly);
  }

  app.openapi(routes.health, (c) => c.json({ status: "ok" as const, node: deps.node }, 200));
  app.openapi(routes.ready, (c) => {
    const checks = deps.readiness?.();
    const ready = deps.ready() && (!checks || (checks.rtsp && checks.mesh && checks.discovery));
    const body = { ready, ...(checks ? { checks } : {}) };
    if (ready) return c.json(body, 200);
    return c.json(body, 503);
  });
  app.openapi(routes.metrics, (c) =>
    c.text((deps.metrics?.expose() ?? "") + refusals.expose(), 200, {
      "Content-Type": "text/plain; version=0.0.4; charset=utf-8",
    }));

  app.openapi(routes.streams, (c) => {
    const readers = readersOf();
    return c.json({ streams: deps.hub.streams().map((s) => view(s, readers)) }, 200);
  });
  app.openAPIRegistry.registerPath(routes.stream);
  app.openapi({ ...routes.stream, path: widePath(routes.stream.path), hide: true }, (c) => {
    const { path } = c.req.valid("param");
    const stream = deps.hub.get(path);
    if (!stream) return c.json({ error: `No active stream at path "${path}"` }, 404);
    return c.json(view(stream, readersOf()), 200);
  });

  app.openapi(routes.sessions, (c) => {
    const sessions: Array<z.infer<typeof sessionSchema>> = deps.rtsp.sessions().map((s) => ({
      id: s.id,
      role: s.role,
      path: s.path,
      remote: s.remote,
      state: s.state,
      transport: [...s.tracks.values()].map((t) => t.transport),
      queuedBytes: s.conn.writer.queuedBytes,
      reports: Object.fromEntries(
        [...s.reports].map(([track, r]) => [String(track), { ...r, at: new Date(r.at).toISOString() }]),
      ),
      createdAt: new Date(s.createdAt).toISOString(),
    }));
    for (const v of viewers.list()) {
      sessions.push({
        id: v.id,
        role: "viewer",
        path: v.path,
        remote: v.remote,
        state: "playing",
        transport: [v.transport ?? "websocket"],
        queuedBytes: v.queuedBytes(),
        reports: Object.fromEntries(
          [...(v.reports?.() ?? [])].map((
            [track, r],
          ) => [String(track), { ...r, at: new Date(r.at).toISOString() }]),
        ),
        createdAt: new Date(v.createdAt).toISOString(),
      });
    }
    return c.json({ sessions }, 200);
  });
  app.openapi(routes.kickSession, (c) => {
    const { id } = c.req.valid("param");
    const viewer = viewers.list().find((v) => v.id === id);
    if (viewer) {
      viewers.kick(id);
      log?.info("viewer kicked", { viewer: id, path: viewer.path, remote: viewer.remote });
      return c.body(null, 204);
    }
    const session = deps.rtsp.sessions().find((s) => s.id === id);
    if (!session || !deps.rtsp.kick(id)) return c.json({ error: `No session with id "${id}"` }, 404);
    log?.info("session kicked", {
      session: id,
      role: session.role,
      path: session.path,
      remote: session.remote,
    });
    return c.body(null, 204);
  });

  const mesh = deps.mesh;
  if (mesh && deps.meshProtocol !== false) app.route("/mesh/v1", mesh.routes());
  app.openapi(
    routes.peers,
    (c) => c.json(conform(peerListSchema, { peers: mesh?.peersView() ?? [] }, "peers"), 200),
  );
  app.openAPIRegistry.registerPath(routes.tree);
  app.openapi({ ...routes.tree, path: widePath(routes.tree.path), hide: true }, async (c) => {
    const { path } = c.req.valid("param");
    const tree = mesh?.treeView(path) ?? null;
    if (!tree) return c.json({ error: `This relay has no part in the tree of "${path}"` }, 404);
    // A member shows the whole tree too, as its root plans it (asked of the root, at most once a second).
    const whole = tree.role === "member" ? await mesh?.wholeTree?.(path) ?? null : null;
    return c.json(conform(treeSchema, whole ? { ...tree, whole } : tree, "tree"), 200);
  });

  app.openapi(routes.config, (c) => {
    if (!config) return c.json({ error: "This relay was started without a configuration to show" }, 404);
    return c.json(redactConfig(config, Object.fromEntries(deps.hub.pulls())), 200);
  });
  app.openapi(routes.addPath, (c) => {
    const { name, url } = c.req.valid("json");
    const conflict = deps.hub.pulls().has(name)
      ? `Path "${name}" is already a camera: DELETE /api/v1/paths/${name} first`
      : deps.hub.kindOf(name) === "demo"
      ? `Path "${name}" is the built-in demo`
      : deps.hub.get(name)?.kind === "publish"
      ? `Path "${name}" has a live publisher`
      : null;
    if (conflict) return c.json({ error: conflict }, 409);
    deps.hub.addPull(name, url);
    log?.info("path added", { path: name, url: redactUrl(url) });
    return c.json({ name, url: redactUrl(url) }, 201);
  });
  app.openAPIRegistry.registerPath(routes.removePath);
  app.openapi({ ...routes.removePath, path: widePath(routes.removePath.path), hide: true }, async (c) => {
    const { name } = c.req.valid("param");
    if (!(await deps.hub.removePull(name))) {
      return c.json({ error: `No camera is configured at path "${name}"` }, 404);
    }
    log?.info("path removed", { path: name });
    return c.body(null, 204);
  });

  app.openAPIRegistry.registerComponent("securitySchemes", BEARER_SCHEME, bearerSecurityScheme);
  app.openAPIRegistry.registerPath(routes.openapi);
  app.doc31("/api/openapi.json", { openapi: "3.1.0", info: OPENAPI_INFO });

  app.route("/", dashboardRoutes(deps));
  app.route(
    "/",
    viewerRoutes({
      hub: deps.hub,
      registry: viewers,
      maxViewers: config?.maxViewers ?? 64,
      webrtc: {
        listen: config?.listen ?? "127.0.0.1",
        port: config?.webrtcPort ?? 8189,
        ...(deps.plane ? { plane: deps.plane } : {}),
      },
      ...(deps.viewerAccess ? { access: deps.viewerAccess } : {}),
      ...(log ? { logger: log.child("viewer") } : {}),
    }),
  );
  app.notFound((c) => c.json({ error: `No route for ${c.req.method} ${c.req.path}` }, 404));
  // An unexpected error is a bug, but a client that found one could repeat it: one line per route per window.
  const errorLines = new LogThrottle<null>({ windowMs: ERROR_LOG_WINDOW_MS });
  app.onError((err, c) => {
    // A message may quote a camera URL: never with its secrets.
    if (err instanceof HTTPException) return c.json({ error: redactUrls(err.message) }, err.status);
    // Keyed by the route's pattern, not the path a client chose: the keys stay few.
    const suppressed = errorLines.admit(`${c.req.method} ${c.req.routePath}`, monotonicMs(), null);
    if (suppressed !== null) {
      log?.error("admin request failed", {
        request: `${c.req.method} ${c.req.path}`,
        error: redactUrls(String(err)),
        ...(suppressed > 0 ? { suppressed } : {}),
      });
    }
    return c.json({ error: redactUrls(err.message) }, 500);
  });
  return app;
}

/** `a` and `b` added per key. */
function addCounts(a: ReadonlyMap<string, number>, b: ReadonlyMap<string, number>): Map<string, number> {
  const out = new Map(a);
  for (const [k, n] of b) out.set(k, (out.get(k) ?? 0) + n);
  return out;
}
