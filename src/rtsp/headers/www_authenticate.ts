/**
 * The `WWW-Authenticate` header: the challenges of a 401, Basic (RFC 7617) and Digest (RFC 2617, RFC 7616: MD5
 * and SHA-256, qop `auth` or none). The server formats them (the relay's RTSP authenticator); the client
 * parses them and answers one ({@link ../auth/answer.ts}).
 * @module
 */
import { RtspProtocolError } from "../errors.ts";
import {
  type DigestAlgorithm,
  parseAlgorithm,
  parseAuthList,
  quotedParam,
  tokenParam,
} from "./_auth_params.ts";

export type { DigestAlgorithm } from "./_auth_params.ts";

/** One challenge of a `WWW-Authenticate` header. */
export interface Challenge {
  /** Authentication scheme. */
  scheme: "Basic" | "Digest";
  /** Protection space; empty when a Basic challenge names none. */
  realm: string;
  /** Server nonce; present on every parsed Digest challenge. */
  nonce?: string;
  /** Opaque string the client must echo. */
  opaque?: string;
  /** Hash algorithm; absent means MD5. */
  algorithm?: DigestAlgorithm;
  /** Offered quality-of-protection values (`auth`, `auth-int`); absent means RFC 2069 digests. */
  qop?: string[];
  /** True when the previous answer was right but its nonce had expired. */
  stale?: boolean;
}

/**
 * Parses `WWW-Authenticate` header values, one string per header line; a line may also hold several
 * challenges separated by commas. Quoted strings may hold commas and backslash-escaped quotes. Challenges of
 * unknown schemes, and Digest challenges with an unsupported algorithm (`MD5-sess`, `SHA-512-256`), are
 * skipped. Parameter names and the scheme are case-insensitive; a missing comma between parameters is
 * tolerated.
 * @throws {RtspProtocolError} status 400 on broken syntax or a Digest challenge without realm or nonce
 * @example parseChallenges(['Digest realm="cam", nonce="abc", qop="auth"', 'Basic realm="cam"'])
 */
export function parseChallenges(headerValues: readonly string[]): Challenge[] {
  const out: Challenge[] = [];
  for (const value of headerValues) {
    for (const raw of parseAuthList(value, "WWW-Authenticate")) {
      const scheme = raw.scheme.toLowerCase();
      const p = raw.params;
      if (scheme === "basic") {
        out.push({ scheme: "Basic", realm: p.get("realm") ?? "" });
        continue;
      }
      if (scheme !== "digest") continue;
      const realm = p.get("realm");
      const nonce = p.get("nonce");
      if (realm === undefined || nonce === undefined) {
        throw new RtspProtocolError(`Digest challenge without realm or nonce in WWW-Authenticate "${value}"`);
      }
      const algorithm = parseAlgorithm(p.get("algorithm"));
      if (algorithm === null) continue;
      const c: Challenge = { scheme: "Digest", realm, nonce };
      const opaque = p.get("opaque");
      if (opaque !== undefined) c.opaque = opaque;
      if (algorithm !== undefined) c.algorithm = algorithm;
      const qop = p.get("qop");
      if (qop !== undefined) c.qop = qop.split(",").map((q) => q.trim()).filter((q) => q !== "");
      const stale = p.get("stale");
      if (stale !== undefined) c.stale = stale.toLowerCase() === "true";
      out.push(c);
    }
  }
  return out;
}

/**
 * Formats one challenge as a `WWW-Authenticate` header value (one header line per challenge):
 * `Basic realm="..."` or `Digest realm="...", nonce="...", opaque="...", algorithm=..., qop="...", stale=...`.
 * @throws {RangeError} when a value holds a control character or algorithm is not a token
 * @example formatChallenge({ scheme: "Digest", realm: "cam", nonce: "abc", qop: ["auth"] })
 *   // 'Digest realm="cam", nonce="abc", qop="auth"'
 */
export function formatChallenge(c: Challenge): string {
  const params = [quotedParam("realm", c.realm)];
  if (c.scheme === "Digest") {
    if (c.nonce !== undefined) params.push(quotedParam("nonce", c.nonce));
    if (c.opaque !== undefined) params.push(quotedParam("opaque", c.opaque));
    if (c.algorithm !== undefined) params.push(tokenParam("algorithm", c.algorithm));
    if (c.qop !== undefined) params.push(quotedParam("qop", c.qop.join(",")));
    if (c.stale !== undefined) params.push(`stale=${c.stale}`);
  }
  return `${c.scheme} ${params.join(", ")}`;
}
