/**
 * A relay process's incarnation: 8 random bytes drawn at start (16 hex characters in the peer protocol), so that
 * what is sealed or signed for one run of a relay is refused by every other relay and by the same relay once it
 * restarts. A sealed mesh packet authenticates its receiver's incarnation (mesh_seal.ts) and a signed peer
 * request names it (mesh_auth.ts); a peer learns it from the signed answers of the relay (the subscribe answer,
 * the `X-Msm-Mesh-Incarnation` header).
 * @module
 */

/** Bytes of an incarnation. */
export const INCARNATION_SIZE = 8;
/** An incarnation as carried in messages: 16 lowercase hex characters. */
export const INCARNATION_PATTERN: RegExp = /^[0-9a-f]{16}$/;

/** A new random incarnation (16 hex characters). */
export function newIncarnation(): string {
  return toHex(crypto.getRandomValues(new Uint8Array(INCARNATION_SIZE)));
}

/**
 * The 8 bytes of an incarnation.
 * @throws RangeError when `hex` is not 16 lowercase hex characters
 * @example incarnationBytes("00112233445566ff") // Uint8Array [0, 0x11, ..., 0xff]
 */
export function incarnationBytes(hex: string): Uint8Array {
  if (!INCARNATION_PATTERN.test(hex)) {
    throw new RangeError(`"${hex}" is not an incarnation (16 hex characters)`);
  }
  return fromHex(hex);
}

/**
 * The bytes of a string of hex digit pairs.
 * @throws RangeError when `hex` is not pairs of hex digits
 */
export function fromHex(hex: string): Uint8Array {
  if (!/^(?:[0-9a-fA-F]{2})*$/.test(hex)) throw new RangeError(`"${hex}" is not hex`);
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** Lowercase hex of `bytes`. */
export function toHex(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += b.toString(16).padStart(2, "0");
  return s;
}
