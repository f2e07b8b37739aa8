/**
 * The admin HTTP API (Hono). A factory that never listens: main.ts serves it, tests call `app.request()`.
 * @module
 */
import { Hono } from "hono";
import type { StreamHub } from "../relay/hub.ts";
import type { RtspService } from "../relay/rtsp_service.ts";
import type { Stream } from "../relay/stream.ts";
import type { RelayMetrics } from "../metrics/relay_metrics.ts";
import type { RtpReceiverStats } from "../metrics/rtp_receiver_stats.ts";

/** What the admin app reads. It holds no state of its own. */
export interface AdminDeps {
  hub: StreamHub;
  rtsp: RtspService;
  /** True once every listener is up. */
  ready: () => boolean;
  /** Prometheus exposition and per-track receiver statistics. */
  metrics?: RelayMetrics;
  /** Node name. */
  node: string;
  /** The mesh: peer protocol routes and views. */
  mesh?: {
    routes(): Hono;
    peersView(): unknown[];
    treeView(path: string): Record<string, unknown> | null;
  };
}

/** JSON view of a stream. */
export interface StreamView {
  path: string;
  kind: string;
  source: { state: string; error: string | null; sessions: number } & Record<string, unknown>;
  readers: number;
  tracks: Array<{
    index: number;
    type: string | undefined;
    codec: string | undefined;
    clockRate: number;
    packetsIn: number;
    bytesIn: number;
    packetsOut: number;
    dropped: Record<string, number>;
    readerReports: number;
    /** Receiver statistics of the hop into this relay (RFC 3550), when measured. */
    lost?: number;
    jitterSeconds?: number;
    /** Bytes held by the GOP cache, when the track has one. */
    gopCacheBytes?: number;
  }>;
  packetsIn: number;
  packetsOut: number;
}

/** Builds the JSON view of one stream. */
export function streamView(
  stream: Stream,
  readers: number,
  stats: readonly (RtpReceiverStats | undefined)[] = [],
): StreamView {
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
      dropped: { ...t.counters.dropped },
      readerReports: t.counters.readerReports,
      ...(snap ? { lost: snap.lostReported, jitterSeconds: snap.jitterSeconds } : {}),
      ...(gop ? { gopCacheBytes: gop.bytes } : {}),
    };
  });
  return {
    path: stream.path,
    kind: stream.kind,
    source: {
      state: stream.state,
      error: stream.lastError,
      sessions: stream.sourceSessions,
      ...(stream.source?.info() ?? {}),
    },
    readers,
    tracks,
    packetsIn: tracks.reduce((n, t) => n + t.packetsIn, 0),
    packetsOut: tracks.reduce((n, t) => n + t.packetsOut, 0),
  };
}

/**
 * Creates the admin app.
 * @example const app = createAdminApp(deps); await app.request("/healthz")
 */
export function createAdminApp(deps: AdminDeps): Hono {
  const app = new Hono();
  const readersOf = () => deps.rtsp.readersByPath();
  const view = (s: Stream, readers: ReadonlyMap<string, number>) =>
    streamView(s, readers.get(s.path) ?? 0, deps.metrics?.receiverStats(s));

  app.get("/healthz", (c) => c.json({ status: "ok", node: deps.node }));
  app.get("/readyz", (c) => deps.ready() ? c.json({ ready: true }) : c.json({ ready: false }, 503));
  app.get("/metrics", (c) => {
    c.header("Content-Type", "text/plain; version=0.0.4; charset=utf-8");
    return c.body(deps.metrics?.expose() ?? "");
  });
  app.get("/api/v1/streams", (c) => {
    const readers = readersOf();
    return c.json({ streams: deps.hub.streams().map((s) => view(s, readers)) });
  });
  app.get("/api/v1/streams/:path{.+}", (c) => {
    const path = c.req.param("path");
    const stream = deps.hub.get(path);
    if (!stream) return c.json({ error: `No active stream at path "${path}"` }, 404);
    return c.json(view(stream, readersOf()));
  });
  app.get("/api/v1/sessions", (c) =>
    c.json({
      sessions: deps.rtsp.sessions().map((s) => ({
        id: s.id,
        role: s.role,
        path: s.path,
        remote: s.remote,
        state: s.state,
        transport: [...s.tracks.values()].map((t) => t.transport),
        /** Bytes waiting in this session's TCP connection queue (bounded by --reader-queue-bytes). */
        queuedBytes: s.conn.writer.queuedBytes,
        createdAt: new Date(s.createdAt).toISOString(),
      })),
    }));
  if (deps.mesh) {
    const mesh = deps.mesh;
    app.route("/mesh/v1", mesh.routes());
    app.get("/api/v1/peers", (c) => c.json({ peers: mesh.peersView() }));
    app.get("/api/v1/tree/:path{.+}", (c) => {
      const path = c.req.param("path");
      const view = mesh.treeView(path);
      return view ? c.json(view) : c.json({ error: `This relay has no part in the tree of "${path}"` }, 404);
    });
  }
  app.notFound((c) => c.json({ error: `No route for ${c.req.method} ${c.req.path}` }, 404));
  app.onError((err, c) => c.json({ error: err.message }, 500));
  return app;
}
