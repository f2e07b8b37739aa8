/**
 * Reusable buffers a `MeshSealer` seals into (`sealInto`): the views of a sealed datagram made once per payload
 * length, so sealing for a child allocates nothing.
 * @module
 */
import { INCARNATION_SIZE } from "./mesh_incarnation.ts";

/** Bytes before the payload of a sealed datagram. */
const SEALED_HEADER_SIZE = 32;
/** Bytes of the tag. */
const SEALED_TAG_SIZE = 16;
/** Offset of the nonce in the header. */
const NONCE_AT = 20;
/** Largest sealed datagram. */
const MAX_DATAGRAM = 65536;

/** The views of one sealed datagram in a buffer that starts with the receiver's incarnation. */
export interface SealViews {
  datagram: Uint8Array;
  /** Incarnation and header: the AAD of an encrypted packet. */
  aad: Uint8Array;
  /** Incarnation, header and payload: the AAD of a packet in clear. */
  signed: Uint8Array;
  nonce: Uint8Array;
  body: Uint8Array;
  tag: Uint8Array;
}

export function sealViews(buf: Uint8Array, payloadLength: number): SealViews {
  const o = INCARNATION_SIZE;
  const bodyEnd = o + SEALED_HEADER_SIZE + payloadLength;
  return {
    datagram: buf.subarray(o, bodyEnd + SEALED_TAG_SIZE),
    aad: buf.subarray(0, o + SEALED_HEADER_SIZE),
    signed: buf.subarray(0, bodyEnd),
    nonce: buf.subarray(o + NONCE_AT, o + SEALED_HEADER_SIZE),
    body: buf.subarray(o + SEALED_HEADER_SIZE, bodyEnd),
    tag: buf.subarray(bodyEnd, bodyEnd + SEALED_TAG_SIZE),
  };
}

/** Payload lengths whose views a {@linkcode SealScratch} keeps (a stream's packets mostly share a few). */
const SCRATCH_LENGTHS = 64;

/**
 * A buffer {@linkcode MeshSealer.sealInto} seals into, again and again: with its views made once per payload
 * length (up to {@linkcode SCRATCH_LENGTHS} lengths, then made afresh), sealing allocates nothing.
 */
export class SealScratch {
  /** The receiver's incarnation, then the datagram. */
  readonly buf: Uint8Array = new Uint8Array(INCARNATION_SIZE + MAX_DATAGRAM);
  readonly view: DataView = new DataView(this.buf.buffer);
  readonly #byLength = new Map<number, SealViews>();

  /**
   * The views for a payload of `length` bytes.
   * @throws RangeError when the sealed datagram would pass 64 KiB
   */
  views(length: number): SealViews {
    let v = this.#byLength.get(length);
    if (!v) {
      if (length + SEALED_HEADER_SIZE + SEALED_TAG_SIZE > MAX_DATAGRAM) {
        throw new RangeError(`a payload of ${length} bytes does not fit in a sealed datagram`);
      }
      if (this.#byLength.size >= SCRATCH_LENGTHS) this.#byLength.clear();
      v = sealViews(this.buf, length);
      this.#byLength.set(length, v);
    }
    return v;
  }
}
