/**
 * Who may read and publish which path, sans-I/O: the RTSP service asks {@linkcode RtspAuthenticator.check} for
 * every request that opens media (DESCRIBE, SETUP, PLAY, ANNOUNCE, RECORD) and answers what it returns.
 *
 * - Client addresses outside `allowFrom` (CIDRs or literal addresses) get 403, before any credential check.
 * - With no users configured, everyone inside `allowFrom` may read and publish (the relay's default).
 * - With users, a request needs one `Authorization` header of an offered scheme: Digest (RFC 7616 SHA-256 and
 *   RFC 2617 MD5) and, when enabled, Basic. A Digest answer must name this realm and the request's URI; its
 *   nonce must have been given to the same client address and not be older than 5 minutes; with qop=auth each
 *   nonce count is accepted once. No, malformed or wrong credentials get 401 with fresh challenges (`stale=true`
 *   for an expired nonce or a reused count, so clients retry silently); right credentials without the right for
 *   the path get 403.
 * - Passwords are compared in constant time and never logged; unknown users take as long as known ones.
 * - Users' path globs are matched without RegExp ({@link ./path_glob.ts}), on paths the URL rules already capped.
 * @module
 */
import {
  type AuthSchemeName,
  type Challenge,
  formatChallenge,
  verifyAuthorization,
  verifyPassword,
} from "../rtsp/auth/mod.ts";
import {
  checkNonce,
  createNonce,
  NONCE_COUNTS_MAX_ENTRIES,
  NonceCounts,
  nonceTime,
} from "../rtsp/digest_nonce.ts";
import type { UserConfig } from "../config/values.ts";
import { ipv4Number, plainAddress } from "../address.ts";
import { compileGlob } from "./path_glob.ts";

/** What a request wants to do with a path. */
export type AuthAction = "read" | "publish";

/** Authentication schemes the server offers. */
export type AuthScheme = AuthSchemeName;

/** The outcome of a check. */
export type AuthDecision =
  | { kind: "allow"; user: string | null }
  | { kind: "challenge"; stale: boolean; reason: string }
  | { kind: "forbidden"; reason: string };

/** Options of {@linkcode RtspAuthenticator}. */
export interface RtspAuthOptions {
  users: readonly UserConfig[];
  /** Schemes offered when users exist, at least one (`--rtsp-auth`; Basic sends the password in clear). */
  schemes: readonly AuthScheme[];
  /** Client addresses allowed at all: IPv4 CIDRs (`10.0.0.0/8`) or literal addresses; empty: everyone. */
  allowFrom?: readonly string[];
  /** Realm of the challenges. @default "msm-relay" */
  realm?: string;
  /** Digest nonce lifetime. @default 5 minutes */
  nonceMaxAgeMs?: number;
  /** Clock in milliseconds since the epoch. @default Date.now */
  now?: () => number;
  /** Nonce signing key (≥ 16 bytes). @default random per process */
  nonceSecret?: Uint8Array;
  /** Nonces whose counts are remembered at once. @default {@linkcode NONCE_COUNTS_MAX_ENTRIES} */
  maxNonceCounts?: number;
  /** Random bytes for nonces. @default crypto.getRandomValues */
  random?: (bytes: Uint8Array) => Uint8Array;
}

/**
 * A client address as nonces are bound to it and allow-lists compare it: lower case, and an IPv4-mapped IPv6
 * address (`::ffff:10.0.0.7`) as its IPv4 form.
 */
export const normaliseAddress: (addr: string) => string = plainAddress;

/**
 * Compiles an allow-list entry: an IPv4 CIDR, an IPv4 address, or any other literal address (IPv6), compared
 * as written after lower-casing (an IPv4-mapped IPv6 client `::ffff:a.b.c.d` is compared as `a.b.c.d`).
 * @throws Error for a malformed CIDR
 */
export function addressMatcher(entry: string): (addr: string) => boolean {
  const cidr = entry.match(/^([\d.]+)\/(\d{1,2})$/);
  if (cidr) {
    const base = ipv4Number(cidr[1]!);
    const bits = Number(cidr[2]);
    if (base === null || bits > 32) throw new Error(`Invalid CIDR "${entry}"`);
    const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
    return (addr) => {
      const a = ipv4Number(addr.replace(/^::ffff:/i, ""));
      return a !== null && ((a & mask) >>> 0) === ((base & mask) >>> 0);
    };
  }
  const literal = entry.toLowerCase();
  return (addr) => normaliseAddress(addr) === literal;
}

interface CompiledUser {
  password: string;
  read: boolean;
  publish: boolean;
  paths: (path: string) => boolean;
}

/** Decides who may read and publish which path. */
export class RtspAuthenticator {
  readonly realm: string;
  readonly #users = new Map<string, CompiledUser>();
  readonly #schemes: readonly AuthScheme[];
  readonly #allow: Array<(addr: string) => boolean>;
  readonly #maxAge: number;
  readonly #now: () => number;
  readonly #secret: Uint8Array;
  readonly #random: (bytes: Uint8Array) => Uint8Array;
  readonly #counts: NonceCounts;

  /** @throws Error for a malformed allow-list entry; RangeError for an empty list of schemes */
  constructor(options: RtspAuthOptions) {
    this.realm = options.realm ?? "msm-relay";
    this.setUsers(options.users);
    if (options.schemes.length === 0) throw new RangeError("RtspAuthenticator needs at least one scheme");
    this.#schemes = options.schemes;
    this.#allow = (options.allowFrom ?? []).map(addressMatcher);
    this.#maxAge = options.nonceMaxAgeMs ?? 5 * 60_000;
    this.#now = options.now ?? Date.now;
    this.#secret = options.nonceSecret ?? crypto.getRandomValues(new Uint8Array(32));
    this.#random = options.random ?? ((b) => crypto.getRandomValues(b));
    this.#counts = new NonceCounts({
      maxEntries: options.maxNonceCounts ?? NONCE_COUNTS_MAX_ENTRIES,
      maxAgeMs: this.#maxAge,
    });
  }

  /**
   * Replaces the users (a followed users file changed): requests from now on are checked against them; sessions
   * already set up keep going.
   */
  setUsers(users: RtspAuthOptions["users"]): void {
    this.#users.clear();
    for (const u of users) {
      this.#users.set(u.name, {
        password: u.password,
        read: u.rights !== "publish",
        publish: u.rights !== "read",
        paths: compileGlob(u.paths),
      });
    }
  }

  /** True when `--rtsp-allow` lets `clientAddress` use the RTSP server at all (any method). */
  allows(clientAddress: string): boolean {
    return this.#allow.length === 0 || this.#allow.some((m) => m(clientAddress));
  }

  /** True when requests need credentials. */
  get requiresCredentials(): boolean {
    return this.#users.size > 0;
  }

  /**
   * Checks one request.
   * @param method RTSP method (the Digest response covers it)
   * @param path stream path the request is about
   * @param action what the request does with the path
   * @param authorization the request's `Authorization` header values (several are refused), if any
   * @param clientAddress the client's IP address (Digest nonces are bound to it)
   * @param requestUri the request's Request-URI (a Digest answer must name it)
   */
  check(
    method: string,
    path: string,
    action: AuthAction,
    authorization: string | readonly string[] | undefined,
    clientAddress: string,
    requestUri: string,
  ): AuthDecision {
    if (this.#allow.length > 0 && !this.#allow.some((m) => m(clientAddress))) {
      return { kind: "forbidden", reason: `Client address ${clientAddress} is not allowed` };
    }
    if (this.#users.size === 0) return { kind: "allow", user: null };
    const values = authorization === undefined
      ? []
      : typeof authorization === "string"
      ? [authorization]
      : authorization;
    if (values.length === 0) return { kind: "challenge", stale: false, reason: "Authentication required" };
    if (values.length > 1) {
      return { kind: "challenge", stale: false, reason: "Several Authorization headers" };
    }
    const binding = normaliseAddress(clientAddress);
    const result = verifyAuthorization(values[0]!, {
      method,
      requestUri,
      realm: this.realm,
      schemes: this.#schemes,
      lookupPassword: (name) => this.#users.get(name)?.password,
      checkNonce: (nonce) => checkNonce(nonce, this.#secret, this.#now(), this.#maxAge, binding),
      useNonceCount: (nonce, nc) => this.#counts.use(nonce, nonceTime(nonce), nc, this.#now()) === "fresh",
    });
    if (!result.ok) return { kind: "challenge", stale: result.stale, reason: result.reason };
    const user = this.#users.get(result.user)!;
    const may = action === "read" ? user.read : user.publish;
    if (!may || !user.paths(path)) {
      return { kind: "forbidden", reason: `User "${result.user}" may not ${action} "${path}"` };
    }
    return { kind: "allow", user: result.user };
  }

  /**
   * Checks a user's password and right on `path` directly (a browser viewer asking for a token: the password
   * comes in a JSON body over the admin port, not in an RTSP header), from `clientAddress`.
   */
  checkPassword(
    user: string,
    password: string,
    path: string,
    action: AuthAction,
    clientAddress: string,
  ): AuthDecision {
    if (this.#allow.length > 0 && !this.#allow.some((m) => m(clientAddress))) {
      return { kind: "forbidden", reason: `Client address ${clientAddress} is not allowed` };
    }
    if (this.#users.size === 0) return { kind: "allow", user: null };
    if (!verifyPassword(user, password, (name) => this.#users.get(name)?.password)) {
      return { kind: "challenge", stale: false, reason: "Wrong user or password" };
    }
    const known = this.#users.get(user)!;
    const may = action === "read" ? known.read : known.publish;
    if (!may || !known.paths(path)) {
      return { kind: "forbidden", reason: `User "${user}" may not ${action} "${path}"` };
    }
    return { kind: "allow", user };
  }

  /**
   * `WWW-Authenticate` values for a 401, strongest first: Digest SHA-256, Digest MD5, then Basic when enabled.
   * (ffmpeg answers the last Digest it understands, MD5; RFC 7616 clients take the first, SHA-256.) Both share
   * one fresh nonce, bound to the client's address.
   * @param stale true when answering an expired nonce or a reused nonce count
   * @param clientAddress the address of the client that gets the challenge
   */
  challenges(stale: boolean, clientAddress: string): string[] {
    const out: string[] = [];
    if (this.#schemes.includes("digest")) {
      const salt = this.#random(new Uint8Array(8));
      const nonce = createNonce(this.#secret, this.#now(), normaliseAddress(clientAddress), salt);
      for (const algorithm of ["SHA-256", "MD5"] as const) {
        const c: Challenge = {
          scheme: "Digest",
          realm: this.realm,
          nonce,
          algorithm,
          qop: ["auth"],
          ...(stale ? { stale: true } : {}),
        };
        out.push(formatChallenge(c));
      }
    }
    if (this.#schemes.includes("basic")) out.push(formatChallenge({ scheme: "Basic", realm: this.realm }));
    return out;
  }
}
