/**
 * The relay as the DaemonSet runs it, on three "nodes", discovers its peers through the (fake) Kubernetes API and
 * carries a stream across the mesh.
 *
 * Each node is a Linux network namespace on a test bridge (tests/support/netns.ts): its own `eth0` address,
 * so every relay listens on the same ports (8554/8080/7000, `listen: 0.0.0.0`) as on separate machines
 * (`hostNetwork: true`: the pod's network is the node's). Inside it the relay runs in a private mount and UTS
 * namespace built from k8s/base the way a kubelet would build the pod:
 * - args: the container's `args` (with `$(VAR)` expansion); the image's entrypoint is replaced by `deno run`
 *   of main.ts with exactly the permissions and unstable features the image's `deno compile` uses
 *   (scripts/compile.ts);
 * - env: only what the pod gets: the image's (PATH, SSL_CERT_FILE, HOME, HOSTNAME), the `kubernetes` Service
 *   variables the kubelet injects (KUBERNETES_SERVICE_HOST/PORT... pointing at the fake API server on the
 *   bridge address), and the container's `env` resolved as the kubelet does (downward API fieldRefs:
 *   spec.nodeName, status.hostIP, metadata.name, metadata.namespace; the optional Secret absent, so
 *   MSM_ADMIN_TOKEN and MSM_MESH_KEY are unset). No MSM_SERVICEACCOUNT_DIR, no --listen or port flags;
 * - files: the ConfigMap's `config.yaml` at the volumeMount's path (/etc/msm-relay, with the kubelet's
 *   `..data` symlink layout), the service account (`token`, `ca.crt`, `namespace`) at
 *   /var/run/secrets/kubernetes.io/serviceaccount, both read-only, and the `emptyDir` at /tmp as a tmpfs of its
 *   sizeLimit. Paths that do not exist on the host get an overlay (over /etc, /run, /opt) whose writable
 *   layer is a tmpfs of the sandbox: the host is never written;
 * - securityContext: uid/gid 65532, every capability dropped, no_new_privs, read-only root filesystem;
 * - hostname: the node's name, as a node's hostname usually is;
 * - readiness: a small kubelet polls the readinessProbe (`/readyz` on the `admin` port, from the root
 *   namespace over the bridge) and only then marks the pod Ready in the API, so the relays first see each
 *   other unready and then follow MODIFIED events.
 * Pods and Nodes in the fake come from the DaemonSet's pod template (labels, named container ports) plus
 * nodeName, podIP = hostIP = the namespace's address, and zone labels.
 *
 * Deviations from a cluster, and why:
 * - the API server is the fake (tests/support/fake_kube.ts) on the bridge address, without kube-proxy or a
 *   Service IP in between; its port is random, so KUBERNETES_SERVICE_PORT is that port, not 443;
 * - the relay runs as `deno run` instead of the compiled binary (no denort can be fetched here): the sandbox
 *   adds the repository, Deno's cache and the deno executable read-only under /opt/msm-relay-test, and the env
 *   gets DENO_DIR and DENO_NO_UPDATE_CHECK, which only the Deno runtime reads (main.ts reads MSM_* names);
 * - not reproduced: the seccomp RuntimeDefault profile, the memory limit (cgroup), the pid namespace, the
 *   probes' periods (the test's kubelet polls every 200 ms instead of every 5 s).
 * Needs root, iproute2, util-linux (unshare, setpriv, mount), overlayfs and tmpfs, ffmpeg; fails with a message
 * naming what is missing.
 * @module
 */
import { deepStrictEqual as assertEquals, equal, ok as assert } from "node:assert/strict";
import { join } from "node:path";
import YAML from "yaml";
import type { IDaemonSet } from "kubernetes-models/apps/v1/DaemonSet";
import type { IConfigMap } from "kubernetes-models/v1/ConfigMap";
import type { IContainer } from "kubernetes-models/v1/Container";
import type { IPodSpec } from "kubernetes-models/v1/PodSpec";
import { DEFAULT_SERVICE_ACCOUNT_DIR } from "../src/cluster/kubernetes.ts";
import { RELAY_PERMISSIONS, RELAY_RUNTIME_FLAGS, unstableFeatures } from "../scripts/compile.ts";
import { type FakeKube, type FakeKubeObject, startFakeKube, subjectAltName } from "./support/fake_kube.ts";
import {
  createNetnsLab,
  type NetnsLab,
  type NetnsNode,
  ownLinks,
  ownNamespaces,
  podCommand,
  requireNetnsTools,
  type SandboxMount,
  which,
} from "./support/netns.ts";
import {
  cachedTestClip,
  delay,
  ffmpegPublish,
  ffmpegRead,
  ffprobeCodecs,
  type ManagedProcess,
  REPO_ROOT,
  runCommand,
  spawnProcess,
  waitPublishing,
  withTimeout,
} from "./support/processes.ts";

const BASE_DIR = join(REPO_ROOT, "k8s", "base");
const NODES = 3;
const zoneOf = (i: number) => (i < 2 ? "zone-a" : "zone-b");
const nodeName = (i: number) => `node-${i}`;
/** Where the sandbox puts what `deno run` needs in place of the image's binary. */
const RUNTIME_DIR = "/opt/msm-relay-test";
/** The distroless nonroot image's environment (Dockerfile base) and the runtime's HOSTNAME. */
const IMAGE_ENV = {
  PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
  SSL_CERT_FILE: "/etc/ssl/certs/ca-certificates.crt",
  HOME: "/home/nonroot",
};

// ---- the manifests -----------------------------------------------------------------------------------------

interface Manifests {
  namespace: string;
  daemonSet: IDaemonSet;
  pod: IPodSpec;
  container: IContainer;
  configMaps: Map<string, IConfigMap>;
}

function yamlObjects(text: string, where: string): Array<Record<string, unknown>> {
  return YAML.parseAllDocuments(text).map((doc) => {
    if (doc.errors.length > 0) throw new Error(`${where}: ${doc.errors[0]!.message}`);
    return doc.toJS() as Record<string, unknown>;
  }).filter((o) => o !== null && typeof o === "object");
}

/** k8s/base's DaemonSet and ConfigMaps, in the kustomization's namespace. */
async function loadManifests(): Promise<Manifests> {
  const kustomization = YAML.parse(await Deno.readTextFile(join(BASE_DIR, "kustomization.yaml"))) as {
    namespace?: string;
  };
  const objects = [
    ...yamlObjects(await Deno.readTextFile(join(BASE_DIR, "daemonset.yaml")), "daemonset.yaml"),
    ...yamlObjects(await Deno.readTextFile(join(BASE_DIR, "configmap.yaml")), "configmap.yaml"),
  ];
  const daemonSet = objects.find((o) => o.kind === "DaemonSet") as unknown as IDaemonSet | undefined;
  assert(daemonSet?.spec?.template.spec, "k8s/base/daemonset.yaml holds no DaemonSet with a pod template");
  const namespace = kustomization.namespace ?? daemonSet.metadata?.namespace ?? "default";
  const pod = daemonSet.spec.template.spec;
  const container = pod.containers.find((c) => c.name === "relay") ?? pod.containers[0];
  assert(container, "the DaemonSet has no container");
  const configMaps = new Map<string, IConfigMap>();
  for (const o of objects) {
    if (o.kind !== "ConfigMap") continue;
    const cm = o as unknown as IConfigMap;
    configMaps.set(cm.metadata!.name!, cm);
  }
  return { namespace, daemonSet, pod, container, configMaps };
}

/** `$(VAR)` expansion of args and env values, as the kubelet does it. */
function expand(text: string, env: ReadonlyMap<string, string>): string {
  return text.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (m, name?: string) => {
    if (m === "$$") return "$";
    return env.get(name!) ?? m;
  });
}

/** What the kubelet knows about one pod. */
interface PodFacts {
  podName: string;
  namespace: string;
  nodeName: string;
  hostIP: string;
  apiHost: string;
  apiPort: string;
}

/**
 * The container's environment as the kubelet builds it: the `kubernetes` Service variables (set even with
 * enableServiceLinks: false), then the container's env (fieldRefs resolved; no Secret exists, so an optional
 * secretKeyRef leaves its variable unset).
 */
function containerEnv(container: IContainer, facts: PodFacts): Map<string, string> {
  const { apiHost: host, apiPort: port } = facts;
  const env = new Map<string, string>([
    ["KUBERNETES_SERVICE_HOST", host],
    ["KUBERNETES_SERVICE_PORT", port],
    ["KUBERNETES_SERVICE_PORT_HTTPS", port],
    ["KUBERNETES_PORT", `tcp://${host}:${port}`],
    [`KUBERNETES_PORT_${port}_TCP`, `tcp://${host}:${port}`],
    [`KUBERNETES_PORT_${port}_TCP_PROTO`, "tcp"],
    [`KUBERNETES_PORT_${port}_TCP_PORT`, port],
    [`KUBERNETES_PORT_${port}_TCP_ADDR`, host],
  ]);
  const fields: Record<string, string> = {
    "spec.nodeName": facts.nodeName,
    "status.hostIP": facts.hostIP,
    "status.podIP": facts.hostIP, // hostNetwork
    "metadata.name": facts.podName,
    "metadata.namespace": facts.namespace,
  };
  for (const v of container.env ?? []) {
    if (v.value !== undefined) {
      env.set(v.name, expand(v.value, env));
    } else if (v.valueFrom?.fieldRef) {
      const value = fields[v.valueFrom.fieldRef.fieldPath];
      assert(
        value !== undefined,
        `env ${v.name}: the test's kubelet knows no field ${v.valueFrom.fieldRef.fieldPath}`,
      );
      env.set(v.name, value);
    } else if (v.valueFrom?.secretKeyRef) {
      assert(
        v.valueFrom.secretKeyRef.optional === true,
        `env ${v.name}: a required Secret, which the test lacks`,
      );
    } else {
      throw new Error(`env ${v.name}: a source the test's kubelet does not support`);
    }
  }
  return env;
}

/** Kubernetes quantity ("16Mi", "1G", "512") in bytes. */
function quantityBytes(q: string | number): number {
  const m = String(q).match(/^(\d+)(Ki|Mi|Gi|k|M|G)?$/);
  assert(m, `quantity "${q}" is not supported by the test`);
  const unit: Record<string, number> = { Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, k: 1e3, M: 1e6, G: 1e9 };
  return Number(m[1]) * (m[2] ? unit[m[2]]! : 1);
}

/**
 * Writes a ConfigMap volume as the kubelet's atomic writer does: `..<timestamp>/KEY` files, a `..data` symlink to
 * that folder, and a `KEY -> ..data/KEY` symlink per key. Mode: defaultMode (0644).
 */
async function writeConfigMapVolume(dir: string, data: Record<string, string>, mode = 0o644): Promise<void> {
  const stamp = `..${new Date().toISOString().replace(/[-:]/g, "_").replace("T", "_").slice(0, 19)}.${
    Math.floor(Math.random() * 1e9)
  }`;
  await Deno.mkdir(join(dir, stamp));
  for (const [key, value] of Object.entries(data)) {
    await Deno.writeTextFile(join(dir, stamp, key), value, { mode });
    await Deno.chmod(join(dir, stamp, key), mode);
    await Deno.symlink(join("..data", key), join(dir, key));
  }
  await Deno.symlink(stamp, join(dir, "..data"));
  await Deno.chmod(join(dir, stamp), 0o755);
  await Deno.chmod(dir, 0o755);
}

/** The pod object the DaemonSet controller, scheduler and kubelet make for node `facts.nodeName`. */
function podObject(m: Manifests, facts: PodFacts, ready: boolean): FakeKubeObject {
  const template = m.daemonSet.spec!.template;
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name: facts.podName,
      namespace: facts.namespace,
      labels: { ...template.metadata?.labels, "pod-template-generation": "1" },
      ownerReferences: [{
        apiVersion: "apps/v1",
        kind: "DaemonSet",
        name: m.daemonSet.metadata!.name,
        uid: "00000000-0000-0000-0000-000000000001",
        controller: true,
        blockOwnerDeletion: true,
      }],
    },
    spec: { ...structuredClone(template.spec), nodeName: facts.nodeName },
    status: {
      phase: "Running",
      hostIP: facts.hostIP,
      hostIPs: [{ ip: facts.hostIP }],
      podIP: facts.hostIP,
      podIPs: [{ ip: facts.hostIP }],
      conditions: [
        { type: "Initialized", status: "True" },
        { type: "Ready", status: ready ? "True" : "False" },
        { type: "ContainersReady", status: ready ? "True" : "False" },
        { type: "PodScheduled", status: "True" },
      ],
    },
  };
}

/** The container port named `name`. */
function namedPort(container: IContainer, name: string | number): number {
  if (typeof name === "number") return name;
  const port = container.ports?.find((p) => p.name === name)?.containerPort;
  assert(port !== undefined, `the container has no port named "${name}"`);
  return port;
}

// ---- one relay pod on one node -----------------------------------------------------------------------------

interface RelayPod {
  readonly node: NetnsNode;
  readonly name: string;
  readonly process: ManagedProcess;
  readonly env: Map<string, string>;
  readonly args: string[];
  readonly startedAt: number;
  readyAt?: number;
  readonly adminUrl: string;
  stop(): Promise<Deno.CommandStatus>;
}

interface Runtime {
  denoDir: string;
  denoExe: string;
}

async function startRelayPod(
  m: Manifests,
  node: NetnsNode,
  facts: PodFacts,
  files: { serviceAccountDir: string; configMapDirs: Map<string, string>; scratchDir: string },
  runtime: Runtime,
): Promise<RelayPod> {
  const { pod, container } = m;
  assert(
    pod.hostNetwork === true,
    "the DaemonSet must use hostNetwork: each namespace here is a node's network",
  );
  assert(container.command === undefined, "the container overrides the image's entrypoint: unknown binary");
  const env = containerEnv(container, facts);
  const args = (container.args ?? []).map((a) => expand(a, env));

  const mounts: SandboxMount[] = [];
  const tmpfs: Array<{ target: string; sizeBytes?: number }> = [];
  for (const vm of container.volumeMounts ?? []) {
    assert(vm.subPath === undefined && vm.subPathExpr === undefined, "subPath mounts are not supported");
    const volume = pod.volumes?.find((v) => v.name === vm.name);
    assert(volume, `volumeMount "${vm.name}" names no volume`);
    if (volume.configMap) {
      const dir = files.configMapDirs.get(volume.configMap.name!);
      assert(dir, `volume "${vm.name}": ConfigMap "${volume.configMap.name}" is not in k8s/base`);
      mounts.push({ source: dir, target: vm.mountPath, readOnly: true }); // configMap volumes are always read-only
    } else if (volume.emptyDir) {
      assert(volume.emptyDir.medium !== "HugePages", "hugepages emptyDir");
      tmpfs.push({
        target: vm.mountPath,
        ...(volume.emptyDir.sizeLimit !== undefined
          ? { sizeBytes: quantityBytes(volume.emptyDir.sizeLimit) }
          : {}),
      });
    } else {
      throw new Error(`volume "${vm.name}": a kind the test's kubelet does not mount`);
    }
  }
  if (pod.automountServiceAccountToken !== false) {
    mounts.push({ source: files.serviceAccountDir, target: DEFAULT_SERVICE_ACCOUNT_DIR, readOnly: true });
  }
  // In place of the image's /msm-relay binary: the code, Deno's cache and deno, read-only.
  mounts.push(
    { source: REPO_ROOT, target: `${RUNTIME_DIR}/app`, readOnly: true },
    { source: runtime.denoDir, target: `${RUNTIME_DIR}/deno-dir`, readOnly: true },
    { source: runtime.denoExe, target: `${RUNTIME_DIR}/bin/deno`, readOnly: true },
  );

  const podSc = pod.securityContext ?? {};
  const sc = container.securityContext ?? {};
  const uid = sc.runAsUser ?? podSc.runAsUser;
  const gid = sc.runAsGroup ?? podSc.runAsGroup;
  assert(uid !== undefined && uid !== 0, "the relay must run as a non-root uid");
  assert((sc.capabilities?.add ?? []).length === 0, "added capabilities are not supported by the test");
  const unstable = unstableFeatures(await Deno.readTextFile(join(REPO_ROOT, "deno.json")));
  const cmd = [
    `${RUNTIME_DIR}/bin/deno`,
    "run",
    "--cached-only",
    ...unstable.map((f) => `--unstable-${f}`),
    ...RELAY_PERMISSIONS,
    ...RELAY_RUNTIME_FLAGS,
    `${RUNTIME_DIR}/app/main.ts`,
    ...args,
  ];
  const processEnv: Record<string, string> = {
    ...IMAGE_ENV,
    HOSTNAME: facts.nodeName,
    ...Object.fromEntries(env),
    // Read by the Deno runtime only (deno run instead of the compiled binary).
    DENO_DIR: `${RUNTIME_DIR}/deno-dir`,
    DENO_NO_UPDATE_CHECK: "1",
  };
  const argv = podCommand(cmd, {
    netns: node.netns,
    scratchDir: files.scratchDir,
    hostname: facts.nodeName,
    mounts,
    tmpfs,
    readOnlyRoot: sc.readOnlyRootFilesystem === true,
    user: { uid, gid: gid ?? uid },
    dropAllCapabilities: (sc.capabilities?.drop ?? []).includes("ALL"),
    noNewPrivileges: sc.allowPrivilegeEscalation === false,
    env: processEnv,
    cwd: `${RUNTIME_DIR}/app`,
  });
  const startedAt = performance.now();
  const process = spawnProcess(argv, { name: facts.podName, keepLines: { stderr: 5000 } });
  const probe = container.readinessProbe?.httpGet;
  assert(probe, "the container has no httpGet readinessProbe");
  const adminUrl = `http://${node.ip}:${namedPort(container, probe.port)}`;
  const grace = (pod.terminationGracePeriodSeconds ?? 30) * 1000;
  return {
    node,
    name: facts.podName,
    process,
    env,
    args,
    startedAt,
    adminUrl,
    stop: () => process.stop("SIGTERM", grace),
  };
}

async function getJson<T>(url: string): Promise<{ status: number; body: T }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : null) as T };
}

/** The test's kubelet: polls the readinessProbe and marks the pod Ready in the API once it passes. */
async function becomeReady(kube: FakeKube, m: Manifests, relay: RelayPod, timeoutMs: number): Promise<void> {
  const path = m.container.readinessProbe!.httpGet!.path ?? "/";
  await withTimeout(
    (async () => {
      while (true) {
        if (!relay.process.running) throw new Error(`${relay.name} exited:\n${relay.process.output(80)}`);
        try {
          if ((await getJson(relay.adminUrl + path)).status === 200) break;
        } catch { /* not listening yet */ }
        await delay(200);
      }
    })(),
    timeoutMs,
    `${relay.name}: readiness probe ${path}`,
  );
  relay.readyAt = performance.now();
  kube.updatePod(relay.name, { ready: true }, m.namespace);
}

interface PeerJson {
  node: string;
  zone: string;
  host: string;
  rtspPort: number;
  adminPort: number;
  meshPort: number;
  ready: boolean;
  self: boolean;
  live: boolean;
}

function logRecords(p: ManagedProcess): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = [];
  for (const line of p.stderrLines) {
    if (!line.startsWith("{")) continue;
    try {
      out.push(JSON.parse(line));
    } catch { /* not a log line */ }
  }
  return out;
}

/**
 * `path` as a process with root `root` (`/proc/PID/root`) resolves it: its symlinks (`/var/run -> /run`, the
 * ConfigMap's `..data`) followed inside that root, not the caller's.
 */
async function pathIn(root: string, path: string): Promise<string> {
  let resolved = "";
  const parts = path.split("/").filter((p) => p !== "");
  for (let hops = 0; parts.length > 0;) {
    const part = parts.shift()!;
    if (part === "..") {
      resolved = resolved.slice(0, resolved.lastIndexOf("/"));
      continue;
    }
    const candidate = `${resolved}/${part}`;
    const info = await Deno.lstat(root + candidate);
    if (!info.isSymlink) {
      resolved = candidate;
      continue;
    }
    assert(++hops < 40, `too many symlinks in ${path}`);
    const target = await Deno.readLink(root + candidate);
    parts.unshift(...target.split("/").filter((p) => p !== ""));
    if (target.startsWith("/")) resolved = "";
  }
  return root + resolved;
}

function ms(from: number, to = performance.now()): string {
  return `${Math.round(to - from)} ms`;
}

// ---- the test ----------------------------------------------------------------------------------------------

Deno.test("fake Kubernetes API certificate names its listen address and the extra SANs", () => {
  equal(subjectAltName(), "IP:127.0.0.1,DNS:localhost");
  equal(
    subjectAltName(["10.213.7.1", "127.0.0.1", "kubernetes.default.svc", "fd00::1"]),
    "IP:127.0.0.1,DNS:localhost,IP:10.213.7.1,DNS:kubernetes.default.svc,IP:fd00::1",
  );
});

Deno.test("DaemonSet env: 3 relays, each on its own node namespace with the pod's args, env, files and user, discover each other and relay a stream", async () => {
  await requireNetnsTools();
  for (const tool of ["ffmpeg", "ffprobe", "openssl"]) {
    assert(
      which(tool),
      `${tool} is not installed (Debian package ${tool === "openssl" ? "openssl" : "ffmpeg"})`,
    );
  }
  const t0 = performance.now();
  const timings: string[] = [];
  const mark = (what: string, from = t0) => timings.push(`${what}: ${ms(from)}`);

  const m = await loadManifests();
  // The code and npm packages in Deno's cache before the sandboxes mount it read-only (the image has them built in).
  const main = join(REPO_ROOT, "main.ts");
  const cached = await runCommand([Deno.execPath(), "cache", "--quiet", main], 120_000, { cwd: REPO_ROOT });
  assert(cached.code === 0 && !cached.timedOut, `deno cache main.ts failed: ${cached.stderr}`);
  const info = await runCommand([Deno.execPath(), "info", "--json"], 30_000, { cwd: REPO_ROOT });
  const runtime: Runtime = { denoDir: JSON.parse(info.stdout).denoDir, denoExe: Deno.execPath() };
  const clip = await cachedTestClip(10);
  mark("manifests, deno cache, clip");
  // The sandboxes' mount points must not appear on the host.
  const hostPaths = ["/etc/msm-relay", "/run/secrets", RUNTIME_DIR];
  const exists = (path: string) => Deno.lstat(path).then(() => true, () => false);
  const hostBefore = await Promise.all(hostPaths.map(exists));

  let lab: NetnsLab | undefined;
  let kube: FakeKube | undefined;
  const relays: RelayPod[] = [];
  const tempDirs: string[] = [];
  let publisher: ManagedProcess | undefined;
  let labId = "";
  let statuses: Deno.CommandStatus[] = [];
  let left: string[] = [];
  try {
    const tLab = performance.now();
    lab = await createNetnsLab(NODES);
    labId = lab.id;
    mark(`bridge ${lab.bridge} ${lab.gateway}/24 and ${NODES} namespaces`, tLab);

    kube = await startFakeKube({ namespace: m.namespace, hostname: lab.gateway, bookmarkIntervalMs: 1000 });
    const apiPort = new URL(kube.url).port;
    const serviceAccountDir = await kube.writeServiceAccountDir(m.namespace);
    const configMapDirs = new Map<string, string>();
    for (const [name, cm] of m.configMaps) {
      const dir = await Deno.makeTempDir({ prefix: "msm-configmap-" });
      tempDirs.push(dir);
      await writeConfigMapVolume(dir, cm.data ?? {});
      configMapDirs.set(name, dir);
    }
    for (const node of lab.nodes) {
      kube.setNode(nodeName(node.index), {
        "kubernetes.io/hostname": nodeName(node.index),
        "kubernetes.io/os": "linux",
        "topology.kubernetes.io/zone": zoneOf(node.index),
      });
    }

    // The DaemonSet's pods exist, scheduled, with their IPs, not ready yet; then their containers start.
    const facts = lab.nodes.map((node): PodFacts => ({
      podName: `msm-relay-${nodeName(node.index)}`,
      namespace: m.namespace,
      nodeName: nodeName(node.index),
      hostIP: node.ip,
      apiHost: lab!.gateway,
      apiPort,
    }));
    for (const f of facts) kube.createPod(podObject(m, f, false));
    const tStart = performance.now();
    for (const node of lab.nodes) {
      const scratchDir = await Deno.makeTempDir({ prefix: "msm-sandbox-" });
      tempDirs.push(scratchDir);
      relays.push(
        await startRelayPod(
          m,
          node,
          facts[node.index]!,
          { serviceAccountDir, configMapDirs, scratchDir },
          runtime,
        ),
      );
    }
    await Promise.all(relays.map((r) => becomeReady(kube!, m, r, 30_000)));
    for (const r of relays) {
      timings.push(`${r.name} ready (readiness probe 200): ${ms(r.startedAt, r.readyAt)}`);
    }
    mark("all relays ready", tStart);

    // ---- the pods are what the manifests say ----
    for (const r of relays) {
      assertEquals(r.args, ["--config", "/etc/msm-relay/config.yaml"]);
      assertEquals(
        [...r.env.keys()].filter((k) => k.startsWith("MSM_")),
        [],
        "no MSM_* variable: the optional Secret is absent and nothing overrides the config",
      );
      equal(r.env.get("NODE_NAME"), nodeName(r.node.index));
      equal(r.env.get("HOST_IP"), r.node.ip);
      equal(r.env.get("POD_NAME"), r.name);
      equal(r.env.get("POD_NAMESPACE"), m.namespace);
      equal(r.env.get("KUBERNETES_SERVICE_HOST"), lab.gateway);
      // The process: in its node's network namespace, as uid 65532 without capabilities.
      const status = await Deno.readTextFile(`/proc/${r.process.pid}/status`);
      const field = (name: string) => status.match(new RegExp(`^${name}:\\s*(.*)$`, "m"))?.[1]?.trim();
      equal(field("Uid")?.split(/\s+/)[0], "65532");
      equal(field("Gid")?.split(/\s+/)[0], "65532");
      equal(field("CapEff"), "0000000000000000");
      equal(field("CapBnd"), "0000000000000000");
      equal(field("NoNewPrivs"), "1");
      // Its files, seen through its own mount namespace (/proc/PID/root), where the kubelet would put them.
      const root = `/proc/${r.process.pid}/root`;
      const sa = await pathIn(root, DEFAULT_SERVICE_ACCOUNT_DIR);
      equal(await Deno.readTextFile(`${sa}/token`), kube.token);
      equal(await Deno.readTextFile(`${sa}/ca.crt`), kube.caCertPem);
      equal(await Deno.readTextFile(`${sa}/namespace`), m.namespace);
      for (const vm of m.container.volumeMounts ?? []) {
        const cm = m.pod.volumes?.find((v) => v.name === vm.name)?.configMap;
        for (const [key, value] of Object.entries(cm ? m.configMaps.get(cm.name!)?.data ?? {} : {})) {
          equal(await Deno.readTextFile(await pathIn(root, `${vm.mountPath}/${key}`)), value);
        }
      }
      const netns = await Deno.readLink(`/proc/${r.process.pid}/ns/net`);
      equal(netns, `net:[${(await Deno.stat(`/run/netns/${r.node.netns}`)).ino}]`);
      assert(netns !== await Deno.readLink("/proc/self/ns/net"));
    }

    // ---- discovery: every relay sees the 3 nodes live, with zones, node IPs and the named ports ----
    const tPeers = performance.now();
    const expected = lab.nodes.map((n) => [nodeName(n.index), zoneOf(n.index), n.ip, 8554, 8080, 7000, true]);
    for (const r of relays) {
      let last: PeerJson[] = [];
      await withTimeout(
        (async () => {
          while (true) {
            last = (await getJson<{ peers: PeerJson[] }>(`${r.adminUrl}/api/v1/peers`)).body.peers;
            const view = last.map((
              p,
            ) => [p.node, p.zone, p.host, p.rtspPort, p.adminPort, p.meshPort, p.live]);
            if (JSON.stringify(view) === JSON.stringify(expected)) return;
            await delay(100);
          }
        })(),
        15_000,
        `${r.name}: peers ${JSON.stringify(last)}`,
      );
      assertEquals(last.filter((p) => p.self).map((p) => p.node), [nodeName(r.node.index)]);
    }
    mark("every relay sees all 3 peers live", tPeers);

    // ---- ... found through the default service-account path and the in-cluster API address ----
    for (const r of relays) {
      const logs = logRecords(r.process);
      const discovery = logs.find((l) => l.msg === "discovery");
      assertEquals(
        [discovery?.kind, discovery?.serviceAccountDir],
        ["kubernetes", "/var/run/secrets/kubernetes.io/serviceaccount"],
      );
      const watching = logs.find((l) => l.msg === "watching relay pods");
      assertEquals(
        [watching?.apiUrl, watching?.namespace, watching?.labelSelector],
        [kube.url, m.namespace, "app.kubernetes.io/name=msm-relay"],
      );
      assert(logs.some((l) => l.msg === "relay pods synced"), `${r.name} never synced`);
      const listening = logs.find((l) => l.msg === "relay listening");
      assertEquals([listening?.rtsp, listening?.admin, listening?.mesh, listening?.node], [
        "0.0.0.0:8554",
        "0.0.0.0:8080",
        "0.0.0.0:7000",
        nodeName(r.node.index),
      ]);
      // The API server saw this node's address send the service account's token.
      const fromNode = kube.requests.filter((q) => q.remote?.startsWith(`${r.node.ip}:`));
      assert(fromNode.some((q) => q.verb === "list" && q.resource === "pods" && q.status === 200));
      assert(fromNode.some((q) => q.verb === "watch" && q.resource === "pods"));
      assert(fromNode.some((q) => q.resource === "nodes" && q.status === 200), "zones come from Nodes");
      assert(fromNode.every((q) => q.token === kube!.token && q.status !== 401 && q.status !== 403));
    }
    assert(kube.requests.every((q) => lab!.nodes.some((n) => q.remote?.startsWith(`${n.ip}:`))));

    // ---- a stream crosses the mesh: published to node-0, read on node-2 over UDP and TCP ----
    const [first, , last] = relays as [RelayPod, RelayPod, RelayPod];
    const tPublish = performance.now();
    publisher = ffmpegPublish(clip, `rtsp://${first.node.ip}:8554/live`, "tcp", { name: "publish-node-0" });
    await waitPublishing(publisher, 15_000);
    mark("ffmpeg publishing to node-0", tPublish);
    const readUrl = `rtsp://${last.node.ip}:8554/live`;
    for (const transport of ["udp", "tcp"] as const) {
      const tProbe = performance.now();
      assertEquals(await ffprobeCodecs(readUrl, transport, 20_000), ["h264"]);
      mark(`ffprobe ${readUrl} over ${transport}`, tProbe);
      const tRead = performance.now();
      const read = await ffmpegRead(readUrl, { transport, seconds: 3, timeoutMs: 20_000 });
      mark(`ffmpeg read 3 s from node-2 over ${transport}: ${read.frames} frames`, tRead);
      assert(!read.timedOut && read.frames >= 60, `${transport}: ${read.frames} frames\n${read.stderr}`);
      assertEquals(read.codecs, ["h264"]);
    }
    const tree = await getJson<{ role: string; root: string | null; parent: string | null }>(
      `${last.adminUrl}/api/v1/tree/live`,
    );
    console.log(`node-2's place in the tree of "live": ${JSON.stringify(tree.body)}`);
    equal(tree.body.root, nodeName(0));
    assert(tree.body.parent !== null, "node-2 gets the stream from a parent in the mesh");
    const rootTree = await getJson<{ role: string }>(`${first.adminUrl}/api/v1/tree/live`);
    equal(rootTree.body.role, "root");
  } finally {
    const tStop = performance.now();
    await publisher?.stop("SIGINT", 3000);
    statuses = await Promise.all(relays.map((r) => r.stop()));
    timings.push(`relays stopped (SIGTERM, drain): ${ms(tStop)}, exit codes ${statuses.map((s) => s.code)}`);
    await kube?.close();
    left = (await lab?.close().catch((e) => [String(e)])) ?? [];
    if (labId) left.push(...await ownNamespaces(labId), ...await ownLinks(labId));
    for (const dir of tempDirs) await Deno.remove(dir, { recursive: true }).catch(() => {});
    timings.push(`total: ${ms(t0)}`);
    console.log(timings.map((t) => `  ${t}`).join("\n"));
    if (left.length > 0) console.error(`left behind: ${left.join(", ")}`);
  }
  // Checked after the cleanup, so that a failure above is the one reported.
  assertEquals(await Promise.all(hostPaths.map(exists)), hostBefore, "the sandboxes left paths on the host");
  assertEquals(left, [], "`ip netns list` or `ip link` still shows this test's namespaces, bridge or veths");
  assertEquals(statuses.map((s) => s.code), relays.map(() => 0), "SIGTERM: every relay drains and exits 0");
});
