/**
 * Bearer-token authorization of the admin API. Tokens are compared in constant time: both sides are hashed with
 * HMAC-SHA256 under a key drawn at startup, and the two digests are compared without an early exit, so neither
 * the position of the first wrong byte nor the length of the configured token shows in the response time. Wrong
 * tokens are limited per client ({@link ./auth_limiter.ts}).
 * @module
 */
import { createHmac, randomBytes } from "node:crypto";
import type { Context, MiddlewareHandler } from "hono";
import { type Clock, monotonicMs } from "../clock.ts";
import { AuthLimiter, clientKey } from "./auth_limiter.ts";
import type { AdminRefusalReason } from "./refusals.ts";

/** Realm named in `WWW-Authenticate` challenges. */
export const AUTH_REALM = "msm-relay";

/**
 * Compares two byte strings in time that depends only on their lengths, never on where they differ.
 * @param a first bytes
 * @param b second bytes
 * @returns true when both hold the same bytes
 * @example constantTimeEqual(new Uint8Array([1, 2]), new Uint8Array([1, 2])) // true
 */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  let diff = a.length ^ b.length;
  const n = Math.max(a.length, b.length);
  for (let i = 0; i < n; i++) diff |= (a[i] ?? 0) ^ (b[i] ?? 0);
  return diff === 0;
}

/** Per-process HMAC key: digests of presented tokens are worthless outside this process. */
const HMAC_KEY = randomBytes(32);

function digest(token: string): Uint8Array {
  return createHmac("sha256", HMAC_KEY).update(token, "utf8").digest();
}

/**
 * Compares a presented token with the configured one in constant time (equal-length HMAC digests, compared
 * with {@linkcode constantTimeEqual}): the time does not depend on the configured token's length or content.
 * @param presented the token a client sent
 * @param expected the configured token
 * @returns true when they are equal
 * @example tokensEqual("s3cret", "s3cret") // true
 */
export function tokensEqual(presented: string, expected: string): boolean {
  return constantTimeEqual(digest(presented), digest(expected));
}

/**
 * The token of an `Authorization: Bearer <token>` header (scheme case-insensitive, RFC 6750 §2.1).
 * @param header the header's value, if any
 * @returns the token, or null when the header is missing or not a bearer credential
 * @example bearerToken("Bearer abc") // "abc"
 */
export function bearerToken(header: string | undefined | null): string | null {
  if (!header) return null;
  // No backtracking pattern on the whole header: a lazy group before trailing spaces is quadratic in its length
  // (64 KB of spaces blocked the event loop for seconds).
  const prefix = /^Bearer +/i.exec(header);
  if (!prefix) return null;
  let end = header.length;
  while (end > prefix[0].length && header.charCodeAt(end - 1) === 0x20) end--;
  return end > prefix[0].length ? header.slice(prefix[0].length, end) : null;
}

/** Options of {@linkcode adminAuth}. */
export interface AdminAuthOptions {
  /** The configured admin token; without one, every mutation is refused with 403. */
  token?: string | undefined;
  /** Whether reads (GET, HEAD, OPTIONS) need the token too. @default false */
  reads?: boolean;
  /** Wrong tokens per client and window. @default a new {@linkcode AuthLimiter} (10 per minute) */
  limiter?: AuthLimiter;
  /** Told about each refused request (counted and logged by the caller). */
  onRefused?: (c: Context, reason: AdminRefusalReason, status: number, detail: string) => void;
  /** Monotonic clock in ms. @default {@linkcode monotonicMs} */
  now?: Clock;
}

const READ_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/**
 * The address of the client of a request served by `Deno.serve` (Hono's `env` is its handler info).
 * @param c the request context
 * @returns the client's IP address, or `unknown` (a request made in-process, as tests do)
 */
export function clientAddress(c: Context): string {
  return (c.env as { remoteAddr?: Deno.NetAddr } | undefined)?.remoteAddr?.hostname ?? "unknown";
}

/**
 * Middleware that guards the routes it is mounted on:
 * - a mutation (any method but GET, HEAD, OPTIONS) needs a valid bearer token; with no token configured it is
 *   refused with 403, since an unauthenticated admin API must not change the relay;
 * - a read needs the token only when `reads` is set;
 * - a missing or wrong token is answered 401 `{error}` with a `WWW-Authenticate: Bearer` challenge;
 * - a client that sent too many wrong tokens ({@linkcode AuthLimiter}) is answered 429 with `Retry-After` until
 *   its window ends, even with the right token: its tries are not looked at meanwhile. A missing token is not a
 *   wrong one (the dashboard asks without one first).
 * @param options the token, whether reads need it, the try limit
 * @returns the Hono middleware
 * @example app.use("/api/v1/*", adminAuth({ token: config.adminToken, reads: config.adminAuthReads }))
 */
export function adminAuth(options: AdminAuthOptions): MiddlewareHandler {
  const { token } = options;
  const reads = options.reads ?? false;
  const limiter = options.limiter ?? new AuthLimiter();
  const now = options.now ?? monotonicMs;
  const refused = options.onRefused ?? (() => {});
  return async function adminAuthMiddleware(c, next) {
    const isRead = READ_METHODS.has(c.req.method);
    if (isRead && !reads) return await next();
    if (token === undefined) {
      // Fail closed: the config loader refuses `reads` without a token, a hand-built app may not.
      const what = isRead ? "Admin reads need a token but" : "Admin changes are disabled:";
      return c.json({ error: `${what} no admin token is configured (--admin-token)` }, 403);
    }
    const client = clientKey(clientAddress(c));
    const waitMs = limiter.blockedFor(client, now());
    if (waitMs > 0) {
      const seconds = Math.max(1, Math.ceil(waitMs / 1000));
      const detail = `Too many wrong admin tokens from this address: try again in ${seconds} s`;
      refused(c, "locked_out", 429, detail);
      c.header("Retry-After", String(seconds));
      return c.json({ error: detail }, 429);
    }
    const presented = bearerToken(c.req.header("Authorization"));
    if (presented === null) {
      const detail = "Missing bearer token: send Authorization: Bearer <admin token>";
      refused(c, "missing_token", 401, detail);
      c.header("WWW-Authenticate", `Bearer realm="${AUTH_REALM}"`);
      return c.json({ error: detail }, 401);
    }
    if (!tokensEqual(presented, token)) {
      const locked = limiter.fail(client, now());
      refused(
        c,
        "bad_token",
        401,
        locked
          ? `Invalid bearer token; ${limiter.maxFailures} wrong tokens: this address is locked out for a while`
          : "Invalid bearer token",
      );
      c.header("WWW-Authenticate", `Bearer realm="${AUTH_REALM}", error="invalid_token"`);
      return c.json({ error: "Invalid bearer token" }, 401);
    }
    return await next();
  };
}
