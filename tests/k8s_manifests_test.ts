/**
 * The Kubernetes manifests in k8s/ against the Kubernetes schemas and against the code that runs in them.
 *
 * Rendering: a small renderer of the kustomize features k8s/ uses (`resources`, `namespace`, `labels`,
 * strategic-merge `patches` of maps) always renders the base and the examples overlay; when `kubectl` (or
 * `kustomize`) is on PATH its rendering must be identical, which keeps the small renderer honest.
 * Schemas: every object is validated with the OpenAPI schemas of kubernetes-models at run time, and
 * type-checked as a TypeScript literal of its kubernetes-models interface (which catches misspelt fields: the
 * schemas allow unknown ones).
 * Code: RBAC grants exactly the list/watch calls of src/cluster, every environment variable src/ reads is
 * set, the probes hit routes of the admin app, the container ports are the config's, the config file loads with
 * `loadConfig` in the environment the pod gets, the pod carries the discovery label, and the pods are
 * hardened.
 * @module
 */
import { deepStrictEqual, equal, ok } from "node:assert/strict";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import YAML from "yaml";
import { ClusterRole } from "kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRole";
import { ClusterRoleBinding } from "kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRoleBinding";
import { ConfigMap } from "kubernetes-models/v1/ConfigMap";
import { DaemonSet, type IDaemonSet } from "kubernetes-models/apps/v1/DaemonSet";
import { Deployment } from "kubernetes-models/apps/v1/Deployment";
import { Namespace } from "kubernetes-models/v1/Namespace";
import type { IContainer } from "kubernetes-models/v1/Container";
import type { IPodSpec } from "kubernetes-models/v1/PodSpec";
import type { IPodTemplateSpec } from "kubernetes-models/v1/PodTemplateSpec";
import type { IPolicyRule } from "kubernetes-models/rbac.authorization.k8s.io/v1/PolicyRule";
import { Role } from "kubernetes-models/rbac.authorization.k8s.io/v1/Role";
import { RoleBinding } from "kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding";
import { Service } from "kubernetes-models/v1/Service";
import { ServiceAccount } from "kubernetes-models/v1/ServiceAccount";
import { createAdminApp } from "../src/admin/app.ts";
import { discoveryKind, selfPeer } from "../src/app.ts";
import { serviceOf } from "../src/cluster/root_locator.ts";
import { DEFAULT_LABEL_SELECTOR, DEFAULT_SERVICE_ACCOUNT_DIR } from "../src/cluster/kubernetes.ts";
import { type PodObject, podPorts } from "../src/cluster/kube_peers.ts";
import { resolveKubernetesConnection } from "../src/cluster/kube_connection.ts";
import { USAGE } from "../src/config/help.ts";
import { loadConfig } from "../src/config/load.ts";
import type { RelayConfig } from "../src/config/schema.ts";
import type { StreamHub } from "../src/relay/hub.ts";
import type { RtspService } from "../src/relay/rtsp_service.ts";
import { compileArgs } from "../scripts/compile.ts";

const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const BASE_DIR = join(REPO_ROOT, "k8s", "base");
const EXAMPLES_DIR = join(REPO_ROOT, "k8s", "examples");
/** The relays' namespace and service account in the base. */
const RELAY_NAMESPACE = "msm-relay";
const RELAY_SERVICE_ACCOUNT = "msm-relay";

// ---- objects ---------------------------------------------------------------------------------------------

/** A rendered Kubernetes object (plain data from YAML). */
interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [field: string]: unknown;
}

/** The kubernetes-models class of each kind the manifests may use: run-time schema validation. */
const MODELS: ReadonlyMap<string, new (data: never) => { validate(): void }> = new Map<
  string,
  new (data: never) => { validate(): void }
>([
  ["v1/Namespace", Namespace],
  ["v1/ServiceAccount", ServiceAccount],
  ["v1/ConfigMap", ConfigMap],
  ["v1/Service", Service],
  ["apps/v1/DaemonSet", DaemonSet],
  ["apps/v1/Deployment", Deployment],
  ["rbac.authorization.k8s.io/v1/Role", Role],
  ["rbac.authorization.k8s.io/v1/RoleBinding", RoleBinding],
  ["rbac.authorization.k8s.io/v1/ClusterRole", ClusterRole],
  ["rbac.authorization.k8s.io/v1/ClusterRoleBinding", ClusterRoleBinding],
]);
const CLUSTER_SCOPED = new Set(["Namespace", "ClusterRole", "ClusterRoleBinding"]);

const typeKey = (o: KubeObject) => `${o.apiVersion}/${o.kind}`;
const objectKey = (o: KubeObject) => `${typeKey(o)} ${o.metadata.namespace ?? ""}/${o.metadata.name}`;

function isMap(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function asKubeObject(doc: unknown, where: string): KubeObject {
  ok(isMap(doc), `${where}: a document is not a mapping`);
  const meta = doc.metadata;
  ok(
    typeof doc.apiVersion === "string" && typeof doc.kind === "string" && isMap(meta) &&
      typeof meta.name === "string" && meta.name !== "",
    `${where}: an object lacks apiVersion, kind or metadata.name`,
  );
  return doc as KubeObject;
}

function parseYamlStream(text: string, where: string): KubeObject[] {
  const out: KubeObject[] = [];
  for (const doc of YAML.parseAllDocuments(text)) {
    if (doc.errors.length > 0) throw new Error(`${where}: ${doc.errors[0]!.message}`);
    const value: unknown = doc.toJS();
    if (value !== null && value !== undefined) out.push(asKubeObject(value, where));
  }
  return out;
}

// ---- rendering -------------------------------------------------------------------------------------------

const KUSTOMIZATION_KEYS = new Set(["apiVersion", "kind", "namespace", "labels", "resources", "patches"]);

/** Strategic merge of a patch without lists, which is a plain recursive merge (null deletes). */
function mergePatch(target: Record<string, unknown>, patch: Record<string, unknown>, where: string): void {
  for (const [key, value] of Object.entries(patch)) {
    if (Array.isArray(value)) {
      throw new Error(`${where}: lists in patches are not supported by this renderer`);
    }
    if (value === null) delete target[key];
    else if (isMap(value) && isMap(target[key])) mergePatch(target[key], value, where);
    else target[key] = structuredClone(value);
  }
}

/**
 * Renders a kustomization directory with the features k8s/ uses, in kustomize's order: resources (files and
 * kustomization directories), patches, namespace, labels.
 * @throws on any kustomization field this renderer does not implement, so it never renders something else
 */
async function renderKustomization(dir: string): Promise<KubeObject[]> {
  const where = relative(REPO_ROOT, join(dir, "kustomization.yaml"));
  const k: unknown = YAML.parse(await Deno.readTextFile(join(dir, "kustomization.yaml")));
  ok(isMap(k), `${where} is not a mapping`);
  for (const key of Object.keys(k)) {
    ok(KUSTOMIZATION_KEYS.has(key), `${where}: field "${key}" is not supported by the test's renderer`);
  }
  let objects: KubeObject[] = [];
  for (const entry of (k.resources ?? []) as string[]) {
    const path = join(dir, entry);
    if ((await Deno.stat(path)).isDirectory) objects.push(...await renderKustomization(path));
    else objects.push(...parseYamlStream(await Deno.readTextFile(path), relative(REPO_ROOT, path)));
  }
  for (const p of (k.patches ?? []) as Array<Record<string, unknown>>) {
    deepStrictEqual(Object.keys(p), ["path"], `${where}: only file patches (path:) are supported`);
    const file = join(dir, p.path as string);
    const [patch, ...more] = parseYamlStream(await Deno.readTextFile(file), relative(REPO_ROOT, file));
    ok(patch && more.length === 0, `${file}: a patch file holds one object`);
    const targets = objects.filter((o) =>
      typeKey(o) === typeKey(patch) && o.metadata.name === patch.metadata.name &&
      (patch.metadata.namespace === undefined || o.metadata.namespace === patch.metadata.namespace)
    );
    equal(targets.length, 1, `${file}: the patch matches ${targets.length} objects, not 1`);
    mergePatch(targets[0]!, patch, file);
  }
  if (typeof k.namespace === "string") {
    const ns = k.namespace;
    // Subjects follow only when they name a ServiceAccount of this kustomization (kustomize 5's rule).
    const accounts = new Set(
      objects.filter((o) => o.kind === "ServiceAccount").map((o) =>
        `${o.metadata.namespace}/${o.metadata.name}`
      ),
    );
    objects = objects.map((o) => {
      const c = structuredClone(o);
      if (c.kind === "Namespace") c.metadata.name = ns;
      else if (!CLUSTER_SCOPED.has(c.kind)) c.metadata.namespace = ns;
      if (c.kind === "RoleBinding" || c.kind === "ClusterRoleBinding") {
        for (const s of (c.subjects ?? []) as Array<Record<string, string>>) {
          if (s.kind === "ServiceAccount" && accounts.has(`${s.namespace}/${s.name}`)) s.namespace = ns;
        }
      }
      return c;
    });
  }
  for (const entry of (k.labels ?? []) as Array<Record<string, unknown>>) {
    ok(!entry.includeSelectors && !entry.includeTemplates, `${where}: only metadata labels are supported`);
    for (const o of objects) {
      o.metadata.labels = { ...o.metadata.labels, ...(entry.pairs as Record<string, string>) };
    }
  }
  return objects;
}

/** The directories of PATH holding an executable `name`, first one. */
function which(name: string): string | undefined {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    if (!dir) continue;
    try {
      const info = Deno.statSync(join(dir, name));
      if (info.isFile && ((info.mode ?? 0o111) & 0o111) !== 0) return join(dir, name);
    } catch {
      // not here
    }
  }
  return undefined;
}

/** `kubectl kustomize DIR` or `kustomize build DIR` when either is installed, else undefined. */
async function realRender(dir: string): Promise<{ tool: string; objects: KubeObject[] } | undefined> {
  const kubectl = which("kubectl");
  const kustomize = which("kustomize");
  const argv = kubectl ? [kubectl, "kustomize", dir] : kustomize ? [kustomize, "build", dir] : undefined;
  if (!argv) return undefined;
  const out = await new Deno.Command(argv[0]!, {
    args: argv.slice(1),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(60_000),
  }).output();
  const dec = new TextDecoder();
  ok(out.success, `${argv.join(" ")} failed: ${dec.decode(out.stderr)}`);
  return {
    tool: argv.slice(0, 2).join(" "),
    objects: parseYamlStream(dec.decode(out.stdout), argv.join(" ")),
  };
}

const base = await renderKustomization(BASE_DIR);
const examples = await renderKustomization(EXAMPLES_DIR);
const RENDERS = { base, examples } as const;

function find<T>(objects: KubeObject[], kind: string, name: string, namespace?: string): T {
  const found = objects.filter((o) =>
    o.kind === kind && o.metadata.name === name &&
    (namespace === undefined || o.metadata.namespace === namespace)
  );
  equal(found.length, 1, `expected one ${kind} ${namespace ?? ""}/${name}, found ${found.length}`);
  return found[0] as T;
}

/** The relay DaemonSet and its container, typed. */
function relayOf(objects: KubeObject[]) {
  const ds = find<IDaemonSet>(objects, "DaemonSet", "msm-relay", RELAY_NAMESPACE);
  const template = ds.spec!.template;
  const pod = template.spec!;
  equal(pod.containers.length, 1, "the relay pod has one container");
  const container = pod.containers[0]!;
  return { ds, template, pod, container };
}

/** Pod templates of every workload in a render. */
function podTemplates(objects: KubeObject[]): Array<{ owner: string; template: IPodTemplateSpec }> {
  return objects.filter((o) => o.kind === "DaemonSet" || o.kind === "Deployment").map((o) => ({
    owner: objectKey(o),
    template: (o.spec as { template: IPodTemplateSpec }).template,
  }));
}

// ---- the relay's config file in the pod's environment ----------------------------------------------------

/** Values the kubelet gives the downward API fields the manifests use. */
const FIELD_VALUES: Readonly<Record<string, string>> = {
  "metadata.name": "msm-relay-x7k2p",
  "metadata.namespace": RELAY_NAMESPACE,
  "spec.nodeName": "node-a",
  "spec.serviceAccountName": RELAY_SERVICE_ACCOUNT,
  "status.hostIP": "10.0.0.11",
  "status.podIP": "10.0.0.11",
};
/** What the kubelet adds to every container's environment (also with `enableServiceLinks: false`). */
const KUBELET_ENV = { KUBERNETES_SERVICE_HOST: "10.96.0.1", KUBERNETES_SERVICE_PORT: "443" } as const;

/** Expands `$(VAR)` like the kubelet does (`$$` escapes, unknown names stay). */
function expand(text: string, env: ReadonlyMap<string, string>): string {
  return text.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (m, name?: string) => {
    if (m === "$$") return "$";
    return env.get(name!) ?? m;
  });
}

/**
 * The environment of a container as the kubelet builds it.
 * @param secrets Secret name -> data, for secretKeyRef (an absent Secret or key leaves an optional variable
 * unset and fails a required one)
 */
function containerEnv(
  container: IContainer,
  objects: KubeObject[],
  namespace: string,
  secrets: Readonly<Record<string, Record<string, string>>>,
): Map<string, string> {
  const env = new Map<string, string>(Object.entries(KUBELET_ENV));
  for (const v of container.env ?? []) {
    if (v.value !== undefined) {
      env.set(v.name, expand(v.value, env));
    } else if (v.valueFrom?.fieldRef) {
      const value = FIELD_VALUES[v.valueFrom.fieldRef.fieldPath];
      ok(
        value !== undefined,
        `env ${v.name}: unknown downward API field "${v.valueFrom.fieldRef.fieldPath}"`,
      );
      env.set(v.name, value);
    } else if (v.valueFrom?.secretKeyRef) {
      const ref = v.valueFrom.secretKeyRef;
      const value = secrets[ref.name ?? ""]?.[ref.key];
      if (value !== undefined) env.set(v.name, value);
      else ok(ref.optional === true, `env ${v.name}: Secret "${ref.name}" key "${ref.key}" is required`);
    } else if (v.valueFrom?.configMapKeyRef) {
      const ref = v.valueFrom.configMapKeyRef;
      const cm = objects.find((o) =>
        o.kind === "ConfigMap" && o.metadata.name === ref.name && o.metadata.namespace === namespace
      );
      const value = (cm?.data as Record<string, string> | undefined)?.[ref.key];
      if (value !== undefined) env.set(v.name, value);
      else ok(ref.optional === true, `env ${v.name}: ConfigMap "${ref.name}" key "${ref.key}" is missing`);
    } else {
      throw new Error(`env ${v.name}: no value and no supported valueFrom`);
    }
  }
  return env;
}

/** The files a container sees from its ConfigMap and Secret volumes (path -> content). */
function containerFiles(
  pod: IPodSpec,
  container: IContainer,
  objects: KubeObject[],
  namespace: string,
  secrets: Readonly<Record<string, Record<string, string>>>,
): Map<string, string> {
  const files = new Map<string, string>();
  for (const mount of container.volumeMounts ?? []) {
    const volume = pod.volumes?.find((v) => v.name === mount.name);
    ok(volume, `volumeMount "${mount.name}" names no volume`);
    let data: Record<string, string> | undefined;
    if (volume.configMap) {
      const cm = objects.find((o) =>
        o.kind === "ConfigMap" && o.metadata.name === volume.configMap!.name &&
        o.metadata.namespace === namespace
      );
      ok(
        cm || volume.configMap.optional,
        `volume "${volume.name}": ConfigMap "${volume.configMap.name}" is missing`,
      );
      data = cm?.data as Record<string, string> | undefined;
    } else if (volume.secret) {
      data = secrets[volume.secret.secretName ?? ""];
      ok(
        data || volume.secret.optional,
        `volume "${volume.name}": Secret "${volume.secret.secretName}" is missing`,
      );
    }
    for (const [key, value] of Object.entries(data ?? {})) {
      if (mount.subPath === undefined) files.set(`${mount.mountPath}/${key}`, value);
      else if (mount.subPath === key) files.set(mount.mountPath, value);
    }
  }
  return files;
}

/** Loads the relay config as the relay container of a render would, with or without its Secret. */
function loadRelayConfig(objects: KubeObject[], secrets: Readonly<Record<string, Record<string, string>>>) {
  const { pod, container } = relayOf(objects);
  const env = containerEnv(container, objects, RELAY_NAMESPACE, secrets);
  const files = containerFiles(pod, container, objects, RELAY_NAMESPACE, secrets);
  const args = (container.args ?? []).map((a) => expand(a, env));
  const result = loadConfig({
    args,
    env: (name) => env.get(name),
    readTextFile: (path) => {
      const text = files.get(path);
      if (text === undefined) throw new Deno.errors.NotFound(`No such file in the pod: ${path}`);
      return text;
    },
  });
  ok(result.kind === "config", "the relay's args print the help instead of running");
  return { config: result.config, env, files, args };
}

const SECRETS = {
  "msm-relay": { "admin-token": "t0ken-from-secret", "mesh-key": "k3y-from-secret-0123456789" },
};

// ---- what the code uses ----------------------------------------------------------------------------------

/** Non-test TypeScript files under a repository folder. */
async function sourceFiles(folder: string): Promise<Array<{ path: string; text: string }>> {
  const out: Array<{ path: string; text: string }> = [];
  const walk = async (dir: string) => {
    for await (const e of Deno.readDir(dir)) {
      const path = join(dir, e.name);
      if (e.isDirectory) await walk(path);
      else if (e.name.endsWith(".ts") && !e.name.endsWith("_test.ts")) {
        out.push({ path: relative(REPO_ROOT, path), text: await Deno.readTextFile(path) });
      }
    }
  };
  await walk(join(REPO_ROOT, folder));
  return out.sort((a, b) => (a.path < b.path ? -1 : 1));
}

/** Code without comments, for greps that must not see examples in JSDoc. */
function stripComments(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
}

/** Environment variable names read by name in src/ (`Deno.env.get("X")`, `env("X")`). */
async function envVarsReadBySrc(): Promise<Map<string, string[]>> {
  const names = new Map<string, string[]>();
  for (const { path, text } of await sourceFiles("src")) {
    for (
      const m of stripComments(text).matchAll(/(?:Deno\.env\.get|\benv)\(\s*["']([A-Z][A-Z0-9_]*)["']\s*\)/g)
    ) {
      names.set(m[1]!, [...(names.get(m[1]!) ?? []), path]);
    }
  }
  return names;
}

/** One Kubernetes API access of the code: resource and verbs. */
interface ApiAccess {
  group: string;
  resource: string;
  namespaced: boolean;
  verbs: Set<string>;
  from: string;
}

/** The API collections src/cluster reads, from its request paths (`/api/v1/...`, `/apis/G/V/...`). */
async function apiAccessesOfSrc(): Promise<ApiAccess[]> {
  const files = await sourceFiles("src/cluster");
  const code = files.map((f) => ({ ...f, text: stripComments(f.text) }));
  const client = code.find((f) => f.path.endsWith("kube_client.ts"));
  ok(client, "src/cluster/kube_client.ts not found");
  // The API client and the files that use it send GETs only (mesh.ts POSTs to peers, not to the API).
  const apiUsers = code.filter((f) => f === client || /from "\.\/kube_client\.ts"/.test(f.text));
  for (const f of apiUsers) {
    ok(
      !/method:\s*["'](POST|PUT|PATCH|DELETE)["']/.test(f.text),
      `${f.path} writes to the API: the RBAC in k8s/ grants reads only`,
    );
  }
  // The reflector (a user of the client) watches what it lists.
  const watches = apiUsers.some((f) => /\bwatch:\s*["']1["']/.test(f.text));
  const out = new Map<string, ApiAccess>();
  for (const f of code) {
    for (const m of f.text.matchAll(/[`"'](\/apis?\/[^`"'?]+)[`"']/g)) {
      const seg = m[1]!.split("/").slice(1);
      const [group, rest] = seg[0] === "api" ? ["", seg.slice(2)] : [seg[1]!, seg.slice(3)];
      const namespaced = rest[0] === "namespaces" && rest.length >= 3;
      const [resource, ...more] = namespaced ? rest.slice(2) : rest;
      ok(resource, `${f.path}: cannot read the resource of API path "${m[1]}"`);
      // A collection path is LIST (and WATCH with ?watch=1); a path naming an object would be GET.
      const verbs = more.length > 0 ? ["get"] : watches ? ["list", "watch"] : ["list"];
      const key = `${group}/${resource}/${namespaced}`;
      const access = out.get(key) ?? { group, resource, namespaced, verbs: new Set<string>(), from: f.path };
      for (const v of verbs) access.verbs.add(v);
      out.set(key, access);
    }
  }
  return [...out.values()];
}

// ---- RBAC ------------------------------------------------------------------------------------------------

interface Subject {
  kind: string;
  name: string;
  namespace?: string;
}
interface Binding {
  metadata: { namespace?: string };
  roleRef: { kind: string; name: string };
  subjects?: Subject[];
}

/** Rules granted to a service account for requests in `namespace` (undefined: cluster-scoped resources). */
function rulesFor(objects: KubeObject[], sa: { namespace: string; name: string }, namespace?: string) {
  const names = (o: Binding) =>
    (o.subjects ?? []).some((s) =>
      s.kind === "ServiceAccount" && s.name === sa.name && s.namespace === sa.namespace
    );
  const roleRules = (kind: string, name: string, ns?: string): IPolicyRule[] => {
    const role = objects.find((o) =>
      o.kind === kind && o.metadata.name === name && (kind === "ClusterRole" || o.metadata.namespace === ns)
    );
    return (role?.rules as IPolicyRule[] | undefined) ?? [];
  };
  const rules: IPolicyRule[] = [];
  for (const o of objects) {
    const b = o as unknown as Binding;
    if (o.kind === "ClusterRoleBinding" && names(b)) rules.push(...roleRules("ClusterRole", b.roleRef.name));
    if (
      o.kind === "RoleBinding" && names(b) && namespace !== undefined && o.metadata.namespace === namespace
    ) {
      rules.push(...roleRules(b.roleRef.kind, b.roleRef.name, namespace));
    }
  }
  return rules;
}

/** Whether a service account may `verb` a resource (in `namespace`, or cluster-wide when undefined). */
function can(
  objects: KubeObject[],
  verb: string,
  group: string,
  resource: string,
  namespace?: string,
  sa = { namespace: RELAY_NAMESPACE, name: RELAY_SERVICE_ACCOUNT },
): boolean {
  return rulesFor(objects, sa, namespace).some((r) =>
    (r.verbs.includes(verb) || r.verbs.includes("*")) &&
    ((r.apiGroups ?? []).includes(group) || (r.apiGroups ?? []).includes("*")) &&
    ((r.resources ?? []).includes(resource) || (r.resources ?? []).includes("*"))
  );
}

function allRules(objects: KubeObject[]): Array<{ owner: string; rule: IPolicyRule }> {
  return objects.filter((o) => o.kind === "Role" || o.kind === "ClusterRole").flatMap((o) =>
    ((o.rules ?? []) as IPolicyRule[]).map((rule) => ({ owner: objectKey(o), rule }))
  );
}

// ---- Pod Security ----------------------------------------------------------------------------------------

/** Where a pod template departs from the Pod Security "restricted" level (the checks that apply here). */
function restrictedViolations(pod: IPodSpec): string[] {
  const v: string[] = [];
  if (pod.hostNetwork) v.push("hostNetwork");
  if (pod.hostPID) v.push("hostPID");
  if (pod.hostIPC) v.push("hostIPC");
  if (pod.volumes?.some((vol) => vol.hostPath)) v.push("hostPath volume");
  const psc = pod.securityContext ?? {};
  for (const c of [...(pod.initContainers ?? []), ...pod.containers]) {
    const sc = c.securityContext ?? {};
    if (sc.privileged) v.push(`${c.name}: privileged`);
    if (sc.allowPrivilegeEscalation !== false) v.push(`${c.name}: allowPrivilegeEscalation not false`);
    if (!(sc.capabilities?.drop ?? []).includes("ALL")) v.push(`${c.name}: capabilities not dropped`);
    if ((sc.capabilities?.add ?? []).some((cap) => cap !== "NET_BIND_SERVICE")) {
      v.push(`${c.name}: capabilities added`);
    }
    if ((sc.runAsNonRoot ?? psc.runAsNonRoot) !== true) v.push(`${c.name}: runAsNonRoot not true`);
    if ((sc.runAsUser ?? psc.runAsUser) === 0) v.push(`${c.name}: runAsUser 0`);
    const seccomp = sc.seccompProfile?.type ?? psc.seccompProfile?.type;
    if (seccomp !== "RuntimeDefault" && seccomp !== "Localhost") v.push(`${c.name}: no seccomp profile`);
    if ((c.ports ?? []).some((p) => p.hostPort !== undefined)) v.push(`${c.name}: hostPort`);
  }
  return v;
}

// ---- tests -----------------------------------------------------------------------------------------------

Deno.test("k8s renders the same with the test's renderer as with kubectl kustomize (when installed)", async (t) => {
  for (const [name, dir] of [["base", BASE_DIR], ["examples", EXAMPLES_DIR]] as const) {
    const real = await realRender(dir);
    if (!real) {
      // Neither kubectl nor kustomize here (Debian has no kustomize package): the renderer alone is used.
      console.log(`k8s/${name}: no kubectl or kustomize on PATH, rendered by the test's renderer only`);
      continue;
    }
    await t.step(`k8s/${name} with ${real.tool}`, () => {
      const byKey = (objs: KubeObject[]) => new Map(objs.map((o) => [objectKey(o), o]));
      const mine = byKey(RENDERS[name]);
      const theirs = byKey(real.objects);
      deepStrictEqual([...mine.keys()].sort(), [...theirs.keys()].sort());
      for (const [key, o] of theirs) deepStrictEqual(mine.get(key), o, `${key} differs`);
    });
  }
});

Deno.test("k8s objects validate against the Kubernetes OpenAPI schemas (kubernetes-models)", () => {
  for (const [name, objects] of Object.entries(RENDERS)) {
    const keys = objects.map(objectKey);
    deepStrictEqual(keys, [...new Set(keys)], `k8s/${name} renders an object twice`);
    for (const o of objects) {
      const Model = MODELS.get(typeKey(o));
      ok(Model, `k8s/${name}: ${objectKey(o)} is of a kind the test does not know`);
      const scoped = CLUSTER_SCOPED.has(o.kind);
      equal(o.metadata.namespace === undefined, scoped, `${objectKey(o)}: namespace set on the wrong scope`);
      try {
        new Model(o as never).validate();
      } catch (e) {
        throw new Error(`k8s/${name}: ${objectKey(o)} fails its schema: ${(e as Error).message}`);
      }
    }
  }
  // The validation is real: a wrong type is refused.
  const ds = structuredClone(relayOf(base).ds);
  (ds.spec!.template.spec!.containers[0]!.ports![0] as { containerPort: unknown }).containerPort = "8554";
  let refused = false;
  try {
    new DaemonSet(ds).validate();
  } catch {
    refused = true;
  }
  ok(refused, "a string containerPort must fail validation");
});

Deno.test("k8s objects type-check as kubernetes-models TypeScript literals (no unknown fields)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "msm-k8s-types-" });
  try {
    const imports = new Map<string, string>();
    const lines: string[] = [];
    for (const [name, objects] of Object.entries(RENDERS)) {
      objects.forEach((o, i) => {
        const type = `I${o.kind}`;
        imports.set(type, `kubernetes-models/${o.apiVersion}/${o.kind}`);
        lines.push(
          `// k8s/${name}: ${objectKey(o)}`,
          `export const ${name}${i}: ${type} = ${JSON.stringify(o)};`,
        );
      });
    }
    const source = [...imports].map(([type, from]) => `import type { ${type} } from "${from}";`)
      .concat(lines).join("\n") + "\n";
    const file = join(dir, "manifests.ts");
    await Deno.writeTextFile(file, source);
    // A negative control in the same run: a misspelt field must fail the check.
    const control = join(dir, "control.ts");
    await Deno.writeTextFile(
      control,
      `import type { IDaemonSet } from "kubernetes-models/apps/v1/DaemonSet";\n` +
        `export const bad: IDaemonSet = { apiVersion: "apps/v1", kind: "DaemonSet", metadata: { name: "x" }, ` +
        `spec: { selector: {}, template: { spec: { hostNetwrk: true, containers: [] } } } };\n`,
    );
    const check = (path: string) =>
      new Deno.Command(Deno.execPath(), {
        args: ["check", "--quiet", "--config", join(REPO_ROOT, "deno.json"), path],
        cwd: REPO_ROOT,
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
        signal: AbortSignal.timeout(120_000),
      }).output();
    const [good, bad] = await Promise.all([check(file), check(control)]);
    const dec = new TextDecoder();
    ok(
      good.success,
      `the manifests do not type-check:\n${dec.decode(good.stderr)}${dec.decode(good.stdout)}`,
    );
    ok(!bad.success && dec.decode(bad.stderr).includes("hostNetwrk"), "the misspelt control must fail");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("k8s DaemonSet runs one relay per node on the host network", () => {
  const { ds, pod } = relayOf(base);
  equal(pod.hostNetwork, true);
  equal(pod.dnsPolicy, "ClusterFirstWithHostNet", "cluster DNS (camera Services) from the host network");
  equal(ds.spec!.updateStrategy?.type, "RollingUpdate");
  equal(ds.spec!.updateStrategy?.rollingUpdate?.maxUnavailable, 1);
  equal(ds.spec!.updateStrategy?.rollingUpdate?.maxSurge ?? 0, 0, "no surge: host ports are per node");
  deepStrictEqual(pod.tolerations, [{ operator: "Exists" }], "every node, tainted ones included");
  equal(pod.serviceAccountName, RELAY_SERVICE_ACCOUNT);
  ok(pod.automountServiceAccountToken !== false, "discovery needs the service account token");
});

Deno.test("k8s pod template carries the label discovery selects relay pods by", () => {
  const { ds, template } = relayOf(base);
  const labels = template.metadata?.labels ?? {};
  for (const term of DEFAULT_LABEL_SELECTOR.split(",")) {
    const [key, value] = term.split("=");
    equal(labels[key!], value, `pod label ${key}`);
  }
  for (const [key, value] of Object.entries(ds.spec!.selector.matchLabels ?? {})) {
    equal(labels[key], value, `selector ${key} must match the template`);
  }
  // Nothing else in the relays' namespace may look like a relay to discovery.
  for (const [name, objects] of Object.entries(RENDERS)) {
    const impostors = podTemplates(objects).filter(({ owner, template: t }) =>
      !owner.includes("DaemonSet msm-relay/msm-relay") && owner.includes(` ${RELAY_NAMESPACE}/`) &&
      DEFAULT_LABEL_SELECTOR.split(",").every((term) => {
        const [k, v] = term.split("=");
        return t.metadata?.labels?.[k!] === v;
      })
    );
    deepStrictEqual(impostors, [], `k8s/${name}`);
  }
  for (const [name, objects] of Object.entries(RENDERS)) {
    for (const o of objects) {
      ok(o.metadata.labels?.["app.kubernetes.io/part-of"], `k8s/${name}: ${objectKey(o)} lacks part-of`);
    }
  }
  for (const o of base) ok(o.metadata.labels?.["app.kubernetes.io/name"], `${objectKey(o)} lacks app name`);
});

Deno.test("k8s RBAC grants exactly the list/watch calls src/cluster makes, and no write", async () => {
  const used = await apiAccessesOfSrc();
  const names = used.map((a) => `${a.group}/${a.resource}`).sort();
  // Guard against a grep that finds nothing: these three are what kubernetes.ts reads today.
  deepStrictEqual(names, ["/nodes", "/pods", "discovery.k8s.io/endpointslices"]);
  for (const [name, objects] of Object.entries(RENDERS)) {
    for (const { owner, rule } of allRules(objects)) {
      ok(!rule.nonResourceURLs && !rule.resourceNames, `${owner}: no nonResourceURLs or resourceNames`);
      for (const group of rule.apiGroups ?? []) {
        for (const resource of rule.resources ?? []) {
          const access = used.find((a) => a.group === group && a.resource === resource);
          ok(access, `k8s/${name} ${owner} grants ${group}/${resource}, which the code never reads`);
          for (const verb of rule.verbs) {
            ok(
              access.verbs.has(verb),
              `k8s/${name} ${owner} grants "${verb}" on ${resource}, the code does not`,
            );
          }
        }
      }
    }
  }
  for (const objects of [base, examples]) {
    for (const a of used.filter((a) => a.resource !== "endpointslices")) {
      for (const verb of a.verbs) {
        const ns = a.namespaced ? RELAY_NAMESPACE : undefined;
        ok(can(objects, verb, a.group, a.resource, ns), `${verb} ${a.resource} (${a.from}) is not granted`);
      }
    }
    // Least privilege: pods only in the relays' namespace, no single GETs, nothing else.
    ok(!can(objects, "list", "", "pods", "default"), "pods are readable outside the relays' namespace");
    ok(!can(objects, "get", "", "pods", RELAY_NAMESPACE), "get pods is granted but never used");
    ok(!can(objects, "list", "", "secrets", RELAY_NAMESPACE), "secrets are readable");
    ok(!can(objects, "list", "", "services", "video"), "services are readable but never read");
    for (const verb of ["create", "update", "patch", "delete", "deletecollection"]) {
      for (const [g, r, ns] of [["", "pods", RELAY_NAMESPACE], ["", "nodes", undefined]] as const) {
        ok(!can(objects, verb, g, r, ns), `${verb} ${r} is granted`);
      }
    }
  }
  // EndpointSlices: only in the namespaces of the Services the config's cameras name (Role per namespace).
  const slices = used.find((a) => a.resource === "endpointslices")!;
  ok(slices.namespaced, "EndpointSlices are read per namespace");
  ok(
    !can(base, "list", "discovery.k8s.io", "endpointslices", "video"),
    "the base grants no camera namespace",
  );
  const { config } = loadRelayConfig(examples, {});
  const cameraNamespaces = new Set(
    Object.values(config.paths).map(serviceOf).filter((s) => s !== null).map((s) => s.namespace),
  );
  deepStrictEqual([...cameraNamespaces], ["video"]);
  for (const ns of cameraNamespaces) {
    for (const verb of slices.verbs) {
      ok(can(examples, verb, "discovery.k8s.io", "endpointslices", ns), `${verb} endpointslices in ${ns}`);
    }
  }
  ok(
    !can(examples, "list", "discovery.k8s.io", "endpointslices", "default"),
    "endpointslices beyond cameras",
  );
});

Deno.test("k8s relay container sets every environment variable src/ reads", async () => {
  const read = await envVarsReadBySrc();
  for (const name of ["HOST_IP", "NODE_NAME", "POD_NAMESPACE", "KUBERNETES_SERVICE_HOST"]) {
    ok(read.has(name), `the grep of src/ no longer finds ${name}: update this test`);
  }
  const { container } = relayOf(base);
  const declared = new Map((container.env ?? []).map((e) => [e.name, e]));
  for (const [name, files] of read) {
    if (name in KUBELET_ENV) {
      ok(!declared.has(name), `${name} is set by the kubelet, do not override it`);
    } else if (name.startsWith("MSM_")) {
      // Optional overrides with defaults (MSM_SERVICEACCOUNT_DIR: the kubelet's mount is the default).
      continue;
    } else {
      ok(declared.has(name), `${files.join(", ")} read ${name}, which the DaemonSet does not set`);
    }
  }
  // The downward API fields behind them (POD_NAME for logs and kubectl, though src/ does not read it yet).
  const fieldOf = (name: string) => declared.get(name)?.valueFrom?.fieldRef?.fieldPath;
  equal(fieldOf("NODE_NAME"), "spec.nodeName");
  equal(fieldOf("HOST_IP"), "status.hostIP");
  equal(fieldOf("POD_NAME"), "metadata.name");
  equal(fieldOf("POD_NAMESPACE"), "metadata.namespace");
  // Every MSM_ variable the manifest sets is a flag of the CLI (an unknown one would be ignored silently).
  for (const name of declared.keys()) {
    if (!name.startsWith("MSM_")) continue;
    const flag = "--" + name.slice(4).toLowerCase().replaceAll("_", "-");
    ok(new RegExp(`${flag}\\b`).test(USAGE), `${name} is not the variable of a flag (${flag})`);
  }
});

Deno.test("k8s relay config loads with loadConfig in the pod's environment, with and without its Secret", async () => {
  for (const objects of [base, examples]) {
    const { config, env, args } = loadRelayConfig(objects, {});
    deepStrictEqual(args, ["--config", "/etc/msm-relay/config.yaml"]);
    equal(config.discovery, "kubernetes");
    equal(discoveryKind(config, (n) => env.get(n)), "kubernetes");
    equal(config.node, FIELD_VALUES["spec.nodeName"], "the node name comes from NODE_NAME");
    equal(config.listen, "0.0.0.0");
    const self = selfPeer(config, (n) => env.get(n));
    equal(self.host, FIELD_VALUES["status.hostIP"], "peers reach this relay at the host IP");
    equal(config.adminToken, undefined, "no Secret: no token");
    equal(config.meshKey, undefined);
    const withSecret = loadRelayConfig(objects, SECRETS).config;
    equal(withSecret.adminToken, SECRETS["msm-relay"]["admin-token"]);
    equal(withSecret.meshKey, SECRETS["msm-relay"]["mesh-key"]);
  }
  // The examples overlay adds the camera, by Service name.
  deepStrictEqual(loadRelayConfig(base, {}).config.paths, {});
  deepStrictEqual(loadRelayConfig(examples, {}).config.paths, {
    cam1: "rtsp://cam1.video.svc.cluster.local:8554/cam",
  });
  // Discovery finds the API and the namespace from what the pod gets.
  const { env } = loadRelayConfig(base, {});
  ok(!env.has("MSM_SERVICEACCOUNT_DIR"), "the kubelet's mount is at the default place");
  const sa = await Deno.makeTempDir({ prefix: "msm-sa-" });
  try {
    await Deno.writeTextFile(join(sa, "token"), "token");
    await Deno.writeTextFile(join(sa, "ca.crt"), "-----BEGIN CERTIFICATE-----\n");
    const conn = await resolveKubernetesConnection({ serviceAccountDir: sa, env: (n) => env.get(n) });
    equal(conn.namespace, RELAY_NAMESPACE);
    equal(conn.apiUrl.href, "https://10.96.0.1/");
  } finally {
    await Deno.remove(sa, { recursive: true });
  }
  equal(DEFAULT_SERVICE_ACCOUNT_DIR, "/var/run/secrets/kubernetes.io/serviceaccount");
});

Deno.test("k8s relay container ports are the config's rtsp/admin/mesh ports, as discovery reads them", () => {
  for (const objects of [base, examples]) {
    const { config } = loadRelayConfig(objects, {});
    const { template, container } = relayOf(objects);
    const ports = new Map((container.ports ?? []).map((p) => [p.name, p]));
    deepStrictEqual([...ports.keys()].sort(), ["admin", "mesh", "rtsp"]);
    const expected: Record<string, [number, string]> = {
      rtsp: [config.rtspPort, "TCP"],
      admin: [config.adminPort, "TCP"],
      mesh: [config.meshPort, "UDP"],
    };
    for (const [name, [port, protocol]] of Object.entries(expected)) {
      equal(ports.get(name)?.containerPort, port, `container port ${name}`);
      equal(ports.get(name)?.protocol ?? "TCP", protocol, `protocol of port ${name}`);
      const hostPort = ports.get(name)?.hostPort;
      ok(hostPort === undefined || hostPort === port, "with hostNetwork, hostPort equals containerPort");
    }
    // What a peer computes from this pod: the same ports, whatever its own are.
    const peerView = podPorts({ spec: template.spec } as unknown as PodObject, {
      rtsp: 1,
      admin: 2,
      mesh: 3,
    });
    deepStrictEqual(peerView, { rtsp: config.rtspPort, admin: config.adminPort, mesh: config.meshPort });
    ok(
      Math.min(config.rtspPort, config.adminPort, config.meshPort, config.udpPortRange[0]) > 1024,
      "no root ports",
    );
  }
});

Deno.test("k8s probes hit the admin app's /healthz and /readyz on the admin port", async () => {
  const { container } = relayOf(base);
  const { config } = loadRelayConfig(base, {});
  const liveness = container.livenessProbe?.httpGet;
  const readiness = container.readinessProbe?.httpGet;
  ok(liveness && readiness, "HTTP liveness and readiness probes");
  for (const probe of [liveness, readiness]) {
    ok(
      probe.port === "admin" || probe.port === config.adminPort,
      `probe port ${probe.port} is the admin port`,
    );
    equal(probe.scheme ?? "HTTP", "HTTP");
  }
  let ready = true;
  const app = createAdminApp({
    hub: {} as StreamHub,
    rtsp: {} as RtspService,
    ready: () => ready,
    node: "node-a",
    config: config as RelayConfig,
  });
  equal((await app.request(liveness.path!)).status, 200, `liveness ${liveness.path}`);
  equal((await app.request(readiness.path!)).status, 200, `readiness ${readiness.path} when ready`);
  ready = false;
  equal((await app.request(readiness.path!)).status, 503, `readiness ${readiness.path} while draining`);
  equal((await app.request(liveness.path!)).status, 200, "liveness stays up while not ready");
  equal((await app.request("/no-such-route")).status, 404, "the app does not answer every path");
  deepStrictEqual([liveness.path, readiness.path], ["/healthz", "/readyz"]);
});

Deno.test("k8s relay pod is hardened: non-root, no capabilities, read-only root, bounded resources", async () => {
  const { pod, container } = relayOf(base);
  deepStrictEqual(restrictedViolations(pod), ["hostNetwork"], "restricted except for hostNetwork");
  equal(pod.securityContext?.runAsNonRoot, true);
  equal(pod.securityContext?.runAsUser, 65532);
  equal(pod.securityContext?.seccompProfile?.type, "RuntimeDefault");
  const sc = container.securityContext!;
  equal(sc.readOnlyRootFilesystem, true);
  equal(sc.allowPrivilegeEscalation, false);
  deepStrictEqual(sc.capabilities, { drop: ["ALL"] });
  // Requests set, a memory limit, no CPU limit (CFS throttling shows as packet bursts).
  const res = container.resources!;
  ok(res.requests?.cpu && res.requests?.memory && res.limits?.memory, "requests and a memory limit");
  equal(res.limits?.cpu, undefined);
  // The relay's namespace must admit hostNetwork pods; the examples run "restricted".
  equal(
    find<Namespace>(base, "Namespace", RELAY_NAMESPACE).metadata?.labels
      ?.["pod-security.kubernetes.io/enforce"],
    "privileged",
  );
  equal(
    find<Namespace>(examples, "Namespace", "video").metadata?.labels?.["pod-security.kubernetes.io/enforce"],
    "restricted",
  );
  for (const { owner, template } of podTemplates(examples)) {
    if (owner.includes("DaemonSet")) continue;
    deepStrictEqual(restrictedViolations(template.spec!), [], owner);
  }
  // Grace period: the SIGTERM drain of main.ts (its longest timeout) plus margin.
  const main = await Deno.readTextFile(join(REPO_ROOT, "main.ts"));
  const drainMs = Math.max(
    10_000,
    ...main.split("\n").filter((l) => l.includes("setTimeout")).flatMap((l) =>
      [...l.matchAll(/\b\d[\d_]*\b/g)].map((m) => Number(m[0].replaceAll("_", "")))
    ),
  );
  ok(
    (pod.terminationGracePeriodSeconds ?? 30) * 1000 >= drainMs + 3000,
    `terminationGracePeriodSeconds ${pod.terminationGracePeriodSeconds} s is short for a ${drainMs} ms drain`,
  );
});

Deno.test("k8s image, Dockerfile and deno task compile agree", async () => {
  const { pod, container } = relayOf(base);
  const denoJson = JSON.parse(await Deno.readTextFile(join(REPO_ROOT, "deno.json"))) as { version: string };
  equal(container.image, `msm-relay:${denoJson.version}`, "the image tag follows deno.json's version");
  for (const labels of [relayOf(base).ds.metadata?.labels, relayOf(base).template.metadata?.labels]) {
    equal(labels?.["app.kubernetes.io/version"], denoJson.version, "the version label follows deno.json");
  }
  equal(container.command, undefined, "the image's ENTRYPOINT runs the relay");
  const dockerfile = await Deno.readTextFile(join(REPO_ROOT, "Dockerfile"));
  const ci = await Deno.readTextFile(join(REPO_ROOT, ".ci", "run"));
  const denoVersion = /^DENO_VERSION=(\S+)/m.exec(ci)?.[1];
  ok(denoVersion, ".ci/run names its Deno version");
  ok(dockerfile.includes(`FROM denoland/deno:${denoVersion} AS build`), "the build stage uses CI's Deno");
  ok(/^RUN deno task compile\b/m.test(dockerfile), "the build stage runs deno task compile");
  const args = compileArgs();
  const output = args[args.indexOf("--output") + 1];
  ok(dockerfile.includes(`COPY --from=build /src/${output} /msm-relay`), `the image takes ${output}`);
  ok(dockerfile.includes(`ENTRYPOINT ["/msm-relay"]`));
  const user = /^USER (\d+)/m.exec(dockerfile)?.[1];
  equal(Number(user), pod.securityContext?.runAsUser, "the image's user is the pod's runAsUser");
});
