/**
 * Authentication of the peer protocol (`/mesh/v1` over HTTP) with the cluster key: both ways, so a relay without
 * the key can neither call a relay nor pass itself off as one.
 *
 * A request carries `X-Msm-Mesh-Auth: v2 kid=<hex> ts=<ms> nonce=<hex> node=<name> inc=<hex|-> sig=<base64url>`,
 * an HMAC-SHA256 under the control key of the method, path, time, nonce, the body's SHA-256 and the relay it is
 * for: its node name and the incarnation of its process (mesh_incarnation.ts). The receiver accepts it only when
 * both are its own, within {@linkcode MESH_AUTH_SKEW_MS} of its clock and once per nonce, so a signed request
 * captured on its way to one relay is refused by every other relay and by the same relay after a restart (whose
 * nonce cache is empty but whose incarnation is new).
 *
 * A caller learns a receiver's clock and incarnation from the receiver itself: a request signed at a time outside
 * the window, or for another incarnation (`inc=-` on a first call), is answered 401 with the receiver's time in
 * `X-Msm-Mesh-Time`, and the caller retries once on that clock and for that incarnation. Every signed answer
 * carries `X-Msm-Mesh-Incarnation` and `X-Msm-Mesh-Auth: v2 kid=<hex> sig=<base64url>`, an HMAC of the request's
 * signature, the status, both headers (empty when absent) and the body's SHA-256: the caller checks it before it
 * trusts a parent, an SDP, a root, a clock or an incarnation. Sans-I/O: times and nonces come from the caller.
 * @module
 */
import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import { INCARNATION_PATTERN } from "./mesh_incarnation.ts";
import { keysWithId, type MeshKey, type MeshKeyring } from "./mesh_keys.ts";

/** Header of signatures, both ways. */
export const MESH_AUTH_HEADER = "x-msm-mesh-auth";
/** Header of the receiver's clock (ms since the epoch) on a 401 that asks the caller to sign again. */
export const MESH_TIME_HEADER = "x-msm-mesh-time";
/** Header of the receiver's incarnation on every signed answer. */
export const MESH_INCARNATION_HEADER = "x-msm-mesh-incarnation";
/** Largest difference between the caller's and the receiver's clocks. */
export const MESH_AUTH_SKEW_MS = 60_000;
/** Nonces remembered at most; beyond it requests are refused (503) rather than exposed to replay. */
export const MESH_NONCE_CAPACITY = 200_000;

/** Version label of signatures (the peer protocol of this release). */
const VERSION = "v2";
/** What a request names when it does not know the receiver's incarnation yet. */
const UNKNOWN_INCARNATION = "-";

/** What a request signature covers. */
export interface SignedRequest {
  method: string;
  /** URL path as sent (percent-encoded), without the query. */
  path: string;
  body: Uint8Array;
}

/** The relay process a request is for (the caller's view) or that receives it (its own). */
export interface MeshTarget {
  /** Node name. */
  node: string;
  /** Incarnation (16 hex characters); null when the caller does not know it yet. */
  incarnation: string | null;
}

/** Headers of an answer that its signature covers besides the body ("" when absent). */
export interface SignedAnswerHeaders {
  /** `X-Msm-Mesh-Time`. */
  time: string;
  /** `X-Msm-Mesh-Incarnation`. */
  incarnation: string;
}

/** Why a request was refused (the `reason` label of `msm_mesh_requests_rejected_total`). */
export type MeshAuthReason =
  | "missing"
  | "malformed"
  /** Signed with the peer protocol of an older release. */
  | "version"
  | "unknown_key"
  | "bad_signature"
  /** Signed for another relay. */
  | "wrong_node"
  | "stale"
  /** Signed for another run of this relay, or for none yet (a first call): the caller learns it and retries. */
  | "incarnation"
  | "replay"
  | "busy";

/** A refused request: status, reason label and a sentence for the caller. */
export interface MeshAuthFailure {
  ok: false;
  status: 401 | 503;
  reason: MeshAuthReason;
  message: string;
  /** The signature verified (the caller holds a key): the answer is signed. */
  signed: boolean;
  /** The answer tells the caller this relay's time and incarnation so that it can sign again. */
  hints: boolean;
}

/** An accepted request: the signature the answer must cover. */
export interface MeshAuthSuccess {
  ok: true;
  signature: string;
}

/**
 * Signs a request at `now` with a random `nonce` for the relay `to`: the header value.
 * @example signRequest(ring, { method: "POST", path: "/mesh/v1/join", body }, { node: "node-b", incarnation: null }, Date.now(), nonce)
 */
export function signRequest(
  ring: MeshKeyring,
  req: SignedRequest,
  to: MeshTarget,
  now: number,
  nonce: string,
): string {
  const key = ring.keys[0]!;
  const ts = Math.round(now);
  const inc = to.incarnation ?? UNKNOWN_INCARNATION;
  return `${VERSION} kid=${hex2(key.id)} ts=${ts} nonce=${nonce} node=${
    encodeURIComponent(to.node)
  } inc=${inc} ` +
    `sig=${requestMac(key, req, ts, nonce, to.node, inc)}`;
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

/**
 * Checks a request's header against the keys, this relay (`self`), the clock and the nonces seen.
 * @param self this relay's node name and incarnation
 */
export function verifyRequest(
  ring: MeshKeyring,
  header: string | null,
  req: SignedRequest,
  self: { node: string; incarnation: string },
  now: number,
  nonces: NonceCache,
): MeshAuthSuccess | MeshAuthFailure {
  if (!header) {
    return fail(401, "missing", `${MESH_AUTH_HEADER} is missing: this relay requires the mesh key`);
  }
  const f = parseFields(header);
  if (f.get("v") === "v1") {
    return fail(
      401,
      "version",
      "signed with the peer protocol of an older release (v1); this relay speaks v2",
    );
  }
  const ts = Number(f.get("ts"));
  const nonce = f.get("nonce") ?? "";
  const sig = f.get("sig") ?? "";
  const kid = parseInt(f.get("kid") ?? "", 16);
  const node = decodeNode(f.get("node"));
  const inc = f.get("inc") ?? "";
  if (
    f.get("v") !== VERSION || !Number.isSafeInteger(ts) || !/^[0-9a-f]{16,64}$/.test(nonce) ||
    !/^[A-Za-z0-9_-]{43}$/.test(sig) || !(kid >= 0 && kid <= 255) || node === null ||
    !(inc === UNKNOWN_INCARNATION || INCARNATION_PATTERN.test(inc))
  ) {
    return fail(401, "malformed", `${MESH_AUTH_HEADER} is malformed`);
  }
  const keys = keysWithId(ring, kid);
  if (keys.length === 0) return fail(401, "unknown_key", "signed with a mesh key this relay does not hold");
  if (!keys.some((k) => same(requestMac(k, req, ts, nonce, node, inc), sig))) {
    return fail(401, "bad_signature", "the mesh signature does not verify");
  }
  // From here on the caller holds a key: the answer is signed.
  if (node !== self.node) {
    return fail(401, "wrong_node", `the request is signed for relay "${node}"; this is "${self.node}"`, true);
  }
  if (Math.abs(now - ts) > MESH_AUTH_SKEW_MS) {
    const off = Math.round((ts - now) / 1000);
    return fail(401, "stale", `request time is ${off} s off this relay's clock`, true, true);
  }
  if (inc !== self.incarnation) {
    const message = inc === UNKNOWN_INCARNATION
      ? "a first call: sign for this relay's incarnation"
      : "the request is signed for another run of this relay";
    return fail(401, "incarnation", message, true, true);
  }
  const added = nonces.add(nonce, ts + MESH_AUTH_SKEW_MS + 1, now);
  if (added === "full") return fail(503, "busy", "too many peer requests in flight; retry", true);
  if (!added) return fail(401, "replay", "this request was seen before", true);
  return { ok: true, signature: sig };
}

/** Signs an answer to the request whose signature was `requestSignature`. */
export function signResponse(
  ring: MeshKeyring,
  requestSignature: string,
  status: number,
  body: Uint8Array,
  headers: SignedAnswerHeaders,
): string {
  const key = ring.keys[0]!;
  return `${VERSION} kid=${hex2(key.id)} sig=${responseMac(key, requestSignature, status, body, headers)}`;
}

/** True when an answer's header proves it comes from a holder of a mesh key, with this status, body and headers. */
export function verifyResponse(
  ring: MeshKeyring,
  header: string | null,
  requestSignature: string,
  status: number,
  body: Uint8Array,
  headers: SignedAnswerHeaders,
): boolean {
  if (!header) return false;
  const f = parseFields(header);
  const kid = parseInt(f.get("kid") ?? "", 16);
  const sig = f.get("sig") ?? "";
  if (f.get("v") !== VERSION || !(kid >= 0 && kid <= 255) || sig.length !== 43) return false;
  return keysWithId(ring, kid).some((k) =>
    same(responseMac(k, requestSignature, status, body, headers), sig)
  );
}

/** The signature part of a request header (what the answer is bound to). */
export function requestSignatureOf(header: string): string {
  return parseFields(header).get("sig") ?? "";
}

function requestMac(
  key: MeshKey,
  req: SignedRequest,
  ts: number,
  nonce: string,
  node: string,
  incarnation: string,
): string {
  return createHmac("sha256", key.control)
    .update(
      `msm-mesh-request ${VERSION}\n${req.method.toUpperCase()}\n${req.path}\n${ts}\n${nonce}\n` +
        `${encodeURIComponent(node)}\n${incarnation}\n${sha256(req.body)}`,
    )
    .digest("base64url");
}

function responseMac(
  key: MeshKey,
  requestSignature: string,
  status: number,
  body: Uint8Array,
  headers: SignedAnswerHeaders,
): string {
  return createHmac("sha256", key.control)
    .update(
      `msm-mesh-response ${VERSION}\n${requestSignature}\n${status}\n${encodeURIComponent(headers.time)}\n` +
        `${encodeURIComponent(headers.incarnation)}\n${sha256(body)}`,
    )
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

function decodeNode(field: string | undefined): string | null {
  if (!field) return null;
  try {
    const node = decodeURIComponent(field);
    return node.length > 0 && node.length <= 253 ? node : null;
  } catch {
    return null;
  }
}

function same(a: string, b: string): boolean {
  const x = new TextEncoder().encode(a);
  const y = new TextEncoder().encode(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function hex2(n: number): string {
  return n.toString(16).padStart(2, "0");
}

function fail(
  status: 401 | 503,
  reason: MeshAuthReason,
  message: string,
  signed = false,
  hints = false,
): MeshAuthFailure {
  return { ok: false, status, reason, message, signed, hints };
}
