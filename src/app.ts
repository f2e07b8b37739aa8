/**
 * Wires one relay: stream hub, RTSP server and service, discovery and mesh, metrics, admin API. `main.ts` parses
 * flags and calls {@linkcode startRelay}.
 * @module
 */
import { ViewerRegistry } from "./viewer/viewer_registry.ts";
import { createAdminApp } from "./admin/app.ts";
import { RelayMetrics } from "./metrics/relay_metrics.ts";
import type { RelayConfig } from "./config/schema.ts";
import type { UserConfig } from "./config/values.ts";
import { parseUsersFile } from "./config/users_file.ts";
import type { Logger } from "./log.ts";
import { RtspServer } from "./rtsp/server.ts";
import { StreamHub } from "./relay/hub.ts";
import { fastPlaneUnavailable, FastUdpPlane } from "./dataplane/shared_udp.ts";
import { startHeapTrim } from "./dataplane/heap_trim.ts";
import { dropStartupCode, STARTUP_CODE_SETTLE_MS } from "./dataplane/startup_code.ts";
import { RtspAuthenticator } from "./relay/rtsp_auth.ts";
import { RtspService } from "./relay/rtsp_service.ts";
import { MemoryBudget } from "./relay/memory_budget.ts";
import { PortPairAllocator } from "./relay/port_allocator.ts";
import { udpPortPairs } from "./relay/udp_pair.ts";
import { DemoSource } from "./relay/sources/demo.ts";
import { PullSource } from "./relay/sources/pull.ts";
import type { Discovery, Peer } from "./cluster/discovery.ts";
import { Mesh } from "./cluster/mesh.ts";
import { fastMeshPort } from "./cluster/mesh_fast_socket.ts";
import { deriveKeyring, type MeshKeyring } from "./cluster/mesh_keys.ts";
import { parseMeshKeys } from "./config/mesh_key_syntax.ts";
import { followFile } from "./file_follower.ts";
import { containedErrors } from "./contain.ts";
import { StaticDiscovery } from "./cluster/static_discovery.ts";

const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(1);

/** Which discovery backend a config selects: the flag, else kubernetes in a pod, else static with peers. */
export function discoveryKind(config: RelayConfig, env: (name: string) => string | undefined) {
  if (config.discovery) return config.discovery;
  if (env("KUBERNETES_SERVICE_HOST")) return "kubernetes";
  return config.peers.length > 0 ? "static" : "none";
}

/** This relay as its peers reach it. */
export function selfPeer(config: RelayConfig, env: (name: string) => string | undefined): Peer {
  const wildcard = config.listen === "0.0.0.0" || config.listen === "::";
  return {
    node: config.node ?? Deno.hostname(),
    zone: config.zone ?? "",
    host: env("HOST_IP") ?? (wildcard ? "127.0.0.1" : config.listen),
    rtspPort: config.rtspPort,
    adminPort: config.adminPort,
    meshPort: config.meshPort,
    ready: true,
  };
}

async function createDiscovery(config: RelayConfig, self: Peer, logger: Logger): Promise<Discovery> {
  const kind = discoveryKind(config, (n) => Deno.env.get(n));
  if (kind === "kubernetes") {
    // Loaded only in a pod: a relay outside Kubernetes never holds the API client (tests/runtime_graph_test.ts).
    const { DEFAULT_SERVICE_ACCOUNT_DIR, KubernetesDiscovery } = await import("./cluster/kubernetes.ts");
    const saDir = Deno.env.get("MSM_SERVICEACCOUNT_DIR");
    logger.info("discovery", { kind, serviceAccountDir: saDir ?? DEFAULT_SERVICE_ACCOUNT_DIR });
    return new KubernetesDiscovery({
      selfPorts: { rtsp: config.rtspPort, admin: config.adminPort, mesh: config.meshPort },
      logger,
      ...(saDir ? { serviceAccountDir: saDir } : {}),
    });
  }
  const peers: Peer[] = config.peers.map((p) => ({
    node: p.node,
    zone: p.zone ?? "",
    host: p.host,
    rtspPort: config.rtspPort,
    adminPort: p.adminPort,
    meshPort: p.meshPort,
    ready: true,
  }));
  logger.info("discovery", { kind, peers: peers.length });
  return new StaticDiscovery(kind, self, peers);
}

/** A running relay. */
export interface Relay {
  readonly hub: StreamHub;
  readonly rtsp: RtspService;
  readonly rtspPort: number;
  readonly adminPort: number;
  /**
   * Leaves the mesh make-before-break (children move to other parents while this relay still feeds them) and stops
   * accepting RTSP connections; readiness turns false. Call {@linkcode Relay.close} after it.
   */
  drain(timeoutMs: number): Promise<void>;
  /** Stops accepting, ends sessions and closes everything. */
  close(): Promise<void>;
}

/**
 * Starts a relay with a validated config.
 * @throws Error when a port cannot be bound
 */
export async function startRelay(config: RelayConfig, logger: Logger): Promise<Relay> {
  const self = selfPeer(config, (n) => Deno.env.get(n));
  const discovery = await createDiscovery(config, self, logger.child("discovery"));
  const meshKeys = config.meshKey === undefined ? null : parseMeshKeys(config.meshKey);
  if (typeof meshKeys === "string") throw new Error(`Invalid mesh key: ${meshKeys}`); // the schema checked it
  if (!meshKeys && discoveryKind(config, (n) => Deno.env.get(n)) !== "none") {
    // A lone relay (no discovery) has no mesh to protect: no warning for it.
    logger.child("mesh").warn(
      "mesh is open: no --mesh-key, so peers are not authenticated and mesh packets travel in clear",
    );
  }
  let udpPlane: FastUdpPlane | undefined;
  if (config.dataPlane !== "portable") {
    // Asked for explicitly, a fallback is worth a warning; under `auto` it is the expected outcome off Linux.
    const fallback = (reason: string) =>
      config.dataPlane === "fast"
        ? logger.warn("--data-plane fast unavailable, using portable", { reason })
        : logger.info("data plane", { kind: "portable", reason });
    const why = fastPlaneUnavailable(config.listen);
    if (why) fallback(why);
    else {
      try {
        udpPlane = new FastUdpPlane();
        logger.info("data plane", { kind: "fast" });
        const short = udpPlane.socketBufferWarning();
        if (short) logger.warn(short);
      } catch (err) {
        fallback((err as Error).message);
      }
    }
  } else logger.info("data plane", { kind: "portable" });
  const mesh = new Mesh({
    self,
    discovery,
    fanout: config.fanout,
    bindHost: config.listen,
    logger: logger.child("mesh"),
    keys: meshKeys ? deriveKeyring(meshKeys) : null,
    encrypt: config.meshEncrypt,
    protection: config.protection,
    pathProtection: config.pathProtection,
    nack: config.meshNack ? { budgetMs: config.meshNackBudgetMs, maxRatio: config.meshNackMaxRatio } : null,
    // On the fast plane its Worker owns the mesh port too (recvmmsg/sendmmsg); port 0 stays portable.
    ...(udpPlane ? { openPort: fastMeshPort(udpPlane) } : {}),
    ...(config.listen !== "0.0.0.0" && config.listen !== "::" ? { localAddress: config.listen } : {}),
  });
  const stopFollowingKeys = config.meshKeyFile && config.meshKey
    ? followFile<MeshKeyring>({
      path: config.meshKeyFile,
      initial: config.meshKey,
      what: "mesh keys",
      parse: (text) => {
        const keys = parseMeshKeys(text);
        return typeof keys === "string" ? { rejected: keys } : deriveKeyring(keys);
      },
      apply: (ring) => mesh.setKeyring(ring),
      describe: (ring) => ({ keys: ring.keys.map((k) => k.fingerprint) }),
      logger: logger.child("mesh"),
    })
    : () => {};
  // Late-bound: the metrics read the hub and the RTSP service, which report into the metrics.
  let hubRef: StreamHub | null = null;
  let rtspRef: RtspService | null = null;
  // Browser viewers (/watch) count as readers and sessions.
  const viewers = new ViewerRegistry();
  const metrics = new RelayMetrics({
    streams: () => hubRef?.streams() ?? [],
    readersByPath: () => {
      const readers = new Map(rtspRef?.readersByPath() ?? []);
      for (const [path, n] of viewers.byPath()) readers.set(path, (readers.get(path) ?? 0) + n);
      return readers;
    },
    sessionCount: () => (rtspRef?.sessions().length ?? 0) + viewers.size,
    meshChildren: () => mesh.childCounts(),
    meshPeers: () => mesh.livePeers().length - 1,
    dataPlane: () => udpPlane?.stats() ?? null,
    meshRejections: () => mesh.rejections(),
    meshRetransmits: () => mesh.retransmits(),
    containedErrors,
    memoryBudget: () => memoryBudget,
  });
  const memoryBudget = new MemoryBudget(config.memoryBudgetBytes);
  const allocator = new PortPairAllocator(config.udpPortRange[0], config.udpPortRange[1]);
  const hub = new StreamHub({
    bindPair: udpPortPairs(config.listen, allocator, udpPlane),
    observeTrack: metrics.observeTrack,
    logger: logger.child("hub"),
    pulls: config.paths,
    demo: config.demo,
    publish: config.publish,
    lingerSeconds: config.lingerSeconds,
    cameraWaitMs: config.cameraWaitSeconds * 1000,
    gopCacheBytes: config.gopCache ? config.gopCacheBytes : 0,
    planeDigests: config.planeDigests,
    maxTracks: config.maxTracksPerStream,
    memoryBudget,
    remote: mesh.resolver,
    createSource: (stream, kind, url) =>
      kind === "pull"
        ? new PullSource({
          stream,
          url: mesh.pullUrl(url!),
          transport: config.pullTransport,
          authSchemes: config.pullAuth,
          logger: logger.child("pull"),
        })
        : new DemoSource({ stream, logger: logger.child("demo") }),
  });
  const usersFileText = config.usersFile ? await Deno.readTextFile(config.usersFile) : "";
  const fileUsers = config.usersFile ? parseUsersFile(usersFileText) : [];
  if (typeof fileUsers === "string") throw new Error(`Invalid --users-file: ${fileUsers}`); // checked at load
  const rtspAuth = new RtspAuthenticator({
    users: [...config.users, ...fileUsers],
    schemes: config.rtspAuth,
    allowFrom: config.rtspAllow,
  });
  const stopFollowingUsers = config.usersFile
    ? followFile<UserConfig[]>({
      path: config.usersFile,
      initial: usersFileText,
      what: "RTSP users",
      parse: (text) => {
        const users = parseUsersFile(text);
        return typeof users === "string" ? { rejected: users } : users;
      },
      apply: (users) => rtspAuth.setUsers([...config.users, ...users]),
      describe: (users) => ({ users: users.length }),
      logger: logger.child("rtsp"),
    })
    : () => {};
  const rtsp = new RtspService({
    hub,
    logger: logger.child("rtsp"),
    sessionTimeoutSeconds: config.sessionTimeoutSeconds,
    // A reader of a camera that is down waits --camera-wait (the streams cap it), however long that is.
    sourceWaitMs: Math.max(10_000, config.cameraWaitSeconds * 1000),
    onRequest: metrics.onRequest,
    onRefused: metrics.onRefused,
    memoryBudget,
    auth: rtspAuth,
    limits: {
      maxSessionsPerIp: config.rtspMaxSessionsPerIp,
      maxReadersPerPath: config.maxReadersPerPath,
      requestsPerSecond: config.rtspRequestRate,
    },
  });
  hubRef = hub;
  rtspRef = rtsp;
  const server = new RtspServer({
    hostname: config.listen,
    port: config.rtspPort,
    handler: rtsp,
    maxQueuedBytes: config.readerQueueBytes,
    queueBudget: memoryBudget.for("reader_queue"),
    maxConnections: config.rtspMaxConnections,
    maxConnectionsPerIp: config.rtspMaxConnectionsPerIp,
    maxHeadBytes: config.rtspMaxHeaderBytes,
    maxBodyBytes: config.rtspMaxBodyBytes,
    headTimeoutMs: config.rtspRequestTimeoutSeconds * 1000,
    idleTimeoutMs: config.rtspIdleTimeoutSeconds * 1000,
  });
  server.listen();
  rtsp.start();
  let rtspListening = true;

  let ready = false;
  const app = createAdminApp({
    hub,
    rtsp,
    ready: () => ready && mesh.ready,
    readiness: () => ({ rtsp: rtspListening, mesh: mesh.meshPort !== 0, discovery: discovery.synced }),
    metrics,
    mesh,
    // A lone relay has no peers: it exposes no peer protocol at all.
    meshProtocol: discoveryKind(config, (n) => Deno.env.get(n)) !== "none",
    node: self.node,
    config,
    logger: logger.child("admin"),
    viewerAccess: rtspAuth,
    viewers,
    ...(udpPlane ? { plane: udpPlane } : {}),
  });
  // The admin port (which carries the peer protocol) is up before the mesh starts, so peers can reach us.
  const admin = Deno.serve({
    hostname: config.listen,
    port: config.adminPort,
    onListen: () => {},
  }, app.fetch);
  try {
    await mesh.start(hub);
  } catch (err) {
    server.close();
    rtsp.stop();
    await admin.shutdown();
    await mesh.close();
    await udpPlane?.close();
    throw err;
  }
  // Memory freed after a burst (readers leaving, queues draining) goes back to the system (see heap_trim.ts).
  const heapTrim = startHeapTrim();
  // Once start-up is over, the runtime's code that only it used leaves memory (see startup_code.ts).
  const startupCodeTimer = setTimeout(() => {
    const drop = dropStartupCode();
    if (drop) {
      logger.info("start-up code paged out", {
        executableResidentMiB: `${mib(drop.residentBefore)} -> ${mib(drop.residentAfter)}`,
      });
    }
  }, STARTUP_CODE_SETTLE_MS);
  Deno.unrefTimer(startupCodeTimer);
  ready = true;
  logger.info("relay listening", {
    rtsp: `${config.listen}:${server.port}`,
    admin: `${config.listen}:${admin.addr.port}`,
    paths: Object.keys(config.paths),
    demo: config.demo,
    mesh: `${config.listen}:${mesh.meshPort}`,
    node: self.node,
  });

  return {
    hub,
    rtsp,
    rtspPort: server.port,
    adminPort: admin.addr.port,
    async drain(timeoutMs) {
      ready = false;
      server.stopAccepting();
      await mesh.drain(timeoutMs);
    },
    async close() {
      ready = false;
      stopFollowingKeys();
      stopFollowingUsers();
      rtspListening = false;
      server.stopAccepting();
      rtsp.stop();
      server.close();
      await hub.close();
      await mesh.close();
      await admin.shutdown();
      await udpPlane?.close();
      metrics.close();
      heapTrim?.stop();
      clearTimeout(startupCodeTimer);
    },
  };
}
