/**
 * Who may read and publish which path, sans-I/O: the RTSP service asks {@linkcode RtspAuthenticator.check} for
 * every request that opens media (DESCRIBE, SETUP, PLAY, ANNOUNCE, RECORD) and answers what it returns.
 *
 * - Client addresses outside `allowFrom` (CIDRs or literal addresses) get 403, before any credential check.
 * - With no users configured, everyone inside `allowFrom` may read and publish (the relay's default).
 * - With users, a request needs an `Authorization` header: Digest (RFC 7616 SHA-256 and RFC 2617 MD5, stateless
 *   nonces that expire, `stale=true` so clients retry silently) and, when enabled, Basic. No or wrong
 *   credentials get 401 with fresh challenges; right credentials without the right for the path get 403.
 * - Passwords are compared in constant time and never logged; unknown users take as long as known ones.
 * - Users' path globs are matched without RegExp ({@link ./path_glob.ts}), on paths the URL rules already capped.
 * @module
 */
import {
  type Challenge,
  checkNonce,
  createNonce,
  formatChallenge,
  verifyAuthorization,
} from "../rtsp/headers/auth.ts";
import type { UserConfig } from "../config/schema.ts";
import { ipv4Number } from "../dataplane/_libc.ts";
import { compileGlob } from "./path_glob.ts";

/** What a request wants to do with a path. */
export type AuthAction = "read" | "publish";

/** Authentication schemes the server offers. */
export type AuthScheme = "digest" | "basic";

/** The outcome of a check. */
export type AuthDecision =
  | { kind: "allow"; user: string | null }
  | { kind: "challenge"; stale: boolean; reason: string }
  | { kind: "forbidden"; reason: string };

/** Options of {@linkcode RtspAuthenticator}. */
export interface RtspAuthOptions {
  users: readonly UserConfig[];
  /** Schemes offered when users exist. @default ["digest"] (Basic sends the password in clear) */
  schemes?: readonly AuthScheme[];
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
}

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
  return (addr) => addr.replace(/^::ffff:(?=\d)/i, "").toLowerCase() === literal;
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

  /** @throws Error for a malformed allow-list entry */
  constructor(options: RtspAuthOptions) {
    this.realm = options.realm ?? "msm-relay";
    this.setUsers(options.users);
    this.#schemes = options.schemes?.length ? options.schemes : ["digest"];
    this.#allow = (options.allowFrom ?? []).map(addressMatcher);
    this.#maxAge = options.nonceMaxAgeMs ?? 5 * 60_000;
    this.#now = options.now ?? Date.now;
    this.#secret = options.nonceSecret ?? crypto.getRandomValues(new Uint8Array(32));
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

  /** True when requests need credentials. */
  get requiresCredentials(): boolean {
    return this.#users.size > 0;
  }

  /**
   * Checks one request.
   * @param method RTSP method (the Digest response covers it)
   * @param path stream path the request is about
   * @param action what the request does with the path
   * @param authorization the request's `Authorization` header, if any
   * @param clientAddress the client's IP address
   */
  check(
    method: string,
    path: string,
    action: AuthAction,
    authorization: string | undefined,
    clientAddress: string,
  ): AuthDecision {
    if (this.#allow.length > 0 && !this.#allow.some((m) => m(clientAddress))) {
      return { kind: "forbidden", reason: `Client address ${clientAddress} is not allowed` };
    }
    if (this.#users.size === 0) return { kind: "allow", user: null };
    if (authorization === undefined) {
      return { kind: "challenge", stale: false, reason: "Authentication required" };
    }
    if (/^\s*basic\b/i.test(authorization) && !this.#schemes.includes("basic")) {
      return { kind: "challenge", stale: false, reason: "Basic authentication is not accepted" };
    }
    const result = verifyAuthorization(
      authorization,
      method,
      (name) => this.#users.get(name)?.password,
      (nonce) => checkNonce(nonce, this.#secret, this.#now(), this.#maxAge),
    );
    if (!result.ok) {
      return {
        kind: "challenge",
        stale: result.stale,
        reason: result.stale ? "Nonce expired" : "Invalid credentials",
      };
    }
    const user = this.#users.get(result.user)!;
    const may = action === "read" ? user.read : user.publish;
    if (!may || !user.paths(path)) {
      return { kind: "forbidden", reason: `User "${result.user}" may not ${action} "${path}"` };
    }
    return { kind: "allow", user: result.user };
  }

  /**
   * `WWW-Authenticate` values for a 401, strongest first: Digest SHA-256, Digest MD5, then Basic when enabled.
   * (ffmpeg answers the last Digest it understands, MD5; RFC 7616 clients take the first, SHA-256.)
   */
  challenges(stale: boolean): string[] {
    const out: string[] = [];
    if (this.#schemes.includes("digest")) {
      const nonce = createNonce(this.#secret, this.#now());
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
