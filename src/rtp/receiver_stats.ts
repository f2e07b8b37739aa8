/**
 * Per-source RTP reception statistics after RFC 3550 appendix A: sequence number validation and
 * loss accounting (A.1), fraction lost per reporting interval (A.3) and interarrival jitter (A.8),
 * plus duplicate and reordering counts, and the fields of an RTCP receiver report block. One departure from
 * A.1: a packet that arrives late from before the first counted one is not counted as received (it was never
 * expected), so reordering at the start cannot hide losses.
 *
 * {@link RtpReceiverStats.update} runs once per received packet and allocates nothing. Time is
 * injected: callers pass the arrival time in seconds from any monotonic clock.
 * @module
 */

import type { ReportBlock } from "./rtcp.ts";

/** Sequence number space (2^16). */
export const RTP_SEQ_MOD = 0x10000;
/** Largest forward jump still taken as in-order (packets lost in between). */
export const MAX_DROPOUT = 3000;
/** Farthest a late packet may trail the highest sequence and still count as reordered. */
export const MAX_MISORDER = 100;
/** In-sequence packets required before a new source is trusted. */
export const MIN_SEQUENTIAL = 2;

/** Recent sequence numbers remembered for duplicate detection (covers {@link MAX_MISORDER}). */
const WINDOW = 128;

/**
 * What {@link RtpReceiverStats.update} made of a packet:
 * - `ok`: in order (possibly after a gap), counted;
 * - `reordered`: late but within {@link MAX_MISORDER} and not seen before, counted;
 * - `duplicate`: a sequence number already received recently, counted as received per RFC 3550;
 * - `probation`: the source is not yet validated ({@link MIN_SEQUENTIAL}), not counted;
 * - `bad_sequence`: a jump too large to trust, not counted; the same jump twice resyncs;
 * - `resync`: the second packet of a confirmed jump; statistics restart from it (counted).
 */
export type RtpUpdateResult = "ok" | "duplicate" | "reordered" | "probation" | "bad_sequence" | "resync";

/** Cumulative statistics of one source, see {@link RtpReceiverStats.snapshot}. */
export interface RtpReceiverSnapshot {
  /** True once the source passed probation. */
  valid: boolean;
  /** Packets received since validation or the last resync, duplicates included (RFC 3550 A.3). */
  received: number;
  /** Packets expected: extended highest sequence - base sequence + 1 (0 before validation). */
  expected: number;
  /** expected - received; negative when duplicates outnumber losses (RFC 3550 §6.4.1). */
  lost: number;
  /** `lost` clamped at 0, as an RR reports it. */
  lostReported: number;
  /**
   * Packets that never arrived: expected minus distinct packets received (duplicates do not hide a loss, as
   * they do in `lost`), since validation or the last resync. What the relay exports as its loss counter.
   */
  missing: number;
  /** First sequence number counted, since validation or the last resync. */
  baseSeq: number;
  /** Highest sequence number with its wrap count: cycles * 65536 + highest sequence. */
  extendedHighestSeq: number;
  /** Interarrival jitter in RTP timestamp units (fractional). */
  jitterTimestampUnits: number;
  /** Interarrival jitter in seconds (jitter / clock rate). */
  jitterSeconds: number;
  /** Duplicate packets seen (monotonic). */
  duplicates: number;
  /** Late packets that filled a gap (monotonic). */
  reordered: number;
  /** Packets rejected as a sequence jump (monotonic). */
  badSequence: number;
  /** Times statistics restarted after a confirmed jump (monotonic). */
  resyncs: number;
  /** Every packet passed to update, whatever its verdict (monotonic). */
  packets: number;
  /** Sum of the `bytes` of every packet passed to update (monotonic). */
  bytes: number;
}

/** One reporting interval, see {@link RtpReceiverStats.intervalReport}. */
export interface RtpIntervalReport {
  /** Lost fraction of the interval in 1/256 units, 0..255 (0 when nothing was lost). */
  fractionLost: number;
  /** Packets expected during the interval. */
  expectedInterval: number;
  /** Packets received during the interval. */
  receivedInterval: number;
  /** expectedInterval - receivedInterval (may be negative). */
  lostInterval: number;
}

/**
 * Reception statistics of one RTP source (one SSRC). Feed every received packet to
 * {@link update}; read {@link snapshot} for metrics and {@link reportBlock} when sending an RR.
 */
export class RtpReceiverStats {
  /** RTP clock rate from the SDP (`a=rtpmap`), used to convert arrival times. */
  readonly clockRate: number;

  #started = false;
  #valid = false;
  #probation = 0;
  #maxSeq = 0;
  #baseSeq = 0;
  #badSeq = RTP_SEQ_MOD + 1;
  #cycles = 0; // multiple of RTP_SEQ_MOD
  #received = 0;
  #receivedPrior = 0;
  #expectedPrior = 0;

  #haveTransit = false;
  #lastArrivalUnits = 0;
  #lastTimestamp = 0;
  #jitter = 0;

  #packets = 0;
  #bytes = 0;
  #duplicates = 0;
  /** Duplicates counted in `#received` since validation or the last resync. */
  #duplicatesCounted = 0;
  #reordered = 0;
  #badSequence = 0;
  #resyncs = 0;

  #lsr = 0;
  #srArrival = Number.NaN;

  /** Bit `s % 128` is set when sequence `s` was received; covers the 128 below the highest. */
  readonly #seen = new Uint32Array(WINDOW / 32);

  /**
   * Creates the statistics of one source, before its first packet.
   * @param clockRate RTP clock rate in Hz (90000 for video, the sample rate for most audio)
   * @throws RangeError when the clock rate is not positive
   */
  constructor(clockRate: number) {
    if (!(clockRate > 0)) throw new RangeError(`clock rate ${clockRate} must be positive`);
    this.clockRate = clockRate;
  }

  /**
   * Accounts one received packet (RFC 3550 A.1 and A.8). No allocation.
   * @param seq RTP sequence number
   * @param rtpTimestamp RTP timestamp of the packet
   * @param arrivalSeconds arrival time in seconds, from a monotonic clock
   * @param bytes size to add to the byte count (packet or payload, as the caller prefers)
   */
  update(seq: number, rtpTimestamp: number, arrivalSeconds: number, bytes: number): RtpUpdateResult {
    seq &= 0xffff;
    this.#packets++;
    this.#bytes += bytes;
    if (!this.#started) {
      this.#started = true;
      this.#initSeq(seq);
      this.#maxSeq = (seq - 1) & 0xffff;
      this.#probation = MIN_SEQUENTIAL;
    }
    if (this.#probation > 0) {
      if (seq === ((this.#maxSeq + 1) & 0xffff)) {
        this.#probation--;
        this.#maxSeq = seq;
        if (this.#probation === 0) {
          this.#initSeq(seq);
          this.#valid = true;
          this.#received++;
          this.#jitterUpdate(rtpTimestamp, arrivalSeconds);
          return "ok";
        }
      } else {
        this.#probation = MIN_SEQUENTIAL - 1;
        this.#maxSeq = seq;
      }
      // Only a baseline for jitter: the next packet measures against this one.
      this.#haveTransit = false;
      this.#jitterUpdate(rtpTimestamp, arrivalSeconds);
      return "probation";
    }

    const udelta = (seq - this.#maxSeq) & 0xffff;
    if (udelta < MAX_DROPOUT) {
      if (udelta === 0) {
        this.#duplicates++;
        this.#duplicatesCounted++;
        this.#received++;
        return "duplicate";
      }
      if (seq < this.#maxSeq) this.#cycles += RTP_SEQ_MOD;
      this.#advanceWindow(udelta, seq);
      this.#maxSeq = seq;
      this.#received++;
      this.#jitterUpdate(rtpTimestamp, arrivalSeconds);
      return "ok";
    }
    if (udelta <= RTP_SEQ_MOD - MAX_MISORDER) {
      if (seq === this.#badSeq) {
        // Two packets in a row after the jump: the source restarted (or skipped); start over.
        this.#initSeq(seq);
        this.#resyncs++;
        this.#received++;
        this.#haveTransit = false;
        this.#jitterUpdate(rtpTimestamp, arrivalSeconds);
        return "resync";
      }
      this.#badSeq = (seq + 1) & 0xffff;
      this.#badSequence++;
      return "bad_sequence";
    }
    // Within MAX_MISORDER behind the highest: a duplicate or a late packet. One from before the first counted
    // packet (overtaken by it at the start) is outside the statistics: RFC 3550 A.1 would count it received
    // though it was never expected, hiding a later loss.
    const counted = this.#cycles + this.#maxSeq - ((this.#maxSeq - seq) & 0xffff) >= this.#baseSeq;
    if (counted) this.#received++;
    const word = (seq >>> 5) & (WINDOW / 32 - 1);
    const bit = 1 << (seq & 31);
    if ((this.#seen[word]! & bit) !== 0) {
      this.#duplicates++;
      if (counted) this.#duplicatesCounted++;
      return "duplicate";
    }
    this.#seen[word] = this.#seen[word]! | bit;
    this.#reordered++;
    this.#jitterUpdate(rtpTimestamp, arrivalSeconds);
    return "reordered";
  }

  /**
   * Records the arrival of a sender report from this source, for the LSR and DLSR fields of the
   * next report block.
   * @param ntpMiddle32 middle 32 bits of the SR's NTP timestamp (see `ntpMiddle32` in rtp/rtcp.ts)
   * @param arrivalSeconds arrival time, same clock as {@link update}
   */
  noteSenderReport(ntpMiddle32: number, arrivalSeconds: number): void {
    this.#lsr = ntpMiddle32 >>> 0;
    this.#srArrival = arrivalSeconds;
  }

  /** True once the source passed probation (a report block would carry figures). */
  get valid(): boolean {
    return this.#valid;
  }

  /** Cumulative statistics; allocates the result object. */
  snapshot(): RtpReceiverSnapshot {
    const expected = this.#expected();
    const lost = expected - this.#received;
    return {
      valid: this.#valid,
      received: this.#received,
      expected,
      lost,
      lostReported: Math.max(0, lost),
      missing: Math.max(0, lost + this.#duplicatesCounted),
      baseSeq: this.#baseSeq,
      extendedHighestSeq: this.#cycles + this.#maxSeq,
      jitterTimestampUnits: this.#jitter,
      jitterSeconds: this.#jitter / this.clockRate,
      duplicates: this.#duplicates,
      reordered: this.#reordered,
      badSequence: this.#badSequence,
      resyncs: this.#resyncs,
      packets: this.#packets,
      bytes: this.#bytes,
    };
  }

  /**
   * Packets missing (as {@link RtpReceiverSnapshot.missing}) except those among the newest `horizon` sequence
   * numbers: a gap that young may still be filled by a late packet, so a monotonic loss counter should not count
   * it yet. No allocation.
   * @param horizon sequence numbers below the highest still open to reordering, at most 128
   */
  missingSettled(horizon: number): number {
    if (!this.#valid) return 0;
    const expected = this.#expected();
    const missing = expected - (this.#received - this.#duplicatesCounted);
    const n = Math.min(horizon, WINDOW, expected);
    let open = 0;
    for (let k = 1; k < n; k++) {
      const s = (this.#maxSeq - k) & 0xffff;
      if ((this.#seen[(s >>> 5) & (WINDOW / 32 - 1)]! & (1 << (s & 31))) === 0) open++;
    }
    return Math.max(0, missing - open);
  }

  /**
   * Closes the current reporting interval (RFC 3550 A.3): the packets expected and received since
   * the previous call, and the fraction lost. Starts the next interval.
   */
  intervalReport(): RtpIntervalReport {
    const expected = this.#expected();
    const expectedInterval = expected - this.#expectedPrior;
    const receivedInterval = this.#received - this.#receivedPrior;
    this.#expectedPrior = expected;
    this.#receivedPrior = this.#received;
    const lostInterval = expectedInterval - receivedInterval;
    const fractionLost = expectedInterval === 0 || lostInterval <= 0
      ? 0
      : Math.min(255, Math.floor((lostInterval * 256) / expectedInterval));
    return { fractionLost, expectedInterval, receivedInterval, lostInterval };
  }

  /**
   * The report block describing this source in an RTCP RR or SR. Closes the reporting interval
   * ({@link intervalReport}). Cumulative loss is clamped to signed 24 bits, jitter truncated to
   * whole timestamp units; LSR/DLSR come from the last {@link noteSenderReport} (0 without one).
   * @param ssrc the source's SSRC
   * @param nowSeconds the time the report is built, same clock as {@link update}
   */
  reportBlock(ssrc: number, nowSeconds: number): ReportBlock {
    const { fractionLost } = this.intervalReport();
    const lost = this.#expected() - this.#received;
    const haveSr = !Number.isNaN(this.#srArrival);
    const dlsr = haveSr ? Math.floor((nowSeconds - this.#srArrival) * 65536) : 0;
    return {
      ssrc: ssrc >>> 0,
      fractionLost,
      cumulativeLost: Math.max(-0x800000, Math.min(0x7fffff, lost)),
      highestSeq: (this.#cycles + this.#maxSeq) >>> 0,
      jitter: Math.min(0xffffffff, Math.trunc(this.#jitter)),
      lsr: haveSr ? this.#lsr : 0,
      dlsr: Math.max(0, Math.min(0xffffffff, dlsr)),
    };
  }

  #expected(): number {
    return this.#valid ? this.#cycles + this.#maxSeq - this.#baseSeq + 1 : 0;
  }

  #initSeq(seq: number): void {
    this.#baseSeq = seq;
    this.#maxSeq = seq;
    this.#badSeq = RTP_SEQ_MOD + 1;
    this.#cycles = 0;
    this.#received = 0;
    this.#duplicatesCounted = 0;
    this.#receivedPrior = 0;
    this.#expectedPrior = 0;
    this.#seen.fill(0);
    this.#seen[(seq >>> 5) & (WINDOW / 32 - 1)]! |= 1 << (seq & 31);
  }

  /** Moves the window from the old highest sequence up by `delta` to `seq`, marking `seq` seen. */
  #advanceWindow(delta: number, seq: number): void {
    const seen = this.#seen;
    if (delta >= WINDOW) {
      seen.fill(0);
    } else {
      // Forget the sequence numbers 128 below each newly covered one.
      for (let k = delta - 1; k >= 1; k--) {
        const s = (seq - k) & 0xffff;
        seen[(s >>> 5) & (WINDOW / 32 - 1)]! &= ~(1 << (s & 31));
      }
    }
    seen[(seq >>> 5) & (WINDOW / 32 - 1)]! |= 1 << (seq & 31);
  }

  /** RFC 3550 A.8: J += (|D| - J) / 16, D the change in transit time between consecutive arrivals. */
  #jitterUpdate(rtpTimestamp: number, arrivalSeconds: number): void {
    const arrivalUnits = arrivalSeconds * this.clockRate;
    const ts = rtpTimestamp >>> 0;
    if (this.#haveTransit) {
      // (R_j - R_i) - (S_j - S_i), the timestamp difference taken modulo 2^32 as signed.
      const d = arrivalUnits - this.#lastArrivalUnits - ((ts - this.#lastTimestamp) | 0);
      this.#jitter += (Math.abs(d) - this.#jitter) / 16;
    }
    this.#haveTransit = true;
    this.#lastArrivalUnits = arrivalUnits;
    this.#lastTimestamp = ts;
  }
}
