/**
 * What a receiver of sealed mesh packets remembers of the senders it hears: one entry per packet salt (every
 * sealer draws its own, see mesh_seal.ts), holding the packet keys derived for it (one AES-256-GCM context per
 * cluster key it was sealed under) and its replay window.
 *
 * An outsider can make up salts for free while each new salt costs a key derivation (HKDF-SHA256 and a cipher
 * context, some 15 µs), so derivation is bounded two ways:
 * - Only a salt whose packet authenticated, or one a key holder announced over the signed peer protocol
 *   ({@linkcode SenderTable.announce}), gets an entry: made-up salts never displace a real sender's window.
 * - Salts neither known nor announced are tried at most {@linkcode SenderTableOptions.newSaltsPerSecond} per
 *   second (a token bucket); beyond that their packets are refused before any derivation.
 *
 * Entries are kept least recently heard first and the oldest is forgotten beyond
 * {@linkcode SenderTableOptions.maxSenders}. Sans-I/O: the caller passes the time.
 * @module
 */
import type { Gcm, GcmKey } from "./_aes_gcm.ts";
import { derivePacketKey, type MeshKey, type MeshKeyring, PACKET_SALT_SIZE } from "./mesh_keys.ts";
import { ReplayWindow } from "./replay_window.ts";

/** The packet key of one cluster key under a sender's salt. */
export interface PacketKey {
  readonly key: MeshKey;
  readonly gcm: GcmKey;
}

/** One sender (one salt). */
export interface SenderEntry {
  /** The salt, 16 bytes. */
  readonly salt: Uint8Array;
  /** Packet keys derived so far (usually one; more while keys rotate). */
  keys: PacketKey[];
  /** Packet numbers accepted from this sender. */
  readonly window: ReplayWindow;
}

/** Options of {@linkcode SenderTable}. */
export interface SenderTableOptions {
  /** Senders remembered (least recently heard forgotten first). @default 1024 */
  maxSenders?: number;
  /** Unknown, unannounced salts tried per second (sustained). @default 100 */
  newSaltsPerSecond?: number;
  /** Unknown salts that may be tried at once after a quiet spell. @default 2 × newSaltsPerSecond */
  newSaltsBurst?: number;
}

/** The senders of one receiver. */
export class SenderTable {
  readonly #gcm: Gcm;
  readonly #maxSenders: number;
  readonly #rate: number;
  readonly #burst: number;
  /** By the salt's first 32 bits; a list because made-up salts could share them (they never get in). */
  readonly #bySalt = new Map<number, SenderEntry[]>();
  /** Every entry, least recently heard first. */
  readonly #order = new Set<SenderEntry>();
  #last: SenderEntry | null = null;
  #tokens: number;
  #tokensAt = Number.NEGATIVE_INFINITY;
  #derivations = 0;

  /**
   * @param gcm the AES-256-GCM backend of the packet keys
   * @param options bounds
   */
  constructor(gcm: Gcm, options: SenderTableOptions = {}) {
    this.#gcm = gcm;
    this.#maxSenders = options.maxSenders ?? 1024;
    this.#rate = options.newSaltsPerSecond ?? 100;
    this.#burst = options.newSaltsBurst ?? 2 * this.#rate;
    this.#tokens = this.#burst;
  }

  /** Senders remembered. */
  get size(): number {
    return this.#order.size;
  }

  /** Packet keys derived so far (each costs HKDF and a cipher context). */
  get derivations(): number {
    return this.#derivations;
  }

  /**
   * The entry of the salt at `saltAt` in `datagram` (16 bytes), if known.
   * @param datagram the packet
   * @param saltAt offset of the salt
   */
  find(datagram: Uint8Array, saltAt: number): SenderEntry | undefined {
    const last = this.#last;
    if (last && sameSalt(last.salt, datagram, saltAt)) return last;
    const view = new DataView(datagram.buffer, datagram.byteOffset, datagram.byteLength);
    const list = this.#bySalt.get(view.getUint32(saltAt));
    if (!list) return undefined;
    for (const e of list) if (sameSalt(e.salt, datagram, saltAt)) return e;
    return undefined;
  }

  /**
   * Takes one try of an unknown salt from the budget.
   * @param nowMs monotonic time in ms
   * @returns false when the budget of new salts is spent: refuse without deriving
   */
  admitNew(nowMs: number): boolean {
    if (nowMs > this.#tokensAt) {
      const elapsed = this.#tokensAt === Number.NEGATIVE_INFINITY ? 0 : nowMs - this.#tokensAt;
      this.#tokens = Math.min(this.#burst, this.#tokens + (elapsed * this.#rate) / 1000);
      this.#tokensAt = nowMs;
    }
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }

  /**
   * The packet key of `key` under `salt`, derived now (counted); the caller keeps it only if it authenticates.
   * @param key a cluster key
   * @param salt 16 bytes
   */
  derive(key: MeshKey, salt: Uint8Array): PacketKey {
    this.#derivations++;
    return { key, gcm: this.#gcm.key(derivePacketKey(key, salt)) };
  }

  /**
   * The packet key of `key` for a known sender, derived on first use (a sender switching keys while they rotate).
   * @param entry the sender
   * @param key one of the keys of the ring whose id the packet names
   */
  keyOf(entry: SenderEntry, key: MeshKey): PacketKey {
    for (const k of entry.keys) if (k.key === key) return k;
    const derived = this.derive(key, entry.salt);
    entry.keys.push(derived);
    return derived;
  }

  /**
   * Remembers a sender: one whose packet authenticated under `key` (given), or one a key holder announced.
   * @param salt the salt (copied)
   * @param key the packet key that opened its first packet, if any
   * @returns the entry (the existing one when the salt is known)
   */
  add(salt: Uint8Array, key?: PacketKey): SenderEntry {
    const known = this.find(salt, 0);
    if (known) {
      if (key && !known.keys.some((k) => k.key === key.key)) known.keys.push(key);
      return known;
    }
    if (salt.length !== PACKET_SALT_SIZE) {
      throw new RangeError(`a packet salt has ${PACKET_SALT_SIZE} bytes, not ${salt.length}`);
    }
    if (this.#order.size >= this.#maxSenders) this.#forget(this.#order.values().next().value!);
    const entry: SenderEntry = { salt: salt.slice(), keys: key ? [key] : [], window: new ReplayWindow() };
    const head = wordOf(entry.salt);
    const list = this.#bySalt.get(head);
    if (list) list.push(entry);
    else this.#bySalt.set(head, [entry]);
    this.#order.add(entry);
    return entry;
  }

  /**
   * Records an authenticated packet of `entry`: its number, and the sender as the most recently heard.
   * @param entry the sender
   * @param counter the packet number (checked with `entry.window.check` before authentication)
   */
  accept(entry: SenderEntry, counter: number): void {
    entry.window.accept(counter);
    if (entry === this.#last) return; // already the most recently heard: its place in the order stands
    this.#last = entry;
    this.#order.delete(entry);
    this.#order.add(entry);
  }

  /**
   * Follows a new keyring: packet keys of cluster keys still in it are kept (the same secret gives the same
   * packet key, whatever object carries it), the others dropped. Replay windows stay.
   * @param ring the new keys
   */
  setKeyring(ring: MeshKeyring): void {
    const byFingerprint = new Map(ring.keys.map((k) => [k.fingerprint, k]));
    for (const entry of this.#order) {
      entry.keys = entry.keys.flatMap((k) => {
        const key = byFingerprint.get(k.key.fingerprint);
        return key ? [{ key, gcm: k.gcm }] : [];
      });
    }
  }

  #forget(entry: SenderEntry): void {
    this.#order.delete(entry);
    if (this.#last === entry) this.#last = null;
    const head = wordOf(entry.salt);
    const list = this.#bySalt.get(head)?.filter((e) => e !== entry) ?? [];
    if (list.length === 0) this.#bySalt.delete(head);
    else this.#bySalt.set(head, list);
  }
}

function wordOf(salt: Uint8Array): number {
  return ((salt[0]! << 24) | (salt[1]! << 16) | (salt[2]! << 8) | salt[3]!) >>> 0;
}

function sameSalt(salt: Uint8Array, datagram: Uint8Array, at: number): boolean {
  if (datagram.length < at + PACKET_SALT_SIZE) return false;
  for (let i = PACKET_SALT_SIZE - 1; i >= 0; i--) if (salt[i] !== datagram[at + i]) return false;
  return true;
}
