/**
 * RTSP authentication headers: `WWW-Authenticate` challenges and `Authorization` credentials for the Basic
 * (RFC 7617) and Digest (RFC 2617, RFC 7616: MD5 and SHA-256, qop `auth` or none) schemes, the client's
 * answer to a challenge and the server's check of an answer. Nonces are made and counted by the caller
 * (`../digest_nonce.ts`).
 * @module
 */

import { Buffer } from "node:buffer";
import { createHash, timingSafeEqual } from "node:crypto";
import { RtspProtocolError } from "../errors.ts";
import { requestTarget } from "../url.ts";

/** Authentication schemes, as configured (`--rtsp-auth`, `--pull-auth`). */
export type AuthSchemeName = "digest" | "basic";

/** Digest hash algorithms supported. `-sess` variants and SHA-512-256 are not. */
export type DigestAlgorithm = "MD5" | "SHA-256";

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

/** Outcome of {@linkcode verifyAuthorization}: the user, or why not (for logs and the 401's body). */
export type VerifyResult = { ok: true; user: string } | { ok: false; stale: boolean; reason: string };

/** Outcome of a nonce check. */
export type NonceStatus = "valid" | "stale" | "invalid";

// ---------------------------------------------------------------------------------------------------------
// Tokenizer for `scheme token68` and `scheme name=value, name="quoted", ...` lists (RFC 7235 §2.1).

interface RawAuth {
  scheme: string;
  token68?: string;
  params: Map<string, string>;
  /** A parameter name given twice (the last value is kept). */
  duplicate?: string;
}

const TCHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/;
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** A token68 (RFC 7235 §2.1) standing alone before a comma or the end; sticky, so no slicing is needed. */
const TOKEN68 = /[A-Za-z0-9\-._~+/]+=*(?=[ \t]*(?:,|$))/y;

function parseAuthList(value: string, header: string): RawAuth[] {
  const fail = (why: string): never => {
    throw new RtspProtocolError(`Malformed ${header} "${value}": ${why}`);
  };
  const s = value;
  let pos = 0;
  const peek = (): string | undefined => s[pos];
  const skip = (chars: string): void => {
    while (pos < s.length && chars.includes(s[pos] ?? "")) pos++;
  };
  const token = (): string => {
    const start = pos;
    while (pos < s.length && TCHAR.test(s[pos] ?? "")) pos++;
    return s.slice(start, pos);
  };
  const quoted = (): string => {
    pos++; // opening quote
    let out = "";
    while (pos < s.length) {
      const c = s[pos++];
      if (c === '"') return out;
      if (c === "\\") {
        if (pos >= s.length) break;
        out += s[pos++];
      } else out += c;
    }
    return fail("unterminated quoted string");
  };
  const bare = (): string => {
    const start = pos;
    while (pos < s.length && !", \t".includes(s[pos] ?? "")) pos++;
    return s.slice(start, pos);
  };

  const list: RawAuth[] = [];
  for (;;) {
    skip(", \t");
    if (pos >= s.length) break;
    const scheme = token();
    if (scheme === "") fail(`expected a scheme at "${s.slice(pos)}"`);
    const item: RawAuth = { scheme, params: new Map() };
    list.push(item);
    skip(" \t");
    TOKEN68.lastIndex = pos;
    const t68 = TOKEN68.exec(s);
    if (t68) {
      item.token68 = t68[0];
      pos = TOKEN68.lastIndex;
      continue;
    }
    for (;;) {
      skip(", \t");
      if (pos >= s.length) break;
      const save = pos;
      const name = token();
      if (name === "") fail(`unexpected "${s.slice(pos)}"`);
      skip(" \t");
      if (peek() !== "=") {
        pos = save; // a new challenge starts here
        break;
      }
      pos++;
      skip(" \t");
      const key = name.toLowerCase();
      if (item.params.has(key)) item.duplicate ??= key;
      item.params.set(key, peek() === '"' ? quoted() : bare());
    }
  }
  return list;
}

function parseAlgorithm(raw: string | undefined): DigestAlgorithm | undefined | null {
  if (raw === undefined) return undefined;
  const upper = raw.toUpperCase();
  return upper === "MD5" || upper === "SHA-256" ? upper : null;
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

function quote(name: string, value: string): string {
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if ((code < 0x20 && code !== 0x09) || code === 0x7f) throw new RangeError(`Control character in ${name}`);
  }
  return `${name}="${value.replace(/[\\"]/g, "\\$&")}"`;
}

function bareToken(name: string, value: string): string {
  if (!TOKEN.test(value)) throw new RangeError(`Invalid ${name} "${value}"`);
  return `${name}=${value}`;
}

/**
 * Formats one challenge as a `WWW-Authenticate` header value (one header line per challenge):
 * `Basic realm="..."` or `Digest realm="...", nonce="...", opaque="...", algorithm=..., qop="...", stale=...`.
 * @throws {RangeError} when a value holds a control character or algorithm is not a token
 * @example formatChallenge({ scheme: "Digest", realm: "cam", nonce: "abc", qop: ["auth"] })
 *   // 'Digest realm="cam", nonce="abc", qop="auth"'
 */
export function formatChallenge(c: Challenge): string {
  const params = [quote("realm", c.realm)];
  if (c.scheme === "Digest") {
    if (c.nonce !== undefined) params.push(quote("nonce", c.nonce));
    if (c.opaque !== undefined) params.push(quote("opaque", c.opaque));
    if (c.algorithm !== undefined) params.push(bareToken("algorithm", c.algorithm));
    if (c.qop !== undefined) params.push(quote("qop", c.qop.join(",")));
    if (c.stale !== undefined) params.push(`stale=${c.stale}`);
  }
  return `${c.scheme} ${params.join(", ")}`;
}

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
 */
export function formatAuthorization(c: Credentials): string {
  if (c.scheme === "Basic") {
    if (c.user.includes(":")) throw new RangeError("Basic user name holds a colon");
    return `Basic ${Buffer.from(`${c.user}:${c.password}`, "utf8").toString("base64")}`;
  }
  const params = [
    quote("username", c.username),
    quote("realm", c.realm),
    quote("nonce", c.nonce),
    quote("uri", c.uri),
    quote("response", c.response),
  ];
  if (c.algorithm !== undefined) params.push(bareToken("algorithm", c.algorithm));
  if (c.qop !== undefined) params.push(bareToken("qop", c.qop));
  if (c.nc !== undefined) params.push(bareToken("nc", c.nc));
  if (c.cnonce !== undefined) params.push(quote("cnonce", c.cnonce));
  if (c.opaque !== undefined) params.push(quote("opaque", c.opaque));
  return `Digest ${params.join(", ")}`;
}

function hash(algorithm: DigestAlgorithm, text: string): string {
  return createHash(algorithm === "SHA-256" ? "sha256" : "md5").update(text, "utf8").digest("hex");
}

function formatNc(nc: number): string {
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
  const nc = typeof params.nc === "number" ? formatNc(params.nc) : params.nc;
  return hash(algorithm, `${ha1}:${params.nonce}:${nc}:${params.cnonce}:${params.qop}:${ha2}`);
}

function offersAuth(c: Challenge): boolean {
  return c.qop?.some((q) => q.toLowerCase() === "auth") ?? false;
}

function strength(c: Challenge): number {
  if (c.scheme === "Basic") return 1;
  if (c.nonce === undefined) return 0;
  if (c.qop !== undefined && c.qop.length > 0 && !offersAuth(c)) return 0; // only auth-int offered
  return c.algorithm === "SHA-256" ? 3 : 2;
}

/** No challenge of a 401 could be answered with the schemes allowed. */
export class UnusableChallengesError extends RtspProtocolError {
  /** Schemes of the challenges offered that this client supports at all (e.g. `["Basic"]`), strongest first. */
  readonly offered: ReadonlyArray<Challenge["scheme"]>;
  /**
   * @param offered schemes offered and understood but not allowed
   * @param allowed schemes allowed
   */
  constructor(offered: ReadonlyArray<Challenge["scheme"]>, allowed: readonly AuthSchemeName[]) {
    super(
      offered.length === 0
        ? "No supported authentication challenge was offered"
        : `The server offers only ${offered.join(" and ")} authentication, which is not allowed (allowed: ${
          allowed.join(", ") || "none"
        })`,
    );
    this.name = "UnusableChallengesError";
    this.offered = offered;
  }
}

/**
 * Client side: the strongest usable challenge among those of allowed schemes: Digest SHA-256, then Digest MD5,
 * then Basic; the first of equals.
 * @param schemes the schemes the client may answer; Basic sends the password in clear, so allow it knowingly
 * @throws {UnusableChallengesError} when none is usable
 */
export function chooseChallenge(
  challenges: readonly Challenge[],
  schemes: readonly AuthSchemeName[],
): Challenge {
  let best: Challenge | undefined;
  const refused = new Set<Challenge["scheme"]>();
  for (const c of challenges) {
    if (strength(c) === 0) continue;
    if (!schemes.includes(c.scheme === "Basic" ? "basic" : "digest")) {
      refused.add(c.scheme);
      continue;
    }
    if (strength(c) > (best === undefined ? 0 : strength(best))) best = c;
  }
  if (best === undefined) throw new UnusableChallengesError([...refused].sort(), schemes);
  return best;
}

/**
 * Client side: answers the strongest usable challenge of an allowed scheme ({@linkcode chooseChallenge}) and
 * returns the `Authorization` header value. Digest uses qop `auth` when offered (with `cnonce` and `nc`, written
 * as 8 hex digits), otherwise the RFC 2069 form; `algorithm` and `opaque` are echoed.
 * @param uri the Request-URI of the request being authorised
 * @param nc nonce count: 1 for the first request with this nonce, then 2, 3, ...
 * @param schemes the schemes the client may answer
 * @throws {UnusableChallengesError} when no challenge is usable
 */
export function answerChallenge(
  challenges: readonly Challenge[],
  method: string,
  uri: string,
  user: string,
  password: string,
  cnonce: string,
  nc: number,
  schemes: readonly AuthSchemeName[],
): string {
  const best = chooseChallenge(challenges, schemes);
  if (best.scheme === "Basic" || best.nonce === undefined) {
    return formatAuthorization({ scheme: "Basic", user, password });
  }
  const qop = offersAuth(best) ? "auth" : undefined;
  const creds: DigestCredentials = {
    scheme: "Digest",
    username: user,
    realm: best.realm,
    nonce: best.nonce,
    uri,
    response: digestResponse({
      algorithm: best.algorithm,
      username: user,
      realm: best.realm,
      password,
      method,
      uri,
      nonce: best.nonce,
      qop,
      nc,
      cnonce,
    }),
  };
  if (best.algorithm !== undefined) creds.algorithm = best.algorithm;
  if (qop !== undefined) {
    creds.qop = qop;
    creds.nc = formatNc(nc);
    creds.cnonce = cnonce;
  }
  if (best.opaque !== undefined) creds.opaque = best.opaque;
  return formatAuthorization(creds);
}

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
