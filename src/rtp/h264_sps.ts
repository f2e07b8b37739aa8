/**
 * What a player's decoder configuration needs from an H.264 sequence parameter set (ITU-T H.264 §7.3.2.1.1): the
 * profile, constraints and level (the `avc1.PPCCLL` codec string) and the picture's size after cropping, and the
 * AVC decoder configuration record (ISO/IEC 14496-15 §5.3.3.1, `avcC`) built from the SPS and PPS.
 * Sans-I/O; a malformed SPS gives null, never a throw.
 * @module
 */

import { Bits, rbsp } from "./rbsp_bits.ts";

/** The picture size and profile an SPS describes. */
export interface SpsInfo {
  readonly width: number;
  readonly height: number;
  /** `avc1.` and six hex digits (profile_idc, constraint flags, level_idc), as MSE and WebCodecs name it. */
  readonly codec: string;
}

/** Profiles whose SPS carries chroma format, bit depths and scaling matrices (§7.3.2.1.1). */
const HIGH_PROFILES = new Set([100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135]);

/** Skips a scaling list of `size` entries (§7.3.2.1.1.1). */
function skipScalingList(b: Bits, size: number): void {
  let last = 8;
  let next = 8;
  for (let j = 0; j < size; j++) {
    if (next !== 0) next = (last + b.se() + 256) % 256;
    last = next === 0 ? last : next;
  }
}

/** Size and codec of an SPS NAL unit (with its header byte), or null when it is not one or is malformed. */
export function parseSps(nal: Uint8Array): SpsInfo | null {
  if (nal.length < 4 || (nal[0]! & 0x1f) !== 7) return null;
  try {
    const b = new Bits(rbsp(nal));
    const profile = b.bits(8);
    b.bits(16); // constraint flags, level_idc
    b.ue(); // seq_parameter_set_id
    let chroma = 1;
    let separateColourPlane = 0;
    if (HIGH_PROFILES.has(profile)) {
      chroma = b.ue();
      if (chroma === 3) separateColourPlane = b.bit();
      b.ue(); // bit_depth_luma_minus8
      b.ue(); // bit_depth_chroma_minus8
      b.bit(); // qpprime_y_zero_transform_bypass_flag
      if (b.bit()) {
        for (let i = 0; i < (chroma === 3 ? 12 : 8); i++) if (b.bit()) skipScalingList(b, i < 6 ? 16 : 64);
      }
    }
    b.ue(); // log2_max_frame_num_minus4
    const pocType = b.ue();
    if (pocType === 0) b.ue();
    else if (pocType === 1) {
      b.bit();
      b.se();
      b.se();
      const n = b.ue();
      for (let i = 0; i < n; i++) b.se();
    }
    b.ue(); // max_num_ref_frames
    b.bit(); // gaps_in_frame_num_value_allowed_flag
    const widthMbs = b.ue() + 1;
    const heightUnits = b.ue() + 1;
    const frameMbsOnly = b.bit();
    if (!frameMbsOnly) b.bit(); // mb_adaptive_frame_field_flag
    b.bit(); // direct_8x8_inference_flag
    let crop = [0, 0, 0, 0];
    if (b.bit()) crop = [b.ue(), b.ue(), b.ue(), b.ue()];
    const chromaArray = separateColourPlane ? 0 : chroma;
    const cropX = chromaArray === 0 ? 1 : chromaArray === 3 ? 1 : 2;
    const cropY = (chromaArray === 1 ? 2 : 1) * (2 - frameMbsOnly);
    const width = widthMbs * 16 - cropX * (crop[0]! + crop[1]!);
    const height = (2 - frameMbsOnly) * heightUnits * 16 - cropY * (crop[2]! + crop[3]!);
    if (width <= 0 || height <= 0) return null;
    const hex = [nal[1]!, nal[2]!, nal[3]!].map((x) => x.toString(16).padStart(2, "0")).join("");
    return { width, height, codec: `avc1.${hex}` };
  } catch {
    return null;
  }
}

/** The AVC decoder configuration record (`avcC`) of one SPS and one PPS (lengths of 4 bytes). */
export function avcDecoderConfig(sps: Uint8Array, pps: Uint8Array): Uint8Array {
  const out = new Uint8Array(11 + sps.length + pps.length);
  out.set([1, sps[1]!, sps[2]!, sps[3]!, 0xff, 0xe1, sps.length >> 8, sps.length & 0xff]);
  out.set(sps, 8);
  const at = 8 + sps.length;
  out.set([1, pps.length >> 8, pps.length & 0xff], at);
  out.set(pps, at + 3);
  return out;
}
