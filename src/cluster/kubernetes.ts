/**
 * Kubernetes discovery: relay pods (label `app.kubernetes.io/name=msm-relay` in the relay's namespace) become
 * peers, Nodes give their zones, EndpointSlices tell where a Service's pods run. Watch events only update stores;
 * pure functions ({@linkcode peersFromPods}, {@linkcode endpointsFromSlices}) turn the stores into the view.
 * @module
 */

import { createLogger, type Logger } from "../log.ts";
import type { Discovery, Peer, ServiceEndpoint } from "./discovery.ts";
import {
  type Backoff,
  DEFAULT_BACKOFF,
  KubeApi,
  KubeApiError,
  type KubeObject,
  Reflector,
  type ReflectorStore,
} from "./kube_client.ts";

/** Where the kubelet mounts the pod's service account. */
export const DEFAULT_SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";
/** The label every relay pod carries (kustomize base). */
export const DEFAULT_LABEL_SELECTOR = "app.kubernetes.io/name=msm-relay";
/** The Node label that names its zone. */
export const ZONE_LABEL = "topology.kubernetes.io/zone";
/** The EndpointSlice label that names its Service. */
export const SERVICE_NAME_LABEL = "kubernetes.io/service-name";

/** A relay's ports. */
export interface PeerPorts {
  readonly rtsp: number;
  readonly admin: number;
  readonly mesh: number;
}

/** The Pod fields discovery reads. */
export interface PodObject extends KubeObject {
  readonly spec?: {
    readonly nodeName?: string;
    readonly containers?: ReadonlyArray<{
      readonly ports?: ReadonlyArray<{ readonly name?: string; readonly containerPort?: number }>;
    }>;
  };
  readonly status?: {
    readonly podIP?: string;
    readonly conditions?: ReadonlyArray<{ readonly type?: string; readonly status?: string }>;
  };
}

/** The EndpointSlice fields discovery reads (discovery.k8s.io/v1). */
export interface EndpointSliceObject extends KubeObject {
  readonly endpoints?: ReadonlyArray<{
    readonly addresses?: readonly string[];
    readonly nodeName?: string;
    readonly conditions?: { readonly ready?: boolean };
  }>;
  readonly ports?: ReadonlyArray<{ readonly name?: string; readonly port?: number }>;
}

/** Options of {@linkcode KubernetesDiscovery}. */
export interface KubernetesDiscoveryOptions {
  /** This relay's own ports: a peer whose pod names no container port gets these. */
  readonly selfPorts: PeerPorts;
  /** API server URL. @default `https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT` */
  readonly apiUrl?: string;
  /** Directory with `token`, `ca.crt` and `namespace`. @default {@linkcode DEFAULT_SERVICE_ACCOUNT_DIR} */
  readonly serviceAccountDir?: string;
  /** Namespace of the relay pods. @default `$POD_NAMESPACE`, else the service account's `namespace` file */
  readonly namespace?: string;
  /** Selector of the relay pods. @default {@linkcode DEFAULT_LABEL_SELECTOR} */
  readonly labelSelector?: string;
  /** @default a JSON logger named "kubernetes" */
  readonly logger?: Logger;
  /** Retry delays after errors. @default {@linkcode DEFAULT_BACKOFF} */
  readonly backoff?: Backoff;
  /** Server-side duration of each watch. @default 300 */
  readonly watchTimeoutSeconds?: number;
  /** Environment lookup. @default Deno.env.get (undefined without permission) */
  readonly env?: (name: string) => string | undefined;
  /** Random source of the backoff jitter. @default Math.random */
  readonly random?: () => number;
}

/** Connection settings resolved from options, environment and the service account directory. */
export interface KubernetesConnection {
  readonly apiUrl: URL;
  readonly tokenFile: string;
  readonly caCertPem: string;
  readonly namespace: string;
}

function defaultEnv(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined;
  }
}

async function readRequiredFile(what: string, path: string): Promise<string> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    const why = e instanceof Deno.errors.NotFound
      ? "file not found"
      : e instanceof Error
      ? e.message
      : String(e);
    throw new Error(`Kubernetes discovery failed: reading the ${what} "${path}" failed: ${why}`);
  }
  if (text.trim() === "") throw new Error(`Kubernetes discovery failed: the ${what} "${path}" is empty`);
  return text;
}

/**
 * Resolves the API URL, token file, CA and namespace, checking that the files can be read.
 * @throws with a message naming the missing or malformed setting
 */
export async function resolveKubernetesConnection(
  options: Omit<KubernetesDiscoveryOptions, "selfPorts">,
): Promise<KubernetesConnection> {
  const env = options.env ?? defaultEnv;
  let raw = options.apiUrl;
  if (raw === undefined) {
    const host = env("KUBERNETES_SERVICE_HOST");
    const port = env("KUBERNETES_SERVICE_PORT") ?? "443";
    if (!host) {
      throw new Error(
        "Kubernetes discovery failed: KUBERNETES_SERVICE_HOST is not set (not running in a pod?) and no API URL was given",
      );
    }
    raw = `https://${host.includes(":") ? `[${host}]` : host}:${port}`;
  }
  let apiUrl: URL;
  try {
    apiUrl = new URL(raw);
  } catch {
    throw new Error(`Kubernetes discovery failed: the API URL "${raw}" is not a valid URL`);
  }
  if ((apiUrl.protocol !== "https:" && apiUrl.protocol !== "http:") || apiUrl.hostname === "") {
    throw new Error(`Kubernetes discovery failed: the API URL "${raw}" is not an http(s) URL with a host`);
  }
  const dir = (options.serviceAccountDir ?? DEFAULT_SERVICE_ACCOUNT_DIR).replace(/\/+$/, "");
  const tokenFile = `${dir}/token`;
  await readRequiredFile("service account token", tokenFile);
  const caCertPem = await readRequiredFile("cluster CA certificate", `${dir}/ca.crt`);
  let namespace = options.namespace ?? env("POD_NAMESPACE");
  if (!namespace) {
    try {
      namespace = (await Deno.readTextFile(`${dir}/namespace`)).trim();
    } catch {
      namespace = "";
    }
  }
  if (!namespace) {
    throw new Error(
      `Kubernetes discovery failed: no namespace: set POD_NAMESPACE or provide "${dir}/namespace"`,
    );
  }
  return { apiUrl, tokenFile, caCertPem, namespace };
}

/** True when the pod's `Ready` condition is "True" and it is not being deleted. */
export function podReady(pod: PodObject): boolean {
  if (pod.metadata?.deletionTimestamp) return false;
  return pod.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;
}

/** Ports from the pod's named container ports `rtsp`/`admin`/`mesh`, else `fallback`'s. */
export function podPorts(pod: PodObject, fallback: PeerPorts): PeerPorts {
  const named: Partial<Record<keyof PeerPorts, number>> = {};
  for (const c of pod.spec?.containers ?? []) {
    for (const p of c.ports ?? []) {
      if (
        (p.name === "rtsp" || p.name === "admin" || p.name === "mesh") && typeof p.containerPort === "number"
      ) {
        named[p.name] ??= p.containerPort;
      }
    }
  }
  return {
    rtsp: named.rtsp ?? fallback.rtsp,
    admin: named.admin ?? fallback.admin,
    mesh: named.mesh ?? fallback.mesh,
  };
}

/**
 * The peer a relay pod stands for, or undefined when it has no node or no IP yet.
 * @param zoneOf zone of a node name ("" when unknown)
 */
export function peerFromPod(
  pod: PodObject,
  zoneOf: (node: string) => string,
  selfPorts: PeerPorts,
): Peer | undefined {
  const node = pod.spec?.nodeName;
  const host = pod.status?.podIP;
  if (!node || !host) return undefined;
  const ports = podPorts(pod, selfPorts);
  return {
    node,
    zone: zoneOf(node),
    host,
    rtspPort: ports.rtsp,
    adminPort: ports.admin,
    meshPort: ports.mesh,
    ready: podReady(pod),
  };
}

function createdAt(pod: PodObject): number {
  const t = Date.parse(pod.metadata?.creationTimestamp ?? "");
  return Number.isNaN(t) ? 0 : t;
}

/** Orders two pods on one node: the ready one first, then the newest, then by name (for a stable choice). */
function preferPod(a: PodObject, b: PodObject): number {
  const ready = Number(podReady(b)) - Number(podReady(a));
  if (ready !== 0) return ready;
  const age = createdAt(b) - createdAt(a);
  if (age !== 0) return age;
  const an = a.metadata?.name ?? "";
  const bn = b.metadata?.name ?? "";
  return an < bn ? 1 : an > bn ? -1 : 0;
}

/**
 * The view from relay pods: one peer per node (during a rolling update the ready pod wins, then the newest),
 * pods without node or IP skipped, sorted by node name.
 * @example peersFromPods(pods, (node) => zones.get(node) ?? "", { rtsp: 8554, admin: 8080, mesh: 7000 })
 */
export function peersFromPods(
  pods: Iterable<PodObject>,
  zoneOf: (node: string) => string,
  selfPorts: PeerPorts,
): Peer[] {
  const best = new Map<string, PodObject>();
  for (const pod of pods) {
    const node = pod.spec?.nodeName;
    if (!node || !pod.status?.podIP) continue;
    const current = best.get(node);
    if (current === undefined || preferPod(pod, current) < 0) best.set(node, pod);
  }
  const peers: Peer[] = [];
  for (const pod of best.values()) {
    const peer = peerFromPod(pod, zoneOf, selfPorts);
    if (peer) peers.push(peer);
  }
  return peers.sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : 0));
}

/** The zone label of a Node, or "". */
export function nodeZone(node: KubeObject): string {
  return node.metadata?.labels?.[ZONE_LABEL] ?? "";
}

/**
 * Ready endpoints (`conditions.ready` not false) of a Service's EndpointSlices, one per address, each with its
 * slice's ports, deduplicated and sorted by address.
 */
export function endpointsFromSlices(slices: Iterable<EndpointSliceObject>): ServiceEndpoint[] {
  const out = new Map<string, ServiceEndpoint>();
  for (const slice of slices) {
    const ports = (slice.ports ?? [])
      .filter((p) => typeof p.port === "number")
      .map((p) => ({ name: p.name, port: p.port! }));
    for (const ep of slice.endpoints ?? []) {
      if (ep.conditions?.ready === false) continue;
      for (const address of ep.addresses ?? []) {
        const endpoint: ServiceEndpoint = { address, nodeName: ep.nodeName, ports };
        out.set(JSON.stringify(endpoint), endpoint);
      }
    }
  }
  return [...out.values()].sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0));
}

/** A store keyed by `namespace/name` that a reflector fills. */
class ObjectStore<T extends KubeObject> implements ReflectorStore<T> {
  readonly objects = new Map<string, T>();
  readonly #changed: () => void;
  constructor(changed: () => void) {
    this.#changed = changed;
  }
  static key(o: KubeObject): string {
    return `${o.metadata?.namespace ?? ""}/${o.metadata?.name ?? ""}`;
  }
  replace(items: readonly T[]): void {
    this.objects.clear();
    for (const o of items) this.objects.set(ObjectStore.key(o), o);
    this.#changed();
  }
  apply(type: "ADDED" | "MODIFIED" | "DELETED", object: T): void {
    if (type === "DELETED") this.objects.delete(ObjectStore.key(object));
    else this.objects.set(ObjectStore.key(object), object);
    this.#changed();
  }
}

interface ServiceWatch {
  readonly namespace: string;
  readonly name: string;
  readonly store: ObjectStore<EndpointSliceObject>;
  reflector: Reflector<EndpointSliceObject> | undefined;
  endpoints: readonly ServiceEndpoint[];
  key: string;
}

/**
 * Discovery backend for a relay running as a DaemonSet pod: LIST+WATCH of relay pods in its namespace and of
 * Nodes (zones), and on demand of a Service's EndpointSlices. Survives API outages with the last view, follows
 * token rotation, and relists when its resourceVersion expires.
 * @example
 * const discovery = new KubernetesDiscovery({ selfPorts: { rtsp: 8554, admin: 8080, mesh: 7000 } });
 * await discovery.start();
 * discovery.onChange((peers) => mesh.update(peers));
 */
export class KubernetesDiscovery implements Discovery {
  /** Always "kubernetes". */
  readonly kind = "kubernetes" as const;
  readonly #options: KubernetesDiscoveryOptions;
  readonly #logger: Logger;
  readonly #listeners = new Set<(peers: readonly Peer[]) => void>();
  readonly #pods = new ObjectStore<PodObject>(() => this.#refresh());
  readonly #nodes = new ObjectStore<KubeObject>(() => this.#refresh());
  readonly #services = new Map<string, ServiceWatch>();
  #api: KubeApi | undefined;
  #podReflector: Reflector<PodObject> | undefined;
  #nodeReflector: Reflector<KubeObject> | undefined;
  #starting: Promise<void> | undefined;
  #synced = false;
  #stopped = false;
  #resolveStopped!: () => void;
  readonly #stoppedSignal = new Promise<void>((resolve) => (this.#resolveStopped = resolve));
  #nodesForbidden = false;
  #peers: readonly Peer[] = [];
  #notified = "[]";

  /** @param options see {@linkcode KubernetesDiscoveryOptions} */
  constructor(options: KubernetesDiscoveryOptions) {
    this.#options = options;
    this.#logger = options.logger ?? createLogger({}, "kubernetes");
  }

  /** True once the first pods LIST completed and the first nodes LIST was attempted. */
  get synced(): boolean {
    return this.#synced;
  }

  /**
   * Reads the service account, starts the watches and resolves once synced; retries API errors meanwhile.
   * @throws when the token or CA file is missing, the URL is malformed, no namespace is known, or on stop()
   * before the first sync
   */
  start(): Promise<void> {
    this.#starting ??= this.#start();
    return this.#starting;
  }

  async #start(): Promise<void> {
    const conn = await resolveKubernetesConnection(this.#options);
    if (this.#stopped) throw new Error("Kubernetes discovery was stopped before it started");
    this.#api = new KubeApi({
      apiUrl: conn.apiUrl,
      tokenFile: conn.tokenFile,
      caCertPem: conn.caCertPem,
      logger: this.#logger,
    });
    const labelSelector = this.#options.labelSelector ?? DEFAULT_LABEL_SELECTOR;
    this.#logger.info("watching relay pods", {
      apiUrl: conn.apiUrl.origin,
      namespace: conn.namespace,
      labelSelector,
    });
    this.#podReflector = new Reflector<PodObject>({
      ...this.#reflectorOptions(),
      path: `/api/v1/namespaces/${encodeURIComponent(conn.namespace)}/pods`,
      labelSelector,
      store: this.#pods,
      logger: this.#logger.child("pods"),
    });
    this.#nodeReflector = new Reflector<KubeObject>({
      ...this.#reflectorOptions(),
      path: "/api/v1/nodes",
      store: this.#nodes,
      logger: this.#logger.child("nodes"),
      onError: (e) => {
        if (!(e instanceof KubeApiError) || e.status !== 403) return false;
        if (!this.#nodesForbidden) {
          this.#nodesForbidden = true;
          this.#logger.warn('cannot read Nodes (403): zones are unknown ("") until RBAC allows it', {
            error: e.message,
          });
        }
        return true;
      },
    });
    this.#podReflector.start();
    this.#nodeReflector.start();
    for (const service of this.#services.values()) this.#startService(service);
    await Promise.race([
      Promise.all([this.#podReflector.firstSync, this.#nodeReflector.firstAttempt]),
      this.#stoppedSignal,
    ]);
    if (this.#stopped) throw new Error("Kubernetes discovery was stopped before its first sync");
    this.#synced = true;
    this.#logger.info("relay pods synced", { peers: this.#peers.length });
    this.#refresh();
  }

  #reflectorOptions() {
    return {
      api: this.#api!,
      backoff: this.#options.backoff ?? DEFAULT_BACKOFF,
      watchTimeoutSeconds: this.#options.watchTimeoutSeconds ?? 300,
      random: this.#options.random ?? Math.random,
    };
  }

  #zoneOf = (node: string): string => {
    const n = this.#nodes.objects.get(`/${node}`);
    return n ? nodeZone(n) : "";
  };

  /** Recomputes the view from the stores and notifies listeners when it changed (once synced). */
  #refresh(): void {
    this.#peers = Object.freeze(
      peersFromPods(this.#pods.objects.values(), this.#zoneOf, this.#options.selfPorts),
    );
    if (!this.#synced) return;
    const key = JSON.stringify(this.#peers);
    if (key === this.#notified) return;
    this.#notified = key;
    this.#notify();
  }

  #notify(): void {
    for (const listener of [...this.#listeners]) {
      try {
        listener(this.#peers);
      } catch (e) {
        this.#logger.error("a discovery listener failed", { error: String(e) });
      }
    }
  }

  /** The current view (relay pods with a node and an IP, one per node), sorted by node name. */
  peers(): readonly Peer[] {
    return this.#synced ? this.#peers : [];
  }

  /** Calls `listener` after every change of the view. @returns a function that removes it */
  onChange(listener: (peers: readonly Peer[]) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Ready endpoints of Service `name` in `namespace`. The first call starts watching its EndpointSlices and
   * returns [] until they are listed; listeners of {@linkcode onChange} are called when the endpoints change.
   */
  serviceEndpoints(namespace: string, name: string): readonly ServiceEndpoint[] {
    const key = `${namespace}/${name}`;
    let service = this.#services.get(key);
    if (!service) {
      const created: ServiceWatch = {
        namespace,
        name,
        store: new ObjectStore<EndpointSliceObject>(() => this.#refreshService(created)),
        reflector: undefined,
        endpoints: [],
        key: "[]",
      };
      service = created;
      this.#services.set(key, service);
      if (this.#api && !this.#stopped) this.#startService(service);
    }
    return service.endpoints;
  }

  #startService(service: ServiceWatch): void {
    if (service.reflector) return;
    service.reflector = new Reflector<EndpointSliceObject>({
      ...this.#reflectorOptions(),
      path: `/apis/discovery.k8s.io/v1/namespaces/${encodeURIComponent(service.namespace)}/endpointslices`,
      labelSelector: `${SERVICE_NAME_LABEL}=${service.name}`,
      store: service.store,
      logger: this.#logger.child("endpointslices"),
    });
    service.reflector.start();
  }

  #refreshService(service: ServiceWatch): void {
    const endpoints = endpointsFromSlices(service.store.objects.values());
    const key = JSON.stringify(endpoints);
    if (key === service.key) return;
    service.key = key;
    service.endpoints = Object.freeze(endpoints);
    this.#logger.debug("service endpoints changed", {
      service: `${service.namespace}/${service.name}`,
      endpoints: endpoints.length,
    });
    if (this.#synced) this.#notify();
  }

  /** Stops every watch, aborts requests and backoffs, and closes the HTTP client. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#resolveStopped();
    const reflectors = [
      this.#podReflector,
      this.#nodeReflector,
      ...[...this.#services.values()].map((s) => s.reflector),
    ];
    await Promise.all(reflectors.map((r) => r?.stop()));
    this.#api?.close();
    this.#api = undefined;
  }
}
