/**
 * A fake Kubernetes API server for tests, faithful to the parts msm-relay uses: LIST and WATCH of pods, nodes and
 * EndpointSlices over HTTPS with a bearer token.
 *
 * What it does like the real API server:
 * - one store with a global, monotonically increasing `resourceVersion` (a decimal string); every write bumps it
 *   and stamps the object; a DELETED event carries the object with the deletion's resourceVersion;
 * - LIST answers `{kind: "PodList", apiVersion, metadata: {resourceVersion}, items}` (items without kind and
 *   apiVersion, as the real server writes them), filtered by `labelSelector` and `fieldSelector`;
 * - WATCH (`watch=1|true`) streams newline-delimited `{type, object}` events (chunked) for changes after
 *   `resourceVersion` (absent or "0": synthetic ADDED events for the current objects first), with BOOKMARK events
 *   when `allowWatchBookmarks=true`, and closes the stream after `timeoutSeconds`;
 * - a label-selector watch turns a MODIFIED that enters the selection into ADDED and one that leaves it into
 *   DELETED;
 * - a resourceVersion older than the kept event history is "Expired" (410): an ERROR event with a Status object
 *   then the end of the stream, or an HTTP 410 answer ({@linkcode FakeKubeOptions.expiredMode});
 * - errors are `Status` objects (401 without the bearer token, 403, 404, 400 for a bad selector...).
 *
 * Test controls: object builders and writers ({@linkcode FakeKube.createPod}, `setNode`, `setEndpointSlice`...),
 * {@linkcode FakeKube.failNext}, {@linkcode FakeKube.pause} / {@linkcode FakeKube.resume} (the port refuses
 * connections in between), {@linkcode FakeKube.closeWatches}, {@linkcode FakeKube.expireHistory}, a request log
 * and counters.
 *
 * The server certificate is issued for 127.0.0.1 and localhost (plus {@linkcode FakeKubeOptions.hostname} and
 * {@linkcode FakeKubeOptions.extraSans}) by a CA made with the `openssl` CLI at start (Debian package `openssl`).
 * @module
 */

import { join } from "node:path";

/** Resources the fake serves. */
export type FakeKubeResource = "pods" | "nodes" | "endpointslices";

/** What a request asked for. */
export type FakeKubeVerb = "list" | "watch" | "get";

/** Metadata of a stored object (the fields the fake maintains; others are kept as given). */
export interface FakeObjectMeta {
  name: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  resourceVersion?: string;
  uid?: string;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  deletionGracePeriodSeconds?: number;
  [field: string]: unknown;
}

/** A Kubernetes object as stored and served. */
export interface FakeKubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: FakeObjectMeta;
  [field: string]: unknown;
}

/** A watch event as written on the wire. */
export interface FakeWatchEvent {
  type: "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR";
  object: unknown;
}

/** Named container ports of a relay pod. */
export interface RelayPodPorts {
  rtsp?: number;
  admin?: number;
  mesh?: number;
}

/** What {@linkcode relayPod} builds a relay pod from. */
export interface RelayPodSpec {
  name: string;
  /** @default the fake's namespace ({@linkcode FakeKubeOptions.namespace}) */
  namespace?: string;
  /** `spec.nodeName`; null or absent: not scheduled. */
  nodeName?: string | null;
  /** `status.podIP` (= hostIP under hostNetwork); null or absent: no IP yet. */
  podIP?: string | null;
  /** The `Ready` condition. @default true */
  ready?: boolean;
  /** Labels added to `app.kubernetes.io/name=msm-relay`; in an update, null removes a label. */
  labels?: Record<string, string | null>;
  /** Named container ports; absent: the pod declares none. */
  ports?: RelayPodPorts;
  /** @default now (whole seconds, as the API server writes it) */
  creationTimestamp?: string;
}

/** One endpoint of {@linkcode FakeKube.setEndpointSlice}. */
export interface FakeEndpoint {
  address: string;
  nodeName?: string;
  /** `conditions.ready`; undefined leaves the condition out (which means ready). */
  ready?: boolean;
}

/** One entry of {@linkcode FakeKube.requests}. */
export interface FakeKubeRequest {
  /** `Date.now()` when the request arrived. */
  readonly time: number;
  readonly method: string;
  readonly path: string;
  readonly query: string;
  readonly verb: FakeKubeVerb | undefined;
  readonly resource: FakeKubeResource | undefined;
  /** Status code of the answer (200 for a watch, whatever the stream then says). */
  readonly status: number;
  /** The bearer token sent, if any. */
  readonly token: string | undefined;
  /** The client's address (`host:port`, IPv6 hosts in brackets), when the connection had one. */
  readonly remote?: string;
}

/** Which requests {@linkcode FakeKube.failNext} and {@linkcode FakeKube.forbid} apply to. */
export interface FakeRequestFilter {
  resource?: FakeKubeResource;
  verb?: FakeKubeVerb;
}

/** Options of {@linkcode startFakeKube}. */
export interface FakeKubeOptions {
  /** Default namespace of the object builders. @default "msm" */
  namespace?: string;
  /** The bearer token accepted at start. @default a random string */
  token?: string;
  /** Interval of BOOKMARK events on watches that allow them; 0 sends none. @default 1000 */
  bookmarkIntervalMs?: number;
  /** Events kept for watch resumption; older resourceVersions are "Expired". @default 1000 */
  historyLimit?: number;
  /**
   * How a watch from an expired resourceVersion is answered: `"event"` (HTTP 200, one ERROR event with a 410
   * Status, end of stream) or `"http"` (HTTP 410 with the Status as body). @default "event"
   */
  expiredMode?: "event" | "http";
  /** Watch duration when the request has no `timeoutSeconds`; 0 keeps it open until closed. @default 0 */
  defaultWatchTimeoutSeconds?: number;
  /**
   * Address to listen on (an IP address, e.g. a test bridge's); the certificate names it too, so clients can
   * connect to it by that address. @default "127.0.0.1"
   */
  hostname?: string;
  /** More subjectAltNames of the server certificate: IP addresses, else DNS names. @default [] */
  extraSans?: readonly string[];
}

/** A running fake API server. Close it with {@linkcode FakeKube.close} or `await using`. */
export interface FakeKube extends AsyncDisposable {
  /** `https://HOSTNAME:PORT` ({@linkcode FakeKubeOptions.hostname}, default 127.0.0.1). */
  readonly url: string;
  /** PEM of the CA that issued the server certificate. */
  readonly caCertPem: string;
  /** The bearer token currently accepted. */
  readonly token: string;
  /** Default namespace of the builders. */
  readonly namespace: string;
  /** The store's current resourceVersion. */
  readonly resourceVersion: string;
  /** Every request so far, oldest first. */
  readonly requests: readonly FakeKubeRequest[];
  /** Number of open watch streams. */
  readonly openWatches: number;

  /** Accepts `token` from now on (and refuses the previous one: a rotation the client has to follow). */
  setToken(token: string): void;
  /** How a watch from an expired resourceVersion is answered (see {@linkcode FakeKubeOptions.expiredMode}). */
  setExpiredMode(mode: "event" | "http"): void;
  /** Interval of BOOKMARK events for watches opened from now on; 0 sends none. */
  setBookmarkInterval(ms: number): void;

  /** Stores a pod built by {@linkcode relayPod} from `spec`, or `spec` itself when it is an object. */
  createPod(spec: RelayPodSpec | FakeKubeObject): FakeKubeObject;
  /**
   * Changes a stored pod: `change` is a partial {@linkcode RelayPodSpec} (ready, podIP, nodeName, labels, ports)
   * or a function that edits a copy in place.
   * @throws when the pod does not exist
   */
  updatePod(
    name: string,
    change: Partial<Omit<RelayPodSpec, "name" | "namespace">> | ((pod: FakeKubeObject) => void),
    namespace?: string,
  ): FakeKubeObject;
  /**
   * Deletes a pod. `graceful: true` only marks it (deletionTimestamp, MODIFIED) as the API server does during a
   * grace period; a later call without it removes it (DELETED). @returns false when there was no such pod
   */
  deletePod(name: string, options?: { namespace?: string; graceful?: boolean }): boolean;
  /** Creates or replaces Node `name` with exactly `labels`. */
  setNode(name: string, labels?: Record<string, string>): FakeKubeObject;
  /** Deletes Node `name`. @returns false when there was none */
  deleteNode(name: string): boolean;
  /**
   * Creates or replaces the EndpointSlice of Service `service` in `namespace` (name `<service>-slice` unless
   * `options.name`), labelled `kubernetes.io/service-name=<service>`.
   */
  setEndpointSlice(
    namespace: string,
    service: string,
    endpoints: readonly FakeEndpoint[],
    ports: ReadonlyArray<{ name?: string; port: number }>,
    options?: { name?: string },
  ): FakeKubeObject;
  /** Deletes an EndpointSlice by its own name. @returns false when there was none */
  deleteEndpointSlice(namespace: string, name: string): boolean;
  /** Creates or replaces any object of `resource` (a copy is stored; resourceVersion/uid are set). */
  upsert(resource: FakeKubeResource, object: FakeKubeObject): FakeKubeObject;
  /** Deletes any object. @returns false when there was none */
  remove(resource: FakeKubeResource, namespace: string | undefined, name: string): boolean;
  /** A copy of a stored object, or undefined. */
  get(resource: FakeKubeResource, namespace: string | undefined, name: string): FakeKubeObject | undefined;

  /** The next `count` requests (matching `filter`) are answered with a `status` Status object. */
  failNext(count: number, status?: number, filter?: FakeRequestFilter): void;
  /** Answers 403 Forbidden to matching requests until {@linkcode FakeKube.allow}. */
  forbid(filter: FakeRequestFilter): void;
  /** Lifts every {@linkcode FakeKube.forbid}. */
  allow(): void;
  /**
   * Outage: breaks open watch streams (no clean end) and stops listening, so connections are refused; requests
   * still arriving on connections being shut down are cut (and not logged).
   */
  pause(): Promise<void>;
  /** Listens again on the same port. */
  resume(): Promise<void>;
  /** Ends every open watch stream cleanly, as the server does on `timeoutSeconds`. */
  closeWatches(): void;
  /**
   * Compacts the history: every resourceVersion handed out so far becomes too old to watch from (the next watch
   * or resume from one gets 410 Expired); a new LIST gives a usable one. Open watches stay open.
   */
  expireHistory(): void;
  /** Number of requests so far for `verb` on `resource` (optionally only those answered `status`). */
  count(verb: FakeKubeVerb, resource: FakeKubeResource, status?: number): number;
  /**
   * Writes a service account directory (`token`, `ca.crt`, `namespace`) as the kubelet mounts it, inside the
   * fake's temporary directory. @returns its path
   */
  writeServiceAccountDir(namespace?: string): Promise<string>;
  /**
   * What an API client needs to reach this fake: its URL, the token file of a new service account directory,
   * and its CA (spread it into `new KubeApi({ ...await kube.clientOptions(), logger })`).
   */
  clientOptions(): Promise<{ apiUrl: URL; tokenFile: string; caCertPem: string }>;
  /** Stops the server, ends watches and removes the temporary files. */
  close(): Promise<void>;
}

interface ResourceInfo {
  readonly kind: string;
  readonly apiVersion: string;
  readonly namespaced: boolean;
}

const RESOURCES: Record<FakeKubeResource, ResourceInfo> = {
  pods: { kind: "Pod", apiVersion: "v1", namespaced: true },
  nodes: { kind: "Node", apiVersion: "v1", namespaced: false },
  endpointslices: { kind: "EndpointSlice", apiVersion: "discovery.k8s.io/v1", namespaced: true },
};

/** The label every relay pod carries. */
export const RELAY_APP_LABEL = "app.kubernetes.io/name";

const STATUS_REASONS: Record<number, string> = {
  400: "BadRequest",
  401: "Unauthorized",
  403: "Forbidden",
  404: "NotFound",
  405: "MethodNotAllowed",
  409: "Conflict",
  410: "Expired",
  429: "TooManyRequests",
  500: "InternalError",
  503: "ServiceUnavailable",
  504: "Timeout",
};

/** A Kubernetes `Status` object (failure), as the API server writes it. */
export function kubeStatus(code: number, message: string, reason?: string): Record<string, unknown> {
  return {
    kind: "Status",
    apiVersion: "v1",
    metadata: {},
    status: "Failure",
    message,
    reason: reason ?? STATUS_REASONS[code] ?? "Unknown",
    code,
  };
}

/** Now as the API server writes timestamps (RFC 3339, whole seconds, UTC). */
function kubeTime(ms = Date.now()): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(".000Z", "Z");
}

function containerPorts(ports: RelayPodPorts): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = [];
  for (const name of ["rtsp", "admin", "mesh"] as const) {
    const port = ports[name];
    if (port === undefined) continue;
    out.push({ name, containerPort: port, hostPort: port, protocol: name === "mesh" ? "UDP" : "TCP" });
  }
  return out;
}

function podStatusFields(podIP: string | null | undefined, ready: boolean): Record<string, unknown> {
  const status: Record<string, unknown> = {
    phase: podIP ? "Running" : "Pending",
    conditions: [
      { type: "PodScheduled", status: "True" },
      { type: "Ready", status: ready ? "True" : "False" },
      { type: "ContainersReady", status: ready ? "True" : "False" },
    ],
  };
  if (podIP) {
    status.podIP = podIP;
    status.podIPs = [{ ip: podIP }];
    status.hostIP = podIP;
  }
  return status;
}

/**
 * Builds a relay pod as the DaemonSet makes it (hostNetwork, label `app.kubernetes.io/name=msm-relay`, a Ready
 * condition, optional named container ports `rtsp`/`admin`/`mesh`).
 * @example relayPod({ name: "relay-a", nodeName: "node-a", podIP: "10.0.0.1" }, "msm")
 */
export function relayPod(spec: RelayPodSpec, defaultNamespace = "msm"): FakeKubeObject {
  const labels: Record<string, string> = { [RELAY_APP_LABEL]: "msm-relay" };
  for (const [k, v] of Object.entries(spec.labels ?? {})) {
    if (v === null) delete labels[k];
    else labels[k] = v;
  }
  const podSpec: Record<string, unknown> = {
    hostNetwork: true,
    containers: [{ name: "relay", image: "msm-relay:test", ports: containerPorts(spec.ports ?? {}) }],
  };
  if (spec.nodeName) podSpec.nodeName = spec.nodeName;
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name: spec.name,
      namespace: spec.namespace ?? defaultNamespace,
      labels,
      creationTimestamp: spec.creationTimestamp ?? kubeTime(),
    },
    spec: podSpec,
    status: podStatusFields(spec.podIP, spec.ready ?? true),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Selectors

/** One requirement of a label selector. */
type LabelRequirement =
  | { op: "eq" | "neq"; key: string; value: string }
  | { op: "in" | "notin"; key: string; values: string[] }
  | { op: "exists" | "notexists"; key: string };

const LABEL_KEY = /^([a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const LABEL_VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/;

function splitTopLevel(selector: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < selector.length; i++) {
    const c = selector[i];
    if (c === "(") depth++;
    else if (c === ")") depth--;
    else if (c === "," && depth === 0) {
      parts.push(selector.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(selector.slice(start));
  return parts.map((p) => p.trim()).filter((p) => p !== "");
}

function checkKey(key: string): string {
  if (!LABEL_KEY.test(key)) throw new Error(`invalid label key "${key}"`);
  return key;
}

function checkValue(value: string): string {
  if (!LABEL_VALUE.test(value) || value.length > 63) throw new Error(`invalid label value "${value}"`);
  return value;
}

/**
 * Parses a label selector (`k=v`, `k==v`, `k!=v`, `k`, `!k`, `k in (a,b)`, `k notin (a,b)`, comma-joined).
 * @throws on a malformed selector, with the reason
 */
export function parseLabelSelector(selector: string): LabelRequirement[] {
  const out: LabelRequirement[] = [];
  for (const part of splitTopLevel(selector)) {
    let m: RegExpMatchArray | null;
    if ((m = part.match(/^(\S+)\s+(in|notin)\s*\(([^()]*)\)$/))) {
      const values = m[3]!.split(",").map((v) => checkValue(v.trim()));
      out.push({ op: m[2] as "in" | "notin", key: checkKey(m[1]!), values });
    } else if ((m = part.match(/^([^=!\s]+)\s*(==|=|!=)\s*(\S*)$/))) {
      out.push({ op: m[2] === "!=" ? "neq" : "eq", key: checkKey(m[1]!), value: checkValue(m[3]!) });
    } else if ((m = part.match(/^!\s*(\S+)$/))) {
      out.push({ op: "notexists", key: checkKey(m[1]!) });
    } else if ((m = part.match(/^(\S+)$/))) {
      out.push({ op: "exists", key: checkKey(m[1]!) });
    } else {
      throw new Error(`unable to parse requirement "${part}"`);
    }
  }
  return out;
}

/** True when `labels` satisfy every requirement. */
export function matchesLabels(
  requirements: readonly LabelRequirement[],
  labels: Record<string, string>,
): boolean {
  return requirements.every((r) => {
    const has = Object.hasOwn(labels, r.key);
    const value = labels[r.key];
    switch (r.op) {
      case "eq":
        return has && value === r.value;
      case "neq":
        return !has || value !== r.value;
      case "in":
        return has && r.values.includes(value!);
      case "notin":
        return !has || !r.values.includes(value!);
      case "exists":
        return has;
      case "notexists":
        return !has;
    }
  });
}

const FIELD_PATHS: Record<FakeKubeResource, Record<string, (o: FakeKubeObject) => string>> = {
  pods: {
    "metadata.name": (o) => o.metadata.name,
    "metadata.namespace": (o) => o.metadata.namespace ?? "",
    "spec.nodeName": (o) => String((o.spec as { nodeName?: string } | undefined)?.nodeName ?? ""),
    "status.podIP": (o) => String((o.status as { podIP?: string } | undefined)?.podIP ?? ""),
  },
  nodes: { "metadata.name": (o) => o.metadata.name },
  endpointslices: {
    "metadata.name": (o) => o.metadata.name,
    "metadata.namespace": (o) => o.metadata.namespace ?? "",
  },
};

type FieldPredicate = (o: FakeKubeObject) => boolean;

function parseFieldSelector(resource: FakeKubeResource, selector: string): FieldPredicate {
  const preds: FieldPredicate[] = [];
  for (const part of splitTopLevel(selector)) {
    const m = part.match(/^([^=!\s]+)\s*(==|=|!=)\s*(.*)$/);
    if (!m) throw new Error(`invalid selector: "${part}"`);
    const get = FIELD_PATHS[resource][m[1]!];
    if (!get) throw new Error(`field label not supported: ${m[1]}`);
    const value = m[3]!.trim();
    preds.push(m[2] === "!=" ? (o) => get(o) !== value : (o) => get(o) === value);
  }
  return (o) => preds.every((p) => p(o));
}

// ---------------------------------------------------------------------------------------------------------------
// Certificates

async function openssl(args: string[], cwd: string): Promise<void> {
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command("openssl", { args, cwd, stdout: "null", stderr: "piped" }).output();
  } catch (e) {
    throw new Error(
      `Starting the fake Kubernetes API failed: the "openssl" CLI could not be run (Debian package openssl): ${e}`,
    );
  }
  if (!out.success) {
    throw new Error(
      `Starting the fake Kubernetes API failed: "openssl ${args[0]}" exited ${out.code}: ${
        new TextDecoder().decode(out.stderr).trim()
      }`,
    );
  }
}

/** True for an IPv4 or IPv6 address literal (not a DNS name). */
function isIpLiteral(s: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(s) || (s.includes(":") && /^[0-9a-fA-F:.]+$/.test(s));
}

/** The subjectAltName value for 127.0.0.1, localhost and `extra` names (deduplicated). */
export function subjectAltName(extra: readonly string[] = []): string {
  const names = ["127.0.0.1", "localhost", ...extra];
  const entries = [...new Set(names)].map((n) => {
    if (isIpLiteral(n)) return `IP:${n}`;
    if (!/^[A-Za-z0-9*]([-A-Za-z0-9.*]*[A-Za-z0-9])?$/.test(n)) {
      throw new Error(
        `Starting the fake Kubernetes API failed: "${n}" is neither an IP address nor a DNS name`,
      );
    }
    return `DNS:${n}`;
  });
  return entries.join(",");
}

/** Makes a CA and a server certificate for 127.0.0.1/localhost (and `extraSans`) in `dir`. */
async function makeCertificates(
  dir: string,
  extraSans: readonly string[] = [],
): Promise<{ caCertPem: string; certPem: string; keyPem: string }> {
  const ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
  await openssl(
    `req -x509 ${ec} -keyout ca.key -out ca.crt -days 2 -subj /CN=fake-kube-ca`.split(" ").concat(
      ["-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
    ),
    dir,
  );
  await openssl(`req ${ec} -keyout server.key -out server.csr -subj /CN=fake-kube-apiserver`.split(" "), dir);
  await Deno.writeTextFile(
    join(dir, "server.ext"),
    [
      `subjectAltName=${subjectAltName(extraSans)}`,
      "basicConstraints=critical,CA:FALSE",
      "keyUsage=critical,digitalSignature,keyEncipherment",
      "extendedKeyUsage=serverAuth",
      "",
    ].join("\n"),
  );
  await openssl(
    "x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt -days 2 -extfile server.ext"
      .split(" "),
    dir,
  );
  return {
    caCertPem: await Deno.readTextFile(join(dir, "ca.crt")),
    certPem: await Deno.readTextFile(join(dir, "server.crt")),
    keyPem: await Deno.readTextFile(join(dir, "server.key")),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Server

interface HistoryEntry {
  readonly rv: number;
  readonly resource: FakeKubeResource;
  readonly type: "ADDED" | "MODIFIED" | "DELETED";
  /** The object after the change (for DELETED: its last state with the deletion's resourceVersion). */
  readonly object: FakeKubeObject;
  /** The object before a MODIFIED. */
  readonly previous: FakeKubeObject | undefined;
}

interface Watcher {
  readonly resource: FakeKubeResource;
  readonly namespace: string | undefined;
  readonly matches: (o: FakeKubeObject) => boolean;
  readonly controller: ReadableStreamDefaultController<Uint8Array>;
  readonly timers: Array<ReturnType<typeof setTimeout>>;
  done: boolean;
}

interface Failure {
  remaining: number;
  readonly status: number;
  readonly filter: FakeRequestFilter;
}

interface Route {
  readonly resource: FakeKubeResource;
  readonly namespace: string | undefined;
  readonly name: string | undefined;
}

const encoder = new TextEncoder();

function parseRoute(path: string): Route | undefined {
  const parts = path.split("/").filter((p) => p !== "").map(decodeURIComponent);
  let rest: string[];
  let group: "core" | "discovery";
  if (parts[0] === "api" && parts[1] === "v1") {
    group = "core";
    rest = parts.slice(2);
  } else if (parts[0] === "apis" && parts[1] === "discovery.k8s.io" && parts[2] === "v1") {
    group = "discovery";
    rest = parts.slice(3);
  } else {
    return undefined;
  }
  let namespace: string | undefined;
  if (rest[0] === "namespaces" && rest.length >= 3) {
    namespace = rest[1];
    rest = rest.slice(2);
  }
  const resource = rest[0] as FakeKubeResource | undefined;
  if (resource === undefined || !Object.hasOwn(RESOURCES, resource) || rest.length > 2) return undefined;
  const info = RESOURCES[resource];
  if ((group === "discovery") !== (resource === "endpointslices")) return undefined;
  if (!info.namespaced && namespace !== undefined) return undefined;
  return { resource, namespace, name: rest[1] };
}

function objectKey(namespace: string | undefined, name: string): string {
  return namespace === undefined ? name : `${namespace}/${name}`;
}

function filterMatches(
  filter: FakeRequestFilter,
  resource: FakeKubeResource | undefined,
  verb?: FakeKubeVerb,
) {
  return (filter.resource === undefined || filter.resource === resource) &&
    (filter.verb === undefined || filter.verb === verb);
}

function jsonResponse(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });
}

/**
 * Starts a fake Kubernetes API server on a free port of 127.0.0.1 (or {@linkcode FakeKubeOptions.hostname}) over
 * HTTPS.
 * @example
 * await using kube = await startFakeKube();
 * kube.createPod({ name: "relay-a", nodeName: "node-a", podIP: "10.0.0.1" });
 * const client = Deno.createHttpClient({ caCerts: [kube.caCertPem] });
 */
export async function startFakeKube(options: FakeKubeOptions = {}): Promise<FakeKube> {
  const hostname = options.hostname ?? "127.0.0.1";
  const tempDir = await Deno.makeTempDir({ prefix: "fake-kube-" });
  let certs: Awaited<ReturnType<typeof makeCertificates>>;
  try {
    certs = await makeCertificates(tempDir, [hostname, ...(options.extraSans ?? [])]);
  } catch (e) {
    await Deno.remove(tempDir, { recursive: true }).catch(() => {});
    throw e;
  }
  const namespace = options.namespace ?? "msm";
  let token = options.token ?? crypto.randomUUID().replaceAll("-", "");
  let bookmarkIntervalMs = options.bookmarkIntervalMs ?? 1000;
  const historyLimit = Math.max(1, options.historyLimit ?? 1000);
  let expiredMode = options.expiredMode ?? "event";
  const defaultWatchTimeoutSeconds = options.defaultWatchTimeoutSeconds ?? 0;

  const store: Record<FakeKubeResource, Map<string, FakeKubeObject>> = {
    pods: new Map(),
    nodes: new Map(),
    endpointslices: new Map(),
  };
  let currentRV = 100;
  /** Watches from a resourceVersion below this are expired. */
  let compactedRV = 0;
  let history: HistoryEntry[] = [];
  const watchers = new Set<Watcher>();
  const failures: Failure[] = [];
  const forbidden: FakeRequestFilter[] = [];
  const requests: FakeKubeRequest[] = [];
  let server: Deno.HttpServer<Deno.NetAddr> | undefined;
  let port = 0;
  let closed = false;
  /** Paused or closing: requests still arriving on old connections are cut. */
  let down = false;
  let saCounter = 0;

  function endWatcher(w: Watcher, how: "close" | "break"): void {
    if (w.done) return;
    w.done = true;
    watchers.delete(w);
    for (const t of w.timers) clearTimeout(t);
    try {
      if (how === "close") w.controller.close();
      else w.controller.error(new Error("fake Kubernetes API outage"));
    } catch {
      // already cancelled by the client
    }
  }

  function send(w: Watcher, event: FakeWatchEvent): void {
    if (w.done) return;
    try {
      w.controller.enqueue(encoder.encode(JSON.stringify(event) + "\n"));
    } catch {
      endWatcher(w, "close");
    }
  }

  function withType(resource: FakeKubeResource, o: FakeKubeObject): FakeKubeObject {
    const info = RESOURCES[resource];
    return { ...structuredClone(o), apiVersion: info.apiVersion, kind: info.kind };
  }

  /** The event watcher `w` sees for `entry`, after selector transitions; undefined when none. */
  function eventFor(w: Watcher, entry: HistoryEntry): FakeWatchEvent | undefined {
    if (entry.resource !== w.resource) return undefined;
    if (w.namespace !== undefined && entry.object.metadata.namespace !== w.namespace) return undefined;
    const now = w.matches(entry.object);
    const object = withType(entry.resource, entry.object);
    switch (entry.type) {
      case "ADDED":
        return now ? { type: "ADDED", object } : undefined;
      case "DELETED":
        return now ? { type: "DELETED", object } : undefined;
      case "MODIFIED": {
        const before = entry.previous !== undefined && w.matches(entry.previous);
        if (now && before) return { type: "MODIFIED", object };
        if (now) return { type: "ADDED", object };
        if (before) return { type: "DELETED", object };
        return undefined;
      }
    }
  }

  function record(entry: HistoryEntry): void {
    history.push(entry);
    if (history.length > historyLimit) {
      const dropped = history.splice(0, history.length - historyLimit);
      compactedRV = Math.max(compactedRV, dropped[dropped.length - 1]!.rv);
    }
    for (const w of [...watchers]) {
      const ev = eventFor(w, entry);
      if (ev) send(w, ev);
    }
  }

  function upsert(resource: FakeKubeResource, object: FakeKubeObject): FakeKubeObject {
    const info = RESOURCES[resource];
    const obj = structuredClone(object);
    delete obj.apiVersion;
    delete obj.kind;
    if (!obj.metadata?.name) throw new Error(`Storing a ${info.kind} failed: metadata.name is missing`);
    if (info.namespaced) obj.metadata.namespace ??= namespace;
    else delete obj.metadata.namespace;
    const key = objectKey(obj.metadata.namespace, obj.metadata.name);
    const previous = store[resource].get(key);
    obj.metadata.uid = previous?.metadata.uid ?? obj.metadata.uid ?? crypto.randomUUID();
    obj.metadata.creationTimestamp = previous?.metadata.creationTimestamp ?? obj.metadata.creationTimestamp ??
      kubeTime();
    const rv = ++currentRV;
    obj.metadata.resourceVersion = String(rv);
    store[resource].set(key, obj);
    record({ rv, resource, type: previous ? "MODIFIED" : "ADDED", object: obj, previous });
    return withType(resource, obj);
  }

  function remove(resource: FakeKubeResource, ns: string | undefined, name: string): boolean {
    const key = objectKey(RESOURCES[resource].namespaced ? ns ?? namespace : undefined, name);
    const previous = store[resource].get(key);
    if (!previous) return false;
    store[resource].delete(key);
    const rv = ++currentRV;
    const obj = structuredClone(previous);
    obj.metadata.resourceVersion = String(rv);
    record({ rv, resource, type: "DELETED", object: obj, previous });
    return true;
  }

  function get(resource: FakeKubeResource, ns: string | undefined, name: string): FakeKubeObject | undefined {
    const o = store[resource].get(
      objectKey(RESOURCES[resource].namespaced ? ns ?? namespace : undefined, name),
    );
    return o && withType(resource, o);
  }

  function selected(
    resource: FakeKubeResource,
    ns: string | undefined,
    matches: (o: FakeKubeObject) => boolean,
  ): FakeKubeObject[] {
    return [...store[resource].values()]
      .filter((o) => (ns === undefined || o.metadata.namespace === ns) && matches(o))
      .sort((a, b) =>
        objectKey(a.metadata.namespace, a.metadata.name) < objectKey(b.metadata.namespace, b.metadata.name)
          ? -1
          : 1
      );
  }

  function serveWatch(
    route: Route,
    query: URLSearchParams,
    matches: (o: FakeKubeObject) => boolean,
  ): Response {
    const rvParam = query.get("resourceVersion") ?? "";
    let fromRV: number | undefined;
    if (rvParam !== "" && rvParam !== "0") {
      if (!/^\d+$/.test(rvParam)) {
        return jsonResponse(400, kubeStatus(400, `invalid resource version "${rvParam}"`));
      }
      fromRV = Number(rvParam);
    }
    const info = RESOURCES[route.resource];
    const expired = fromRV !== undefined && fromRV < compactedRV;
    const expiredStatus = kubeStatus(410, `too old resource version: ${fromRV} (${compactedRV})`, "Expired");
    if (expired && expiredMode === "http") return jsonResponse(410, expiredStatus);

    const bookmarks = query.get("allowWatchBookmarks") === "true" || query.get("allowWatchBookmarks") === "1";
    const timeoutParam = Number(query.get("timeoutSeconds") ?? "");
    const timeoutSeconds = Number.isFinite(timeoutParam) && timeoutParam > 0
      ? timeoutParam
      : defaultWatchTimeoutSeconds;
    let watcher: Watcher | undefined;
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        const w: Watcher = {
          resource: route.resource,
          namespace: route.namespace,
          matches,
          controller,
          timers: [],
          done: false,
        };
        watcher = w;
        if (expired) {
          w.done = true;
          controller.enqueue(encoder.encode(JSON.stringify({ type: "ERROR", object: expiredStatus }) + "\n"));
          controller.close();
          return;
        }
        watchers.add(w);
        if (fromRV === undefined) {
          for (const o of selected(route.resource, route.namespace, matches)) {
            send(w, { type: "ADDED", object: withType(route.resource, o) });
          }
        } else {
          for (const entry of history) {
            if (entry.rv <= fromRV) continue;
            const ev = eventFor(w, entry);
            if (ev) send(w, ev);
          }
        }
        if (bookmarks && bookmarkIntervalMs > 0) {
          w.timers.push(setInterval(() => {
            send(w, {
              type: "BOOKMARK",
              object: {
                kind: info.kind,
                apiVersion: info.apiVersion,
                metadata: { resourceVersion: String(currentRV) },
              },
            });
          }, bookmarkIntervalMs));
        }
        if (timeoutSeconds > 0) {
          w.timers.push(setTimeout(() => endWatcher(w, "close"), timeoutSeconds * 1000));
        }
      },
      cancel() {
        if (watcher) endWatcher(watcher, "close");
      },
    });
    return new Response(body, { status: 200, headers: { "content-type": "application/json" } });
  }

  function handle(req: Request, conn?: Deno.ServeHandlerInfo<Deno.NetAddr>): Response {
    if (down) {
      // a request that reached a connection being shut down: cut it, as a dying server would
      return new Response(
        new ReadableStream({
          start(c) {
            c.error(new Error("fake Kubernetes API outage"));
          },
        }),
      );
    }
    const url = new URL(req.url);
    const route = parseRoute(url.pathname);
    const query = url.searchParams;
    const watch = query.get("watch") === "1" || query.get("watch") === "true";
    const verb: FakeKubeVerb | undefined = route === undefined
      ? undefined
      : route.name !== undefined
      ? "get"
      : watch
      ? "watch"
      : "list";
    const auth = req.headers.get("authorization") ?? "";
    const sentToken = auth.startsWith("Bearer ") ? auth.slice("Bearer ".length) : undefined;
    const answer = (res: Response): Response => {
      requests.push({
        time: Date.now(),
        method: req.method,
        path: url.pathname,
        query: url.search,
        verb,
        resource: route?.resource,
        status: res.status,
        token: sentToken,
        ...(conn?.remoteAddr
          ? {
            remote: conn.remoteAddr.hostname.includes(":")
              ? `[${conn.remoteAddr.hostname}]:${conn.remoteAddr.port}`
              : `${conn.remoteAddr.hostname}:${conn.remoteAddr.port}`,
          }
          : {}),
      });
      return res;
    };

    const failure = failures.find((f) => f.remaining > 0 && filterMatches(f.filter, route?.resource, verb));
    if (failure) {
      failure.remaining--;
      if (failure.remaining === 0) failures.splice(failures.indexOf(failure), 1);
      return answer(
        jsonResponse(failure.status, kubeStatus(failure.status, `injected failure ${failure.status}`)),
      );
    }
    if (sentToken !== token) return answer(jsonResponse(401, kubeStatus(401, "Unauthorized")));
    if (route === undefined || verb === undefined) {
      return answer(jsonResponse(404, kubeStatus(404, "the server could not find the requested resource")));
    }
    if (req.method !== "GET") {
      return answer(
        jsonResponse(405, kubeStatus(405, `the server does not allow this method on the requested resource`)),
      );
    }
    if (forbidden.some((f) => filterMatches(f, route.resource, verb))) {
      const scope = route.namespace === undefined
        ? "at the cluster scope"
        : `in the namespace "${route.namespace}"`;
      return answer(jsonResponse(
        403,
        kubeStatus(
          403,
          `${route.resource} is forbidden: User "system:serviceaccount:${namespace}:msm-relay" cannot ${verb} ` +
            `resource "${route.resource}" in API group "${
              route.resource === "endpointslices" ? "discovery.k8s.io" : ""
            }" ${scope}`,
        ),
      ));
    }
    const info = RESOURCES[route.resource];
    if (verb === "get") {
      const o = get(route.resource, route.namespace, route.name!);
      if (!o) {
        return answer(jsonResponse(404, kubeStatus(404, `${route.resource} "${route.name}" not found`)));
      }
      return answer(jsonResponse(200, o));
    }
    let matches: (o: FakeKubeObject) => boolean;
    try {
      const labels = parseLabelSelector(query.get("labelSelector") ?? "");
      const fields = parseFieldSelector(route.resource, query.get("fieldSelector") ?? "");
      matches = (o) => matchesLabels(labels, o.metadata.labels ?? {}) && fields(o);
    } catch (e) {
      return answer(jsonResponse(400, kubeStatus(400, e instanceof Error ? e.message : String(e))));
    }
    if (verb === "watch") return answer(serveWatch(route, query, matches));
    return answer(jsonResponse(200, {
      kind: `${info.kind}List`,
      apiVersion: info.apiVersion,
      metadata: { resourceVersion: String(currentRV) },
      items: selected(route.resource, route.namespace, matches).map((o) => structuredClone(o)),
    }));
  }

  function listen(): void {
    down = false;
    server = Deno.serve({
      hostname,
      port,
      cert: certs.certPem,
      key: certs.keyPem,
      onListen: () => {},
      onError: (e) => jsonResponse(500, kubeStatus(500, String(e))),
    }, handle);
    port = server.addr.port;
  }

  async function stopListening(): Promise<void> {
    const s = server;
    server = undefined;
    down = true;
    for (const w of [...watchers]) endWatcher(w, "break");
    if (s) await s.shutdown();
  }

  listen();

  const fake: FakeKube = {
    get url() {
      return `https://${hostname.includes(":") ? `[${hostname}]` : hostname}:${port}`;
    },
    caCertPem: certs.caCertPem,
    get token() {
      return token;
    },
    namespace,
    get resourceVersion() {
      return String(currentRV);
    },
    requests,
    get openWatches() {
      return watchers.size;
    },
    setToken(t) {
      token = t;
    },
    setExpiredMode(mode) {
      expiredMode = mode;
    },
    setBookmarkInterval(ms) {
      bookmarkIntervalMs = ms;
    },
    createPod(spec) {
      const pod = "metadata" in spec ? spec : relayPod(spec, namespace);
      return upsert("pods", pod);
    },
    updatePod(name, change, ns = namespace) {
      const current = store.pods.get(objectKey(ns, name));
      if (!current) throw new Error(`Updating pod "${ns}/${name}" failed: no such pod`);
      const pod = structuredClone(current);
      if (typeof change === "function") {
        change(pod);
      } else {
        const spec = (pod.spec ??= {}) as Record<string, unknown>;
        const status = (pod.status ??= {}) as Record<string, unknown>;
        if (change.nodeName !== undefined) {
          if (change.nodeName === null) delete spec.nodeName;
          else spec.nodeName = change.nodeName;
        }
        const conditions = (status.conditions ?? []) as Array<{ type: string; status: string }>;
        const wasReady = conditions.some((c) => c.type === "Ready" && c.status === "True");
        if (change.podIP !== undefined || change.ready !== undefined) {
          const podIP = change.podIP !== undefined ? change.podIP : (status.podIP as string | undefined);
          const rebuilt = podStatusFields(podIP, change.ready ?? wasReady);
          delete status.podIP;
          delete status.podIPs;
          delete status.hostIP;
          Object.assign(status, rebuilt);
        }
        if (change.labels !== undefined) {
          const labels = (pod.metadata.labels ??= {});
          for (const [k, v] of Object.entries(change.labels)) {
            if (v === null) delete labels[k];
            else labels[k] = v;
          }
        }
        if (change.ports !== undefined) {
          const containers = (spec.containers ??= [{ name: "relay" }]) as Array<Record<string, unknown>>;
          containers[0]!.ports = containerPorts(change.ports);
        }
        if (change.creationTimestamp !== undefined) pod.metadata.creationTimestamp = change.creationTimestamp;
      }
      return upsert("pods", pod);
    },
    deletePod(name, opts = {}) {
      const ns = opts.namespace ?? namespace;
      const current = store.pods.get(objectKey(ns, name));
      if (!current) return false;
      if (opts.graceful) {
        const pod = structuredClone(current);
        pod.metadata.deletionTimestamp = kubeTime(Date.now() + 30_000);
        pod.metadata.deletionGracePeriodSeconds = 30;
        upsert("pods", pod);
        return true;
      }
      return remove("pods", ns, name);
    },
    setNode(name, labels = {}) {
      return upsert("nodes", {
        apiVersion: "v1",
        kind: "Node",
        metadata: { name, labels: { ...labels } },
        status: { conditions: [{ type: "Ready", status: "True" }] },
      });
    },
    deleteNode(name) {
      return remove("nodes", undefined, name);
    },
    setEndpointSlice(ns, service, endpoints, ports, opts = {}) {
      return upsert("endpointslices", {
        apiVersion: "discovery.k8s.io/v1",
        kind: "EndpointSlice",
        metadata: {
          name: opts.name ?? `${service}-slice`,
          namespace: ns,
          labels: {
            "kubernetes.io/service-name": service,
            "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
          },
        },
        addressType: "IPv4",
        endpoints: endpoints.map((e) => {
          const ep: Record<string, unknown> = { addresses: [e.address], conditions: {} };
          if (e.ready !== undefined) ep.conditions = { ready: e.ready, serving: e.ready, terminating: false };
          if (e.nodeName !== undefined) ep.nodeName = e.nodeName;
          return ep;
        }),
        ports: ports.map((p) => (p.name === undefined ? { port: p.port, protocol: "TCP" } : {
          name: p.name,
          port: p.port,
          protocol: "TCP",
        })),
      });
    },
    deleteEndpointSlice(ns, name) {
      return remove("endpointslices", ns, name);
    },
    upsert,
    remove,
    get,
    failNext(count, status = 500, filter = {}) {
      if (count > 0) failures.push({ remaining: count, status, filter });
    },
    forbid(filter) {
      forbidden.push(filter);
    },
    allow() {
      forbidden.length = 0;
    },
    async pause() {
      await stopListening();
    },
    resume() {
      if (!server && !closed) listen();
      return Promise.resolve();
    },
    closeWatches() {
      for (const w of [...watchers]) endWatcher(w, "close");
    },
    expireHistory() {
      currentRV++;
      compactedRV = currentRV;
      history = [];
    },
    count(verb, resource, status) {
      return requests.filter((r) =>
        r.verb === verb && r.resource === resource && (status === undefined || r.status === status)
      ).length;
    },
    async writeServiceAccountDir(ns = namespace) {
      const dir = join(tempDir, `serviceaccount-${++saCounter}`);
      await Deno.mkdir(dir);
      await Deno.writeTextFile(join(dir, "token"), token);
      await Deno.writeTextFile(join(dir, "ca.crt"), certs.caCertPem);
      await Deno.writeTextFile(join(dir, "namespace"), ns);
      return dir;
    },
    async clientOptions() {
      const dir = await fake.writeServiceAccountDir();
      return { apiUrl: new URL(fake.url), tokenFile: join(dir, "token"), caCertPem: certs.caCertPem };
    },
    async close() {
      if (closed) return;
      closed = true;
      await stopListening();
      await Deno.remove(tempDir, { recursive: true }).catch(() => {});
    },
    [Symbol.asyncDispose]() {
      return fake.close();
    },
  };
  return fake;
}
