/**
 * The relay's Prometheus metrics (names from the architecture page): per path and hop the RTP received, lost,
 * duplicated and reordered, jitter and bitrate of the hop into this relay; forwarded per sink, dropped per
 * reason, readers and what their receiver reports say, RTSP sessions and requests, process memory and
 * event-loop lag.
 *
 * `hop` is `source` at the root (a camera pulled, a publisher, the demo clip) and `mesh` on a relay fed by its
 * parent. Stream counters live on the tracks (and their RFC 3550 receiver statistics); a collector turns their
 * growth into monotonic counters at each scrape, so a stream that is forgotten and re-created, or a source that
 * restarts with a new SSRC, does not make a counter go backwards.
 * @module
 */
import { PUBLIC_METHODS } from "../rtsp/methods.ts";
import { type Counter, Registry } from "./registry.ts";
import { MAX_MISORDER, type RtpReceiverStats } from "../rtp/receiver_stats.ts";
import { RateMeter } from "./rate_meter.ts";
import type {
  DataPlaneCounters,
  MetricsStream,
  MetricsTrack,
  RelayMetricsSource,
  RepairCounts,
} from "./metrics_source.ts";
import { EventLoopLagMonitor } from "./event_loop_lag.ts";
import { summarizeReaderReports } from "../rtp/reader_reports.ts";
import { REFUSAL_REASONS, type RefusalReason } from "../rtsp/refusals.ts";

/** The `event` values of `msm_mesh_repairs_total`. */
const REPAIR_EVENTS = ["recovered", "unrecovered", "late", "requested"] as const;

const DATAPLANE_EVENTS = {
  received: "received",
  sent: "sent",
  cutThrough: "cut_through",
  sendErrors: "send_error",
  truncated: "truncated",
  backlogPauses: "backlog_pause",
  payloadRecords: "payload_record",
  digestRecords: "digest_record",
} as const;

/** Options of {@linkcode RelayMetrics}. */
export interface RelayMetricsOptions {
  /** Clock in seconds, the tracks' clock (bitrate windows). @default performance.now() / 1000 */
  now?: () => number;
  /** Period of the event-loop lag probe in ms; 0 disables it. @default 250 */
  eventLoopLagIntervalMs?: number;
  /** Bitrate averaging window in seconds. @default 5 */
  bitrateWindowSeconds?: number;
  /**
   * Seconds the series of a path whose stream is gone are kept (so the next scrapes still see its final counts).
   * @default {@linkcode GONE_PATH_RETENTION_SECONDS}
   */
  gonePathRetentionSeconds?: number;
}

/** Seconds the series of a path whose stream is gone stay exposed: a couple of scrape intervals. */
export const GONE_PATH_RETENTION_SECONDS = 60;
/**
 * Gone paths whose series are kept at most; beyond it the longest gone are dropped at once, so paths an outsider
 * makes up (publishing under ever new names) cannot grow the exposition.
 */
export const GONE_PATHS_KEPT = 64;

/** What the collector last saw of a track, to turn growth into counter increments. */
interface TrackSeen {
  packetsIn: number;
  /** The statistics object the figures below come from (a new SSRC brings a new one). */
  stats: RtpReceiverStats | null;
  /** Highest loss seen: a late packet lowers the loss, and filling a gap is not a new loss. */
  lost: number;
  duplicates: number;
  reordered: number;
  forwarded: { udp: number; tcp: number; mesh: number };
  dropped: Record<string, number>;
}

/**
 * A gap in the sequence numbers counts as lost once this many newer sequence numbers arrived: a late packet may
 * still fill a younger one, and one later than this is not counted received either (RFC 3550 A.1 takes it as a
 * bad sequence), so the monotonic counter never counts lost a packet that then arrives...
 */
export const LOSS_SETTLE_PACKETS = MAX_MISORDER;
/** ...or once the track received nothing for this long (seconds). */
export const LOSS_SETTLE_SECONDS = 0.5;

/** The `method` labels of `msm_rtsp_requests_total`; any other method counts as `OTHER`. */
const METHOD_LABELS: ReadonlySet<string> = new Set([...PUBLIC_METHODS, "INVALID"]);

/** The `hop` label of a stream: `mesh` when fed by a parent relay, else `source`. */
export function hopOf(kind: string): "source" | "mesh" {
  return kind === "mesh" ? "mesh" : "source";
}

/** Metrics of one relay. */
export class RelayMetrics {
  readonly registry: Registry = new Registry();
  readonly #received = this.registry.counter(
    "msm_rtp_packets_received_total",
    "RTP packets received per path and hop (source: camera or publisher into this relay).",
    ["path", "hop"],
  );
  readonly #lost = this.registry.counter(
    "msm_rtp_packets_lost_total",
    "RTP packets lost on the hop into this relay (RFC 3550 expected minus received, duplicates not counted).",
    ["path", "hop"],
  );
  readonly #jitter = this.registry.gauge(
    "msm_rtp_jitter_seconds",
    "Interarrival jitter (RFC 3550 A.8) on the hop into this relay, worst track of the path.",
    ["path", "hop"],
  );
  readonly #duplicates = this.registry.counter(
    "msm_rtp_packets_duplicated_total",
    "RTP packets received twice on the hop into this relay (same sequence number).",
    ["path", "hop"],
  );
  readonly #reordered = this.registry.counter(
    "msm_rtp_packets_reordered_total",
    "RTP packets that arrived after a later one on the hop into this relay.",
    ["path", "hop"],
  );
  readonly #bitrate = this.registry.gauge(
    "msm_rtp_bitrate_bits_per_second",
    "RTP bitrate (headers included) into this relay per path and hop, averaged over the last seconds.",
    ["path", "hop"],
  );
  readonly #readerLost = this.registry.gauge(
    "msm_reader_reported_lost",
    "Packets lost as the readers of a path report them in RTCP (sum of their latest cumulative loss).",
    ["path"],
  );
  readonly #readerJitter = this.registry.gauge(
    "msm_reader_reported_jitter_seconds",
    "Interarrival jitter the readers of a path report in RTCP (worst latest report).",
    ["path"],
  );
  readonly #forwarded = this.registry.counter(
    "msm_rtp_packets_forwarded_total",
    "RTP packets sent to readers and children per path and sink (udp, tcp, mesh).",
    ["path", "sink"],
  );
  readonly #dropped = this.registry.counter(
    "msm_rtp_packets_dropped_total",
    "Packets the relay dropped per path and reason.",
    ["path", "reason"],
  );
  readonly #readers = this.registry.gauge(
    "msm_readers",
    "Readers playing per path: RTSP readers and browser viewers (/watch).",
    ["path"],
  );
  readonly #sessions = this.registry.gauge(
    "msm_rtsp_sessions",
    "Open RTSP sessions (readers and publishers).",
  );
  readonly #requests = this.registry.counter(
    "msm_rtsp_requests_total",
    "RTSP requests answered per method and status code.",
    ["method", "status"],
  );
  readonly #refused = this.registry.counter(
    "msm_rtsp_refused_total",
    "RTSP requests and connections refused per reason: a limit (max_connections, max_sessions_per_ip, " +
      "max_readers_per_path, request_rate, header_too_large, body_too_large, request_timeout, idle_timeout), " +
      "auth (auth_required, unauthorized, forbidden) or bad_request.",
    ["reason"],
  );
  readonly #meshChildren = this.registry.gauge(
    "msm_mesh_children",
    "Relays this relay feeds directly, per path.",
    ["path"],
  );
  readonly #meshPeers = this.registry.gauge("msm_mesh_peers", "Live peer relays this relay sees.");
  readonly #rss = this.registry.gauge("msm_process_resident_memory_bytes", "Resident memory of the relay.");
  readonly #heap = this.registry.gauge("msm_process_heap_used_bytes", "JavaScript heap in use.");
  readonly #external = this.registry.gauge(
    "msm_process_external_memory_bytes",
    "Memory of ArrayBuffers and other objects outside the JavaScript heap that V8 accounts for (packet buffers).",
  );
  readonly #lag = this.registry.gauge(
    "msm_process_event_loop_lag_seconds",
    "Largest lateness of a periodic timer since the previous scrape: how long the event loop was busy.",
  );
  readonly #rates = new WeakMap<MetricsStream, RateMeter[]>();
  readonly #dataPlane = this.registry.counter(
    "msm_dataplane_datagrams_total",
    "Datagrams of the fast data plane's worker: received, sent (all), cut_through (sent by the worker on its " +
      "own, without the main thread), send_error, truncated (never delivered), backlog_pause (the worker stopped " +
      "reading while the main thread was more than 16 MiB behind: the sockets' buffers shed load); what the " +
      "worker handed the main thread per datagram received: payload_record (the bytes), digest_record (numbers " +
      "only: the worker served every reader and kept the bytes in the track's ring).",
    ["event"],
  );

  readonly #meshPacketsRejected = this.registry.counter(
    "msm_mesh_packets_rejected_total",
    "Datagrams refused at the mesh port: malformed, unauthenticated (no mesh key), version (an older release), " +
      "unknown_key, auth (forged, wrong key, or sealed for another relay or an earlier run), replay, salt_rate " +
      "(too many new senders at once), unexpected_source (not from the relay it names, open mesh), " +
      "unknown_stream (no such subscription).",
    ["reason"],
  );
  readonly #meshRepairs = this.registry.counter(
    "msm_mesh_repairs_total",
    "Per-hop retransmission on the hop into this relay, per path: recovered (a missing packet repaired in " +
      "time), unrecovered (given up: readers lose it), late (a repair after --mesh-nack-budget-ms, dropped), " +
      "requested (sequence numbers asked of the parent, every request). msm_rtp_packets_lost_total counts the " +
      "loss before repair.",
    ["path", "event"],
  );
  readonly #meshRetransmits = this.registry.counter(
    "msm_mesh_retransmits_total",
    "What this relay answered its mesh children's NACKs: requested (numbers asked), sent (packets sent again), " +
      "unavailable (not kept here), gone (of those, numbers this relay moved past without them: the child is " +
      "told and stops waiting), capped (over --mesh-nack-max-ratio), refused (malformed NACKs, unknown " +
      "tracks, or retransmission off).",
    ["event"],
  );
  readonly #meshRequestsRejected = this.registry.counter(
    "msm_mesh_requests_rejected_total",
    "Peer-protocol requests refused: missing, malformed, version, unknown_key, bad_signature, wrong_node, stale, " +
      "incarnation (a first call or a restart: the caller learns it and retries), replay, busy.",
    ["reason"],
  );

  readonly #contained = this.registry.counter(
    "msm_process_contained_errors_total",
    "Errors caught in a timer, socket or fan-out callback instead of ending the process, per place (each is a " +
      "bug worth reporting; the log has the first of every 10 s).",
    ["where"],
  );
  /** The cumulative counts last seen per counter and label value (see {@link #grow}). */
  readonly #cumulativeSeen = new Map<Counter<string>, Map<string, number>>();
  readonly #budgetBytes = this.registry.gauge(
    "msm_memory_budget_bytes",
    "The relay-wide memory budget for GOP caches and TCP reader queues (--memory-budget-bytes; 0: none).",
  );
  readonly #budgetUsed = this.registry.gauge(
    "msm_memory_budget_used_bytes",
    "Bytes of the memory budget held, per user: gop_cache, reader_queue.",
    ["what"],
  );
  readonly #budgetRefused = this.registry.counter(
    "msm_memory_budget_refusals_total",
    "Bytes refused for lack of budget, counted per refusal and user: a GOP not cached, a reader's frame dropped.",
    ["what"],
  );

  readonly #seen = new WeakMap<MetricsTrack, TrackSeen>();
  /** The repair counts last seen per stream. */
  readonly #repairsSeen = new WeakMap<MetricsStream, RepairCounts>();
  /** Paths whose series are exposed: null while a stream holds them, else since when they are gone (s). */
  readonly #paths = new Map<string, number | null>();
  readonly #retention: number;
  readonly #now: () => number;
  readonly #bitrateWindow: number;
  readonly #lagMonitor: EventLoopLagMonitor | null;

  /**
   * Starts the event-loop lag probe (an unreferenced timer: {@link close} stops it).
   * @param source where stream and session figures are read at scrape time
   * @param options clock, lag probe period and bitrate window
   */
  constructor(source: RelayMetricsSource, options: RelayMetricsOptions = {}) {
    this.#now = options.now ?? (() => performance.now() / 1000);
    this.#bitrateWindow = options.bitrateWindowSeconds ?? 5;
    this.#retention = options.gonePathRetentionSeconds ?? GONE_PATH_RETENTION_SECONDS;
    const lagMs = options.eventLoopLagIntervalMs ?? 250;
    this.#lagMonitor = lagMs > 0 ? new EventLoopLagMonitor({ intervalMs: lagMs }) : null;
    this.#lagMonitor?.start();
    this.registry.addCollector(() => this.#collect(source));
    for (const reason of REFUSAL_REASONS) this.#refused.inc({ reason }, 0); // every reason exposed from the start
  }

  /** Stops the event-loop lag probe. */
  close(): void {
    this.#lagMonitor?.stop();
  }

  /** Counts one answered RTSP request (the RTSP service's `onRequest` hook). */
  readonly onRequest = (method: string, status: number): void => {
    // Any client can make up methods: one series each would grow the registry and the scrape without bound.
    this.#requests.inc({ method: METHOD_LABELS.has(method) ? method : "OTHER", status });
  };

  /** Counts one refusal (the RTSP service's `onRefused` hook). */
  readonly onRefused = (reason: RefusalReason): void => {
    this.#refused.inc({ reason });
  };

  /**
   * The bitrate meter of one ingress track (the hub's `observeTrack` hook; the RFC 3550 statistics are the
   * track's own). The observer runs per packet and allocates nothing.
   */
  readonly observeTrack = (
    stream: MetricsStream,
    index: number,
    _clockRate: number,
  ): (length: number, arrivalSeconds: number) => void => {
    const meter = new RateMeter({ windowSeconds: this.#bitrateWindow });
    const list = this.#rates.get(stream) ?? [];
    list[index] = meter;
    this.#rates.set(stream, list);
    return (length, arrival) => meter.add(length, arrival);
  };

  /** Receiver statistics of a stream's tracks (index-aligned), the hop into this relay. */
  receiverStats(stream: MetricsStream): readonly (RtpReceiverStats | undefined)[] {
    return stream.tracks.map((t) => t.receiverStats);
  }

  /** Ingress bitrate of a stream in bits per second (all tracks), over the bitrate window. */
  bitrate(stream: MetricsStream): number {
    const now = this.#now();
    let bps = 0;
    for (const m of this.#rates.get(stream) ?? []) if (m) bps += m.bitsPerSecond(now);
    return bps;
  }

  /** Prometheus text format 0.0.4. */
  expose(): string {
    return this.registry.expose();
  }

  /**
   * Drops the per-path counter series of paths whose stream is gone, once they have been gone for the retention
   * (or at once beyond {@linkcode GONE_PATHS_KEPT} of them, longest gone first): the exposition holds the live
   * streams' series and a bounded tail, whatever names publishers make up.
   */
  #dropGonePaths(streams: readonly MetricsStream[], now: number): void {
    const live = new Set(streams.map((s) => s.path));
    for (const path of live) this.#paths.set(path, null);
    const gone: Array<[string, number]> = [];
    for (const [path, since] of this.#paths) {
      if (live.has(path)) continue;
      const at = since ?? now;
      if (since === null) this.#paths.set(path, now);
      gone.push([path, at]);
    }
    gone.sort((a, b) => a[1] - b[1]);
    const excess = gone.length - GONE_PATHS_KEPT;
    gone.forEach(([path, since], i) => {
      if (i >= excess && now - since < this.#retention) return;
      this.#paths.delete(path);
      for (const family of [this.#received, this.#lost, this.#duplicates, this.#reordered]) {
        family.removeMatching({ path });
      }
      this.#forwarded.removeMatching({ path });
      this.#dropped.removeMatching({ path });
    });
  }

  /**
   * Turns cumulative counts kept elsewhere (per label value) into increments of `counter`: only growth since the
   * last scrape counts, so a count that restarts (a part re-created) never makes the counter go back.
   */
  #grow<L extends string>(counter: Counter<L>, label: L, counts: Iterable<readonly [string, number]>): void {
    let seen = this.#cumulativeSeen.get(counter);
    if (!seen) this.#cumulativeSeen.set(counter, seen = new Map());
    for (const [value, n] of counts) {
      const delta = n - (seen.get(value) ?? 0);
      if (delta > 0) counter.inc({ [label]: value } as Record<L, string>, delta);
      seen.set(value, n);
    }
  }

  /** Per-hop retransmission of a mesh stream: its counters, and the loss it repaired added back to the raw loss. */
  #collectRepairs(stream: MetricsStream, path: string, hop: string): void {
    const repairs = stream.repairs;
    if (!repairs) return;
    const seen = this.#repairsSeen.get(stream);
    for (const event of REPAIR_EVENTS) {
      // A new mesh source counts from zero again.
      const before = seen && repairs[event] >= seen[event] ? seen[event] : 0;
      this.#meshRepairs.inc({ path, event }, repairs[event] - before);
      // A repaired packet arrived, so RFC 3550's count no longer has it lost: msm_rtp_packets_lost_total is the
      // loss on the hop before repair.
      if (event === "recovered") this.#lost.inc({ path, hop }, repairs[event] - before);
    }
    this.#repairsSeen.set(stream, { ...repairs });
  }

  #collect(source: RelayMetricsSource): void {
    const now = this.#now();
    this.#jitter.clear();
    this.#bitrate.clear();
    this.#readers.clear();
    this.#readerLost.clear();
    this.#readerJitter.clear();
    for (const stream of source.streams()) {
      const path = stream.path;
      const hop = hopOf(stream.kind);
      let jitter = 0;
      let readerLost = 0;
      let readerJitter = 0;
      let readerReports = 0;
      for (const track of stream.tracks) {
        const c = track.counters;
        const stats = track.receiverStats;
        const snap = stats.snapshot();
        let seen = this.#seen.get(track);
        if (!seen) {
          seen = {
            packetsIn: 0,
            stats,
            lost: 0,
            duplicates: 0,
            reordered: 0,
            forwarded: { udp: 0, tcp: 0, mesh: 0 },
            dropped: {},
          };
          this.#seen.set(track, seen);
        }
        if (seen.stats !== stats) {
          // A new upstream SSRC: its statistics start from zero.
          seen.stats = stats;
          seen.lost = 0;
          seen.duplicates = 0;
          seen.reordered = 0;
        }
        this.#received.inc({ path, hop }, Math.max(0, c.packetsIn - seen.packetsIn));
        seen.packetsIn = c.packetsIn;
        // A gap still open to reordering is not a loss yet; and loss goes down when a very late packet fills a
        // gap: count only what exceeds the highest settled loss seen.
        const idle = now - track.lastArrival >= LOSS_SETTLE_SECONDS;
        const missing = idle ? snap.missing : stats.missingSettled(LOSS_SETTLE_PACKETS);
        this.#lost.inc({ path, hop }, Math.max(0, missing - seen.lost));
        seen.lost = Math.max(seen.lost, missing);
        this.#duplicates.inc({ path, hop }, Math.max(0, snap.duplicates - seen.duplicates));
        seen.duplicates = snap.duplicates;
        this.#reordered.inc({ path, hop }, Math.max(0, snap.reordered - seen.reordered));
        seen.reordered = snap.reordered;
        jitter = Math.max(jitter, snap.jitterSeconds);
        const readers = summarizeReaderReports(track.readerReports.values());
        readerLost += readers.lost;
        readerJitter = Math.max(readerJitter, readers.jitterSeconds);
        readerReports += readers.count;
        for (const sink of ["udp", "tcp", "mesh"] as const) {
          this.#forwarded.inc({ path, sink }, Math.max(0, c.forwarded[sink] - seen.forwarded[sink]));
          seen.forwarded[sink] = c.forwarded[sink];
        }
        for (const [reason, n] of Object.entries(c.dropped)) {
          this.#dropped.inc({ path, reason }, Math.max(0, n - (seen.dropped[reason] ?? 0)));
          seen.dropped[reason] = n;
        }
      }
      this.#jitter.set({ path, hop }, jitter);
      this.#collectRepairs(stream, path, hop);
      this.#bitrate.set({ path, hop }, this.bitrate(stream));
      if (readerReports > 0) {
        this.#readerLost.set({ path }, readerLost);
        this.#readerJitter.set({ path }, readerJitter);
      }
    }
    this.#dropGonePaths(source.streams(), now);
    for (const [path, n] of source.readersByPath()) this.#readers.set({ path }, n);
    this.#sessions.set(undefined, source.sessionCount());
    this.#meshChildren.clear();
    for (const [path, n] of source.meshChildren?.() ?? []) this.#meshChildren.set({ path }, n);
    if (source.meshPeers) this.#meshPeers.set(undefined, source.meshPeers());
    const plane = source.dataPlane?.();
    if (plane) {
      const byEvent = (Object.entries(DATAPLANE_EVENTS) as [keyof DataPlaneCounters, string][])
        .map(([key, event]): [string, number] => [event, plane[key]]);
      this.#grow(this.#dataPlane, "event", byEvent);
    }
    const retransmits = source.meshRetransmits?.();
    if (retransmits) this.#grow(this.#meshRetransmits, "event", Object.entries(retransmits));
    const rejections = source.meshRejections?.();
    if (rejections) {
      this.#grow(this.#meshPacketsRejected, "reason", Object.entries(rejections.packets));
      this.#grow(this.#meshRequestsRejected, "reason", rejections.requests);
    }
    this.#grow(this.#contained, "where", source.containedErrors?.() ?? []);
    const budget = source.memoryBudget?.();
    if (budget) {
      this.#budgetBytes.set(undefined, budget.limit);
      for (const what of ["gop_cache", "reader_queue"] as const) {
        this.#budgetUsed.set({ what }, budget.usedBy(what));
      }
      this.#grow(this.#budgetRefused, "what", Object.entries(budget.refusals));
    }
    const mem = Deno.memoryUsage();
    this.#rss.set(undefined, mem.rss);
    this.#heap.set(undefined, mem.heapUsed);
    this.#external.set(undefined, mem.external);
    if (this.#lagMonitor) this.#lag.set(undefined, this.#lagMonitor.takeMaxSeconds());
  }
}
