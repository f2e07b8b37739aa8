/**
 * The `Authorization` header: Basic (RFC 7617) and Digest (RFC 2617, RFC 7616) credentials. The client formats
 * them ({@link ../auth/answer.ts}); the server parses them and checks them ({@link ../auth/verify.ts}).
 * @module
 */
import { Buffer } from "node:buffer";
import { RtspProtocolError } from "../errors.ts";
import {
  type DigestAlgorithm,
  parseAlgorithm,
  parseAuthList,
  quotedParam,
  TCHAR,
  tokenParam,
} from "./_auth_params.ts";

/** Credentials of a Basic `Authorization` header. */
export interface BasicCredentials {
  /** Scheme tag. */
  scheme: "Basic";
  /** User name (no colon). */
  user: string;
  /** Password. */
  password: string;
}

/** Credentials of a Digest `Authorization` header. Strings are kept as sent: they enter the hash. */
export interface DigestCredentials {
  /** Scheme tag. */
  scheme: "Digest";
  /** User name. */
  username: string;
  /** Realm of the challenge answered. */
  realm: string;
  /** Nonce of the challenge answered. */
  nonce: string;
  /** Digest URI: the Request-URI as the client wrote it, or its absolute path. */
  uri: string;
  /** Hex digest, lower-case on output. */
  response: string;
  /** Hash algorithm; absent means MD5. */
  algorithm?: DigestAlgorithm;
  /** Chosen quality of protection (`auth`); absent for RFC 2069 digests. */
  qop?: string;
  /** Nonce count, 8 hex digits as sent; present whenever qop is. */
  nc?: string;
  /** Client nonce; present whenever qop is. */
  cnonce?: string;
  /** Opaque string echoed from the challenge. */
  opaque?: string;
}

/** Parsed `Authorization` header. */
export type Credentials = BasicCredentials | DigestCredentials;

const UTF8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Parses an `Authorization` header value, Basic or Digest. Digest strings are kept exactly as sent (they
 * enter the hash); `algorithm` is normalised to upper case.
 * @throws {RtspProtocolError} status 400 on broken syntax, a value that does not start with its scheme (`, Basic
 * ...`), more than one credential, a parameter given twice, an unknown scheme, bad Basic base64, a Digest value
 * lacking username/realm/nonce/uri/response (or nc/cnonce with qop), or an unsupported algorithm
 * @example parseAuthorization("Basic dXNlcjpwYXNz") // { scheme: "Basic", user: "user", password: "pass" }
 */
export function parseAuthorization(value: string): Credentials {
  const fail = (why: string): never => {
    throw new RtspProtocolError(`${why} in Authorization "${value}"`);
  };
  // One credential, scheme first (RFC 7235 §4.2): no list, so no leading comma, no second scheme.
  if (!TCHAR.test(value.charAt(0))) return fail("Credentials that do not start with the scheme");
  const list = parseAuthList(value, "Authorization");
  const raw = list[0];
  if (raw === undefined || list.length !== 1) return fail("Not exactly one credential");
  if (raw.duplicate !== undefined) return fail(`Parameter "${raw.duplicate}" given twice`);
  const scheme = raw.scheme.toLowerCase();
  if (scheme === "basic") {
    const b64 = raw.token68;
    if (b64 === undefined || !/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) return fail("Invalid Basic credentials");
    let decoded: string;
    try {
      decoded = UTF8.decode(Buffer.from(b64, "base64"));
    } catch {
      return fail("Basic credentials that are not UTF-8");
    }
    const colon = decoded.indexOf(":");
    if (colon < 0) return fail("Basic credentials without a colon");
    return { scheme: "Basic", user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  }
  if (scheme !== "digest") return fail(`Unsupported scheme "${raw.scheme}"`);
  const p = raw.params;
  const need = (name: string): string => p.get(name) ?? fail(`Digest parameter "${name}" missing`);
  const creds: DigestCredentials = {
    scheme: "Digest",
    username: need("username"),
    realm: need("realm"),
    nonce: need("nonce"),
    uri: need("uri"),
    response: need("response"),
  };
  const algorithm = parseAlgorithm(p.get("algorithm"));
  if (algorithm === null) fail(`Unsupported algorithm "${p.get("algorithm")}"`);
  if (algorithm) creds.algorithm = algorithm;
  const qop = p.get("qop");
  if (qop !== undefined) {
    creds.qop = qop;
    creds.nc = need("nc");
    creds.cnonce = need("cnonce");
  }
  const opaque = p.get("opaque");
  if (opaque !== undefined) creds.opaque = opaque;
  return creds;
}

/**
 * Formats an `Authorization` header value: `Basic base64(user:password)` (UTF-8), or
 * `Digest username="...", realm="...", nonce="...", uri="...", response="...", algorithm=..., qop=...,
 * nc=..., cnonce="...", opaque="..."`.
 * @throws {RangeError} when a Basic user holds a colon, a value holds a control character, or algorithm,
 * qop or nc is not a token
 * @example formatAuthorization({ scheme: "Basic", user: "user", password: "pass" }) // "Basic dXNlcjpwYXNz"
 */
export function formatAuthorization(c: Credentials): string {
  if (c.scheme === "Basic") {
    if (c.user.includes(":")) throw new RangeError("Basic user name holds a colon");
    return `Basic ${Buffer.from(`${c.user}:${c.password}`, "utf8").toString("base64")}`;
  }
  const params = [
    quotedParam("username", c.username),
    quotedParam("realm", c.realm),
    quotedParam("nonce", c.nonce),
    quotedParam("uri", c.uri),
    quotedParam("response", c.response),
  ];
  if (c.algorithm !== undefined) params.push(tokenParam("algorithm", c.algorithm));
  if (c.qop !== undefined) params.push(tokenParam("qop", c.qop));
  if (c.nc !== undefined) params.push(tokenParam("nc", c.nc));
  if (c.cnonce !== undefined) params.push(quotedParam("cnonce", c.cnonce));
  if (c.opaque !== undefined) params.push(quotedParam("opaque", c.opaque));
  return `Digest ${params.join(", ")}`;
}
