/**
 * Fragmented MP4 of one H.264 track for Media Source Extensions (issue 18): an initialization segment (`ftyp` and
 * `moov` with the `avcC` decoder configuration and `mvex`), then one fragment (`moof` and `mdat`) per picture, so a
 * browser plays each picture as it arrives.
 *
 * The initialization segment is mp4box's (the codec-specific boxes are where a hand-written muxer goes wrong). The
 * per-picture fragment is three small fixed-layout boxes written here: mp4box's writer keeps every sample and box
 * it made for the life of the file (a live stream's memory would grow without end), and mediabunny's fragmented
 * writer cuts fragments only at keyframes (a viewer would wait a whole GOP for each fragment).
 * Sans-I/O: pictures in, bytes out.
 * @module
 */
import { createFile, ISOFile } from "mp4box";
import type { AccessUnit } from "../rtp/h264_depacketizer.ts";
import { avcDecoderConfig, parseSps, type SpsInfo } from "../rtp/h264_sps.ts";

/** The RTP clock of H.264, used as the track's timescale (decode times are RTP timestamps, unwrapped). */
export const H264_TIMESCALE = 90_000;

/** Sample flags (ISO/IEC 14496-12 §8.8.3.1): a sync sample, or one that depends on others and is not sync. */
const SYNC_FLAGS = 0x02000000;
const NON_SYNC_FLAGS = 0x01010000;
/** Sizes of the boxes of one picture's fragment. */
const MFHD = 16;
const TFHD = 16;
const TFDT = 20;
const TRUN = 32;
const TRAF = 8 + TFHD + TFDT + TRUN;
const MOOF = 8 + MFHD + TRAF;

/** What the browser needs to open a SourceBuffer and decode the track. */
export interface Fmp4Init {
  /** `video/mp4; codecs="avc1.PPCCLL"`. */
  readonly mime: string;
  readonly width: number;
  readonly height: number;
  readonly bytes: Uint8Array;
}

/**
 * The initialization segment of an H.264 track from its SPS and PPS.
 * @returns null when the SPS cannot be read
 */
export function initSegment(sps: Uint8Array, pps: Uint8Array): Fmp4Init | null {
  const info: SpsInfo | null = parseSps(sps);
  if (!info) return null;
  const file = createFile();
  const avcc = avcDecoderConfig(sps, pps);
  file.addTrack({
    type: "avc1",
    width: info.width,
    height: info.height,
    timescale: H264_TIMESCALE,
    avcDecoderConfigRecord: avcc.buffer as ArrayBuffer,
  });
  const bytes = new Uint8Array(ISOFile.writeInitializationSegment(file.ftyp, file.moov, 0));
  return { mime: `video/mp4; codecs="${info.codec}"`, width: info.width, height: info.height, bytes };
}

/** The fragments of one track, one per picture, in decoding order. */
export class Fmp4Fragments {
  #sequence = 0;
  #lastTimestamp = -1;
  /** Decode time (in the timescale) of the last picture, unwrapped from 32-bit RTP timestamps. */
  #decodeTime = 0;
  #lastDuration = 3000;

  /**
   * The fragment of one picture: its NAL units as 4-byte length-prefixed samples.
   * @returns `moof` and `mdat`, one buffer
   */
  fragment(unit: AccessUnit): Uint8Array {
    if (this.#lastTimestamp >= 0) {
      const delta = (unit.timestamp - this.#lastTimestamp) >>> 0;
      // A picture out of order or a jump of more than 10 s (a new numbering): carry on at a nominal distance.
      const step = delta > 0 && delta < 10 * H264_TIMESCALE ? delta : this.#lastDuration;
      this.#decodeTime += step;
      this.#lastDuration = step;
    }
    this.#lastTimestamp = unit.timestamp;
    let size = 0;
    for (const nal of unit.nals) size += 4 + nal.length;
    const out = new Uint8Array(MOOF + 8 + size);
    const v = new DataView(out.buffer);
    let o = 0;
    const box = (length: number, type: string) => {
      v.setUint32(o, length);
      for (let i = 0; i < 4; i++) out[o + 4 + i] = type.charCodeAt(i);
      o += 8;
    };
    box(MOOF, "moof");
    box(MFHD, "mfhd");
    v.setUint32(o + 4, ++this.#sequence);
    o += 8;
    box(TRAF, "traf");
    box(TFHD, "tfhd");
    v.setUint32(o, 0x020000); // default-base-is-moof
    v.setUint32(o + 4, 1); // track_ID
    o += 8;
    box(TFDT, "tfdt");
    v.setUint32(o, 0x01000000); // version 1: a 64-bit base media decode time
    v.setBigUint64(o + 4, BigInt(this.#decodeTime));
    o += 12;
    box(TRUN, "trun");
    v.setUint32(o, 0x000701); // data offset, sample duration, size and flags present
    v.setUint32(o + 4, 1); // one sample
    v.setInt32(o + 8, MOOF + 8); // the sample's data, after the mdat header
    v.setUint32(o + 12, this.#lastDuration);
    v.setUint32(o + 16, size);
    v.setUint32(o + 20, unit.keyframe ? SYNC_FLAGS : NON_SYNC_FLAGS);
    o += 24;
    box(8 + size, "mdat");
    for (const nal of unit.nals) {
      v.setUint32(o, nal.length);
      out.set(nal, o + 4);
      o += 4 + nal.length;
    }
    return out;
  }
}
