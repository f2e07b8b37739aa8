/**
 * Opening sealed mesh packets in the fast plane's Worker (the format of `src/cluster/mesh_seal.ts`, version 3),
 * so the main thread does no AES-GCM for what a child relay receives. The main thread stays the authority: it
 * hands the Worker the packet key of a sender (one salt, one cluster key id) only once it authenticated a packet of
 * that sender itself, so a made-up salt never costs the Worker anything; replay windows, the budget of new senders
 * and every refusal stay with the main thread's opener, which takes a datagram the Worker opened (flag
 * `RECV_OPENED`) without verifying it again. A datagram the Worker cannot open (unknown sender or key, a tag that
 * does not verify) is posted as it came and opened, or refused, there.
 * Nothing is allocated per packet: a datagram is opened in place, in the Worker's receive slot.
 * @module
 */
import { UDP_MAX_PAYLOAD } from "./_libc.ts";
import { GcmSealer, pointerInto } from "./gcm_sealer.ts";

/** A sender's packet key, as the main thread hands it over. */
export interface MeshOpenKeySpec {
  /** The sender's salt, 16 bytes. */
  salt: Uint8Array;
  /** Id of the cluster key the packet key comes from (byte 6 of the header). */
  keyId: number;
  /** The packet key, 32 bytes. */
  key: Uint8Array;
}

const VERSION = 3;
const HEADER = 32;
const TAG = 16;
const INCARNATION = 8;
const SALT_AT = 8;
const SALT = 16;
const NONCE_AT = 20;
const FLAG_ENCRYPTED = 1;
/** Senders whose keys the Worker keeps (the oldest handed over is forgotten first; the main thread then opens). */
export const MESH_OPEN_KEYS = 1024;

interface OpenKey {
  salt: Uint8Array;
  keyId: number;
  gcm: GcmSealer;
}

/** The Worker's packet keys of the senders it may open, and its scratch buffers. */
export class MeshOpenKeys {
  /** This relay's incarnation, then a datagram's header (and in clear mode its payload): the AAD. */
  readonly #aad = new Uint8Array(INCARNATION + HEADER + UDP_MAX_PAYLOAD);
  readonly #tag = new Uint8Array(TAG);
  readonly #aadPtr = pointerInto(this.#aad, 0);
  readonly #noncePtr = pointerInto(this.#aad, INCARNATION + NONCE_AT);
  readonly #tagPtr = pointerInto(this.#tag, 0);
  /** By the salt's first 32 bits. */
  readonly #keys = new Map<number, OpenKey[]>();
  /** Every key, oldest first. */
  readonly #order: OpenKey[] = [];
  #enabled = false;

  /** Opens for the relay of `incarnation` (8 bytes) from now on. */
  setIncarnation(incarnation: Uint8Array): void {
    if (incarnation.length !== INCARNATION) throw new RangeError("an incarnation has 8 bytes");
    this.#aad.set(incarnation);
    this.#enabled = true;
  }

  /** Keys handed over so far and kept. */
  get size(): number {
    return this.#order.length;
  }

  /** Adds (or replaces) the key of one sender under one key id. */
  add(spec: MeshOpenKeySpec): void {
    if (spec.salt.length !== SALT) throw new RangeError("a salt has 16 bytes");
    const head = saltHead(spec.salt, 0);
    const list = this.#keys.get(head) ?? [];
    const same = list.findIndex((k) => k.keyId === spec.keyId && equal(k.salt, spec.salt, 0));
    if (same >= 0) this.#forget(list[same]!);
    if (this.#order.length >= MESH_OPEN_KEYS) this.#forget(this.#order[0]!);
    const entry = { salt: spec.salt.slice(), keyId: spec.keyId, gcm: new GcmSealer(spec.key, true) };
    const now = this.#keys.get(head) ?? [];
    now.push(entry);
    this.#keys.set(head, now);
    this.#order.push(entry);
  }

  /**
   * Opens the sealed datagram of `length` bytes at `src[at]` in place when its sender's key is here: the plaintext
   * replaces the ciphertext. When the tag does not verify, the payload is left garbled (the main thread then
   * refuses it as it would the original: the header and tag are intact).
   * @param body a pointer to the datagram's byte 32 (in `src`)
   * @returns whether it opened (false: leave the datagram to the main thread)
   */
  open(src: Uint8Array, at: number, length: number, body: Deno.PointerObject): boolean {
    if (!this.#enabled || length < HEADER + TAG || src[at]! >> 4 !== VERSION) return false;
    const flags = src[at + 7]!;
    if ((flags & ~FLAG_ENCRYPTED) !== 0) return false;
    const key = this.#find(src, at + SALT_AT, src[at + 6]!);
    if (key === null) return false;
    const aad = this.#aad;
    for (let i = 0; i < HEADER; i++) aad[INCARNATION + i] = src[at + i]!;
    const tagAt = at + length - TAG;
    for (let i = 0; i < TAG; i++) this.#tag[i] = src[tagAt + i]!;
    const bodyLength = length - HEADER - TAG;
    if ((flags & FLAG_ENCRYPTED) === 0) {
      aad.set(src.subarray(at + HEADER, tagAt), INCARNATION + HEADER);
      return key.gcm.open(
        this.#noncePtr,
        this.#aadPtr,
        INCARNATION + HEADER + bodyLength,
        null,
        null,
        0,
        this.#tagPtr,
      );
    }
    return key.gcm.open(
      this.#noncePtr,
      this.#aadPtr,
      INCARNATION + HEADER,
      body,
      body,
      bodyLength,
      this.#tagPtr,
    );
  }

  /** Frees every key's native context. */
  close(): void {
    for (const k of [...this.#order]) this.#forget(k);
  }

  #find(src: Uint8Array, saltAt: number, keyId: number): OpenKey | null {
    const list = this.#keys.get(saltHead(src, saltAt));
    if (list === undefined) return null;
    for (const k of list) if (k.keyId === keyId && equal(k.salt, src, saltAt)) return k;
    return null;
  }

  #forget(key: OpenKey): void {
    const head = saltHead(key.salt, 0);
    const list = this.#keys.get(head);
    if (list) {
      list.splice(list.indexOf(key), 1);
      if (list.length === 0) this.#keys.delete(head);
    }
    this.#order.splice(this.#order.indexOf(key), 1);
    key.gcm.close();
  }
}

function saltHead(bytes: Uint8Array, at: number): number {
  return ((bytes[at]! << 24) | (bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!) >>> 0;
}

function equal(salt: Uint8Array, bytes: Uint8Array, at: number): boolean {
  for (let i = 0; i < SALT; i++) if (salt[i] !== bytes[at + i]) return false;
  return true;
}
