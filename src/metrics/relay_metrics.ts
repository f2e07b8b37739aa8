/**
 * The relay's Prometheus metrics (names from the architecture page): RTP received, lost and jitter per path and
 * hop, forwarded per sink, dropped per reason, readers, RTSP sessions and requests, process memory.
 *
 * Stream counters live on the tracks; a collector turns their growth into monotonic counters at each scrape,
 * so a stream that is forgotten and re-created does not make a counter go backwards.
 * @module
 */
import type { Stream } from "../relay/stream.ts";
import type { DropReason } from "../relay/egress.ts";
import { Registry } from "./registry.ts";
import { RtpReceiverStats } from "./rtp_receiver_stats.ts";
import { rtpSequence, rtpTimestamp } from "../rtp/packet.ts";

/** What the metrics read from the relay at scrape time. */
export interface RelayMetricsSource {
  /** Streams currently held. */
  streams(): readonly Stream[];
  /** Readers per path. */
  readersByPath(): ReadonlyMap<string, number>;
  /** Open RTSP sessions. */
  sessionCount(): number;
  /** Mesh children per path. */
  meshChildren?(): ReadonlyMap<string, number>;
  /** Live peers besides this relay. */
  meshPeers?(): number;
}

interface TrackSeen {
  packetsIn: number;
  lost: number;
  forwarded: { udp: number; tcp: number; mesh: number };
  dropped: Record<DropReason, number>;
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
    "RTP packets lost on the hop into this relay (RFC 3550 expected minus received).",
    ["path", "hop"],
  );
  readonly #jitter = this.registry.gauge(
    "msm_rtp_jitter_seconds",
    "Interarrival jitter (RFC 3550 A.8) on the hop into this relay, worst track of the path.",
    ["path", "hop"],
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
  readonly #readers = this.registry.gauge("msm_readers", "RTSP readers playing per path.", ["path"]);
  readonly #sessions = this.registry.gauge(
    "msm_rtsp_sessions",
    "Open RTSP sessions (readers and publishers).",
  );
  readonly #requests = this.registry.counter(
    "msm_rtsp_requests_total",
    "RTSP requests answered per method and status code.",
    ["method", "status"],
  );
  readonly #meshChildren = this.registry.gauge(
    "msm_mesh_children",
    "Relays this relay feeds directly, per path.",
    ["path"],
  );
  readonly #meshPeers = this.registry.gauge("msm_mesh_peers", "Live peer relays this relay sees.");
  readonly #rss = this.registry.gauge("msm_process_resident_memory_bytes", "Resident memory of the relay.");
  readonly #heap = this.registry.gauge("msm_process_heap_used_bytes", "JavaScript heap in use.");
  readonly #stats = new WeakMap<Stream, RtpReceiverStats[]>();
  readonly #seen = new WeakMap<object, TrackSeen>();

  /** @param source where stream and session figures are read at scrape time */
  constructor(source: RelayMetricsSource) {
    this.registry.addCollector(() => this.#collect(source));
  }

  /** Counts one answered RTSP request (the RTSP service's `onRequest` hook). */
  readonly onRequest = (method: string, status: number): void => {
    this.#requests.inc({ method, status });
  };

  /** Receiver statistics for one ingress track (the hub's `observeTrack` hook). */
  readonly observeTrack = (
    stream: Stream,
    index: number,
    clockRate: number,
  ): (packet: Uint8Array, arrivalSeconds: number) => void => {
    const stats = new RtpReceiverStats(clockRate);
    const list = this.#stats.get(stream) ?? [];
    list[index] = stats;
    this.#stats.set(stream, list);
    return (packet, arrival) => {
      stats.update(rtpSequence(packet), rtpTimestamp(packet), arrival, packet.length);
    };
  };

  /** Receiver statistics of a stream's tracks (index-aligned; holes for tracks without). */
  receiverStats(stream: Stream): readonly (RtpReceiverStats | undefined)[] {
    return this.#stats.get(stream) ?? [];
  }

  /** Prometheus text format 0.0.4. */
  expose(): string {
    return this.registry.expose();
  }

  #collect(source: RelayMetricsSource): void {
    this.#jitter.clear();
    this.#readers.clear();
    for (const stream of source.streams()) {
      const path = stream.path;
      const hop = "source";
      const stats = this.#stats.get(stream) ?? [];
      let jitter = 0;
      for (const track of stream.tracks) {
        const c = track.counters;
        const snap = stats[track.index]?.snapshot();
        let seen = this.#seen.get(track);
        if (!seen) {
          seen = {
            packetsIn: 0,
            lost: 0,
            forwarded: { udp: 0, tcp: 0, mesh: 0 },
            dropped: { slow_reader: 0, invalid_rtp: 0, invalid_rtcp: 0, unexpected_source: 0, send_error: 0 },
          };
          this.#seen.set(track, seen);
        }
        this.#received.inc({ path, hop }, Math.max(0, c.packetsIn - seen.packetsIn));
        seen.packetsIn = c.packetsIn;
        const lost = snap?.lostReported ?? 0;
        // Statistics restart at a resync: count growth only.
        if (lost > seen.lost) this.#lost.inc({ path, hop }, lost - seen.lost);
        seen.lost = lost;
        jitter = Math.max(jitter, snap?.jitterSeconds ?? 0);
        for (const sink of ["udp", "tcp", "mesh"] as const) {
          this.#forwarded.inc({ path, sink }, Math.max(0, c.forwarded[sink] - seen.forwarded[sink]));
          seen.forwarded[sink] = c.forwarded[sink];
        }
        for (const reason of Object.keys(c.dropped) as DropReason[]) {
          this.#dropped.inc({ path, reason }, Math.max(0, c.dropped[reason] - seen.dropped[reason]));
          seen.dropped[reason] = c.dropped[reason];
        }
      }
      this.#jitter.set({ path, hop }, jitter);
    }
    for (const [path, n] of source.readersByPath()) this.#readers.set({ path }, n);
    this.#sessions.set(undefined, source.sessionCount());
    this.#meshChildren.clear();
    for (const [path, n] of source.meshChildren?.() ?? []) this.#meshChildren.set({ path }, n);
    if (source.meshPeers) this.#meshPeers.set(undefined, source.meshPeers());
    const mem = Deno.memoryUsage();
    this.#rss.set(undefined, mem.rss);
    this.#heap.set(undefined, mem.heapUsed);
  }
}
