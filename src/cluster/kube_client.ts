/**
 * A small Kubernetes API client: the object shapes every collection shares, and authenticated GETs over TLS with
 * the cluster CA, re-reading the rotating service account token for every request. Keeping a collection current
 * with LIST+WATCH is {@link ./kube_reflector.ts}.
 * @module
 */

import type { Logger } from "../log.ts";

/** Object metadata fields the relay reads. */
export interface KubeObjectMeta {
  readonly name?: string;
  readonly namespace?: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly resourceVersion?: string;
  readonly uid?: string;
  readonly creationTimestamp?: string;
  readonly deletionTimestamp?: string;
}

/** Any Kubernetes object (only metadata is common). */
export interface KubeObject {
  readonly metadata?: KubeObjectMeta;
}

/** A `Status` object, as errors and watch ERROR events carry it. */
export interface KubeStatus {
  readonly kind?: string;
  readonly status?: string;
  readonly code?: number;
  readonly reason?: string;
  readonly message?: string;
}

/** A failed API request: an HTTP status (with the Status object the server sent) or a watch ERROR event. */
export class KubeApiError extends Error {
  /** HTTP status, or the Status code of an ERROR event. */
  readonly status: number;
  /** `reason` of the Status object ("Expired", "Forbidden"...), or "". */
  readonly reason: string;
  /**
   * @param action what failed, e.g. `GET /api/v1/nodes` (the message starts with it)
   * @param status HTTP status or Status code
   * @param body the Status object the server sent, if any
   */
  constructor(action: string, status: number, body: KubeStatus | undefined) {
    const detail = body?.message ? `: ${body.message}` : "";
    super(`${action} failed with status ${status}${body?.reason ? ` (${body.reason})` : ""}${detail}`);
    this.name = "KubeApiError";
    this.status = status;
    this.reason = body?.reason ?? "";
  }
}

/** Options of {@linkcode KubeApi}. */
export interface KubeApiOptions {
  /** Base URL of the API server, e.g. `https://10.96.0.1:443`. */
  readonly apiUrl: URL;
  /** File holding the bearer token; read again for every request (it rotates). */
  readonly tokenFile: string;
  /** PEM of the CA that signs the API server's certificate. */
  readonly caCertPem: string;
  /** Logger for token read failures. */
  readonly logger: Logger;
}

/**
 * Authenticated GETs against the API server. Every request reads the token file again (bound service account
 * tokens rotate), falling back to the last token read when the file is briefly missing.
 * @example
 * const api = new KubeApi({ apiUrl, tokenFile, caCertPem, logger });
 * const res = await api.get("/api/v1/namespaces/msm/pods", { labelSelector: "app=x" }, signal);
 */
export class KubeApi {
  readonly #options: KubeApiOptions;
  readonly #client: Deno.HttpClient;
  #token = "";
  #tokenWarned = false;

  constructor(options: KubeApiOptions) {
    this.#options = options;
    this.#client = Deno.createHttpClient({ caCerts: [options.caCertPem] });
  }

  /** Reads the token file (keeping the last token if it cannot be read). @returns the token */
  async readToken(): Promise<string> {
    try {
      const token = (await Deno.readTextFile(this.#options.tokenFile)).trim();
      this.#token = token;
      this.#tokenWarned = false;
    } catch (e) {
      if (!this.#tokenWarned) {
        this.#options.logger.warn("reading the service account token failed; keeping the last one", {
          file: this.#options.tokenFile,
          error: String(e),
        });
        this.#tokenWarned = true;
      }
    }
    return this.#token;
  }

  /**
   * GETs `path` with `query`. @returns the response when its status is 2xx
   * @throws {KubeApiError} on any other status (the body's Status object in the message)
   */
  async get(path: string, query: Record<string, string>, signal: AbortSignal): Promise<Response> {
    const url = new URL(path, this.#options.apiUrl);
    for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
    const token = await this.readToken();
    const headers: Record<string, string> = { accept: "application/json" };
    if (token) headers.authorization = `Bearer ${token}`;
    const res = await fetch(url, { client: this.#client, headers, signal });
    if (res.ok) return res;
    let body: KubeStatus | undefined;
    try {
      body = await res.json() as KubeStatus;
    } catch {
      body = undefined;
    }
    throw new KubeApiError(`GET ${path}`, res.status, body);
  }

  /** Closes the HTTP client (pooled connections). */
  close(): void {
    this.#client.close();
  }
}
