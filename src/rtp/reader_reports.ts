/**
 * What readers tell the relay in their RTCP receiver reports (RFC 3550 §6.4.2): per track they read, the
 * fraction lost since their previous report, the cumulative loss and the interarrival jitter, here converted to
 * seconds with the track's clock rate. The relay keeps the latest report per reader session and track.
 *
 * ```ts
 * const reports = readerReportsOf(rtcp, stream.tracks, arrivalTrackIndex, Date.now());
 * for (const [index, report] of reports ?? []) session.reports.set(index, report);
 * ```
 * @module
 */
import { forEachRtcpPacket, parseReceiverReport, parseSenderReport, RTCP_RR, RTCP_SR } from "./rtcp.ts";
import type { ReportBlock } from "./rtcp.ts";

/** The latest receiver report block a reader sent about one track. */
export interface ReaderReport {
  /** Fraction of packets lost since the reader's previous report, 0..1 (the 8-bit field / 256). */
  fractionLost: number;
  /** Packets lost since the reader started receiving, signed (duplicates make it negative). */
  cumulativeLost: number;
  /** Interarrival jitter the reader measured, in seconds (RTP timestamp units / the track's clock rate). */
  jitterSeconds: number;
  /** Extended highest sequence number the reader received (cycles << 16 | sequence). */
  highestSeq: number;
  /** When the relay received the report: milliseconds since the Unix epoch (Date.now()). */
  at: number;
}

/** What {@link readerReportsOf} needs of a track: the SSRC readers see and the clock rate. */
export interface ReportedTrack {
  readonly outputSsrc: number;
  readonly clockRate: number;
}

/** Converts one report block about a track of clock rate `clockRate`, received at `at` (epoch ms). */
export function readerReportOf(block: ReportBlock, clockRate: number, at: number): ReaderReport {
  return {
    fractionLost: block.fractionLost / 256,
    cumulativeLost: block.cumulativeLost,
    jitterSeconds: block.jitter / clockRate,
    highestSeq: block.highestSeq,
    at,
  };
}

/**
 * Reads the report blocks of an RTCP compound a reader sent (RR, or SR when the reader also sends) and maps
 * each to the track it reports on: the track whose output SSRC it names, else — for a block naming no known
 * SSRC, as clients that have not learnt it yet send — the track whose RTCP port or channel it arrived on.
 * @param packet the compound, as received (only read during the call)
 * @param tracks the stream's tracks, index-aligned
 * @param arrivalIndex index of the track whose RTCP port or interleaved channel received the compound
 * @param at receive time, milliseconds since the Unix epoch
 * @returns track index -> latest report (the last block wins), or null when the compound is malformed
 */
export function readerReportsOf(
  packet: Uint8Array,
  tracks: readonly (ReportedTrack | undefined)[],
  arrivalIndex: number,
  at: number,
): Map<number, ReaderReport> | null {
  const out = new Map<number, ReaderReport>();
  const take = (blocks: readonly ReportBlock[]) => {
    for (const block of blocks) {
      let index = tracks.findIndex((t) => t !== undefined && t.outputSsrc === block.ssrc >>> 0);
      if (index < 0) index = arrivalIndex;
      const track = tracks[index];
      if (track) out.set(index, readerReportOf(block, track.clockRate, at));
    }
  };
  const ok = forEachRtcpPacket(packet, (type, pkt) => {
    if (type === RTCP_RR) take(parseReceiverReport(pkt)?.reports ?? []);
    else if (type === RTCP_SR) take(parseSenderReport(pkt)?.reports ?? []);
  });
  return ok ? out : null;
}

/** Sum of cumulative loss (negative values count as 0) and worst jitter over a set of reports. */
export function summarizeReaderReports(
  reports: Iterable<ReaderReport>,
): { lost: number; jitterSeconds: number; count: number } {
  let lost = 0;
  let jitter = 0;
  let count = 0;
  for (const r of reports) {
    lost += Math.max(0, r.cumulativeLost);
    if (r.jitterSeconds > jitter) jitter = r.jitterSeconds;
    count++;
  }
  return { lost, jitterSeconds: jitter, count };
}
