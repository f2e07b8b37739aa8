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
import { createFile, FullBox, ISOFile } from "mp4box";
import { readAacConfig } from "../rtp/aac_depacketizer.ts";
import type { AccessUnit } from "../rtp/h264_depacketizer.ts";
import { avcDecoderConfig, parseSps, type SpsInfo } from "../rtp/h264_sps.ts";
import { hevcDecoderConfig, parseH265Sps } from "../rtp/h265_sps.ts";

/** The track ID of the video track (its own initialization segment) and of the audio track (another one). */
export const VIDEO_TRACK_ID = 1;
export const AUDIO_TRACK_ID = 2;

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
  const avcc = avcDecoderConfig(sps, pps);
  return videoInit(info, { type: "avc1", avcDecoderConfigRecord: avcc.buffer as ArrayBuffer });
}

/** mp4box's initialization segment of one video track of `info`'s size, with its sample entry's record. */
function videoInit(
  info: { width: number; height: number; codec: string },
  entry: { type: "avc1"; avcDecoderConfigRecord: ArrayBuffer } | {
    type: "hvc1";
    hevcDecoderConfigRecord: ArrayBuffer;
  },
): Fmp4Init {
  const file = createFile();
  file.addTrack({ ...entry, width: info.width, height: info.height, timescale: H264_TIMESCALE });
  const bytes = new Uint8Array(ISOFile.writeInitializationSegment(file.ftyp, file.moov, 0));
  return { mime: `video/mp4; codecs="${info.codec}"`, width: info.width, height: info.height, bytes };
}

/**
 * The initialization segment of an H.265 track from its VPS, SPS and PPS (`hvc1`: the parameter sets in the
 * `hvcC` record; browsers that decode HEVC in MSE play it, Chromium without a platform decoder says it cannot).
 * @returns null when the SPS cannot be read
 */
export function hevcInitSegment(vps: Uint8Array, sps: Uint8Array, pps: Uint8Array): Fmp4Init | null {
  const info = parseH265Sps(sps);
  if (!info) return null;
  const hvcc = hevcDecoderConfig(vps, sps, pps, info);
  return videoInit(info, { type: "hvc1", hevcDecoderConfigRecord: hvcc.buffer as ArrayBuffer });
}

/**
 * The initialization segment of an AAC track (its own SourceBuffer) from its AudioSpecificConfig: mp4box writes the
 * boxes, the `esds` descriptor (ISO/IEC 14496-1: ES, decoder configuration with the config, SL) is written here,
 * which mp4box only reads.
 * @returns null when the config cannot be read
 */
export function aacInitSegment(
  config: Uint8Array,
): (Omit<Fmp4Init, "width" | "height"> & { sampleRate: number }) | null {
  const info = readAacConfig(config);
  if (!info) return null;
  const file = createFile();
  // A FullBox of type esds with its payload: mp4box writes a box's `data` after its header.
  const esds = new FullBox() as FullBox & { type: string; data: Uint8Array };
  esds.type = "esds";
  esds.version = 0;
  esds.flags = 0;
  esds.data = esDescriptor(config);
  file.addTrack({
    id: AUDIO_TRACK_ID,
    type: "mp4a",
    hdlr: "soun",
    timescale: info.sampleRate,
    samplerate: info.sampleRate,
    channel_count: info.channels,
    samplesize: 16,
    description: esds,
  });
  const bytes = new Uint8Array(ISOFile.writeInitializationSegment(file.ftyp, file.moov, 0));
  return { mime: `audio/mp4; codecs="${info.codec}"`, sampleRate: info.sampleRate, bytes };
}

/** An ES_Descriptor of an MPEG-4 audio stream carrying `config` (ISO/IEC 14496-1 §7.2.6.5). */
function esDescriptor(config: Uint8Array): Uint8Array {
  const descriptor = (tag: number, body: number[]) => [tag, 0x80, 0x80, 0x80, body.length, ...body];
  const decoderSpecific = descriptor(0x05, [...config]);
  // objectTypeIndication 0x40 (MPEG-4 audio), streamType 5 (audio) << 2 | 1, buffer size and bitrates unknown (0).
  const decoderConfig = descriptor(0x04, [0x40, 0x15, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, ...decoderSpecific]);
  const sl = descriptor(0x06, [0x02]);
  return new Uint8Array(descriptor(0x03, [0, 1, 0, ...decoderConfig, ...sl]));
}

/** The fragments of one track, one per picture (or audio frame), in decoding order. */
export class Fmp4Fragments {
  readonly #timescale: number;
  readonly #trackId: number;
  #sequence = 0;
  #lastTimestamp = -1;
  /** Decode time (in the timescale) of the last sample, unwrapped from 32-bit RTP timestamps. */
  #decodeTime = 0;
  #lastDuration: number;

  /**
   * @param timescale the track's RTP clock (90 kHz for video, the sample rate for audio)
   * @param nominalDuration a sample's duration until two timestamps tell (a 25 fps picture, an AAC frame)
   */
  constructor(timescale = H264_TIMESCALE, nominalDuration = 3000, trackId = 1) {
    this.#timescale = timescale;
    this.#lastDuration = nominalDuration;
    this.#trackId = trackId;
  }

  /** The decode time of the last sample written, in seconds (another track starts its timeline there). */
  get seconds(): number {
    return this.#decodeTime / this.#timescale;
  }

  /** Starts the timeline at `seconds` (before the first sample): a track joining another one's. */
  startAt(seconds: number): void {
    if (this.#lastTimestamp < 0) this.#decodeTime = Math.max(0, Math.round(seconds * this.#timescale));
  }

  /**
   * The fragment of one picture: its NAL units as 4-byte length-prefixed samples.
   * @returns `moof` and `mdat`, one buffer
   */
  fragment(unit: AccessUnit): Uint8Array {
    let size = 0;
    for (const nal of unit.nals) size += 4 + nal.length;
    return this.#write(unit.timestamp, size, unit.keyframe ? SYNC_FLAGS : NON_SYNC_FLAGS, (out, v, o) => {
      for (const nal of unit.nals) {
        v.setUint32(o, nal.length);
        out.set(nal, o + 4);
        o += 4 + nal.length;
      }
    });
  }

  /** The fragment of one audio frame (every one a sync sample). */
  fragmentFrame(timestamp: number, data: Uint8Array): Uint8Array {
    return this.#write(timestamp, data.length, SYNC_FLAGS, (out, _v, o) => out.set(data, o));
  }

  #write(
    timestamp: number,
    size: number,
    flags: number,
    fill: (out: Uint8Array, v: DataView, at: number) => void,
  ): Uint8Array {
    if (this.#lastTimestamp >= 0) {
      const delta = (timestamp - this.#lastTimestamp) >>> 0;
      // A sample out of order or a jump of more than 10 s (a new numbering): carry on at a nominal distance.
      const step = delta > 0 && delta < 10 * this.#timescale ? delta : this.#lastDuration;
      this.#decodeTime += step;
      this.#lastDuration = step;
    }
    this.#lastTimestamp = timestamp;
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
    v.setUint32(o + 4, this.#trackId); // track_ID
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
    v.setUint32(o + 20, flags);
    o += 24;
    box(8 + size, "mdat");
    fill(out, v, o);
    return out;
  }
}
