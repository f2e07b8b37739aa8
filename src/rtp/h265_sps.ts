/**
 * What a player's decoder configuration needs from an H.265 sequence parameter set (ITU-T H.265 §7.3.2.2): the
 * profile, tier, level and constraints (the `hvc1.…` codec string, ISO/IEC 14496-15 annex E), the picture's size
 * after the conformance window, chroma format and bit depths; and the HEVC decoder configuration record
 * (ISO/IEC 14496-15 §8.3.3.1, `hvcC`) built from the VPS, SPS and PPS.
 * Sans-I/O; a malformed SPS gives null, never a throw.
 * @module
 */
import { Bits, rbsp } from "./rbsp_bits.ts";

/** What an H.265 SPS describes. */
export interface H265SpsInfo {
  readonly width: number;
  readonly height: number;
  /** `hvc1.` codec string, as MSE names it. */
  readonly codec: string;
  /** general_profile_space, tier_flag, profile_idc in one byte, as hvcC stores it. */
  readonly profileByte: number;
  readonly compatibility: number;
  /** The 48 bits of general constraint flags (6 bytes). */
  readonly constraints: Uint8Array;
  readonly levelIdc: number;
  readonly chromaFormatIdc: number;
  readonly bitDepthLuma: number;
  readonly bitDepthChroma: number;
  readonly maxSubLayers: number;
  readonly temporalIdNesting: boolean;
}

/** Reads an H.265 SPS NAL unit (with its 2-byte header). */
export function parseH265Sps(nal: Uint8Array): H265SpsInfo | null {
  if (nal.length < 4 || ((nal[0]! >> 1) & 0x3f) !== 33) return null;
  try {
    const bytes = rbsp(nal, 2);
    const b = new Bits(bytes);
    b.bits(4); // sps_video_parameter_set_id
    const maxSubLayersMinus1 = b.bits(3);
    const temporalIdNesting = b.bit() === 1;
    // profile_tier_level(1, maxSubLayersMinus1): the general part is 12 bytes, read as bytes.
    const profileByte = b.bits(8);
    const compatibility = b.bits(32) >>> 0;
    const constraints = new Uint8Array(6);
    for (let i = 0; i < 6; i++) constraints[i] = b.bits(8);
    const levelIdc = b.bits(8);
    const subLayerProfile: boolean[] = [];
    const subLayerLevel: boolean[] = [];
    for (let i = 0; i < maxSubLayersMinus1; i++) {
      subLayerProfile.push(b.bit() === 1);
      subLayerLevel.push(b.bit() === 1);
    }
    if (maxSubLayersMinus1 > 0) { for (let i = maxSubLayersMinus1; i < 8; i++) b.bits(2); }
    for (let i = 0; i < maxSubLayersMinus1; i++) {
      if (subLayerProfile[i]) b.bits(88);
      if (subLayerLevel[i]) b.bits(8);
    }
    b.ue(); // sps_seq_parameter_set_id
    const chromaFormatIdc = b.ue();
    if (chromaFormatIdc > 3) return null;
    if (chromaFormatIdc === 3) b.bit(); // separate_colour_plane_flag
    let width = b.ue();
    let height = b.ue();
    if (b.bit() === 1) {
      // The conformance window, in chroma samples.
      const subWidth = chromaFormatIdc === 1 || chromaFormatIdc === 2 ? 2 : 1;
      const subHeight = chromaFormatIdc === 1 ? 2 : 1;
      const left = b.ue();
      const right = b.ue();
      const top = b.ue();
      const bottom = b.ue();
      width -= subWidth * (left + right);
      height -= subHeight * (top + bottom);
    }
    const bitDepthLuma = b.ue() + 8;
    const bitDepthChroma = b.ue() + 8;
    if (width <= 0 || height <= 0 || width > 16384 || height > 16384 || bitDepthLuma > 16) return null;
    return {
      width,
      height,
      codec: codecString(profileByte, compatibility, constraints, levelIdc),
      profileByte,
      compatibility,
      constraints,
      levelIdc,
      chromaFormatIdc,
      bitDepthLuma,
      bitDepthChroma,
      maxSubLayers: maxSubLayersMinus1 + 1,
      temporalIdNesting,
    };
  } catch {
    return null;
  }
}

/** `hvc1.P.C.TL.B…` (ISO/IEC 14496-15 E.3): profile (with its space letter), reversed compatibility flags in hex,
 * tier and level, and the constraint bytes up to the last non-zero one. */
function codecString(
  profileByte: number,
  compatibility: number,
  constraints: Uint8Array,
  level: number,
): string {
  const space = ["", "A", "B", "C"][profileByte >> 6]!;
  const tier = (profileByte & 0x20) !== 0 ? "H" : "L";
  let reversed = 0;
  for (let i = 0; i < 32; i++) reversed = (reversed * 2) + ((compatibility >>> i) & 1);
  let last = constraints.length;
  while (last > 0 && constraints[last - 1] === 0) last--;
  const bytes = [...constraints.subarray(0, last)].map((c) => c.toString(16).toUpperCase());
  return [
    `hvc1.${space}${profileByte & 0x1f}`,
    reversed.toString(16).toUpperCase(),
    `${tier}${level}`,
    ...bytes,
  ]
    .join(".");
}

/** The `hvcC` record of a stream from its VPS, SPS and PPS (one of each, complete arrays). */
export function hevcDecoderConfig(
  vps: Uint8Array,
  sps: Uint8Array,
  pps: Uint8Array,
  info: H265SpsInfo,
): Uint8Array {
  const arrays = [[32, vps], [33, sps], [34, pps]] as const;
  const size = 23 + arrays.reduce((n, [, nal]) => n + 3 + 2 + nal.length, 0);
  const out = new Uint8Array(size);
  const v = new DataView(out.buffer);
  out[0] = 1; // configurationVersion
  out[1] = info.profileByte;
  v.setUint32(2, info.compatibility);
  out.set(info.constraints, 6);
  out[12] = info.levelIdc;
  v.setUint16(13, 0xf000); // min_spatial_segmentation_idc 0
  out[15] = 0xfc; // parallelismType 0
  out[16] = 0xfc | info.chromaFormatIdc;
  out[17] = 0xf8 | (info.bitDepthLuma - 8);
  out[18] = 0xf8 | (info.bitDepthChroma - 8);
  v.setUint16(19, 0); // avgFrameRate unknown
  // constantFrameRate 0, numTemporalLayers, temporalIdNested, lengthSizeMinusOne 3
  out[21] = ((info.maxSubLayers & 7) << 3) | (info.temporalIdNesting ? 4 : 0) | 3;
  out[22] = arrays.length;
  let at = 23;
  for (const [type, nal] of arrays) {
    out[at] = 0x80 | type; // array_completeness 1
    v.setUint16(at + 1, 1);
    v.setUint16(at + 3, nal.length);
    out.set(nal, at + 5);
    at += 5 + nal.length;
  }
  return out;
}
