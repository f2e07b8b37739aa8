/**
 * The cluster's mesh keys: the secret every relay shares (`--mesh-key`, `--mesh-key-file`, a mounted Secret), and
 * the keys derived from it with HKDF-SHA256, one for the peer protocol's HMACs and one for the media packets'
 * AES-256-GCM, from which each sealer derives its own packet key ({@linkcode derivePacketKey}). Several keys may be active at once so they can be rotated without dropping streams: the first
 * one signs and seals, every one is accepted.
 *
 * A key file holds one key per line (blank lines and `#` comments ignored). Rotation, with each step given time
 * to reach every relay (a mounted Secret takes up to a minute or two):
 * 1. `old` + `new` (send with old, accept both) everywhere;
 * 2. `new` + `old` (send with new, accept both) everywhere;
 * 3. `new` alone.
 *
 * The key file's syntax (how many keys, how long) is checked by the config (`config/mesh_key_syntax.ts`).
 * @module
 */
import { createHash, createSecretKey, hkdfSync, type KeyObject } from "node:crypto";

/** One cluster key and what is derived from it. */
export interface MeshKey {
  /** One byte naming the key on the wire (a hash of it; two keys may share it, receivers then try both). */
  readonly id: number;
  /** HMAC-SHA256 key of the peer protocol. */
  readonly control: KeyObject;
  /** AES-256-GCM key of mesh packets. */
  readonly data: KeyObject;
  /** Hex of the id and a fingerprint, safe to log: never the key. */
  readonly fingerprint: string;
}

/** The active keys; the first one is used to send. */
export interface MeshKeyring {
  readonly keys: readonly MeshKey[];
  /** The keys by wire id, for receivers (looked up per packet). */
  readonly byId: ReadonlyMap<number, readonly MeshKey[]>;
}

/** Derives the wire id and the control and data keys of each cluster key. */
export function deriveKeyring(secrets: readonly string[]): MeshKeyring {
  const keys = secrets.map(deriveKey);
  const byId = new Map<number, MeshKey[]>();
  for (const k of keys) byId.set(k.id, [...(byId.get(k.id) ?? []), k]);
  return { keys, byId };
}

function deriveKey(secret: string): MeshKey {
  const ikm = new TextEncoder().encode(secret);
  const salt = new TextEncoder().encode("msm-relay mesh");
  const derive = (info: string) => new Uint8Array(hkdfSync("sha256", ikm, salt, info, 32));
  const idBytes = derive("key id v1");
  const fingerprint = createHash("sha256").update(idBytes).digest("hex").slice(0, 12);
  return {
    id: idBytes[0]!,
    control: createSecretKey(derive("control hmac v1")),
    data: createSecretKey(derive("data aes-256-gcm v1")),
    fingerprint,
  };
}

/** Bytes of a packet salt (see {@linkcode derivePacketKey}). */
export const PACKET_SALT_SIZE = 16;

/**
 * The AES-256-GCM key of the mesh packets one sealer numbers under `salt`: HKDF-SHA256 of the cluster data key
 * with the salt (128 random bits per sealer), so every sealer has a key of its own and its packet counter alone
 * keeps nonces unique (no nonce space is shared between relays or between runs of one relay).
 * @param key a cluster key
 * @param salt {@linkcode PACKET_SALT_SIZE} bytes
 * @returns a 32-byte secret key
 * @throws RangeError when the salt has the wrong size
 */
export function derivePacketKey(key: MeshKey, salt: Uint8Array): KeyObject {
  if (salt.length !== PACKET_SALT_SIZE) {
    throw new RangeError(`a packet salt has ${PACKET_SALT_SIZE} bytes, not ${salt.length}`);
  }
  return createSecretKey(new Uint8Array(hkdfSync("sha256", key.data, salt, PACKET_KEY_INFO, 32)));
}

const PACKET_KEY_INFO = "msm-relay mesh packet key v3";

/** The keys of `ring` whose wire id is `id` (usually one; none: empty). */
export function keysWithId(ring: MeshKeyring, id: number): readonly MeshKey[] {
  return ring.byId.get(id) ?? NO_KEYS;
}

const NO_KEYS: readonly MeshKey[] = [];
