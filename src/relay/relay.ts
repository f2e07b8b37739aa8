/**
 * Wires one relay: stream hub, RTSP server and service, admin API. `main.ts` parses flags and calls
 * {@linkcode startRelay}; integration tests call it too.
 * @module
 */
import { createAdminApp } from "../admin/app.ts";
import { RelayMetrics } from "../metrics/relay_metrics.ts";
import type { RelayConfig } from "../config/schema.ts";
import type { Logger } from "../log.ts";
import { RtspServer } from "../rtsp/server.ts";
import { StreamHub } from "./hub.ts";
import { RtspService } from "./rtsp_service.ts";
import { DemoSource } from "./sources/demo.ts";
import { PullSource } from "./sources/pull.ts";

/** A running relay. */
export interface Relay {
  readonly hub: StreamHub;
  readonly rtsp: RtspService;
  readonly rtspPort: number;
  readonly adminPort: number;
  /** Stops accepting, ends sessions and closes everything. */
  close(): Promise<void>;
}

/**
 * Starts a relay with a validated config.
 * @throws Error when a port cannot be bound
 */
export function startRelay(config: RelayConfig, logger: Logger): Promise<Relay> {
  // Late-bound: the metrics read the hub and the RTSP service, which report into the metrics.
  let hubRef: StreamHub | null = null;
  let rtspRef: RtspService | null = null;
  const metrics = new RelayMetrics({
    streams: () => hubRef?.streams() ?? [],
    readersByPath: () => rtspRef?.readersByPath() ?? new Map(),
    sessionCount: () => rtspRef?.sessions().length ?? 0,
  });
  const hub = new StreamHub({
    observeTrack: metrics.observeTrack,
    logger: logger.child("hub"),
    pulls: config.paths,
    demo: config.demo,
    publish: config.publish,
    hostname: config.listen,
    udpPortRange: config.udpPortRange,
    lingerSeconds: config.lingerSeconds,
    gopCacheBytes: config.gopCache ? config.gopCacheBytes : 0,
    createSource: (stream, kind, url) =>
      kind === "pull"
        ? new PullSource({ stream, url: url!, transport: config.pullTransport, logger: logger.child("pull") })
        : new DemoSource({ stream, logger: logger.child("demo") }),
  });
  const rtsp = new RtspService({
    hub,
    logger: logger.child("rtsp"),
    sessionTimeoutSeconds: config.sessionTimeoutSeconds,
    onRequest: metrics.onRequest,
  });
  hubRef = hub;
  rtspRef = rtsp;
  if (config.users.length > 0) {
    logger.warn(
      "--user is accepted but RTSP authentication is not enforced yet: every client can read and publish",
    );
  }
  const server = new RtspServer({
    hostname: config.listen,
    port: config.rtspPort,
    handler: rtsp,
    maxQueuedBytes: config.readerQueueBytes,
  });
  server.listen();
  rtsp.start();

  let ready = false;
  const app = createAdminApp({
    hub,
    rtsp,
    ready: () => ready,
    metrics,
    node: config.node ?? Deno.hostname(),
  });
  const admin = Deno.serve({
    hostname: config.listen,
    port: config.adminPort,
    onListen: () => {},
  }, app.fetch);
  ready = true;
  logger.info("relay listening", {
    rtsp: `${config.listen}:${server.port}`,
    admin: `${config.listen}:${admin.addr.port}`,
    paths: Object.keys(config.paths),
    demo: config.demo,
  });

  return Promise.resolve({
    hub,
    rtsp,
    rtspPort: server.port,
    adminPort: admin.addr.port,
    async close() {
      ready = false;
      server.stopAccepting();
      rtsp.stop();
      server.close();
      await hub.close();
      await admin.shutdown();
    },
  });
}
