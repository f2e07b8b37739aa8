/**
 * GOP cache: the RTP packets of a video track since its last keyframe (with the parameter sets sent in-band
 * before it), so a reader that joins mid-GOP gets a decodable picture at once instead of waiting up to a GOP.
 *
 * Sans-I/O: the track pushes every packet it forwards (already rewritten to the output sequence numbers and
 * timestamps, so the burst and the live packets that follow form one consistent RTP stream) and a new reader
 * replays {@linkcode GopCache.packets} before it goes live.
 *
 * On the fast data plane, where the worker forwarded a packet itself and kept its bytes in a shared
 * {@linkcode PacketRing}, the track pushes a reference instead ({@linkcode GopCache.pushRef}): numbers only, no
 * copy. {@linkcode GopCache.packets} turns references into packets when a reader joins (rare); a reference the
 * worker already overwrote makes the whole GOP unavailable (cleared and counted), never a wrong packet.
 * @module
 */
import { isKeyframeRtpAt, type KeyframeCodec } from "../rtp/keyframe.ts";
import { rtpTimestamp, setRtpSequence, setRtpSsrc, setRtpTimestamp } from "../rtp/packet.ts";
import type { PacketRing } from "../dataplane/packet_ring.ts";
import type { ByteBudget } from "./memory_budget.ts";

/** Video codecs whose keyframes the cache recognises. */
export type GopCodec = KeyframeCodec;

/** The codec a GOP cache supports for an SDP encoding name, or null (audio, MJPEG, unknown). */
export function gopCodecOf(encoding: string | undefined): GopCodec | null {
  const name = encoding?.toUpperCase();
  if (name === "H264") return "H264";
  if (name === "H265" || name === "HEVC") return "H265";
  return null;
}

/** Bytes of the fast plane's ring of an audio (or other uncached) track: packets in flight only. */
export const AUDIO_RING_BYTES = 256 * 1024;
/** Bytes of the fast plane's first ring of a video track. */
export const VIDEO_RING_BYTES = 1024 * 1024;

/** Largest ring the main thread's lag grows a ring to (see {@linkcode digestRingBytes}). */
export const MAX_STARVED_RING_BYTES = 4 * 1024 * 1024;

/**
 * Bytes of the ring the fast plane's worker keeps a track's forwarded packets in (see packet_ring.ts): what the
 * track's packets in flight need, and for a GOP cache twice what it holds, so its references survive until the
 * next keyframe; it doubles once the cache fills half of it, up to twice the cache's bound. It doubles too, up to
 * {@linkcode MAX_STARVED_RING_BYTES}, when it was `starved`: the main thread lagged more than it holds, and the
 * worker had to post packets' bytes.
 * @param current the ring's size now, 0 without one
 */
export function digestRingBytes(gop: GopCache | undefined, current: number, starved = false): number {
  const base = Math.max(current, gop ? VIDEO_RING_BYTES : AUDIO_RING_BYTES);
  if (starved && current > 0 && current < MAX_STARVED_RING_BYTES) return Math.max(base, current * 2);
  if (!gop) return base;
  let bytes = base;
  while (gop.bytes * 2 > bytes && bytes < 2 * gop.maxBytes) bytes *= 2;
  return bytes;
}

/** Counters of one cache. */
export interface GopCacheStats {
  /** Keyframes that started a new cached GOP. */
  gops: number;
  /** GOPs abandoned because they outgrew the byte or packet bound. */
  overflows: number;
  /** GOPs abandoned because the relay-wide memory budget had no room. */
  budgetRefusals: number;
  /** GOPs lost because the fast plane's ring overwrote a referenced packet before a reader needed it. */
  ringMisses: number;
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
  readonly stats: GopCacheStats = { gops: 0, overflows: 0, budgetRefusals: 0, ringMisses: 0 };
  readonly #budget: ByteBudget | null;
  /** The entries, oldest first: a packet, or null for a reference (its fields at the same index below). */
  #packets: Array<Uint8Array | null> = [];
  /** References held among {@linkcode #packets}. */
  #refs = 0;
  #refRings: Array<PacketRing | null> = [];
  /** Per entry index: ring position, length, output sequence number, timestamp and SSRC of a reference. */
  #refFields = new Uint32Array(0);
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

  /**
   * The cached packets, oldest first; empty when no complete GOP start is held. Do not mutate them. References
   * are copied out of their ring here (and kept as packets from then on); when one was overwritten, the GOP is
   * dropped ({@linkcode GopCacheStats.ringMisses}) and this is empty.
   */
  get packets(): readonly Uint8Array[] {
    if (this.#refs > 0) this.#materialize();
    return this.#packets as Uint8Array[];
  }

  /** Packets held (references included). */
  get length(): number {
    return this.#packets.length;
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
    const key = isKeyframeRtpAt(this.codec, packet, 0, packet.length);
    if (this.#admit(key, rtpTimestamp(packet), packet.length)) this.#packets.push(packet);
  }

  /**
   * Offers one forwarded RTP packet by reference, as {@linkcode push} does with its bytes: the original datagram
   * (upstream numbering) of `length` bytes at `position` of `ring`, which readers get rewritten to the output
   * numbering given here.
   * @param keyframe whether the packet starts a keyframe (the worker applied the same grammar)
   */
  pushRef(
    ring: PacketRing,
    position: number,
    length: number,
    outSeq: number,
    outTs: number,
    outSsrc: number,
    keyframe: boolean,
  ): void {
    if (!this.#admit(keyframe, outTs, length)) return;
    const i = this.#packets.length;
    if ((i + 1) * 5 > this.#refFields.length) {
      // At least to this entry: packets pushed whole take indices too, so i may have moved far past the fields.
      const grown = new Uint32Array(Math.max(64, this.#refFields.length * 2, (i + 1) * 10));
      grown.set(this.#refFields);
      this.#refFields = grown;
    }
    const f = this.#refFields;
    f[i * 5] = position;
    f[i * 5 + 1] = length;
    f[i * 5 + 2] = outSeq;
    f[i * 5 + 3] = outTs;
    f[i * 5 + 4] = outSsrc;
    this.#refRings[i] = ring;
    this.#packets.push(null);
    this.#refs++;
  }

  /** The keyframe and bound logic of both pushes: true when the packet is to be appended. */
  #admit(key: boolean, ts: number, length: number): boolean {
    if (key) {
      // Parameter sets and the IDR slices of one access unit share a timestamp: they belong to one GOP start.
      if (!this.#collecting || ts !== this.#keyTimestamp) {
        this.#drop();
        this.#keyTimestamp = ts;
        this.#collecting = true;
        this.stats.gops++;
      }
    }
    if (!this.#collecting) return false;
    if (this.#bytes + length > this.maxBytes || this.#packets.length >= this.maxPackets) {
      this.stats.overflows++;
      this.clear();
      return false;
    }
    if (this.#budget && !this.#budget.reserve(length)) {
      this.stats.budgetRefusals++;
      this.clear();
      return false;
    }
    this.#bytes += length;
    return true;
  }

  /** Copies every reference out of its ring, rewritten to the output numbering; drops the GOP if one is gone. */
  #materialize(): void {
    const packets = this.#packets;
    const f = this.#refFields;
    for (let i = 0; i < packets.length; i++) {
      if (packets[i] !== null) continue;
      const copy = this.#refRings[i]!.copyOut(f[i * 5]!, f[i * 5 + 1]!);
      if (copy === null) {
        this.stats.ringMisses++;
        this.clear();
        return;
      }
      setRtpSequence(copy, f[i * 5 + 2]!);
      setRtpTimestamp(copy, f[i * 5 + 3]!);
      setRtpSsrc(copy, f[i * 5 + 4]!);
      packets[i] = copy;
      this.#refRings[i] = null;
    }
    this.#refs = 0;
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
    if (this.#refs > 0 || this.#refRings.length > 0) this.#refRings = [];
    this.#refs = 0;
  }
}
