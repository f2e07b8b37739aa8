/**
 * What the relay's metrics read at scrape time, as narrow interfaces the relay's own types fit: the metrics
 * depend on these, never on the relay's streams, tracks, mesh or data plane.
 * @module
 */
import type { RtpReceiverStats } from "../rtp/receiver_stats.ts";
import type { ReaderReport } from "../rtp/reader_reports.ts";

/**
 * What the metrics read of a stream (the relay's `Stream` fits): metrics only read the parts' counters, they do
 * not depend on the relay's types.
 */
export interface MetricsStream {
  readonly path: string;
  /** Where the media comes from: `mesh` (a parent relay) or anything else (a source at this relay). */
  readonly kind: string;
  readonly tracks: readonly MetricsTrack[];
  /** Per-hop retransmission on the hop into this relay, all tracks (a mesh stream's, when on), else null. */
  readonly repairs?: RepairCounts | null;
}

/** What per-hop retransmission did on the hop into a relay (see `msm_mesh_repairs_total`). */
export interface RepairCounts {
  /** Packets missing on the hop (the raw loss). */
  readonly missing: number;
  /** Missing packets repaired within the latency budget. */
  readonly recovered: number;
  /** Missing packets given up (what readers lose). */
  readonly unrecovered: number;
  /** Repairs that came after the budget (dropped). */
  readonly late: number;
  /** Sequence numbers asked for, each request counted. */
  readonly requested: number;
}

/** What a parent relay answered its children's NACKs (see `msm_mesh_retransmits_total`). */
export interface RetransmitFigures {
  readonly requested: number;
  readonly sent: number;
  readonly unavailable: number;
  readonly capped: number;
  readonly refused: number;
  /** Numbers answered as gone (never had here: the child stops waiting). */
  readonly gone: number;
}

/** What the metrics read of a track (the relay's `Track` fits). */
export interface MetricsTrack {
  readonly counters: {
    readonly packetsIn: number;
    readonly forwarded: Readonly<Record<"udp" | "tcp" | "mesh", number>>;
    /** Drops per reason (the `reason` label). */
    readonly dropped: Readonly<Record<string, number>>;
  };
  /** RFC 3550 statistics of the hop into this relay, of the current upstream SSRC. */
  readonly receiverStats: RtpReceiverStats;
  /** Arrival time of the latest ingress packet (the metrics' clock, seconds). */
  readonly lastArrival: number;
  /** The latest receiver report of each reader. */
  readonly readerReports: ReadonlyMap<string, ReaderReport>;
}

/** What the metrics read from the relay at scrape time. */
export interface RelayMetricsSource {
  /** Streams currently held. */
  streams(): readonly MetricsStream[];
  /** Readers per path. */
  readersByPath(): ReadonlyMap<string, number>;
  /** Open RTSP sessions. */
  sessionCount(): number;
  /** Mesh children per path. */
  meshChildren?(): ReadonlyMap<string, number>;
  /** Live peers besides this relay. */
  meshPeers?(): number;
  /** Counters of the fast data plane, when it runs. */
  dataPlane?(): DataPlaneCounters | null;
  /** Cumulative refusals of the mesh: datagrams at the mesh port and peer requests, per reason. */
  meshRejections?(): MeshRejectionCounts;
  /** What this relay, as a parent, answered its mesh children's NACKs so far. */
  meshRetransmits?(): RetransmitFigures;
  /** Errors contained so far (caught in a callback instead of ending the process), per place. */
  containedErrors?(): ReadonlyMap<string, number>;
  /** The relay-wide memory budget: its bound, what each kind of user holds, refusals so far. */
  memoryBudget?(): MemoryBudgetFigures;
}

/** What the metrics read of the relay's memory budget (a `MemoryBudget`). */
export interface MemoryBudgetFigures {
  readonly limit: number;
  usedBy(what: "gop_cache" | "reader_queue"): number;
  readonly refusals: Readonly<Record<"gop_cache" | "reader_queue", number>>;
}

/** Cumulative refusals of the mesh per reason (see `msm_mesh_packets_rejected_total`). */
export interface MeshRejectionCounts {
  packets: Readonly<Record<string, number>>;
  requests: ReadonlyMap<string, number>;
}

/** Cumulative datagram counts of the fast data plane (see `msm_dataplane_datagrams_total`). */
export interface DataPlaneCounters {
  received: number;
  sent: number;
  cutThrough: number;
  sendErrors: number;
  truncated: number;
  /** Times the worker stopped reading its sockets because the main thread lagged too far behind. */
  backlogPauses: number;
  /** Receive records posted to the main thread with the datagram's bytes. */
  payloadRecords: number;
  /** Receive records posted as digests (the bytes kept in the route's ring). */
  digestRecords: number;
}
