/**
 * Sealed mesh packets (wire version 2): the framing of mesh_frame.ts, authenticated and by default encrypted with
 * AES-256-GCM under the cluster's data key, numbered for replay protection. Used whenever a mesh key is set; a
 * relay with a key accepts nothing else, so a relay without it can neither join nor inject.
 *
 * ```
 *  0        1        2               6        7        8                14               20
 * +--------+--------+---------------+--------+--------+----------------+----------------+-----------+------+
 * |ver|type| track  |   stream id   | key id | flags  | sender (48 bit)| counter (48 bit)| payload  | tag  |
 * +--------+--------+---------------+--------+--------+----------------+----------------+-----------+------+
 * ```
 * `ver` 2; flags bit 0: the payload is encrypted (else it is in clear and authenticated with the header); other
 * bits 0. The GCM nonce is sender ‖ counter: the sender id is random per process (48 bits, so two relays do not
 * pick the same one), the counter counts every packet the sender seals, so no nonce repeats under a key. The
 * header is the additional authenticated data; the 16-byte tag ends the datagram.
 *
 * AES-256-GCM runs in OpenSSL's libcrypto through FFI when the process may load it (`--allow-ffi`), else in
 * node:crypto; both give the same bytes, and {@linkcode gcmBackendName} says which one this process uses (see
 * `_aes_gcm.ts`). A sealer or opener may be given a backend (`gcm`), as tests and benchmarks do.
 *
 * The payload of a decoded packet is a fresh buffer (decryption copies). Sans-I/O: the caller owns sockets.
 * @module
 */
import { defaultGcm, type Gcm } from "./_aes_gcm.ts";
import type { MeshPacket, MeshPacketType } from "./mesh_frame.ts";
import { keysWithId, type MeshKeyring } from "./mesh_keys.ts";
import { ReplayWindow } from "./replay_window.ts";

export { type Gcm, type GcmBackendName, gcmBackendName } from "./_aes_gcm.ts";

/** Wire version of sealed packets. */
export const SEALED_VERSION = 2;
/** Bytes before the payload. */
export const SEALED_HEADER_SIZE = 20;
/** Bytes of the GCM tag after the payload. */
export const SEALED_TAG_SIZE = 16;
/** Bytes a sealed packet adds to its payload. */
export const SEALED_OVERHEAD = SEALED_HEADER_SIZE + SEALED_TAG_SIZE;

const FLAG_ENCRYPTED = 1;
const COUNTER_LIMIT = 2 ** 48;
const TYPE_CODES: Record<MeshPacketType, number> = { rtp: 0, rtcp: 1, heartbeat: 2 };
const TYPES: readonly MeshPacketType[] = ["rtp", "rtcp", "heartbeat"];
const NONCE_START = 8;
const EMPTY = new Uint8Array(0);

/** Why a datagram was refused (the `reason` label of `msm_mesh_packets_rejected_total`). */
export type MeshRejectReason =
  /** Not a mesh packet at all (short, unknown version or type). */
  | "malformed"
  /** A mesh packet without authentication (version 1) where a key is required. */
  | "unauthenticated"
  /** Sealed with a key this relay does not hold. */
  | "unknown_key"
  /** The tag does not verify: forged, altered, or the wrong key. */
  | "auth"
  /** A packet number seen before, or too old. */
  | "replay";

/** A refused datagram: the reason and a sentence for logs. */
export interface MeshReject {
  readonly reason: MeshRejectReason;
  readonly message: string;
}

/** Options of {@linkcode MeshSealer}. */
export interface MeshSealerOptions {
  /** Encrypt payloads (else authenticate only). @default true */
  encrypt?: boolean;
  /** Sender id, 6 bytes. @default random */
  sender?: Uint8Array;
  /** AES-256-GCM implementation. @default OpenSSL when it loads, else node:crypto ({@linkcode gcmBackendName}) */
  gcm?: Gcm;
}

/** Seals outgoing mesh packets of this relay. */
export class MeshSealer {
  #ring: MeshKeyring;
  readonly #encrypt: boolean;
  readonly #gcm: Gcm;
  #sender: Uint8Array;
  #counter = 0;

  constructor(ring: MeshKeyring, options: MeshSealerOptions = {}) {
    if (ring.keys.length === 0) throw new RangeError("a mesh keyring needs at least one key");
    this.#ring = ring;
    this.#encrypt = options.encrypt ?? true;
    this.#gcm = options.gcm ?? defaultGcm();
    this.#sender = options.sender ?? crypto.getRandomValues(new Uint8Array(6));
    if (this.#sender.length !== 6) throw new RangeError("a sender id has 6 bytes");
  }

  /** Seals with the first key of `ring` from now on. */
  setKeyring(ring: MeshKeyring): void {
    if (ring.keys.length === 0) throw new RangeError("a mesh keyring needs at least one key");
    this.#ring = ring;
  }

  /** Packets sealed so far under this sender id. */
  get counter(): number {
    return this.#counter;
  }

  /** Frames, numbers, authenticates and (by default) encrypts one payload: a new datagram. */
  seal(type: MeshPacketType, streamId: number, track: number, payload: Uint8Array): Uint8Array {
    if (track < 0 || track > 255 || !Number.isInteger(track)) {
      throw new RangeError(`track ${track} is outside 0..255`);
    }
    if (this.#counter >= COUNTER_LIMIT) {
      // 2^48 packets: a new sender id starts a fresh nonce space.
      this.#sender = crypto.getRandomValues(new Uint8Array(6));
      this.#counter = 0;
    }
    const key = this.#ring.keys[0]!;
    const out = new Uint8Array(SEALED_OVERHEAD + payload.length);
    const header = out.subarray(0, SEALED_HEADER_SIZE);
    header[0] = (SEALED_VERSION << 4) | TYPE_CODES[type];
    header[1] = track;
    const view = new DataView(out.buffer);
    view.setUint32(2, streamId >>> 0);
    header[6] = key.id;
    header[7] = this.#encrypt ? FLAG_ENCRYPTED : 0;
    header.set(this.#sender, 8);
    const n = this.#counter++;
    view.setUint16(14, Math.floor(n / 2 ** 32));
    view.setUint32(16, n >>> 0);
    const gcm = this.#gcm.key(key.data);
    const nonce = header.subarray(NONCE_START, SEALED_HEADER_SIZE);
    const bodyEnd = SEALED_HEADER_SIZE + payload.length;
    const tag = out.subarray(bodyEnd);
    if (this.#encrypt) {
      gcm.seal(nonce, header, payload, out.subarray(SEALED_HEADER_SIZE, bodyEnd), tag);
    } else {
      out.set(payload, SEALED_HEADER_SIZE);
      gcm.seal(nonce, out.subarray(0, bodyEnd), null, EMPTY, tag);
    }
    return out;
  }
}

/** Options of {@linkcode MeshOpener}. */
export interface MeshOpenerOptions {
  /** Senders whose replay windows are kept (least recently heard forgotten first). @default 1024 */
  maxSenders?: number;
  /** AES-256-GCM implementation. @default OpenSSL when it loads, else node:crypto ({@linkcode gcmBackendName}) */
  gcm?: Gcm;
}

/** Verifies, decrypts and de-duplicates incoming sealed mesh packets. */
export class MeshOpener {
  #ring: MeshKeyring;
  readonly #maxSenders: number;
  readonly #gcm: Gcm;
  readonly #windows = new Map<number, ReplayWindow>();
  #lastSender = -1;

  constructor(ring: MeshKeyring, options: MeshOpenerOptions = {}) {
    this.#ring = ring;
    this.#maxSenders = options.maxSenders ?? 1024;
    this.#gcm = options.gcm ?? defaultGcm();
  }

  /** Accepts the keys of `ring` from now on. */
  setKeyring(ring: MeshKeyring): void {
    this.#ring = ring;
  }

  /** Senders with a replay window. */
  get senders(): number {
    return this.#windows.size;
  }

  /**
   * Opens one datagram.
   * @returns the packet (payload in a new buffer), or why it was refused
   */
  open(datagram: Uint8Array): MeshPacket | MeshReject {
    if (datagram.length < 1) return reject("malformed", "empty datagram");
    const version = datagram[0]! >> 4;
    if (version === 1) return reject("unauthenticated", "unsealed mesh packet (the sender has no mesh key)");
    if (version !== SEALED_VERSION) return reject("malformed", `unsupported mesh version ${version}`);
    if (datagram.length < SEALED_OVERHEAD) {
      return reject("malformed", `datagram of ${datagram.length} bytes is shorter than a sealed packet`);
    }
    const type = TYPES[datagram[0]! & 0x0f];
    if (!type) return reject("malformed", `unknown mesh packet type ${datagram[0]! & 0x0f}`);
    const flags = datagram[7]!;
    if ((flags & ~FLAG_ENCRYPTED) !== 0) return reject("malformed", `unknown flags ${flags}`);
    const view = new DataView(datagram.buffer, datagram.byteOffset, datagram.byteLength);
    const sender = view.getUint16(8) * 2 ** 32 + view.getUint32(10);
    const counter = view.getUint16(14) * 2 ** 32 + view.getUint32(16);
    const keys = keysWithId(this.#ring, datagram[6]!);
    if (keys.length === 0) {
      return reject("unknown_key", `key id ${datagram[6]} is not one of this relay's keys`);
    }
    const window = this.#windows.get(sender);
    if (window && !window.check(counter)) {
      return reject("replay", `packet ${counter} of this sender was seen`);
    }
    const bodyEnd = datagram.length - SEALED_TAG_SIZE;
    const body = datagram.subarray(SEALED_HEADER_SIZE, bodyEnd);
    const tag = datagram.subarray(bodyEnd);
    const encrypted = (flags & FLAG_ENCRYPTED) !== 0;
    const nonce = datagram.subarray(NONCE_START, SEALED_HEADER_SIZE);
    // Encrypted: the header is the AAD and the body decrypts into a new buffer; else header and body are the AAD.
    const aad = datagram.subarray(0, encrypted ? SEALED_HEADER_SIZE : bodyEnd);
    const plain = encrypted ? new Uint8Array(body.length) : EMPTY;
    let payload: Uint8Array | null = null;
    for (const key of keys) {
      // Keys may share an id: the first one whose tag verifies opens the packet.
      if (this.#gcm.key(key.data).open(nonce, aad, encrypted ? body : null, tag, plain)) {
        payload = encrypted ? plain : body.slice();
        break;
      }
    }
    if (!payload) return reject("auth", "the packet does not authenticate under any mesh key");
    if (type !== "heartbeat" && payload.length === 0) return reject("malformed", `empty ${type} payload`);
    this.#record(sender, counter, window);
    return { type, track: datagram[1]!, streamId: view.getUint32(2), payload, owned: true };
  }

  #record(sender: number, counter: number, known: ReplayWindow | undefined): void {
    let window = known;
    if (window && sender === this.#lastSender) {
      window.accept(counter); // already the most recently heard: its place in the order stands
      return;
    }
    this.#lastSender = sender;
    if (window) {
      this.#windows.delete(sender); // re-insert: the map's order is least recently heard first
    } else {
      window = new ReplayWindow();
      if (this.#windows.size >= this.#maxSenders) this.#windows.delete(this.#windows.keys().next().value!);
    }
    this.#windows.set(sender, window);
    window.accept(counter);
  }
}

function reject(reason: MeshRejectReason, message: string): MeshReject {
  return { reason, message };
}

/** True when `r` is a refusal rather than a packet. */
export function isMeshReject(r: MeshPacket | MeshReject): r is MeshReject {
  return "reason" in r;
}
