/**
 * Reading parameter sets (H.264 and H.265): a NAL unit's RBSP and its bits, fixed-length and Exp-Golomb.
 * @module
 */

/**
 * A NAL unit's RBSP: its bytes after the NAL header (`headerBytes`: 1 for H.264, 2 for H.265) without emulation
 * prevention (00 00 03 -> 00 00).
 */
export function rbsp(nal: Uint8Array, headerBytes = 1): Uint8Array {
  const out = new Uint8Array(nal.length);
  let n = 0;
  let zeros = 0;
  for (let i = headerBytes; i < nal.length; i++) {
    const b = nal[i]!;
    if (zeros >= 2 && b === 3) {
      zeros = 0;
      continue;
    }
    zeros = b === 0 ? zeros + 1 : 0;
    out[n++] = b;
  }
  return out.subarray(0, n);
}

/** MSB-first bits of an RBSP, with Exp-Golomb codes; reading past the end throws a RangeError. */
export class Bits {
  #at = 0;
  constructor(readonly bytes: Uint8Array) {}

  bit(): number {
    const byte = this.bytes[this.#at >> 3];
    if (byte === undefined) throw new RangeError("SPS ends early");
    const b = (byte >> (7 - (this.#at & 7))) & 1;
    this.#at++;
    return b;
  }

  bits(n: number): number {
    let v = 0;
    for (let i = 0; i < n; i++) v = v * 2 + this.bit();
    return v;
  }

  /** ue(v): unsigned Exp-Golomb. */
  ue(): number {
    let zeros = 0;
    while (this.bit() === 0) {
      if (++zeros > 31) throw new RangeError("Exp-Golomb code longer than 32 bits");
    }
    return 2 ** zeros - 1 + this.bits(zeros);
  }

  /** se(v): signed Exp-Golomb. */
  se(): number {
    const k = this.ue();
    return k % 2 === 1 ? (k + 1) / 2 : -(k / 2);
  }
}
