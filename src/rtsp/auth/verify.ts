/**
 * The server's side of RTSP authentication: checking an `Authorization` header against a user's password,
 * Basic or Digest, bound to the server's realm, the request's method and URI, a nonce the server issued and,
 * with qop, a nonce count not used before. Sans-I/O: users, nonces and counts are asked of the caller
 * ({@linkcode VerifyOptions}; the nonces themselves are `../digest_nonce.ts`).
 * @module
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { RtspProtocolError } from "../errors.ts";
import { type Credentials, parseAuthorization } from "../headers/authorization.ts";
import { requestTarget } from "../url.ts";
import { digestResponse } from "./digest.ts";
import type { AuthSchemeName } from "./schemes.ts";

/** Outcome of {@linkcode verifyAuthorization}: the user, or why not (for logs and the 401's body). */
export type VerifyResult = { ok: true; user: string } | { ok: false; stale: boolean; reason: string };

/** Outcome of a nonce check. */
export type NonceStatus = "valid" | "stale" | "invalid";

/** Compares two strings in time independent of their content, via equal-length SHA-256 digests. */
function safeEqual(a: string, b: string): boolean {
  const x = createHash("sha256").update(a, "utf8").digest();
  const y = createHash("sha256").update(b, "utf8").digest();
  return timingSafeEqual(x, y);
}

/** Stands in for the password of an unknown user, so that the time taken does not reveal which users exist. */
const DUMMY_PASSWORD = "\u0000unknown-user\u0000";

/** What the server knows when it checks an `Authorization` header ({@linkcode verifyAuthorization}). */
export interface VerifyOptions {
  /** RTSP method of the request: the Digest response covers it. */
  method: string;
  /** Request-URI of the request: the Digest `uri` must name the same path and query. */
  requestUri: string;
  /** The server's realm: Digest answers for another realm fail. */
  realm: string;
  /** Schemes the server accepts: credentials of another scheme fail, however right. */
  schemes: readonly AuthSchemeName[];
  /** Clear-text password of a user, or undefined when there is no such user. */
  lookupPassword: (user: string) => string | undefined;
  /** Judges a Digest nonce: signature, client binding, age. */
  checkNonce: (nonce: string) => NonceStatus;
  /**
   * Records the nonce count of a verified qop=auth answer with a valid nonce.
   * @returns false when the count was used before (a replay) or may have been (a forgotten nonce)
   */
  useNonceCount: (nonce: string, nc: number) => boolean;
}

const NC = /^[0-9a-fA-F]{8}$/;

/**
 * Checks a user's clear-text password (a browser viewer's token request, which carries it in a JSON body), in
 * constant time, unknown users taking as long as known ones.
 * @returns true when `user` exists and `password` is its password
 */
export function verifyPassword(
  user: string,
  password: string,
  lookupPassword: (user: string) => string | undefined,
): boolean {
  const known = lookupPassword(user);
  const match = safeEqual(password, known ?? DUMMY_PASSWORD);
  return match && known !== undefined;
}

/**
 * Server side: checks an `Authorization` header value against the user's password. The scheme is taken from
 * the parsed header, and must be one of `schemes`; a malformed header, or one holding several credentials,
 * fails. A Digest answer (MD5 or SHA-256, qop `auth` or none) must name the server's realm and the request's
 * URI (path and query; scheme, host and port aside, see {@linkcode requestTarget}), and its nonce must pass
 * `checkNonce`; with qop its nonce count must be new to `useNonceCount`. Responses and Basic passwords are
 * compared in constant time, and unknown users take as long as known ones.
 *
 * A stale nonce with an otherwise right answer, and a right answer whose nonce count was used before, fail with
 * `stale: true`: the server re-challenges with `stale=true`, and an honest client retries silently with a fresh
 * nonce, while a replayed header gains nothing. Everything else fails with `stale: false`. The `reason` never
 * repeats the credentials.
 * @example verifyAuthorization(req.headers.get("Authorization"), { method: "DESCRIBE", requestUri, realm, ... })
 */
export function verifyAuthorization(value: string, options: VerifyOptions): VerifyResult {
  const refuse = (reason: string, stale = false): VerifyResult => ({ ok: false, stale, reason });
  let creds: Credentials;
  try {
    creds = parseAuthorization(value);
  } catch (e) {
    if (e instanceof RtspProtocolError) return refuse("Malformed or unsupported Authorization header");
    throw e;
  }
  if (creds.scheme === "Basic") {
    if (!options.schemes.includes("basic")) return refuse("Basic authentication is not accepted");
    const password = options.lookupPassword(creds.user);
    const match = safeEqual(creds.password, password ?? DUMMY_PASSWORD);
    return match && password !== undefined ? { ok: true, user: creds.user } : refuse("Invalid credentials");
  }
  if (!options.schemes.includes("digest")) return refuse("Digest authentication is not accepted");
  if (creds.realm !== options.realm) return refuse("Digest answer for another realm");
  const target = requestTarget(creds.uri);
  if (target === null || target !== requestTarget(options.requestUri)) {
    return refuse("Digest uri does not name the requested resource");
  }
  const nonceStatus = options.checkNonce(creds.nonce);
  if (nonceStatus === "invalid") return refuse("Nonce not issued to this client");
  let nc: number | undefined;
  if (creds.qop !== undefined) {
    if (creds.qop.toLowerCase() !== "auth") return refuse(`Unsupported qop "${creds.qop}"`);
    if (!NC.test(creds.nc ?? "")) return refuse("Invalid nonce count");
    nc = Number.parseInt(creds.nc!, 16);
    if (nc === 0) return refuse("Invalid nonce count");
  }
  const password = options.lookupPassword(creds.username);
  const expected = digestResponse({
    algorithm: creds.algorithm,
    username: creds.username,
    realm: creds.realm,
    password: password ?? DUMMY_PASSWORD,
    method: options.method,
    uri: creds.uri,
    nonce: creds.nonce,
    qop: creds.qop,
    nc: creds.nc,
    cnonce: creds.cnonce,
  });
  const match = safeEqual(creds.response.toLowerCase(), expected);
  if (!match || password === undefined) return refuse("Invalid credentials");
  if (nonceStatus === "stale") return refuse("Nonce expired", true);
  if (nc !== undefined && !options.useNonceCount(creds.nonce, nc)) {
    return refuse("Nonce count used before", true);
  }
  return { ok: true, user: creds.username };
}
