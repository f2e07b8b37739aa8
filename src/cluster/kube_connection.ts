/**
 * Where the Kubernetes API is and how to reach it from inside a pod: the API URL from
 * `KUBERNETES_SERVICE_HOST/PORT`, the service account's token file and cluster CA, and the namespace of the relay
 * pods, each checked once at start-up so a misconfigured relay fails with a message naming what is missing.
 * @module
 */
import { hostForUrl } from "../address.ts";

/** Where the kubelet mounts the pod's service account. */
export const DEFAULT_SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

/** Where to find the API server and the relay's namespace; every field has an in-cluster default. */
export interface KubernetesConnectionOptions {
  /** API server URL. @default `https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT` */
  readonly apiUrl?: string;
  /** Directory with `token`, `ca.crt` and `namespace`. @default {@linkcode DEFAULT_SERVICE_ACCOUNT_DIR} */
  readonly serviceAccountDir?: string;
  /** Namespace of the relay pods. @default `$POD_NAMESPACE`, else the service account's `namespace` file */
  readonly namespace?: string;
  /** Environment lookup. @default Deno.env.get (undefined without permission) */
  readonly env?: (name: string) => string | undefined;
}

/** Connection settings resolved from options, environment and the service account directory. */
export interface KubernetesConnection {
  /** Base URL of the API server. */
  readonly apiUrl: URL;
  /** The service account token's file (read again for every request: it rotates). */
  readonly tokenFile: string;
  /** PEM of the cluster CA. */
  readonly caCertPem: string;
  /** Namespace of the relay pods. */
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
  options: KubernetesConnectionOptions,
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
    raw = `https://${hostForUrl(host)}:${port}`;
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
