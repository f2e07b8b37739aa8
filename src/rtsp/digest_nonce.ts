/**
 * Server-side Digest nonces (RFC 7616 §3.3, §5.4, §5.5): stateless nonces signed with HMAC-SHA256 that carry
 * their creation time and are bound to the client's address, and a bounded table of the nonce counts (`nc`)
 * already used with each nonce, so that a captured `Authorization` header is not accepted twice. Sans-I/O: time
 * and randomness are passed in.
 *
 * Why both: RFC 2069 clients (GStreamer's rtspsrc, live555 and so VLC) answer without qop and so without `nc`;
 * their answers can only be limited to the address the nonce was given to and to its lifetime. Clients that use
 * qop=auth (ffmpeg, RFC 7616 clients) count their requests, and a count is accepted once.
 * @module
 */
import { Buffer } from "node:buffer";
import { createHmac, timingSafeEqual } from "node:crypto";
import type { NonceStatus } from "./auth/verify.ts";

/** Nonce counts accepted out of order below the highest seen (pipelined requests may arrive reordered). */
export const NONCE_COUNT_WINDOW = 32;
/** Default bound of {@linkcode NonceCounts}: nonces whose counts are remembered at once. */
export const NONCE_COUNTS_MAX_ENTRIES = 4096;

const STAMP_HEX = 12;
const SALT_HEX = 16;
const NONCE = /^[0-9a-f]{92}$/;
const NONCE_LABEL = "msm-relay rtsp nonce v2:";

function nonceMac(secret: Uint8Array, stampAndSalt: string, binding: string): Buffer {
  if (secret.length < 16) throw new RangeError("Nonce secret must be at least 16 bytes");
  return createHmac("sha256", secret).update(`${NONCE_LABEL}${stampAndSalt}|${binding}`, "utf8").digest();
}

/**
 * Creates a Digest nonce: the creation time (12 hex digits of milliseconds), 8 random bytes (16 hex digits), and
 * their HMAC-SHA256 under `secret` together with `binding` (64 hex digits). Only the same `binding` validates it.
 * @param secret at least 16 random bytes, kept by the server
 * @param nowMs current time in milliseconds since the epoch
 * @param binding what the nonce is bound to: the client's normalised IP address
 * @param salt 8 random bytes, so that two challenges never share a nonce (nor its counts)
 * @throws {RangeError} for a short secret, a salt of another length, or nowMs not a non-negative integer
 * @example createNonce(secret, Date.now(), "10.0.0.7", crypto.getRandomValues(new Uint8Array(8)))
 */
export function createNonce(secret: Uint8Array, nowMs: number, binding: string, salt: Uint8Array): string {
  if (!Number.isSafeInteger(nowMs) || nowMs < 0 || nowMs >= 2 ** 48) {
    throw new RangeError(`Invalid nonce time ${nowMs}`);
  }
  if (salt.length !== SALT_HEX / 2) throw new RangeError(`Nonce salt must be ${SALT_HEX / 2} bytes`);
  const head = nowMs.toString(16).padStart(STAMP_HEX, "0") + Buffer.from(salt).toString("hex");
  return head + nonceMac(secret, head, binding).toString("hex");
}

/**
 * The creation time of a nonce made by {@linkcode createNonce}, in milliseconds; NaN when malformed. Not
 * authenticated: call {@linkcode checkNonce} first.
 */
export function nonceTime(nonce: string): number {
  return NONCE.test(nonce) ? Number.parseInt(nonce.slice(0, STAMP_HEX), 16) : NaN;
}

/**
 * Checks a nonce made by {@linkcode createNonce}: `invalid` when it is malformed, not signed with `secret` or
 * made for another `binding` (another client address); `stale` when older than `maxAgeMs` (or more than that in
 * the future, as after a clock step); `valid` otherwise. The signature is compared in constant time.
 * @throws {RangeError} when the secret is shorter than 16 bytes
 */
export function checkNonce(
  nonce: string,
  secret: Uint8Array,
  nowMs: number,
  maxAgeMs: number,
  binding: string,
): NonceStatus {
  if (!NONCE.test(nonce)) {
    nonceMac(secret, "", binding); // same secret checks, whatever the input
    return "invalid";
  }
  const head = nonce.slice(0, STAMP_HEX + SALT_HEX);
  const mac = Buffer.from(nonce.slice(STAMP_HEX + SALT_HEX), "hex");
  if (!timingSafeEqual(mac, nonceMac(secret, head, binding))) return "invalid";
  return Math.abs(nowMs - nonceTime(nonce)) <= maxAgeMs ? "valid" : "stale";
}

/** Outcome of {@linkcode NonceCounts.use}. */
export type NonceCountUse = "fresh" | "replay" | "forgotten";

interface Counts {
  /** Creation time of the nonce (ms). */
  issuedMs: number;
  /** Highest count accepted. */
  highest: number;
  /** Bit i set: count `highest - 1 - i` was accepted. */
  below: number;
}

/** Options of {@linkcode NonceCounts}. */
export interface NonceCountsOptions {
  /** Nonces remembered at once. @default {@linkcode NONCE_COUNTS_MAX_ENTRIES} */
  maxEntries?: number;
  /** Nonce lifetime: older entries are dropped first (their nonces are stale anyway). */
  maxAgeMs: number;
}

/**
 * The nonce counts used with each nonce. A count is accepted once: above the highest seen, or below it within
 * {@linkcode NONCE_COUNT_WINDOW} and not seen yet. Memory is bounded: beyond `maxEntries` the entry first used
 * longest ago is dropped, and every nonce created no later than a dropped live one is from then on `forgotten`
 * (its counts are unknown, so the server answers stale and the client takes a fresh nonce), never accepted anew.
 */
export class NonceCounts {
  readonly #max: number;
  readonly #maxAgeMs: number;
  /** In first-use order. */
  readonly #entries = new Map<string, Counts>();
  /** Nonces created at or before this time (ms) may have lost their entry. */
  #forgottenUpTo = -Infinity;

  /** @param options bound and nonce lifetime */
  constructor(options: NonceCountsOptions) {
    this.#max = Math.max(1, options.maxEntries ?? NONCE_COUNTS_MAX_ENTRIES);
    this.#maxAgeMs = options.maxAgeMs;
  }

  /** Nonces remembered now. */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * Records count `nc` of a valid nonce, once its answer has been verified (so that wrong answers cannot use up
   * a client's counts).
   * @param nonce the nonce, already checked
   * @param issuedMs its creation time ({@linkcode nonceTime})
   * @param nc the count as a number, 1 or more
   * @param nowMs current time (ms)
   * @returns `fresh` the first time, `replay` when used before or too far below the highest, `forgotten` when
   *   the nonce's entry may have been dropped
   */
  use(nonce: string, issuedMs: number, nc: number, nowMs: number): NonceCountUse {
    if (!Number.isInteger(nc) || nc < 1) return "replay";
    const e = this.#entries.get(nonce);
    if (!e) {
      if (issuedMs <= this.#forgottenUpTo) return "forgotten";
      this.#makeRoom(nowMs);
      this.#entries.set(nonce, { issuedMs, highest: nc, below: 0 });
      return "fresh";
    }
    if (nc > e.highest) {
      const d = nc - e.highest;
      // The old highest moves to bit d - 1; bits shifted past the window are forgotten (replays from then on).
      e.below = d > NONCE_COUNT_WINDOW
        ? 0
        : d === NONCE_COUNT_WINDOW
        ? 0x8000_0000
        : ((e.below << d) | (1 << (d - 1))) >>> 0;
      e.highest = nc;
      return "fresh";
    }
    const d = e.highest - nc;
    if (d === 0 || d > NONCE_COUNT_WINDOW) return "replay";
    const bit = (1 << (d - 1)) >>> 0;
    if ((e.below & bit) !== 0) return "replay";
    e.below = (e.below | bit) >>> 0;
    return "fresh";
  }

  #makeRoom(nowMs: number): void {
    for (const [nonce, e] of this.#entries) {
      if (this.#entries.size < this.#max) return;
      this.#entries.delete(nonce);
      // An entry past the nonce lifetime goes quietly: its nonce is stale to checkNonce anyway.
      if (Math.abs(nowMs - e.issuedMs) <= this.#maxAgeMs) {
        this.#forgottenUpTo = Math.max(this.#forgottenUpTo, e.issuedMs);
      }
    }
  }
}
