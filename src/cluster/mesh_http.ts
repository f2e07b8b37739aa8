/**
 * The calling side of the peer protocol: HTTP requests to other relays' `/mesh/v1`, signed with the cluster key
 * when there is one for the relay called (its node name and the incarnation of its process), whose answers are
 * trusted only when signed back (see mesh_auth.ts). It learns each peer's incarnation from its signed answers and
 * its clock offset from a signed 401 that asks it to sign again, then retries once: a first call, a peer's
 * restart or a clock step on either side cost one round trip, never the mesh.
 * @module
 */
import {
  MESH_AUTH_HEADER,
  MESH_INCARNATION_HEADER,
  MESH_TIME_HEADER,
  requestSignatureOf,
  signRequest,
  verifyResponse,
} from "./mesh_auth.ts";
import { INCARNATION_PATTERN } from "./mesh_incarnation.ts";
import type { MeshKeyring } from "./mesh_keys.ts";

/** An answer of a peer: status and body text. */
export interface PeerAnswer {
  status: number;
  text: string;
}

/** The relay called. */
export interface PeerTarget {
  /** Its node name (the signature names it: no other relay accepts the request). */
  node: string;
  /** `http://host:port` of its admin port. */
  origin: string;
}

/** An answer that does not carry a valid signature of the mesh key: the peer is not one of ours. */
export class UnsignedAnswerError extends Error {
  constructor(url: string, status: number) {
    super(`the answer of ${url} (${status}) is not signed with the mesh key`);
    this.name = "UnsignedAnswerError";
  }
}

/** What this relay learned of one peer. */
interface PeerClock {
  /** Its clock minus ours, ms. */
  offset: number;
  /** The incarnation of its process, once an answer told it. */
  incarnation: string | null;
}

/** Peers remembered at most (the oldest forgotten first: it costs one round trip to learn again). */
const MAX_PEERS = 4096;

/** Signs requests to peers and checks their answers. */
export class MeshHttp {
  readonly #ring: () => MeshKeyring | null;
  readonly #peers = new Map<string, PeerClock>();
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
   * Sends one request to `to` at `path` (`/mesh/v1/...`, percent-encoded).
   * @throws network errors and timeouts as `fetch` does; {@linkcode UnsignedAnswerError} for an unsigned answer
   */
  async request(
    to: PeerTarget,
    method: "GET" | "POST",
    path: string,
    body: unknown,
    timeoutMs: number,
  ): Promise<PeerAnswer> {
    const first = await this.#send(to, method, path, body, timeoutMs);
    if (!first.signAgain) return first.answer;
    return (await this.#send(to, method, path, body, timeoutMs)).answer;
  }

  /** The incarnation of `to` as its last signed answer gave it, or null. */
  incarnationOf(to: PeerTarget): string | null {
    return this.#peers.get(peerKey(to))?.incarnation ?? null;
  }

  async #send(
    to: PeerTarget,
    method: "GET" | "POST",
    path: string,
    body: unknown,
    timeoutMs: number,
  ): Promise<{ answer: PeerAnswer; signAgain: boolean }> {
    const ring = this.#ring();
    const payload = body === undefined ? new Uint8Array() : new TextEncoder().encode(JSON.stringify(body));
    const headers: Record<string, string> = {};
    if (body !== undefined) headers["content-type"] = "application/json";
    let signature = "";
    const key = peerKey(to);
    const known = this.#peers.get(key);
    if (ring) {
      const now = Date.now() + (known?.offset ?? 0);
      const nonce = Array.from(
        crypto.getRandomValues(new Uint8Array(12)),
        (b) => b.toString(16).padStart(2, "0"),
      )
        .join("");
      const target = { node: to.node, incarnation: known?.incarnation ?? null };
      headers[MESH_AUTH_HEADER] = signRequest(ring, { method, path, body: payload }, target, now, nonce);
      signature = requestSignatureOf(headers[MESH_AUTH_HEADER]);
    }
    const res = await fetch(`${to.origin}${path}`, {
      method,
      headers,
      ...(body !== undefined ? { body: payload } : {}),
      signal: AbortSignal.timeout(timeoutMs),
      ...(this.#client ? { client: this.#client } : {}),
    });
    const bytes = new Uint8Array(await res.arrayBuffer());
    const answer = { status: res.status, text: new TextDecoder().decode(bytes) };
    if (!ring) return { answer, signAgain: false };
    const time = res.headers.get(MESH_TIME_HEADER) ?? "";
    const incarnation = res.headers.get(MESH_INCARNATION_HEADER) ?? "";
    const signedHeaders = { time, incarnation };
    if (
      !verifyResponse(ring, res.headers.get(MESH_AUTH_HEADER), signature, res.status, bytes, signedHeaders)
    ) {
      throw new UnsignedAnswerError(`${to.origin}${path}`, res.status);
    }
    // Signed by a key holder, so its clock and incarnation are worth believing.
    const learned: PeerClock = { offset: known?.offset ?? 0, incarnation: known?.incarnation ?? null };
    if (INCARNATION_PATTERN.test(incarnation)) learned.incarnation = incarnation;
    const peerTime = Number(time);
    const signAgain = res.status === 401 && time !== "" && Number.isFinite(peerTime) && peerTime > 0;
    if (signAgain) learned.offset = peerTime - Date.now();
    this.#remember(key, learned);
    return { answer, signAgain };
  }

  #remember(key: string, clock: PeerClock): void {
    this.#peers.delete(key);
    if (this.#peers.size >= MAX_PEERS) this.#peers.delete(this.#peers.keys().next().value!);
    this.#peers.set(key, clock);
  }
}

function peerKey(to: PeerTarget): string {
  return `${to.node} ${to.origin}`;
}
