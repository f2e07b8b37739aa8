/**
 * Kubernetes discovery: relay pods (label `app.kubernetes.io/name=msm-relay` in the relay's namespace) become
 * peers, Nodes give their zones, EndpointSlices tell where a Service's pods run. Watch events only update stores
 * ({@link ./kube_reflector.ts}); pure functions ({@link ./kube_peers.ts}) turn the stores into the view.
 * @module
 */

import { createLogger, type Logger } from "../log.ts";
import type { Discovery, Peer, ServiceEndpoint } from "./discovery.ts";
import { KubeApi, KubeApiError, type KubeObject } from "./kube_client.ts";
import type { Backoff } from "../backoff.ts";
import { DEFAULT_BACKOFF } from "./kube_retry.ts";
import { ObjectStore, Reflector } from "./kube_reflector.ts";
import { type KubernetesConnectionOptions, resolveKubernetesConnection } from "./kube_connection.ts";
import {
  endpointsFromSlices,
  type EndpointSliceObject,
  nodeZone,
  type PeerPorts,
  peersFromPods,
  type PodObject,
} from "./kube_peers.ts";

export { DEFAULT_SERVICE_ACCOUNT_DIR } from "./kube_connection.ts";

/** The label every relay pod carries (kustomize base). */
export const DEFAULT_LABEL_SELECTOR = "app.kubernetes.io/name=msm-relay";
/** The EndpointSlice label that names its Service. */
export const SERVICE_NAME_LABEL = "kubernetes.io/service-name";

/** Options of {@linkcode KubernetesDiscovery}. */
export interface KubernetesDiscoveryOptions extends KubernetesConnectionOptions {
  /** This relay's own ports: a peer whose pod names no container port gets these. */
  readonly selfPorts: PeerPorts;
  /** Selector of the relay pods. @default {@linkcode DEFAULT_LABEL_SELECTOR} */
  readonly labelSelector?: string;
  /** @default a JSON logger named "kubernetes" */
  readonly logger?: Logger;
  /** Retry delays after errors. @default {@linkcode DEFAULT_BACKOFF} */
  readonly backoff?: Backoff;
  /** Server-side duration of each watch. @default 300 */
  readonly watchTimeoutSeconds?: number;
  /** Random source of the backoff jitter. @default Math.random */
  readonly random?: () => number;
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
