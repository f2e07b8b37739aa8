/**
 * The ingress side of a track, sans-I/O and numbers only: RFC 3550 reception statistics of the upstream source,
 * continuity across restarts (a new SSRC or a confirmed sequence jump re-bases the numbering) and the output
 * numbering readers see. {@linkcode Track} feeds it every packet, whether it holds the bytes (portable plane,
 * TCP, mesh) or only the fast plane worker's digest of them, so both paths count and number alike.
 * @module
 */
import { RtpReceiverStats } from "../rtp/receiver_stats.ts";
import type { RtpRenumber } from "../rtp/packet.ts";
import type { RouteMap } from "../dataplane/route.ts";

/** A jump ahead beyond this many packets is no loss but a new numbering (RFC 3550 A.1 MAX_DROPOUT). */
const MAX_DROPOUT = 3000;
/** A packet this many behind or more is no reordering but a new numbering (RFC 3550 A.1 MAX_MISORDER). */
const MAX_MISORDER = 100;

/** {@linkcode TrackIngress.admit}: the packet is not forwarded (the first of a far jump, RFC 3550 A.1). */
export const ADMIT_DROP = -1;
/** {@linkcode TrackIngress.admit}: forwarded in the current numbering. */
export const ADMIT_OK = 0;
/** {@linkcode TrackIngress.admit}: forwarded, and the numbering was re-based for it. */
export const ADMIT_RESYNCED = 1;

/** Statistics, continuity and output numbering of one track's ingress. */
export class TrackIngress {
  readonly clockRate: number;
  stats: RtpReceiverStats;
  /** SSRC the statistics describe, -1 before the first packet. */
  statsSsrc = -1;
  synced = false;
  inSsrc = 0;
  seqDelta = 0;
  tsDelta = 0;
  /** Output sequence number and timestamp of the latest packet admitted. */
  lastOutSeq = 0;
  lastOutTs = 0;
  /** Arrival time of the latest packet admitted (seconds, the track's clock); 0 before any. */
  lastArrival = 0;
  hasOutput = false;
  /** The current ingress is a parent relay. */
  relayed = false;
  /** What mesh egresses apply to the output numbering: back to the relayed ingress's, or null (the output's). */
  meshMap: RtpRenumber | null = null;
  /** Re-bases so far (each a new input numbering: a new SSRC, a confirmed jump, a new ingress). */
  resyncs = 0;
  /** Sequence number of the latest packet taken from the ingress. */
  #lastInSeq = 0;
  /** The sequence number that would confirm a far jump as a new numbering, or -1. */
  #badSeq = -1;

  /** @param clockRate RTP clock rate of the track */
  constructor(clockRate: number) {
    this.clockRate = clockRate;
    this.stats = new RtpReceiverStats(clockRate);
  }

  /**
   * Accounts one valid RTP packet and numbers it: afterwards {@linkcode lastOutSeq} / {@linkcode lastOutTs} are
   * its output numbers (unless dropped).
   * @returns {@linkcode ADMIT_DROP}, {@linkcode ADMIT_OK} or {@linkcode ADMIT_RESYNCED}
   */
  admit(length: number, inSeq: number, inTs: number, ssrc: number, now: number, relayed: boolean): number {
    if (ssrc !== this.statsSsrc) {
      // A new source (camera restart, new publisher): its sequence space and clock are unrelated.
      if (this.statsSsrc >= 0) this.stats = new RtpReceiverStats(this.clockRate);
      this.statsSsrc = ssrc;
    }
    this.stats.update(inSeq, inTs, now, length);
    let resynced = !this.synced || ssrc !== this.inSsrc || relayed !== this.relayed;
    if (!resynced) {
      // The same SSRC jumping out of any plausible order is a new numbering (a mesh root that took over another's
      // SSRC, a sender restarted without a new SSRC): once the next packet confirms it, re-base as for a new SSRC
      // (RFC 3550 A.1: the first packet of the jump is not forwarded).
      const ahead = (inSeq - this.#lastInSeq) & 0xffff;
      if (ahead > MAX_DROPOUT && ahead < 0x10000 - MAX_MISORDER) {
        if (inSeq !== this.#badSeq) {
          this.#badSeq = (inSeq + 1) & 0xffff;
          return ADMIT_DROP;
        }
        resynced = true;
      }
    }
    this.#badSeq = -1;
    this.#lastInSeq = inSeq;
    if (resynced) this.#resync(inSeq, inTs, ssrc, now, relayed);
    this.lastOutSeq = (inSeq + this.seqDelta) & 0xffff;
    this.lastOutTs = (inTs + this.tsDelta) >>> 0;
    this.lastArrival = now;
    this.hasOutput = true;
    return resynced ? ADMIT_RESYNCED : ADMIT_OK;
  }

  /** The rewrite of the current upstream SSRC, null before sync. */
  rewrite(outSsrc: number): RouteMap | null {
    if (!this.synced) return null;
    return { ssrc: this.inSsrc, seqDelta: this.seqDelta, tsDelta: this.tsDelta, outSsrc };
  }

  #resync(inSeq: number, inTs: number, ssrc: number, now: number, relayed: boolean): void {
    if (this.hasOutput) {
      const elapsed = Math.max(0, now - this.lastArrival);
      this.seqDelta = (this.lastOutSeq + 1 - inSeq) & 0xffff;
      this.tsDelta = (this.lastOutTs + Math.round(elapsed * this.clockRate) - inTs) >>> 0;
    } else {
      this.seqDelta = 0;
      this.tsDelta = 0;
    }
    this.inSsrc = ssrc;
    this.synced = true;
    this.resyncs++;
    this.relayed = relayed;
    this.meshMap = relayed
      ? { ssrc, seqDelta: (0x10000 - this.seqDelta) & 0xffff, tsDelta: (0x100000000 - this.tsDelta) >>> 0 }
      : null;
  }
}
