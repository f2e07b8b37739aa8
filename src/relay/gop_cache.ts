/**
 * GOP cache: the RTP packets of a video track since its last keyframe (with the parameter sets sent in-band
 * before it), so a reader that joins mid-GOP gets a decodable picture at once instead of waiting up to a GOP.
 *
 * Sans-I/O: the track pushes every packet it forwards (already rewritten to the output sequence numbers and
 * timestamps, so the burst and the live packets that follow form one consistent RTP stream) and a new reader
 * replays {@linkcode GopCache.packets} before it goes live.
 * @module
 */
import { isKeyframeRtpPayload } from "../rtp/h264.ts";
import { isH265KeyframeRtpPayload } from "../rtp/h265.ts";
import { rtpPayloadOffset, rtpTimestamp } from "../rtp/packet.ts";
import type { ByteBudget } from "./memory_budget.ts";

/** Video codecs whose keyframes the cache recognises. */
export type GopCodec = "H264" | "H265";

/** The codec a GOP cache supports for an SDP encoding name, or null (audio, MJPEG, unknown). */
export function gopCodecOf(encoding: string | undefined): GopCodec | null {
  const name = encoding?.toUpperCase();
  if (name === "H264") return "H264";
  if (name === "H265" || name === "HEVC") return "H265";
  return null;
}

/** Counters of one cache. */
export interface GopCacheStats {
  /** Keyframes that started a new cached GOP. */
  gops: number;
  /** GOPs abandoned because they outgrew the byte or packet bound. */
  overflows: number;
  /** GOPs abandoned because the relay-wide memory budget had no room. */
  budgetRefusals: number;
}

/** Bytes per packet the packet bound assumes: a GOP of smaller packets hits the packet bound first. */
export const MIN_PACKET_BYTES_BOUND = 512;

/** Packets since the last keyframe of one track, bounded in bytes. */
export class GopCache {
  readonly codec: GopCodec;
  readonly maxBytes: number;
  /**
   * Bound on the packets held: a joining reader gets them all, so a GOP of tiny packets (an outsider's) must not
   * make each PLAY replay hundreds of thousands of them.
   */
  readonly maxPackets: number;
  readonly stats: GopCacheStats = { gops: 0, overflows: 0, budgetRefusals: 0 };
  readonly #budget: ByteBudget | null;
  #packets: Uint8Array[] = [];
  #bytes = 0;
  #keyTimestamp = 0;
  /** False before the first keyframe and after an overflow, until the next keyframe. */
  #collecting = false;

  /**
   * @param codec keyframe grammar to apply
   * @param maxBytes bound on the cached bytes; a GOP larger than this is not cached (nor one of more than
   *   `maxBytes / 512` packets)
   * @param budget the relay-wide memory budget the cached bytes are taken from, if any
   */
  constructor(codec: GopCodec, maxBytes: number, budget: ByteBudget | null = null) {
    this.codec = codec;
    this.maxBytes = maxBytes;
    this.maxPackets = Math.max(64, Math.ceil(maxBytes / MIN_PACKET_BYTES_BOUND));
    this.#budget = budget;
  }

  /** Which GOP the cache holds: it changes with each new keyframe (a reader that had this one needs no other). */
  get generation(): number {
    return this.stats.gops;
  }

  /** The cached packets, oldest first; empty when no complete GOP start is held. Do not mutate them. */
  get packets(): readonly Uint8Array[] {
    return this.#packets;
  }

  /** Bytes held. */
  get bytes(): number {
    return this.#bytes;
  }

  /**
   * Offers one forwarded RTP packet (valid RTP, owned by the caller and never mutated afterwards). A keyframe
   * packet with a new timestamp starts a new GOP; other packets extend the current one.
   */
  push(packet: Uint8Array): void {
    const start = rtpPayloadOffset(packet);
    // rtpPayloadOffset validated the padding count already: the end follows without a second pass.
    const end = start < 0
      ? -1
      : (packet[0]! & 0x20) !== 0
      ? packet.length - packet[packet.length - 1]!
      : packet.length;
    const payload = end <= start ? null : packet.subarray(start, end);
    const key = payload !== null &&
      (this.codec === "H264" ? isKeyframeRtpPayload(payload) : isH265KeyframeRtpPayload(payload));
    if (key) {
      const ts = rtpTimestamp(packet);
      // Parameter sets and the IDR slices of one access unit share a timestamp: they belong to one GOP start.
      if (!this.#collecting || ts !== this.#keyTimestamp) {
        this.#drop();
        this.#keyTimestamp = ts;
        this.#collecting = true;
        this.stats.gops++;
      }
    }
    if (!this.#collecting) return;
    if (this.#bytes + packet.length > this.maxBytes || this.#packets.length >= this.maxPackets) {
      this.stats.overflows++;
      this.clear();
      return;
    }
    if (this.#budget && !this.#budget.reserve(packet.length)) {
      this.stats.budgetRefusals++;
      this.clear();
      return;
    }
    this.#packets.push(packet);
    this.#bytes += packet.length;
  }

  /** Forgets everything until the next keyframe (upstream restart, overflow, the track closing). */
  clear(): void {
    this.#drop();
    this.#collecting = false;
  }

  #drop(): void {
    this.#budget?.release(this.#bytes);
    this.#packets = [];
    this.#bytes = 0;
  }
}
