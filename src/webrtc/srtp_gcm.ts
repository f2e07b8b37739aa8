/**
 * SRTP protection of RTP with AEAD_AES_128_GCM (RFC 7714), on libcrypto through FFI with one context per session
 * key ({@linkcode GcmSealer}): werift's SRTP makes a node:crypto cipher object per packet, which costs about 22 µs
 * a packet in Deno, most of a WebRTC viewer's cost; this costs a few. The key and salt are the session's (derived
 * from the DTLS-exported master key by werift's SRTP context, RFC 3711's key derivation).
 *
 * The packet is the header (authenticated, in clear) and the payload (encrypted), then the 16-byte tag. The IV is
 * the session salt XOR (0x0000, SSRC, rollover counter, sequence number). Packets are protected in sending order
 * (retransmissions resend the protected bytes kept), so the rollover counter only counts wraps of the sequence.
 * Needs `--allow-ffi` and libcrypto: {@linkcode SrtpGcm.create} returns null otherwise (werift then protects).
 * @module
 */
import { GcmSealer } from "../dataplane/gcm_sealer.ts";

const TAG = 16;
/** Largest RTP packet protected (a datagram's payload). */
const MAX_PACKET = 65_507 - TAG;

/** AEAD_AES_128_GCM SRTP of one session's sending direction. */
export class SrtpGcm {
  readonly #sealer: GcmSealer;
  readonly #salt: Uint8Array;
  /** Nonce, then the packet being protected (header, payload, tag). */
  readonly #arena = new Uint8Array(16 + MAX_PACKET + TAG);
  readonly #view = new DataView(this.#arena.buffer);
  readonly #arenaPtr: Deno.PointerObject;
  /** Pointers into the arena by offset, made once: a pointer made per packet cost BigInt arithmetic each. */
  readonly #pointers = new Map<number, Deno.PointerObject>();
  readonly #noncePtr: Deno.PointerObject;
  readonly #packetPtr: Deno.PointerObject;
  /** Per SSRC: the last sequence number protected and the rollover counter. */
  readonly #roc = new Map<number, { last: number; roc: number }>();

  private constructor(sealer: GcmSealer, salt: Uint8Array) {
    this.#sealer = sealer;
    this.#salt = salt.slice(0, 12);
    this.#arenaPtr = Deno.UnsafePointer.of(this.#arena)!;
    this.#noncePtr = this.#at(0);
    this.#packetPtr = this.#at(16);
  }

  /** The arena's address plus `offset` (a packet's payload and tag: a few offsets for a stream's packets). */
  #at(offset: number): Deno.PointerObject {
    let p = this.#pointers.get(offset);
    if (!p) {
      if (this.#pointers.size >= 256) this.#pointers.clear();
      p = Deno.UnsafePointer.offset(this.#arenaPtr, offset)!;
      this.#pointers.set(offset, p);
    }
    return p;
  }

  /**
   * A protector for session key `key` (16 bytes) and salt `salt` (12 or more; the first 12 count), or null when
   * libcrypto cannot be used (no FFI permission, no library).
   */
  static create(key: Uint8Array, salt: Uint8Array): SrtpGcm | null {
    if (key.length !== 16 || salt.length < 12) return null;
    try {
      if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") return null;
      return new SrtpGcm(new GcmSealer(key), salt);
    } catch {
      return null;
    }
  }

  /** `packet` (RTP, no padding) protected: a new buffer of its length plus 16. Null when libcrypto failed. */
  protect(packet: Uint8Array): Uint8Array | null {
    const cc = packet[0]! & 0x0f;
    let headerLength = 12 + 4 * cc;
    if ((packet[0]! & 0x10) !== 0 && packet.length >= headerLength + 4) {
      headerLength += 4 + 4 * ((packet[headerLength + 2]! << 8) | packet[headerLength + 3]!);
    }
    if (packet.length < headerLength || packet.length > MAX_PACKET) return null;
    const seq = (packet[2]! << 8) | packet[3]!;
    const ssrc = ((packet[8]! << 24) | (packet[9]! << 16) | (packet[10]! << 8) | packet[11]!) >>> 0;
    let state = this.#roc.get(ssrc);
    if (!state) this.#roc.set(ssrc, state = { last: seq, roc: 0 });
    else {
      if (seq < state.last && state.last - seq > 0x8000) state.roc = (state.roc + 1) >>> 0;
      state.last = seq;
    }
    const arena = this.#arena;
    const view = this.#view;
    view.setUint16(0, 0);
    view.setUint32(2, ssrc);
    view.setUint32(6, state.roc);
    view.setUint16(10, seq);
    for (let i = 0; i < 12; i++) arena[i] = arena[i]! ^ this.#salt[i]!;
    arena.set(packet, 16);
    const payload = packet.length - headerLength;
    const payloadPtr = this.#at(16 + headerLength);
    const tagPtr = this.#at(16 + packet.length);
    if (
      !this.#sealer.seal(
        this.#noncePtr,
        this.#packetPtr,
        headerLength,
        payloadPtr,
        payloadPtr,
        payload,
        tagPtr,
      )
    ) {
      return null;
    }
    return arena.slice(16, 16 + packet.length + TAG);
  }

  close(): void {
    this.#sealer.close();
  }
}
