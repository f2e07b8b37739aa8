/**
 * The calling side of the peer protocol: HTTP requests to other relays' `/mesh/v1`, signed with the cluster key
 * when there is one, whose answers are trusted only when signed back (see mesh_auth.ts). It learns each peer's
 * clock offset from a 401 for a stale time and retries once, so a clock step on either side does not cut the
 * mesh.
 * @module
 */
import {
  MESH_AUTH_HEADER,
  MESH_TIME_HEADER,
  requestSignatureOf,
  signRequest,
  verifyResponse,
} from "./mesh_auth.ts";
import type { MeshKeyring } from "./mesh_keys.ts";

/** An answer of a peer: status and body text. */
export interface PeerAnswer {
  status: number;
  text: string;
}

/** An answer that does not carry a valid signature of the mesh key: the peer is not one of ours. */
export class UnsignedAnswerError extends Error {
  constructor(url: string, status: number) {
    super(`the answer of ${url} (${status}) is not signed with the mesh key`);
    this.name = "UnsignedAnswerError";
  }
}

/** Signs requests to peers and checks their answers. */
export class MeshHttp {
  readonly #ring: () => MeshKeyring | null;
  readonly #offsets = new Map<string, number>();
  readonly #client: Deno.HttpClient | undefined;

  /**
   * @param ring the current keys, or null for an open mesh
   * @param localAddress source address of the calls (peers check it in an open mesh); absent: the kernel's choice
   */
  constructor(ring: () => MeshKeyring | null, localAddress?: string) {
    this.#ring = ring;
    this.#client = localAddress ? Deno.createHttpClient({ localAddress }) : undefined;
  }

  /** Releases the connection pool. */
  close(): void {
    this.#client?.close();
  }

  /**
   * Sends one request to `origin` (`http://host:port`) at `path` (`/mesh/v1/...`, percent-encoded).
   * @throws network errors and timeouts as `fetch` does; {@linkcode UnsignedAnswerError} for an unsigned answer
   */
  async request(
    origin: string,
    method: "GET" | "POST",
    path: string,
    body: unknown,
    timeoutMs: number,
  ): Promise<PeerAnswer> {
    const first = await this.#send(origin, method, path, body, timeoutMs);
    if (!first.retryAfterClock) return first.answer;
    return (await this.#send(origin, method, path, body, timeoutMs)).answer;
  }

  async #send(
    origin: string,
    method: "GET" | "POST",
    path: string,
    body: unknown,
    timeoutMs: number,
  ): Promise<{ answer: PeerAnswer; retryAfterClock: boolean }> {
    const ring = this.#ring();
    const payload = body === undefined ? new Uint8Array() : new TextEncoder().encode(JSON.stringify(body));
    const headers: Record<string, string> = {};
    if (body !== undefined) headers["content-type"] = "application/json";
    let signature = "";
    if (ring) {
      const now = Date.now() + (this.#offsets.get(origin) ?? 0);
      const nonce = Array.from(
        crypto.getRandomValues(new Uint8Array(12)),
        (b) => b.toString(16).padStart(2, "0"),
      )
        .join("");
      headers[MESH_AUTH_HEADER] = signRequest(ring, { method, path, body: payload }, now, nonce);
      signature = requestSignatureOf(headers[MESH_AUTH_HEADER]);
    }
    const res = await fetch(`${origin}${path}`, {
      method,
      headers,
      ...(body !== undefined ? { body: payload } : {}),
      signal: AbortSignal.timeout(timeoutMs),
      ...(this.#client ? { client: this.#client } : {}),
    });
    const bytes = new Uint8Array(await res.arrayBuffer());
    if (ring && !verifyResponse(ring, res.headers.get(MESH_AUTH_HEADER), signature, res.status, bytes)) {
      throw new UnsignedAnswerError(`${origin}${path}`, res.status);
    }
    const answer = { status: res.status, text: new TextDecoder().decode(bytes) };
    const peerTime = Number(res.headers.get(MESH_TIME_HEADER));
    if (ring && res.status === 401 && Number.isFinite(peerTime) && peerTime > 0) {
      // Signed by a key holder, so its clock is worth believing: call again on its time.
      this.#offsets.set(origin, peerTime - Date.now());
      return { answer, retryAfterClock: true };
    }
    return { answer, retryAfterClock: false };
  }
}
