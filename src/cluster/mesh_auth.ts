/**
 * Authentication of the peer protocol (`/mesh/v1` over HTTP) with the cluster key: both ways, so a relay without
 * the key can neither call a relay nor pass itself off as one.
 *
 * A request carries `X-Msm-Mesh-Auth: v1 kid=<hex> ts=<ms> nonce=<hex> sig=<base64url>`, an HMAC-SHA256 under the
 * control key of the method, path, time, nonce and the body's SHA-256. The receiver accepts it within
 * {@linkcode MESH_AUTH_SKEW_MS} of its own clock and once per nonce; a request outside the window is answered 401
 * with the receiver's time in `X-Msm-Mesh-Time`, from which the caller learns the offset and retries, so relays
 * whose clocks differ or jump still talk. The answer carries `X-Msm-Mesh-Auth: v1 kid=<hex> sig=<base64url>`,
 * an HMAC of the request's signature, the status and the body's SHA-256: the caller checks it before trusting a
 * parent, an SDP or a root. Sans-I/O: times and nonces come from the caller.
 * @module
 */
import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import { keysWithId, type MeshKey, type MeshKeyring } from "./mesh_keys.ts";

/** Header of signatures, both ways. */
export const MESH_AUTH_HEADER = "x-msm-mesh-auth";
/** Header of the receiver's clock (ms since the epoch) on a 401 for a stale time. */
export const MESH_TIME_HEADER = "x-msm-mesh-time";
/** Largest difference between the caller's and the receiver's clocks. */
export const MESH_AUTH_SKEW_MS = 60_000;
/** Nonces remembered at most; beyond it requests are refused (503) rather than exposed to replay. */
export const MESH_NONCE_CAPACITY = 200_000;

/** What a request signature covers. */
export interface SignedRequest {
  method: string;
  /** URL path as sent (percent-encoded), without the query. */
  path: string;
  body: Uint8Array;
}

/** A refused request: status, reason label and a sentence for the caller. */
export interface MeshAuthFailure {
  ok: false;
  status: 401 | 503;
  reason: "missing" | "malformed" | "unknown_key" | "bad_signature" | "stale" | "replay" | "busy";
  message: string;
}

/** An accepted request: the signature the answer must cover. */
export interface MeshAuthSuccess {
  ok: true;
  signature: string;
}

/** Signs a request at `now` with a random `nonce`: the header value. */
export function signRequest(ring: MeshKeyring, req: SignedRequest, now: number, nonce: string): string {
  const key = ring.keys[0]!;
  const ts = Math.round(now);
  return `v1 kid=${hex2(key.id)} ts=${ts} nonce=${nonce} sig=${requestMac(key, req, ts, nonce)}`;
}

/** Remembers nonces until they could no longer pass the time check. */
export class NonceCache {
  readonly #until = new Map<string, number>();
  readonly #capacity: number;

  constructor(capacity = MESH_NONCE_CAPACITY) {
    this.#capacity = capacity;
  }

  /** Records `nonce` until `expires`; false when it was seen, or when the cache is full of live nonces. */
  add(nonce: string, expires: number, now: number): boolean | "full" {
    if (this.#until.has(nonce)) return false;
    if (this.#until.size >= this.#capacity) {
      for (const [n, until] of this.#until) if (until <= now) this.#until.delete(n);
      if (this.#until.size >= this.#capacity) return "full";
    }
    this.#until.set(nonce, expires);
    return true;
  }

  /** Forgets expired nonces. */
  sweep(now: number): void {
    for (const [n, until] of this.#until) if (until <= now) this.#until.delete(n);
  }

  get size(): number {
    return this.#until.size;
  }
}

/** Checks a request's header against the keys, the clock and the nonces seen. */
export function verifyRequest(
  ring: MeshKeyring,
  header: string | null,
  req: SignedRequest,
  now: number,
  nonces: NonceCache,
): MeshAuthSuccess | MeshAuthFailure {
  if (!header) {
    return fail(401, "missing", `${MESH_AUTH_HEADER} is missing: this relay requires the mesh key`);
  }
  const f = parseFields(header);
  const ts = Number(f.get("ts"));
  const nonce = f.get("nonce") ?? "";
  const sig = f.get("sig") ?? "";
  const kid = parseInt(f.get("kid") ?? "", 16);
  if (
    f.get("v") !== "v1" || !Number.isSafeInteger(ts) || !/^[0-9a-f]{16,64}$/.test(nonce) ||
    !/^[A-Za-z0-9_-]{43}$/.test(sig) || !(kid >= 0 && kid <= 255)
  ) {
    return fail(401, "malformed", `${MESH_AUTH_HEADER} is malformed`);
  }
  const keys = keysWithId(ring, kid);
  if (keys.length === 0) return fail(401, "unknown_key", "signed with a mesh key this relay does not hold");
  if (!keys.some((k) => same(requestMac(k, req, ts, nonce), sig))) {
    return fail(401, "bad_signature", "the mesh signature does not verify");
  }
  if (Math.abs(now - ts) > MESH_AUTH_SKEW_MS) {
    return fail(401, "stale", `request time is ${Math.round((ts - now) / 1000)} s off this relay's clock`);
  }
  const added = nonces.add(nonce, ts + MESH_AUTH_SKEW_MS + 1, now);
  if (added === "full") return fail(503, "busy", "too many peer requests in flight; retry");
  if (!added) return fail(401, "replay", "this request was seen before");
  return { ok: true, signature: sig };
}

/** Signs an answer to the request whose signature was `requestSignature`. */
export function signResponse(
  ring: MeshKeyring,
  requestSignature: string,
  status: number,
  body: Uint8Array,
): string {
  const key = ring.keys[0]!;
  return `v1 kid=${hex2(key.id)} sig=${responseMac(key, requestSignature, status, body)}`;
}

/** True when an answer's header proves it comes from a holder of a mesh key. */
export function verifyResponse(
  ring: MeshKeyring,
  header: string | null,
  requestSignature: string,
  status: number,
  body: Uint8Array,
): boolean {
  if (!header) return false;
  const f = parseFields(header);
  const kid = parseInt(f.get("kid") ?? "", 16);
  const sig = f.get("sig") ?? "";
  if (f.get("v") !== "v1" || !(kid >= 0 && kid <= 255) || sig.length !== 43) return false;
  return keysWithId(ring, kid).some((k) => same(responseMac(k, requestSignature, status, body), sig));
}

/** The signature part of a request header (what the answer is bound to). */
export function requestSignatureOf(header: string): string {
  return parseFields(header).get("sig") ?? "";
}

function requestMac(key: MeshKey, req: SignedRequest, ts: number, nonce: string): string {
  return createHmac("sha256", key.control)
    .update(
      `msm-mesh-request v1\n${req.method.toUpperCase()}\n${req.path}\n${ts}\n${nonce}\n${sha256(req.body)}`,
    )
    .digest("base64url");
}

function responseMac(key: MeshKey, requestSignature: string, status: number, body: Uint8Array): string {
  return createHmac("sha256", key.control)
    .update(`msm-mesh-response v1\n${requestSignature}\n${status}\n${sha256(body)}`)
    .digest("base64url");
}

function sha256(body: Uint8Array): string {
  return createHash("sha256").update(body).digest("hex");
}

function parseFields(header: string): Map<string, string> {
  const [version, ...rest] = header.trim().split(/\s+/);
  const fields = new Map<string, string>([["v", version ?? ""]]);
  for (const part of rest) {
    const eq = part.indexOf("=");
    if (eq > 0) fields.set(part.slice(0, eq), part.slice(eq + 1));
  }
  return fields;
}

function same(a: string, b: string): boolean {
  const x = new TextEncoder().encode(a);
  const y = new TextEncoder().encode(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function hex2(n: number): string {
  return n.toString(16).padStart(2, "0");
}

function fail(status: 401 | 503, reason: MeshAuthFailure["reason"], message: string): MeshAuthFailure {
  return { ok: false, status, reason, message };
}
