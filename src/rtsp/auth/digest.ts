/**
 * The Digest computation (RFC 2617 §3.2.2, RFC 7616 §3.4.1): the `response` a client sends and a server
 * recomputes, for MD5 and SHA-256, with qop `auth` or in the RFC 2069 form without qop. Pure functions.
 * @module
 */
import { createHash } from "node:crypto";
import type { DigestAlgorithm } from "../headers/www_authenticate.ts";

/** Inputs of {@linkcode digestResponse}. */
export interface DigestResponseParams {
  /** Hash algorithm, MD5 when absent. */
  algorithm?: DigestAlgorithm | undefined;
  /** User name. */
  username: string;
  /** Realm. */
  realm: string;
  /** Clear-text password. */
  password: string;
  /** RTSP method of the request (`DESCRIBE`). */
  method: string;
  /** Digest URI as sent in the credentials. */
  uri: string;
  /** Server nonce. */
  nonce: string;
  /** `auth`, or absent for the RFC 2069 form `H(HA1:nonce:HA2)`. */
  qop?: string | undefined;
  /** Nonce count: a number (written as 8 hex digits) or the string as sent. Required with qop. */
  nc?: number | string | undefined;
  /** Client nonce. Required with qop. */
  cnonce?: string | undefined;
}

function hash(algorithm: DigestAlgorithm, text: string): string {
  return createHash(algorithm === "SHA-256" ? "sha256" : "md5").update(text, "utf8").digest("hex");
}

/**
 * Writes a nonce count as the 8 hex digits of the `nc` parameter.
 * @throws {RangeError} when the count is not an integer from 1 to 2^32 - 1
 * @example formatNonceCount(26) // "0000001a"
 */
export function formatNonceCount(nc: number): string {
  if (!Number.isInteger(nc) || nc < 1 || nc > 0xffffffff) throw new RangeError(`Invalid nonce count ${nc}`);
  return nc.toString(16).padStart(8, "0");
}

/**
 * Computes a Digest `response` (lower-case hex): `H(HA1:nonce:nc:cnonce:qop:HA2)` with qop, or the RFC 2069
 * form `H(HA1:nonce:HA2)` without, where `HA1 = H(username:realm:password)` and `HA2 = H(method:uri)`.
 * @throws {RangeError} when qop is not `auth`, or qop is given without nc and cnonce
 * @example digestResponse({ username: "Mufasa", realm: "testrealm@host.com", password: "Circle Of Life",
 *   method: "GET", uri: "/dir/index.html", nonce: "dcd98b7102dd2f0e8b11d0f600bfb0c093", qop: "auth",
 *   nc: 1, cnonce: "0a4f113b" }) // "6629fae49393a05397450978507c4ef1"
 */
export function digestResponse(params: DigestResponseParams): string {
  const algorithm = params.algorithm ?? "MD5";
  const ha1 = hash(algorithm, `${params.username}:${params.realm}:${params.password}`);
  const ha2 = hash(algorithm, `${params.method}:${params.uri}`);
  if (params.qop === undefined) return hash(algorithm, `${ha1}:${params.nonce}:${ha2}`);
  if (params.qop.toLowerCase() !== "auth") throw new RangeError(`Unsupported qop "${params.qop}"`);
  if (params.nc === undefined || params.cnonce === undefined) throw new RangeError("qop needs nc and cnonce");
  const nc = typeof params.nc === "number" ? formatNonceCount(params.nc) : params.nc;
  return hash(algorithm, `${ha1}:${params.nonce}:${nc}:${params.cnonce}:${params.qop}:${ha2}`);
}
