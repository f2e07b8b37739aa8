/**
 * Short-lived tokens that let a browser page open a stream's viewer WebSocket on a relay with RTSP users (issue
 * 18): the page trades the user's password for a token once (in a POST body, never in a URL), and the WebSocket URL
 * carries only the token. A token names its path and user, lives `ttlMs` (60 s), is signed with a key drawn when
 * the relay starts (HMAC-SHA256), and opens one WebSocket: one copied from a log or a screen is useless.
 * Sans-I/O: the time is passed in.
 * @module
 */
import { Buffer } from "node:buffer";
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";

/** What a token check found: the user, or why not. */
export type TokenCheck = { ok: true; user: string } | { ok: false; reason: string };

/** Issues and checks viewer tokens. */
export class ViewerTokens {
  readonly #key: Uint8Array;
  readonly #ttlMs: number;
  /** Tokens used, until they would have expired anyway. */
  readonly #used = new Map<string, number>();
  readonly #maxUsed: number;

  /**
   * @param ttlMs how long a token opens a WebSocket @default 60 s
   * @param maxUsed used tokens remembered at most (more: the oldest are forgotten, and such a token is refused as
   * expired anyway once its time is up) @default 10,000
   */
  constructor(ttlMs = 60_000, maxUsed = 10_000) {
    this.#key = randomBytes(32);
    this.#ttlMs = ttlMs;
    this.#maxUsed = maxUsed;
  }

  /** How long a token lives, in seconds. */
  get ttlSeconds(): number {
    return Math.round(this.#ttlMs / 1000);
  }

  /** A token for `user` to watch `path`, valid from `nowMs` for the token lifetime. */
  issue(path: string, user: string, nowMs: number): string {
    const expires = Math.floor(nowMs + this.#ttlMs);
    const who = Buffer.from(user, "utf8").toString("base64url");
    return `${expires}.${who}.${this.#mac(path, who, expires)}`;
  }

  /** Checks `token` for `path` at `nowMs`, and uses it up. */
  check(token: string, path: string, nowMs: number): TokenCheck {
    const parts = token.split(".");
    if (parts.length !== 3 || !/^\d{1,15}$/.test(parts[0]!)) return { ok: false, reason: "malformed token" };
    const [exp, who, mac] = parts as [string, string, string];
    const expires = Number(exp);
    const expected = Buffer.from(this.#mac(path, who, expires));
    const given = Buffer.from(mac);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      return { ok: false, reason: "token not issued here for this path" };
    }
    if (nowMs >= expires) return { ok: false, reason: "token expired" };
    this.#prune(nowMs);
    if (this.#used.has(token)) return { ok: false, reason: "token used already" };
    if (this.#used.size >= this.#maxUsed) this.#used.delete(this.#used.keys().next().value!);
    this.#used.set(token, expires);
    return { ok: true, user: Buffer.from(who, "base64url").toString("utf8") };
  }

  #mac(path: string, who: string, expires: number): string {
    return createHmac("sha256", this.#key).update(`${path}\n${who}\n${expires}`).digest("base64url");
  }

  #prune(nowMs: number): void {
    for (const [token, expires] of this.#used) {
      if (expires > nowMs) break; // in order of use, so nearly in order of expiry
      this.#used.delete(token);
    }
  }
}
