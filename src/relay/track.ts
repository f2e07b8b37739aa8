/**
 * One media track of a stream: the forwarding-table entry the data plane keeps per track.
 * Every RTP packet from the track's ingress is validated, accounted in the track's receiver statistics
 * (RFC 3550: loss, jitter, the camera's receiver report block), rewritten so readers see one continuous RTP
 * session across upstream restarts (fixed SSRC, continuous sequence numbers and timestamps), and sent once per
 * egress. The latest receiver report of each reader is kept here too, for metrics.
 *
 * A track fed by the mesh ({@linkcode Track.relayRtp}) rewrites only for this relay's own readers: its mesh children
 * get each packet in the numbering it arrived with (the root's), so the whole tree of an epoch carries one numbering
 * and a child can filter the duplicates of two parents. The GOP cache holds the readers' numbering; a burst to a
 * mesh child is renumbered back with the rewrite of the cached packets (the cache restarts at every re-base).
 * @module
 */
import type { RtpReceiverStats } from "../rtp/receiver_stats.ts";
import type { ReaderReport } from "../rtp/reader_reports.ts";
import { forEachRtcpPacket, ntpMiddle32, type ReportBlock, RTCP_SR } from "../rtp/rtcp.ts";
import {
  isRtpPacket,
  randomSsrc,
  rtpSequence,
  rtpSsrc,
  rtpTimestamp,
  setRtpSequence,
  setRtpSsrc,
  setRtpTimestamp,
} from "../rtp/packet.ts";
import type { RingDigest } from "../dataplane/packet_ring.ts";
import { ADMIT_DROP, ADMIT_RESYNCED, TrackIngress } from "./track_ingress.ts";
import { BurstPacer, onPaceTick } from "./burst_pacer.ts";
import { reportContained } from "../contain.ts";
import type { DropReason, Egress } from "./egress.ts";
import type { GopCache } from "./gop_cache.ts";
import type { RouteMap } from "../dataplane/route.ts";
import { rewriteUpstreamRtcp } from "./rtcp_rewrite.ts";
import { type RetransmitBounds, RetransmitRing } from "./retransmit_ring.ts";

/** Packet counters of one track. */
export interface TrackCounters {
  packetsIn: number;
  bytesIn: number;
  rtcpIn: number;
  forwarded: { udp: number; tcp: number; mesh: number };
  dropped: Record<DropReason, number>;
  /** RTCP compounds consumed from readers (receiver reports; never forwarded upstream). */
  readerReports: number;
  /** Cached packets replayed to joining readers. */
  burstPackets: number;
}

/** Options of {@linkcode Track}. */
export interface TrackOptions {
  /** Index in the stream's SDP. */
  index: number;
  /** RTP clock rate from the SDP. */
  clockRate: number;
  /** SSRC readers see. @default random */
  outputSsrc?: number;
  /** Observes the length of every valid ingress packet (the bitrate meter). */
  observe?: (length: number, arrivalSeconds: number) => void;
  /** Clock in seconds. @default performance.now() / 1000 */
  now?: () => number;
  /** Replays the current GOP to egresses attached with a burst (H.264/H.265 video). */
  gopCache?: GopCache;
  /** Called when the egresses or the rewrite change (the fast data plane's cut-through follows them). */
  onRouteChange?: () => void;
}

/** A track's forwarding entry. */
export class Track {
  readonly index: number;
  readonly clockRate: number;
  readonly outputSsrc: number;
  readonly counters: TrackCounters = {
    packetsIn: 0,
    bytesIn: 0,
    rtcpIn: 0,
    forwarded: { udp: 0, tcp: 0, mesh: 0 },
    dropped: { slow_reader: 0, invalid_rtp: 0, invalid_rtcp: 0, unexpected_source: 0, send_error: 0 },
    readerReports: 0,
    burstPackets: 0,
  };
  readonly #observe: ((length: number, arrivalSeconds: number) => void) | undefined;
  readonly #now: () => number;
  readonly #gop: GopCache | undefined;
  readonly #onRouteChange: () => void;
  readonly #readerReports = new Map<string, ReaderReport>();
  readonly #in: TrackIngress;
  #egresses: Egress[] = [];
  /** Recent packets for mesh children's NACKs, while a mesh child that may ask is attached (see {@linkcode keepForRetransmit}). */
  #retransmit: RetransmitRing | null = null;
  /** Datagram readers still getting their GOP burst. */
  readonly #pacers = new Map<string, BurstPacer>();
  #stopPacing: (() => void) | null = null;
  #servedCache: { served: ReadonlySet<string> | null; egresses: Egress[]; flags: boolean[] } = {
    served: null,
    egresses: [],
    flags: [],
  };

  /** @param options index, clock rate and hooks */
  constructor(options: TrackOptions) {
    this.index = options.index;
    this.clockRate = options.clockRate;
    this.outputSsrc = options.outputSsrc ?? randomSsrc();
    this.#observe = options.observe;
    this.#now = options.now ?? (() => performance.now() / 1000);
    this.#gop = options.gopCache;
    this.#onRouteChange = options.onRouteChange ?? (() => {});
    this.#in = new TrackIngress(options.clockRate);
  }

  /**
   * Re-bases of the ingress so far: each time it changes, the upstream numbering behind the output changed (a
   * camera session restarted) while the output stayed continuous.
   */
  get resyncs(): number {
    return this.#in.resyncs;
  }

  /** True while the ingress is a parent relay (packets come in the mesh's numbering). */
  get relayed(): boolean {
    return this.#in.relayed;
  }

  /**
   * RFC 3550 reception statistics of the ingress (the hop into this relay), of the current upstream SSRC: a
   * new SSRC starts fresh statistics.
   */
  get receiverStats(): RtpReceiverStats {
    return this.#in.stats;
  }

  /** SSRC of the upstream source, once a packet arrived. */
  get inputSsrc(): number | null {
    return this.#in.statsSsrc < 0 ? null : this.#in.statsSsrc;
  }

  /**
   * The report block of an RTCP receiver report to the upstream sender (camera or publisher), built from the
   * receiver statistics, with LSR/DLSR from its last sender report. Closes the statistics' reporting interval
   * (fraction lost): call it once per report sent.
   * @returns null until the source is validated (RFC 3550 A.1 probation)
   */
  receiverReportBlock(): ReportBlock | null {
    const ingress = this.#in;
    if (ingress.statsSsrc < 0 || !ingress.stats.valid) return null;
    return ingress.stats.reportBlock(ingress.statsSsrc, this.#now());
  }

  /** Arrival time of the latest RTP packet from the ingress, in the track's clock (seconds); 0 before any. */
  get lastArrival(): number {
    return this.#in.lastArrival;
  }

  /** Latest receiver report per reader (key chosen by the caller, e.g. the session id). */
  get readerReports(): ReadonlyMap<string, ReaderReport> {
    return this.#readerReports;
  }

  /** The track's GOP cache, when it has one. */
  get gopCache(): GopCache | undefined {
    return this.#gop;
  }

  /**
   * Whether the track keeps packets after forwarding them (a GOP cache, or the recent packets mesh children may
   * ask again for): the fast plane's worker must then keep their bytes in a ring for it, else digests suffice.
   */
  get keepsPackets(): boolean {
    return this.#gop !== undefined || this.#retransmit !== null;
  }

  /**
   * Sequence number and timestamp of the first packet an egress attached now with {@linkcode addEgress}'s
   * burst receives: the cached GOP's first packet, else the next live one (RTP-Info of PLAY).
   */
  get startRtpInfo(): { seq: number; rtptime: number } | null {
    const first = this.#gop?.packets[0];
    if (first) return { seq: rtpSequence(first), rtptime: rtpTimestamp(first) };
    return this.nextRtpInfo;
  }

  /** Egresses currently attached. */
  get egresses(): readonly Egress[] {
    return this.#egresses;
  }

  /** Sequence number and timestamp a reader joining now should expect (RTP-Info), if any packet was sent. */
  get nextRtpInfo(): { seq: number; rtptime: number } | null {
    if (!this.#in.hasOutput) return null;
    return { seq: (this.#in.lastOutSeq + 1) & 0xffff, rtptime: this.#in.lastOutTs };
  }

  /**
   * Attaches an egress (idempotent by id). With `burst`, the egress first gets the cached GOP, which ends
   * right before the next live packet, so it sees one continuous RTP stream starting at a keyframe.
   */
  addEgress(egress: Egress, options: { burst?: boolean } = {}): void {
    if (this.#egresses.some((e) => e.id === egress.id)) return;
    const packets = options.burst && this.#gop ? this.#gop.packets : [];
    // The cache restarts at every re-base: the current rewrite is the one of every cached packet.
    const mesh = this.#in.meshMap;
    if (packets.length > 0 && egress.kind !== "tcp") {
      // Datagram readers get the GOP paced (see burst_pacer.ts); they join the fast plane's route once it is out.
      const pacer = new BurstPacer(egress, packets, performance.now(), mesh);
      this.#pacers.set(egress.id, pacer);
      this.#stopPacing ??= onPaceTick(() => this.#pace());
      this.#drainPacer(pacer, performance.now());
    } else {
      for (let i = 0; i < packets.length; i++) {
        try {
          if (!egress.sendRtp(packets[i]!, mesh)) this.counters.dropped.slow_reader++;
        } catch (err) {
          this.counters.dropped.send_error++;
          reportContained("egress send", err);
          break;
        }
      }
    }
    this.counters.burstPackets += packets.length;
    this.#egresses = [...this.#egresses, egress];
    this.#onRouteChange();
  }

  /** True while `id` still gets its GOP burst paced (the fast plane must not feed it yet). */
  isPacing(id: string): boolean {
    return this.#pacers.has(id);
  }

  #pace(): void {
    const now = performance.now();
    for (const pacer of this.#pacers.values()) this.#drainPacer(pacer, now);
  }

  #drainPacer(pacer: BurstPacer, now: number): void {
    const done = pacer.drain(now, (taken) => {
      if (taken) this.counters.forwarded[pacer.egress.kind]++;
      else this.counters.dropped.slow_reader++;
    });
    if (!done) return;
    this.#pacers.delete(pacer.egress.id);
    if (this.#pacers.size === 0) {
      this.#stopPacing?.();
      this.#stopPacing = null;
    }
    this.#onRouteChange();
  }

  /** Detaches an egress by id. */
  removeEgress(id: string): void {
    this.#pacers.delete(id);
    if (this.#pacers.size === 0) {
      this.#stopPacing?.();
      this.#stopPacing = null;
    }
    const before = this.#egresses.length;
    this.#egresses = this.#egresses.filter((e) => e.id !== id);
    if (this.#retransmit && !this.#egresses.some((e) => e.kind === "mesh")) {
      this.#retransmit.clear();
      this.#retransmit = null;
    }
    if (this.#egresses.length !== before) this.#onRouteChange();
  }

  /**
   * Keeps the recent packets from now on, so that a mesh child's NACK can be answered (see {@linkcode resend}),
   * until no mesh egress is left; the first call's bounds hold.
   */
  keepForRetransmit(bounds: Partial<RetransmitBounds>): void {
    this.#retransmit ??= new RetransmitRing(bounds);
  }

  /**
   * Sends egress `egressId` (a mesh child) again the packets it names by the mesh's numbering, those still kept.
   * @returns how many were sent, how many were not kept (never sent, too old, or of another numbering), and which
   * of those (by the mesh's numbering) this relay has moved past: it will never have them (lost above it, or given
   * up here), so the child need not wait for them
   */
  resend(
    egressId: string,
    meshSeqs: readonly number[],
  ): { sent: number; unavailable: number; gone: number[] } {
    const ring = this.#retransmit;
    const egress = this.#egresses.find((e) => e.id === egressId);
    const ingress = this.#in;
    const gone: number[] = [];
    const mesh = ingress.meshMap;
    const now = this.#now() * 1000;
    let sent = 0;
    for (const meshSeq of meshSeqs) {
      // Kept in the readers' numbering; the mesh's is that plus the mesh map's delta (none at the root).
      const seq = mesh ? (meshSeq - mesh.seqDelta) & 0xffff : meshSeq;
      const packet = ring && egress ? ring.get(seq, now) : null;
      if (packet === null) {
        if (ingress.hasOutput && ((ingress.lastOutSeq - seq) & 0xffff) < 0x8000) gone.push(meshSeq);
        continue;
      }
      if (!egress) continue;
      try {
        if (egress.sendRtp(packet, mesh)) sent++;
      } catch (err) {
        this.counters.dropped.send_error++;
        reportContained("egress resend", err);
      }
    }
    return { sent, unavailable: meshSeqs.length - sent, gone };
  }

  /** The rewrite of the current upstream SSRC (what a cut-through forwarder must apply), null before sync. */
  get rewrite(): RouteMap | null {
    return this.#in.rewrite(this.outputSsrc);
  }

  /**
   * Marks an upstream restart: the next packet re-bases sequence numbers and timestamps so readers see a gap,
   * not a new session.
   */
  newEpoch(): void {
    this.#in.synced = false;
    this.#gop?.clear();
    this.#retransmit?.clear();
    this.#onRouteChange();
  }

  /** Releases what the track holds (its GOP cache's bytes, its bursts in progress): the stream is done with it. */
  close(): void {
    this.#gop?.clear();
    this.#retransmit?.clear();
    this.#retransmit = null;
    this.#pacers.clear();
    this.#stopPacing?.();
    this.#stopPacing = null;
  }

  /** Which GOP a joining reader would get now (see {@linkcode GopCache.generation}); -1 without a cache. */
  get gopGeneration(): number {
    return this.#gop?.generation ?? -1;
  }

  /** Counts a drop the shell made before the packet reached the track. */
  countDrop(reason: DropReason): void {
    this.counters.dropped[reason]++;
  }

  /**
   * Forwards one RTP packet from the ingress. The track rewrites the buffer in place: the caller hands over
   * ownership and must not reuse it while sends are in flight.
   * @param served egresses (by id) the fast data plane already sent this packet to: counted, not sent again
   */
  ingestRtp(packet: Uint8Array, served?: ReadonlySet<string>): void {
    this.#ingest(packet, served, false);
  }

  /**
   * Forwards one RTP packet from a parent relay, as {@linkcode ingestRtp} does, except that mesh egresses get it
   * in the numbering it arrived with (the mesh's), not this relay's output numbering.
   * @param served egresses (by id) the fast data plane already sent this packet to: counted, not sent again
   */
  relayRtp(packet: Uint8Array, served?: ReadonlySet<string>): void {
    this.#ingest(packet, served, true);
  }

  /**
   * Takes one RTP packet the fast plane's worker forwarded itself and kept in a ring, by its digest: the same
   * counters, statistics, continuity and numbering as {@linkcode ingestRtp}, a GOP cache reference instead of a
   * copy, and the bytes copied out of the ring only for egresses the worker did not serve (a reader just added).
   * Allocates nothing when every egress was served.
   * @param digest the packet's digest (read during the call only)
   * @param arrivalSeconds when the worker received it, in the track's clock
   * @param served egresses (by id) the worker sent it to
   */
  ingestDigest(digest: RingDigest, arrivalSeconds: number, served: ReadonlySet<string>): void {
    const length = digest.length;
    this.counters.packetsIn++;
    this.counters.bytesIn += length;
    this.#observe?.(length, arrivalSeconds);
    const ingress = this.#in;
    const admitted = ingress.admit(length, digest.seq, digest.timestamp, digest.ssrc, arrivalSeconds, false);
    if (admitted === ADMIT_DROP) return;
    if (admitted === ADMIT_RESYNCED) {
      this.#gop?.clear();
      this.#retransmit?.clear();
    }
    const outSeq = ingress.lastOutSeq;
    const outTs = ingress.lastOutTs;
    const ring = digest.ring;
    // Without a ring the track kept no packet when the worker forwarded this one (a mesh child may have asked for
    // repairs since: they start with the ring the route now gets).
    if (ring) {
      this.#gop?.pushRef(ring, digest.position, length, outSeq, outTs, this.outputSsrc, digest.keyframe);
      this.#retransmit?.pushRef(
        outSeq,
        ring,
        digest.position,
        length,
        outTs,
        this.outputSsrc,
        arrivalSeconds * 1000,
      );
    }
    const egresses = this.#egresses;
    const fwd = this.counters.forwarded;
    const skip = this.#servedFlags(served);
    let packet: Uint8Array | null = null;
    for (let i = 0; i < egresses.length; i++) {
      const e = egresses[i]!;
      if (skip[i] && !this.#isPacingNow(e.id)) {
        fwd[e.kind]++;
        continue;
      }
      // No ring: the egress came after the worker forwarded this packet, and starts with the worker's next one.
      if (ring === null) continue;
      packet ??= ring.copyOut(digest.position, length);
      if (packet === null) {
        // Overwritten already: this thread lagged a whole ring behind the worker.
        this.counters.dropped.slow_reader++;
        continue;
      }
      setRtpSequence(packet, outSeq);
      setRtpTimestamp(packet, outTs);
      setRtpSsrc(packet, this.outputSsrc);
      this.#sendOne(e, packet);
    }
    if (admitted === ADMIT_RESYNCED) this.#onRouteChange();
  }

  #ingest(packet: Uint8Array, served: ReadonlySet<string> | undefined, relayed: boolean): void {
    if (!isRtpPacket(packet)) {
      this.counters.dropped.invalid_rtp++;
      return;
    }
    const now = this.#now();
    this.counters.packetsIn++;
    this.counters.bytesIn += packet.length;
    this.#observe?.(packet.length, now);
    const ingress = this.#in;
    const admitted = ingress.admit(
      packet.length,
      rtpSequence(packet),
      rtpTimestamp(packet),
      rtpSsrc(packet),
      now,
      relayed,
    );
    if (admitted === ADMIT_DROP) return;
    // Cached packets carry the old rewrite: a burst must be renumbered with one rewrite (and a new numbering
    // starts decodable at its next keyframe anyway).
    if (admitted === ADMIT_RESYNCED) {
      this.#gop?.clear();
      this.#retransmit?.clear();
    }
    setRtpSequence(packet, ingress.lastOutSeq);
    setRtpTimestamp(packet, ingress.lastOutTs);
    setRtpSsrc(packet, this.outputSsrc);
    this.#gop?.push(packet);
    this.#retransmit?.push(ingress.lastOutSeq, packet, now * 1000);
    const egresses = this.#egresses;
    const fwd = this.counters.forwarded;
    const skip = served === undefined ? null : this.#servedFlags(served);
    for (let i = 0; i < egresses.length; i++) {
      const e = egresses[i]!;
      if (skip?.[i] && !this.#isPacingNow(e.id)) fwd[e.kind]++;
      else this.#sendOne(e, packet);
    }
    // After this packet is queued to the readers: a new route lets the fast plane forward the next packets on
    // its own, and it must not overtake this one.
    if (admitted === ADMIT_RESYNCED) this.#onRouteChange();
  }

  /** {@linkcode isPacing} without a map lookup in the common case (no burst in progress). */
  #isPacingNow(id: string): boolean {
    return this.#pacers.size > 0 && this.#pacers.has(id);
  }

  /** Sends a live packet to egress `e` (behind its burst if it has one), counted. */
  #sendOne(e: Egress, packet: Uint8Array): void {
    const pacer = this.#pacers.size > 0 ? this.#pacers.get(e.id) : undefined;
    const mesh = this.#in.meshMap;
    try {
      if (pacer) pacer.push(packet, mesh); // behind its burst; counted when sent
      else if (e.sendRtp(packet, mesh)) this.counters.forwarded[e.kind]++;
      else this.counters.dropped.slow_reader++;
    } catch (err) {
      // One egress's failure must not cost the others this packet, nor end the process.
      this.counters.dropped.send_error++;
      reportContained("egress send", err);
    }
  }

  /** Which egresses `served` covers, by index; recomputed only when the set or the egresses change. */
  #servedFlags(served: ReadonlySet<string>): readonly boolean[] {
    const cache = this.#servedCache;
    if (cache.served === served && cache.egresses === this.#egresses) return cache.flags;
    this.#servedCache = {
      served,
      egresses: this.#egresses,
      flags: this.#egresses.map((e) => served.has(e.id)),
    };
    return this.#servedCache.flags;
  }

  /**
   * Forwards what readers need of an RTCP compound from the ingress: the sender report and CNAME, renamed to
   * the output SSRC with the timestamp base of the rewritten RTP (see {@linkcode rewriteUpstreamRtcp}).
   */
  ingestRtcp(packet: Uint8Array): void {
    this.#ingestRtcp(packet, false);
  }

  /**
   * Forwards an RTCP compound from a parent relay: readers get it as from {@linkcode ingestRtcp}, mesh children as
   * it arrived (it is in the mesh's numbering, as the RTP they get is; see {@linkcode relayRtp}).
   */
  relayRtcp(packet: Uint8Array): void {
    this.#ingestRtcp(packet, true);
  }

  #ingestRtcp(packet: Uint8Array, relayed: boolean): void {
    if (packet.length < 8 || (packet[0]! >> 6) !== 2) {
      this.counters.dropped.invalid_rtcp++;
      return;
    }
    this.counters.rtcpIn++;
    this.#noteSenderReports(packet);
    if (!this.#in.synced) return; // no RTP yet: the timestamp mapping is unknown
    const out = rewriteUpstreamRtcp(packet, {
      inSsrc: this.#in.inSsrc,
      outSsrc: this.outputSsrc,
      tsDelta: this.#in.tsDelta,
    });
    const egresses = this.#egresses;
    for (let i = 0; i < egresses.length; i++) {
      const e = egresses[i]!;
      const compound = relayed && e.kind === "mesh" ? packet : out;
      if (!compound) continue;
      try {
        e.sendRtcp(compound);
      } catch (err) {
        this.counters.dropped.send_error++;
        reportContained("egress send", err);
      }
    }
  }

  /** Counts an RTCP compound from a reader (consumed, never forwarded upstream). */
  noteReaderReport(): void {
    this.counters.readerReports++;
  }

  /** Keeps `report` as the latest of `reader` (e.g. its session id) about this track, for metrics. */
  setReaderReport(reader: string, report: ReaderReport): void {
    this.#readerReports.set(reader, report);
  }

  /** Forgets a reader's reports (its session ended). */
  forgetReader(reader: string): void {
    this.#readerReports.delete(reader);
  }

  /** Records the sender reports of the upstream source, for LSR/DLSR of the next receiver report. */
  #noteSenderReports(packet: Uint8Array): void {
    let now = -1;
    forEachRtcpPacket(packet, (type, sr) => {
      if (type !== RTCP_SR || sr.length < 28) return;
      const ssrc = u32(sr, 4);
      if (this.#in.statsSsrc >= 0 && ssrc !== this.#in.statsSsrc) return;
      if (now < 0) now = this.#now();
      this.#in.stats.noteSenderReport(ntpMiddle32(u32(sr, 8), u32(sr, 12)), now);
    });
  }
}

function u32(buf: Uint8Array, off: number): number {
  return ((buf[off]! << 24) | (buf[off + 1]! << 16) | (buf[off + 2]! << 8) | buf[off + 3]!) >>> 0;
}
