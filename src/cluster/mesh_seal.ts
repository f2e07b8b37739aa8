/**
 * Sealed mesh packets (wire version 3): the framing of mesh_frame.ts, authenticated and by default encrypted with
 * AES-256-GCM, bound to their receiver and numbered for replay protection. Used whenever a mesh key is set; a
 * relay with a key accepts nothing else, so a relay without it can neither join nor inject.
 *
 * ```
 *  0        1        2               6        7        8                          24                32
 * +--------+--------+---------------+--------+--------+--------------------------+-----------------+---------+-----+
 * |ver|type| track  |   stream id   | key id | flags  |      salt (128 bit)      | counter (64 bit) | payload | tag |
 * +--------+--------+---------------+--------+--------+--------------------------+-----------------+---------+-----+
 * ```
 * `ver` 3; flags bit 0: the payload is encrypted (else it is in clear and authenticated with the header); other
 * bits 0.
 *
 * - **Keys**: each sealer draws a 128-bit random salt and seals under its own packet key, HKDF-SHA256 of the
 *   cluster data key (named by the key id) and the salt (`derivePacketKey` in mesh_keys.ts). No two sealers,
 *   on one relay or across restarts, share a key but with a chance of 2^-128 per pair.
 * - **Nonce**: the last 12 bytes of the header (the salt's last 4 bytes and the counter). The counter counts every
 *   packet of the sealer and never wraps (past 2^48 packets the sealer draws a new salt), so no nonce repeats
 *   under a packet key.
 * - **Receiver binding**: the additional authenticated data is the receiver's incarnation (mesh_incarnation.ts:
 *   8 random bytes per relay process, not on the wire: the sender knows its destination's, the receiver its own)
 *   followed by the header, and in clear mode the payload too. A packet captured on its way to relay A is refused
 *   by relay B, and by A itself once it restarted.
 * - **Replay**: receivers keep a window of packet numbers per salt (replay_window.ts) and a bounded table of
 *   senders whose derivation of new salts is rate-limited (mesh_senders.ts).
 *
 * The 16-byte tag ends the datagram. Version 2 packets (relays of an older release) are refused with the reason
 * `version`: the header, the keys and the authenticated data changed.
 *
 * AES-256-GCM runs in OpenSSL's libcrypto through FFI when the process may load it (`--allow-ffi`), else in
 * node:crypto; both give the same bytes, and {@linkcode gcmBackendName} says which one this process uses (see
 * `_aes_gcm.ts`). A sealer or opener may be given a backend (`gcm`), as tests and benchmarks do.
 *
 * The payload of a decoded packet is a fresh buffer (decryption copies). Sans-I/O: the caller owns sockets.
 * @module
 */
import { monotonicMs } from "../clock.ts";
import { renumberRtp, RTP_HEADER_SIZE, type RtpRenumber } from "../rtp/packet.ts";
import { defaultGcm, type Gcm, type GcmKey } from "./_aes_gcm.ts";
import type { MeshPacket, MeshPacketType } from "./mesh_frame.ts";
import { INCARNATION_SIZE } from "./mesh_incarnation.ts";
import {
  derivePacketKey,
  keysWithId,
  type MeshKey,
  type MeshKeyring,
  PACKET_SALT_SIZE,
} from "./mesh_keys.ts";
import { type PacketKey, SenderTable, type SenderTableOptions } from "./mesh_senders.ts";
import { type SealScratch, type SealViews, sealViews } from "./mesh_seal_views.ts";

export { SealScratch } from "./mesh_seal_views.ts";

export { type Gcm, type GcmBackendName, gcmBackendName } from "./_aes_gcm.ts";

/** Wire version of sealed packets. */
export const SEALED_VERSION = 3;
/** Bytes before the payload. */
export const SEALED_HEADER_SIZE = 32;
/** Bytes of the GCM tag after the payload. */
export const SEALED_TAG_SIZE = 16;
/** Bytes a sealed packet adds to its payload. */
export const SEALED_OVERHEAD = SEALED_HEADER_SIZE + SEALED_TAG_SIZE;
/** Packets a sealer numbers under one salt before it draws a new one. */
export const SALT_PACKET_LIMIT = 2 ** 48;

const FLAG_ENCRYPTED = 1;
const SALT_AT = 8;
const COUNTER_AT = 24;
const NONCE_AT = 20;
const TYPE_CODES: Record<MeshPacketType, number> = { rtp: 0, rtcp: 1, heartbeat: 2, nack: 3, gone: 4 };
const TYPES: readonly MeshPacketType[] = ["rtp", "rtcp", "heartbeat", "nack", "gone"];
const EMPTY = new Uint8Array(0);
/** Largest datagram the opener authenticates in clear mode (its AAD scratch). */
const MAX_DATAGRAM = 65536;

/** Why a datagram was refused (the `reason` label of `msm_mesh_packets_rejected_total`). */
export type MeshRejectReason =
  /** Not a mesh packet at all (short, unknown version, type or flags). */
  | "malformed"
  /** A mesh packet without authentication (version 1) where a key is required. */
  | "unauthenticated"
  /** A sealed packet of an older wire version (2): a relay of an older release. */
  | "version"
  /** Sealed with a key this relay does not hold. */
  | "unknown_key"
  /** The tag does not verify: forged, altered, the wrong key, or sealed for another relay or an earlier run. */
  | "auth"
  /** A packet number seen before, or too old. */
  | "replay"
  /** From a sender not heard before while too many new senders are being tried: refused before any key work. */
  | "salt_rate";

/** Every reason, for counters. */
export const MESH_REJECT_REASONS: readonly MeshRejectReason[] = [
  "malformed",
  "unauthenticated",
  "version",
  "unknown_key",
  "auth",
  "replay",
  "salt_rate",
];

/** A zero count per reason. */
export function emptyRejectCounts(): Record<MeshRejectReason, number> {
  return Object.fromEntries(MESH_REJECT_REASONS.map((r) => [r, 0])) as Record<MeshRejectReason, number>;
}

/** A refused datagram: the reason and a sentence for logs. */
export interface MeshReject {
  readonly reason: MeshRejectReason;
  readonly message: string;
}

/** Options of {@linkcode MeshSealer}. */
export interface MeshSealerOptions {
  /** Encrypt payloads (else authenticate only). @default true */
  encrypt?: boolean;
  /** The first salt, 16 bytes. @default random */
  salt?: Uint8Array;
  /** Packets per salt before a new one is drawn. @default {@linkcode SALT_PACKET_LIMIT} */
  saltPacketLimit?: number;
  /** AES-256-GCM implementation. @default OpenSSL when it loads, else node:crypto ({@linkcode gcmBackendName}) */
  gcm?: Gcm;
}

/** Seals outgoing mesh packets of this relay, each for one receiver. */
export class MeshSealer {
  #ring: MeshKeyring;
  readonly #encrypt: boolean;
  readonly #gcm: Gcm;
  readonly #limit: number;
  #salt: Uint8Array;
  #counter = 0;
  #generation = 0;
  #workerSalt: Uint8Array | null = null;
  /** The packet key of the sealing key under the current salt. */
  #key: { key: MeshKey; gcm: GcmKey } | null = null;

  constructor(ring: MeshKeyring, options: MeshSealerOptions = {}) {
    if (ring.keys.length === 0) throw new RangeError("a mesh keyring needs at least one key");
    this.#ring = ring;
    this.#encrypt = options.encrypt ?? true;
    this.#gcm = options.gcm ?? defaultGcm();
    this.#limit = options.saltPacketLimit ?? SALT_PACKET_LIMIT;
    this.#salt = options.salt?.slice() ?? newSalt();
    if (this.#salt.length !== PACKET_SALT_SIZE) throw new RangeError(`a salt has ${PACKET_SALT_SIZE} bytes`);
  }

  /** Seals with the first key of `ring` from now on (numbering continues under the same salt). */
  setKeyring(ring: MeshKeyring): void {
    if (ring.keys.length === 0) throw new RangeError("a mesh keyring needs at least one key");
    this.#ring = ring;
    this.#generation++;
  }

  /** The salt of the last {@linkcode forWorker} (a copy), announced to children like this sealer's; or null. */
  get workerSalt(): Uint8Array | null {
    return this.#workerSalt?.slice() ?? null;
  }

  /** Counts keyring changes: a sealer forked with {@linkcode forWorker} before a change seals with an old key. */
  get generation(): number {
    return this.#generation;
  }

  /**
   * A sealer of its own for the fast plane's worker (src/dataplane/mesh_route.ts): the first key's id, a fresh
   * salt and the packet key under it, so the worker numbers its packets from 0 without ever repeating a nonce of
   * this sealer's (or of an earlier fork's).
   */
  forWorker(): { keyId: number; salt: Uint8Array; key: Uint8Array; encrypt: boolean } {
    const key = this.#ring.keys[0]!;
    const salt = newSalt();
    this.#workerSalt = salt.slice();
    const packetKey = new Uint8Array(derivePacketKey(key, salt).export());
    return { keyId: key.id, salt, key: packetKey, encrypt: this.#encrypt };
  }

  /** Packets sealed so far under the current salt. */
  get counter(): number {
    return this.#counter;
  }

  /** The current salt (a copy), which receivers may be told in advance ({@linkcode MeshOpener.announce}). */
  get salt(): Uint8Array {
    return this.#salt.slice();
  }

  /**
   * Frames, numbers, authenticates and (by default) encrypts one payload for one receiver: a new datagram.
   * @param type what the payload is
   * @param streamId the receiver's id of the stream
   * @param track track index, 0..255
   * @param payload the RTP, RTCP or heartbeat bytes
   * @param to the receiver's incarnation, 8 bytes
   * @param renumber applied to the copy of an RTP payload before sealing (see `encodeMeshPacket`)
   */
  seal(
    type: MeshPacketType,
    streamId: number,
    track: number,
    payload: Uint8Array,
    to: Uint8Array,
    renumber: RtpRenumber | null = null,
  ): Uint8Array {
    // The receiver's incarnation goes in front of the datagram, so that it and the header are one AAD buffer.
    const buf = new Uint8Array(INCARNATION_SIZE + SEALED_OVERHEAD + payload.length);
    return this.#seal(
      buf,
      new DataView(buf.buffer),
      sealViews(buf, payload.length),
      type,
      streamId,
      track,
      payload,
      to,
      renumber,
    );
  }

  /**
   * {@linkcode seal} into a caller's reusable buffer: no buffer allocated per packet.
   * @returns the datagram, a view into `scratch` valid until its next use
   * @throws RangeError for a track outside 0..255, an incarnation not of 8 bytes or a payload too long
   */
  sealInto(
    scratch: SealScratch,
    type: MeshPacketType,
    streamId: number,
    track: number,
    payload: Uint8Array,
    to: Uint8Array,
    renumber: RtpRenumber | null = null,
  ): Uint8Array {
    const views = scratch.views(payload.length);
    return this.#seal(scratch.buf, scratch.view, views, type, streamId, track, payload, to, renumber);
  }

  #seal(
    buf: Uint8Array,
    view: DataView,
    v: SealViews,
    type: MeshPacketType,
    streamId: number,
    track: number,
    payload: Uint8Array,
    to: Uint8Array,
    renumber: RtpRenumber | null,
  ): Uint8Array {
    if (track < 0 || track > 255 || !Number.isInteger(track)) {
      throw new RangeError(`track ${track} is outside 0..255`);
    }
    if (to.length !== INCARNATION_SIZE) throw new RangeError(`an incarnation has ${INCARNATION_SIZE} bytes`);
    if (this.#counter >= this.#limit) {
      // A fresh salt is a fresh packet key: numbering starts again without repeating a nonce.
      this.#salt = newSalt();
      this.#counter = 0;
      this.#key = null;
    }
    const key = this.#ring.keys[0]!;
    if (this.#key?.key !== key) this.#key = { key, gcm: this.#gcm.key(derivePacketKey(key, this.#salt)) };
    buf.set(to);
    const o = INCARNATION_SIZE;
    buf[o] = (SEALED_VERSION << 4) | TYPE_CODES[type];
    buf[o + 1] = track;
    view.setUint32(o + 2, streamId >>> 0);
    buf[o + 6] = key.id;
    buf[o + 7] = this.#encrypt ? FLAG_ENCRYPTED : 0;
    buf.set(this.#salt, o + SALT_AT);
    const n = this.#counter++;
    view.setUint32(o + COUNTER_AT, Math.floor(n / 2 ** 32));
    view.setUint32(o + COUNTER_AT + 4, n >>> 0);
    const patch = renumber !== null && type === "rtp" && payload.length >= RTP_HEADER_SIZE;
    const body = v.body;
    if (this.#encrypt) {
      if (patch) {
        // Renumbered in its copy in the datagram, then encrypted in place.
        body.set(payload);
        renumberRtp(body, 0, renumber);
      }
      this.#key.gcm.seal(v.nonce, v.aad, patch ? body : payload, body, v.tag);
    } else {
      body.set(payload);
      if (patch) renumberRtp(body, 0, renumber);
      this.#key.gcm.seal(v.nonce, v.signed, null, EMPTY, v.tag);
    }
    return v.datagram;
  }
}

/** Options of {@linkcode MeshOpener}. */
export interface MeshOpenerOptions extends SenderTableOptions {
  /** AES-256-GCM implementation. @default OpenSSL when it loads, else node:crypto ({@linkcode gcmBackendName}) */
  gcm?: Gcm;
  /** Monotonic clock in ms (the budget of new salts). @default monotonicMs */
  now?: () => number;
}

/** Verifies, decrypts and de-duplicates the sealed mesh packets sent to this relay process. */
export class MeshOpener {
  #ring: MeshKeyring;
  readonly #senders: SenderTable;
  readonly #now: () => number;
  /** This relay's incarnation, then the header (and in clear mode the payload) of the packet being opened. */
  readonly #aad = new Uint8Array(INCARNATION_SIZE + MAX_DATAGRAM);

  /**
   * @param ring the keys accepted
   * @param incarnation this relay's incarnation, 8 bytes: only packets sealed for it open
   * @param options bounds, backend and clock
   */
  constructor(ring: MeshKeyring, incarnation: Uint8Array, options: MeshOpenerOptions = {}) {
    if (incarnation.length !== INCARNATION_SIZE) {
      throw new RangeError(`an incarnation has ${INCARNATION_SIZE} bytes`);
    }
    this.#ring = ring;
    this.#senders = new SenderTable(options.gcm ?? defaultGcm(), options);
    this.#now = options.now ?? monotonicMs;
    this.#aad.set(incarnation);
  }

  /** Accepts the keys of `ring` from now on. */
  setKeyring(ring: MeshKeyring): void {
    this.#ring = ring;
    this.#senders.setKeyring(ring);
  }

  /**
   * The sender and key of the last packet {@linkcode open} authenticated itself (null after one the data plane
   * opened): what the fast plane's worker may be given to open that sender's next packets.
   */
  lastOpened: { salt: Uint8Array; key: PacketKey } | null = null;

  /** This relay's incarnation (a copy). */
  get incarnation(): Uint8Array {
    return this.#aad.slice(0, INCARNATION_SIZE);
  }

  /** Senders remembered (with a replay window). */
  get senders(): number {
    return this.#senders.size;
  }

  /** Packet keys derived so far: bounded by senders heard and by the budget of new salts. */
  get derivations(): number {
    return this.#senders.derivations;
  }

  /**
   * Expects packets under `salt`: a key holder told it over the signed peer protocol, so its first packets open
   * without spending the budget of unknown salts.
   * @param salt 16 bytes
   */
  announce(salt: Uint8Array): void {
    this.#senders.add(salt);
  }

  /**
   * Opens one datagram.
   * @param verified the fast plane's worker already verified the tag and decrypted the payload in place (with a
   *   key from {@linkcode lastOpened}): only the checks, the sender and its replay window remain
   * @param owned with `verified`: the datagram is the caller's to keep (the plane's records are), so the payload,
   *   a view of it, is marked `owned` and needs no copy downstream
   * @returns the packet (payload in a new buffer; a view into `datagram` when `verified`), or why it was refused
   */
  open(datagram: Uint8Array, verified = false, owned = false): MeshPacket | MeshReject {
    if (datagram.length < 1) return reject("malformed", "empty datagram");
    const version = datagram[0]! >> 4;
    if (version === 1) return reject("unauthenticated", "unsealed mesh packet (the sender has no mesh key)");
    if (version === 2) {
      return reject(
        "version",
        "sealed mesh packet of wire version 2 (an older release); this relay speaks 3",
      );
    }
    if (version !== SEALED_VERSION) return reject("malformed", `unsupported mesh version ${version}`);
    if (datagram.length < SEALED_OVERHEAD) {
      return reject("malformed", `datagram of ${datagram.length} bytes is shorter than a sealed packet`);
    }
    if (datagram.length > MAX_DATAGRAM) return reject("malformed", `datagram of ${datagram.length} bytes`);
    const type = TYPES[datagram[0]! & 0x0f];
    if (!type) return reject("malformed", `unknown mesh packet type ${datagram[0]! & 0x0f}`);
    const flags = datagram[7]!;
    if ((flags & ~FLAG_ENCRYPTED) !== 0) return reject("malformed", `unknown flags ${flags}`);
    const high = uint32At(datagram, COUNTER_AT);
    if (high >= SALT_PACKET_LIMIT / 2 ** 32) return reject("malformed", "packet number beyond 2^48");
    const counter = high * 2 ** 32 + uint32At(datagram, COUNTER_AT + 4);
    const streamId = uint32At(datagram, 2);
    const keys = keysWithId(this.#ring, datagram[6]!);
    if (keys.length === 0) {
      return reject("unknown_key", `key id ${datagram[6]} is not one of this relay's keys`);
    }
    const sender = this.#senders.find(datagram, SALT_AT);
    if (sender) {
      if (!sender.window.check(counter)) return reject("replay", `packet ${counter} of this sender was seen`);
    } else if (!this.#senders.admitNew(this.#now())) {
      return reject("salt_rate", "too many new senders at once: refused before deriving their keys");
    }
    const bodyEnd = datagram.length - SEALED_TAG_SIZE;
    const body = datagram.subarray(SEALED_HEADER_SIZE, bodyEnd);
    if (verified) {
      // The fast plane's worker opened it with a key handed over from here (src/dataplane/mesh_open.ts).
      if (!sender) return reject("auth", "opened by the data plane for a sender this relay forgot since");
      if (type !== "heartbeat" && body.length === 0) return reject("malformed", `empty ${type} payload`);
      this.#senders.accept(sender, counter);
      this.lastOpened = null;
      return owned
        ? { type, track: datagram[1]!, streamId, payload: body, owned }
        : { type, track: datagram[1]!, streamId, payload: body };
    }
    const tag = datagram.subarray(bodyEnd);
    const encrypted = (flags & FLAG_ENCRYPTED) !== 0;
    const nonce = datagram.subarray(NONCE_AT, SEALED_HEADER_SIZE);
    // Encrypted: incarnation and header are the AAD and the body decrypts into a new buffer; else the body is
    // part of the AAD.
    const signed = encrypted ? SEALED_HEADER_SIZE : bodyEnd;
    const scratch = this.#aad;
    if (encrypted) {
      for (let i = 0; i < SEALED_HEADER_SIZE; i++) scratch[INCARNATION_SIZE + i] = datagram[i]!; // no view to make
    } else {
      scratch.set(datagram.subarray(0, signed), INCARNATION_SIZE);
    }
    const aad = scratch.subarray(0, INCARNATION_SIZE + signed);
    const plain = encrypted ? new Uint8Array(body.length) : EMPTY;
    let opened: PacketKey | null = null;
    for (const key of keys) {
      // Keys may share an id: the first one whose tag verifies opens the packet.
      const k = sender
        ? this.#senders.keyOf(sender, key)
        : this.#senders.derive(key, datagram.subarray(SALT_AT, SALT_AT + PACKET_SALT_SIZE));
      if (k.gcm.open(nonce, aad, encrypted ? body : null, tag, plain)) {
        opened = k;
        break;
      }
    }
    if (!opened) return reject("auth", "the packet does not authenticate for this relay under any mesh key");
    const payload = encrypted ? plain : body.slice();
    if (type !== "heartbeat" && payload.length === 0) return reject("malformed", `empty ${type} payload`);
    const entry = sender ?? this.#senders.add(datagram.subarray(SALT_AT, SALT_AT + PACKET_SALT_SIZE), opened);
    this.#senders.accept(entry, counter);
    this.lastOpened = { salt: entry.salt, key: opened };
    return { type, track: datagram[1]!, streamId, payload, owned: true };
  }
}

/** The big-endian 32-bit number at `at` (no view per datagram). */
function uint32At(bytes: Uint8Array, at: number): number {
  return ((bytes[at]! << 24) | (bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!) >>> 0;
}

function newSalt(): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(PACKET_SALT_SIZE));
}

function reject(reason: MeshRejectReason, message: string): MeshReject {
  return { reason, message };
}

/** True when `r` is a refusal rather than a packet. */
export function isMeshReject(r: MeshPacket | MeshReject): r is MeshReject {
  return "reason" in r;
}
