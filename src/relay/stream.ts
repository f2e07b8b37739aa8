/**
 * A stream: one path of the relay, its upstream source, its tracks and its readers' interest.
 *
 * Media enters a stream's tracks from its source's UDP port pairs (here), from `$` frames (interleaved_routes.ts,
 * sources/pull.ts) and from the mesh; at every ingress the track is handed a buffer it owns (a datagram's own
 * copy, a copy of a frame parsed from a reused read buffer), because it rewrites packets in place and its egresses
 * may still hold them when the next packet arrives. Port pairs come from an injected factory (sockets on the
 * portable or the fast data plane, or none in tests), timers and the clock are injected too.
 * @module
 */
import type { DeliveredCell } from "../dataplane/mesh_ingress.ts";
import type { SessionDescription } from "../rtsp/sdp.ts";
import type { Logger } from "../log.ts";
import { type Clock, monotonicMs, realTimers, type TimerHandle, type Timers } from "../clock.ts";
import { contained } from "../contain.ts";
import { digestRingBytes, GopCache, gopCodecOf } from "./gop_cache.ts";
import type { RingDigest } from "../dataplane/packet_ring.ts";
import { Track } from "./track.ts";
import type { PortPair, PortPairFactory } from "./port_pair.ts";
import { UdpEgress } from "./egress.ts";
import type { PlaneMeshChild } from "../dataplane/mesh_route.ts";
import { isRtpPacket, rtpSsrc } from "../rtp/packet.ts";
import { SourceLatch, type UdpSourceAddress } from "./source_latch.ts";
import type { MemoryBudget } from "./memory_budget.ts";

export type { UdpSourceAddress } from "./source_latch.ts";
export { PortsExhausted, StreamUnavailable, TooManyTracks } from "./stream_errors.ts";
import { PortsExhausted, StreamUnavailable, TooManyTracks } from "./stream_errors.ts";

/** Where a stream's media comes from. */
export type SourceKind = "pull" | "publish" | "demo" | "mesh";

/** This thread's `performance.timeOrigin`, read once. */
const TIME_ORIGIN = performance.timeOrigin;

/** State of a stream's source. */
export type SourceState = "idle" | "connecting" | "ready" | "error";

/** A stream's upstream: a camera pulled, a publisher, or the demo clip. */
export interface StreamSource {
  readonly kind: SourceKind;
  /** Starts producing into the stream (idempotent). */
  start(): void;
  /** Stops and releases sockets. */
  stop(): Promise<void>;
  /** Public facts for the admin API (no credentials). */
  info(): Record<string, unknown>;
  /** Per-hop retransmission on the hop into this relay (a mesh source's, when on). */
  repairs?(): StreamRepairs | null;
  /**
   * The mesh numbering epoch this source carries on (a standby root that took the dead root's place keeps its
   * epoch, so the tree's numbering does not change); absent: the stream starts its own.
   */
  readonly meshEpoch?: string;
  /**
   * When this relay becomes the root of the stream: a source that carries the stream on without a new camera
   * session (a standby root's aligned pull), or null for a new pull. The hub stops this source afterwards.
   */
  handOver?(): StreamSource | null;
}

/** What per-hop retransmission did on the hop into this relay (a mesh source's counters, all tracks). */
export interface StreamRepairs {
  /** Packets missing on the hop (the raw loss). */
  readonly missing: number;
  /** Missing packets repaired within the latency budget. */
  readonly recovered: number;
  /** Missing packets given up. */
  readonly unrecovered: number;
  /** Repairs that came after the budget (dropped). */
  readonly late: number;
  /** Sequence numbers asked for, every request counted. */
  readonly requested: number;
}

/** Options of {@linkcode Stream}. */
export interface StreamOptions {
  path: string;
  kind: SourceKind;
  logger: Logger;
  /** Binds a track's RTP/RTCP port pair (udp_pair.ts's `udpPortPairs` on either data plane). */
  bindPair: PortPairFactory;
  /** Timers of the linger and of readers' waits. @default realTimers */
  timers?: Timers;
  /** Monotonic clock of the UDP source latches. @default monotonicMs */
  now?: Clock;
  /** Seconds to keep the source after the last reader. */
  lingerSeconds: number;
  /** GOP cache bound per H.264/H.265 track in bytes; 0 disables the cache. */
  gopCacheBytes: number;
  /**
   * Fast plane: while the Worker serves every reader of a track, it keeps the packets in a ring and posts only
   * digests (on in the relay unless `--no-plane-digests`). @default off
   */
  planeDigests?: boolean;
  /** Most tracks (media sections) a description may have (`--max-tracks-per-stream`). */
  maxTracks: number;
  /** The relay-wide budget the GOP caches take their bytes from. @default none */
  memoryBudget?: MemoryBudget;
  /** Called when the stream has no readers past its linger (the hub stops and may forget it). */
  onIdle: (stream: Stream) => void;
  /** Creates observers for receiver statistics per track. */
  observeTrack?: (stream: Stream, index: number, clockRate: number) =>
    | ((length: number, arrivalSeconds: number) => void)
    | undefined;
}

interface Waiter {
  resolve: () => void;
  reject: (err: Error) => void;
  timer: TimerHandle;
}

/** Handles a UDP reader's RTCP compound (valid only during the call), received on track `index`'s RTCP port. */
export type ReaderRtcpHandler = (packet: Uint8Array, index: number) => void;

/**
 * What a source may do to its stream (the narrow side of {@linkcode Stream} that sources see): describe it, say
 * how it is doing, feed its tracks, bind and aim its UDP ports, and fail the readers waiting for it.
 */
export interface StreamSink {
  readonly path: string;
  readonly state: SourceState;
  readonly tracks: readonly Track[];
  /** Readers waiting for the source right now. */
  readonly waiting: number;
  /** Times the source became ready. */
  readonly sourceSessions: number;
  setDescription(desc: SessionDescription, options?: { outputSsrcs?: readonly number[] }): void;
  setState(state: SourceState, error?: string): void;
  pairFor(index: number): PortPair;
  pairOf(index: number): PortPair | undefined;
  setUdpSource(index: number, source: UdpSourceAddress | null): void;
  failWaiters(err: StreamUnavailable): void;
}

/** A path of the relay. */
export class Stream implements StreamSink {
  readonly path: string;
  /** Where the media comes from; a camera path moves between `pull` and `mesh` when its root moves. */
  kind: SourceKind;
  readonly createdAt = Date.now();
  /** Random id of this stream object: a root's numbering lives as long as its stream (the mesh's epoch). */
  readonly epochId: string = Array.from(
    crypto.getRandomValues(new Uint8Array(6)),
    (b) => b.toString(16).padStart(2, "0"),
  )
    .join("");
  source: StreamSource | null = null;

  /** What per-hop retransmission did on the hop into this relay, or null (no mesh source, or NACK off). */
  get repairs(): StreamRepairs | null {
    return this.source?.repairs?.() ?? null;
  }
  state: SourceState = "idle";
  lastError: string | null = null;
  description: SessionDescription | null = null;
  tracks: Track[] = [];
  /** RTP/RTCP port pair per track, bound when a track first needs one (a UDP reader, publisher or camera). */
  #pairs: Array<PortPair | undefined> = [];
  /** Expected UDP sender per track; null accepts nothing (TCP ingress or no source). */
  #udpSources: Array<SourceLatch | null> = [];
  /** The parent relay subscription the fast plane's worker forwards to this stream's readers, and its sender. */
  #meshIngress:
    | { streamId: number; host: string; port: number; delivered: readonly DeliveredCell[] | null }
    | null = null;
  /** RTCP handlers of UDP readers, by `host:port` of the reader's RTCP port. */
  readonly #readerRtcp = new Map<string, ReaderRtcpHandler>();
  /**
   * `host:port` of UDP readers' RTP ports, with a count (two sessions of one client may share ports). Clients such
   * as ffmpeg send a packet or two from there to the server's RTP port to open NAT mappings: expected, ignored,
   * not counted as a drop.
   */
  readonly #readerRtp = new Map<string, number>();
  /** Number of times the source (re)connected. */
  sourceSessions = 0;
  /**
   * How long a reader may wait for this stream's source (at most the wait it asks for), or undefined (its own
   * wait). Set on pulled cameras (`--camera-wait`): past it the reader gets {@linkcode StreamUnavailable} 503
   * naming the camera's last error; 0 answers at once once an attempt to reach the camera has failed (a reader
   * still waits for the first attempt of a stream).
   */
  readyWaitLimitMs: number | undefined = undefined;
  readonly #opts: StreamOptions;
  readonly #timers: Timers;
  readonly #now: Clock;
  #refs = 0;
  #lingerTimer: TimerHandle;
  #waiters: Waiter[] = [];
  #closed = false;

  /** @param options path, kind, ports and hooks */
  constructor(options: StreamOptions) {
    this.#opts = options;
    this.#timers = options.timers ?? realTimers;
    this.#now = options.now ?? monotonicMs;
    this.path = options.path;
    this.kind = options.kind;
  }

  /** Readers and other holders of interest. */
  get refs(): number {
    return this.#refs;
  }

  /** True once closed by the hub. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Readers (or peers) waiting in {@linkcode whenReady} right now. */
  get waiting(): number {
    return this.#waiters.length;
  }

  /** Registers interest (a reader, a DESCRIBE in progress); starts the source on the first. */
  retain(): void {
    this.#refs++;
    if (this.#lingerTimer !== undefined) {
      this.#timers.clearTimeout(this.#lingerTimer);
      this.#lingerTimer = undefined;
    }
    this.source?.start();
  }

  /** Drops interest; after the last one and the linger, the stream goes idle. */
  release(): void {
    if (this.#refs === 0) return;
    this.#refs--;
    if (this.#refs > 0 || this.#closed) return;
    if (this.#lingerTimer !== undefined) this.#timers.clearTimeout(this.#lingerTimer);
    this.#lingerTimer = this.#timers.setTimeout(() => {
      this.#lingerTimer = undefined;
      if (this.#refs === 0 && !this.#closed) contained("stream linger", () => this.#opts.onIdle(this));
    }, this.#opts.lingerSeconds * 1000);
  }

  /**
   * Installs the upstream description. A description with the same number of media keeps the tracks (readers
   * carry on after a gap, with rewritten sequence numbers); another shape rebuilds them.
   */
  setDescription(desc: SessionDescription, options: { outputSsrcs?: readonly number[] } = {}): void {
    const max = this.#opts.maxTracks;
    if (desc.medias.length > max) throw new TooManyTracks(desc.medias.length, max);
    const ssrcs = options.outputSsrcs;
    const sameShape = this.tracks.length === desc.medias.length &&
      this.tracks.every((t, i) => t.clockRate === desc.medias[i]!.clockRate) &&
      (!ssrcs || this.tracks.every((t, i) => t.outputSsrc === ssrcs[i]));
    this.description = desc;
    if (sameShape) {
      for (const t of this.tracks) t.newEpoch();
      return;
    }
    if (this.tracks.length) {
      this.#opts.logger.warn("upstream description changed shape, rebuilding tracks", {
        path: this.path,
        before: this.tracks.length,
        after: desc.medias.length,
      });
    }
    this.#closePairs();
    for (const t of this.tracks) t.close();
    this.tracks = desc.medias.map((m, index) => {
      const observe = this.#opts.observeTrack?.(this, index, m.clockRate);
      const codec = gopCodecOf(m.encoding);
      const gopBytes = this.#opts.gopCacheBytes;
      const budget = this.#opts.memoryBudget?.for("gop_cache") ?? null;
      const gopCache = codec && gopBytes > 0 ? new GopCache(codec, gopBytes, budget) : undefined;
      const outputSsrc = ssrcs?.[index];
      return new Track({
        index,
        clockRate: m.clockRate,
        ...(outputSsrc !== undefined ? { outputSsrc } : {}),
        ...(observe ? { observe } : {}),
        ...(gopCache ? { gopCache } : {}),
        onRouteChange: () => this.#syncRoute(index),
      });
    });
    this.#udpSources = this.tracks.map(() => null);
  }

  /** The port pair of track `index`, if one is bound. */
  pairOf(index: number): PortPair | undefined {
    return this.#pairs[index];
  }

  /** Port pairs bound now. */
  get boundPairs(): number {
    return this.#pairs.reduce((n, p) => n + (p ? 1 : 0), 0);
  }

  /**
   * The port pair of track `index`, bound now if it has none: a track binds UDP ports only once a UDP reader,
   * publisher or camera session needs them, and keeps them until the stream closes or changes shape.
   * @throws PortsExhausted when the range has no free pair; RangeError for a track that does not exist
   */
  pairFor(index: number): PortPair {
    const existing = this.#pairs[index];
    if (existing) return existing;
    const track = this.tracks[index];
    if (!track) throw new RangeError(`Track ${index} does not exist in "${this.path}"`);
    if (this.#closed) throw new PortsExhausted(`Stream "${this.path}" is closed`);
    let pair: PortPair;
    try {
      pair = this.#opts.bindPair();
    } catch (err) {
      throw new PortsExhausted((err as Error).message);
    }
    pair.onRtp = (packet, from, forwarded) => this.#onUdpRtp(index, track, packet, from, forwarded);
    pair.onRtcp = (packet, from) => this.#onUdpRtcp(index, track, packet, from);
    pair.onRtpDigest = (digest, from) => this.#onUdpDigest(index, track, digest, from);
    this.#pairs[index] = pair;
    this.#syncRoute(index);
    const ingress = this.#meshIngress;
    // A track's first pair, bound already.
    if (ingress) pair.bindMeshIngress(ingress.streamId, index, true, ingress.delivered?.[index] ?? null);
    return pair;
  }

  /**
   * Sets the source state and wakes waiters on `ready`; on `error` with a {@linkcode readyWaitLimitMs} of 0 it
   * fails them (503).
   */
  setState(state: SourceState, error?: string): void {
    if (this.state !== state) {
      this.#opts.logger.info("stream source state", {
        path: this.path,
        state,
        ...(error ? { error } : {}),
      });
    }
    this.state = state;
    this.lastError = error ?? (state === "ready" ? null : this.lastError);
    if (state === "ready") {
      this.sourceSessions++;
      for (const w of this.#waiters.splice(0)) {
        this.#timers.clearTimeout(w.timer);
        w.resolve();
      }
    } else if (state === "error" && this.readyWaitLimitMs === 0 && this.#waiters.length > 0) {
      this.failWaiters(this.#unavailable(0));
    }
  }

  /** Why a reader that waited `waitedMs` for the source gets 503. */
  #unavailable(waitedMs: number): StreamUnavailable {
    const waited = waitedMs > 0 ? ` for ${Math.round(waitedMs / 100) / 10} s` : "";
    return new StreamUnavailable(
      `Source of "${this.path}" unreachable${waited}: ${this.lastError ?? this.state}`,
      503,
    );
  }

  /**
   * Resolves once the source is ready with a description. With a {@linkcode readyWaitLimitMs}, the wait is the
   * shorter of it and `timeoutMs` (0: `timeoutMs`, but a source in error fails the wait at once).
   * @throws Error after `timeoutMs` or when the stream closes; {@linkcode StreamUnavailable} (503) past the limit
   */
  whenReady(timeoutMs: number): Promise<void> {
    if (this.state === "ready" && this.description) return Promise.resolve();
    if (this.#closed) return Promise.reject(new Error(`Stream "${this.path}" is closed`));
    const limit = this.readyWaitLimitMs;
    if (limit === 0 && this.state === "error") return Promise.reject(this.#unavailable(0));
    const waitMs = limit ? Math.min(limit, timeoutMs) : timeoutMs;
    return new Promise((resolve, reject) => {
      const waiter: Waiter = { resolve, reject, timer: undefined };
      // Registered before setTimeout runs: Deno may drain microtasks (and so mark the stream ready) inside it.
      this.#waiters.push(waiter);
      waiter.timer = this.#timers.setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        reject(
          limit !== undefined ? this.#unavailable(waitMs) : new Error(
            `Source of "${this.path}" not ready after ${timeoutMs} ms: ${this.lastError ?? this.state}`,
          ),
        );
      }, waitMs);
      if (!this.#waiters.includes(waiter)) this.#timers.clearTimeout(waiter.timer);
    });
  }

  /** Fails the readers waiting for this stream now (the source knows it cannot serve them). */
  failWaiters(err: StreamUnavailable): void {
    for (const w of this.#waiters.splice(0)) {
      this.#timers.clearTimeout(w.timer);
      w.reject(err);
    }
  }

  /** Stops the source, closes sockets and fails waiters. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#lingerTimer !== undefined) this.#timers.clearTimeout(this.#lingerTimer);
    for (const w of this.#waiters.splice(0)) {
      this.#timers.clearTimeout(w.timer);
      w.reject(new Error(`Stream "${this.path}" closed`));
    }
    await this.source?.stop();
    this.#closePairs();
    for (const t of this.tracks) t.close();
  }

  /** Closes the tracks' port pairs (the stream closes, or its tracks are rebuilt). */
  #closePairs(): void {
    for (const p of this.#pairs) p?.close();
    this.#pairs = [];
  }

  /**
   * Registers a UDP reader's ports: RTCP from `host:rtcpPort` goes to `onRtcp`; packets from `host:rtpPort` (NAT
   * hole punching) are expected and ignored.
   * @returns the function that unregisters them (once; later calls do nothing)
   */
  addUdpReader(host: string, rtpPort: number, rtcpPort: number, onRtcp: ReaderRtcpHandler): () => void {
    const rtcpKey = `${host}:${rtcpPort}`;
    const rtpKey = `${host}:${rtpPort}`;
    this.#readerRtcp.set(rtcpKey, onRtcp);
    this.#readerRtp.set(rtpKey, (this.#readerRtp.get(rtpKey) ?? 0) + 1);
    let registered = true;
    return () => {
      if (!registered) return;
      registered = false;
      if (this.#readerRtcp.get(rtcpKey) === onRtcp) this.#readerRtcp.delete(rtcpKey);
      const count = (this.#readerRtp.get(rtpKey) ?? 1) - 1;
      if (count > 0) this.#readerRtp.set(rtpKey, count);
      else this.#readerRtp.delete(rtpKey);
    };
  }

  /**
   * Sets (or clears) where a track's UDP media is expected from: the address and the ports the RTSP exchange gave;
   * what it left open (ports, SSRC) is latched from the first packets (see {@linkcode SourceLatch}).
   */
  setUdpSource(index: number, source: UdpSourceAddress | null): void {
    this.#udpSources[index] = source ? new SourceLatch(source) : null;
    this.#syncRoute(index);
  }

  /**
   * The source of this stream left (a publisher ended): every track stops taking UDP media and the fast plane
   * stops forwarding it; the next source's packets start a new epoch (numbering continues for readers).
   */
  endSource(): void {
    for (let i = 0; i < this.tracks.length; i++) this.#udpSources[i] = null;
    for (const t of this.tracks) t.newEpoch(); // syncs each route, now without a source
  }

  /**
   * Lets the fast plane's worker send the RTP of a parent relay's subscription `streamId`, which `from` sends, to
   * this stream's UDP readers itself (src/dataplane/mesh_ingress.ts), or stops it (null). The mesh source binds
   * only its attached parent's subscription in a steady state, and unbinds it before any change.
   */
  bindMeshIngress(
    streamId: number | null,
    from: Deno.NetAddr | null,
    delivered: readonly DeliveredCell[] | null = null,
  ): void {
    const old = this.#meshIngress;
    const next = streamId === null || from === null
      ? null
      : { streamId, host: from.hostname, port: from.port, delivered };
    if (old?.streamId === next?.streamId && old?.host === next?.host && old?.port === next?.port) return;
    this.#meshIngress = next;
    for (let i = 0; i < this.tracks.length; i++) {
      const pair = this.#pairs[i];
      if (old) pair?.bindMeshIngress(old.streamId, i, false);
      this.#syncRoute(i);
      if (next) pair?.bindMeshIngress(next.streamId, i, true, next.delivered?.[i] ?? null);
    }
  }

  /**
   * The mesh source delivered RTP packet `seq` of `ssrc` on track `index` itself while its ingress is bound in
   * order (see {@linkcode bindMeshIngress}): the fast plane's worker may go on from there.
   */
  noteDelivered(index: number, seq: number, ssrc: number): void {
    const cell = this.#meshIngress?.delivered?.[index];
    if (cell) this.#pairs[index]?.noteDelivered(cell, seq, ssrc);
  }

  /** Ids of the egresses of track `index` the fast plane's worker serves itself (see {@linkcode Track.relayRtp}). */
  planeServed(index: number): ReadonlySet<string> | undefined {
    return this.#pairs[index]?.planeDests;
  }

  /** Hands the fast data plane what it may forward itself for a track (`starved`: grow the track's ring). */
  #syncRoute(index: number, starved = false): void {
    const pair = this.#pairs[index];
    const track = this.tracks[index];
    if (!pair?.cutThrough || !track) return;
    const src = this.#udpSources[index] ?? null;
    // A parent relay's frames come on the mesh port, each to the main thread too (no ring, no digests).
    const ingress = track.relayed ? this.#meshIngress : null;
    // A reader still getting its paced GOP burst is fed by the main thread, behind its backlog.
    const readers: { id: string; host: string; port: number }[] = [];
    // Mesh children too when the mesh port is the plane's: they get the readers' numbering at a root, the mesh's
    // at a member whose parent's frames the worker forwards.
    const children: PlaneMeshChild[] = [];
    let meshFd = -1;
    for (const e of track.egresses) {
      if (track.isPacing(e.id)) continue;
      if (e instanceof UdpEgress) {
        readers.push({ id: e.id, host: e.rtpAddress.hostname, port: e.rtpAddress.port });
      } else if (e.planeMesh && (!track.relayed || ingress)) {
        meshFd = e.planeMesh.fd;
        children.push(e.planeMesh);
      }
    }
    pair.setRoute({
      source: src
        ? { host: src.host, port: src.rtpPort }
        : ingress && { host: ingress.host, port: ingress.port },
      map: track.rewrite,
      readers,
      prompt: ingress !== null || readers.length + children.length < track.egresses.length,
      mesh: children.length > 0 ? { fd: meshFd, children } : null,
      // Digests when the worker serves every egress; their bytes in a ring only for a track that keeps packets.
      ringBytes: this.#opts.planeDigests && !ingress && track.keepsPackets
        ? digestRingBytes(track.gopCache, pair.ringBytes, starved)
        : 0,
      digests: this.#opts.planeDigests === true && !ingress,
      codec: track.gopCache?.codec ?? null,
    });
  }

  #onUdpRtp(index: number, track: Track, packet: Uint8Array, from: Deno.NetAddr, forwarded?: boolean): void {
    const latch = this.#udpSources[index];
    // A reader's own RTP port may send a packet or two to open NAT mappings: expected, ignored. Unless the port is
    // the source's: a reader on the source's address could name it as its client port and silence the source.
    // The fast plane forwards only what comes from the latched source's port with its SSRC (see route.ts), never a
    // reader's, and the source's packets skip the key string this check builds.
    if (
      !forwarded && !latch?.holdsRtp(from.hostname, from.port) &&
      this.#readerRtp.has(`${from.hostname}:${from.port}`)
    ) {
      return;
    }
    if (!latch?.mayBeFrom(from.hostname, from.port)) return track.countDrop("unexpected_source");
    if (!isRtpPacket(packet)) return track.countDrop("invalid_rtp");
    const before = latch.rtpPort;
    if (latch.acceptRtp(from.hostname, from.port, rtpSsrc(packet), this.#now()) !== null) {
      return track.countDrop("unexpected_source");
    }
    track.ingestRtp(packet, forwarded ? this.#pairs[index]!.planeDests : undefined);
    // The port just latched: the fast plane may now forward this sender's packets itself. (Forwarded, but posted
    // with its bytes: the track's ring may have been too small for this thread's lag.)
    if (before === undefined) this.#syncRoute(index);
    else if (forwarded && this.#pairs[index]!.ringStarved()) this.#syncRoute(index, true);
  }

  /**
   * A packet the fast plane's worker forwarded to every reader and kept in the pair's ring: the track takes its
   * digest (see {@linkcode Track.ingestDigest}); the latch is kept as for the packet itself.
   */
  #onUdpDigest(index: number, track: Track, digest: RingDigest, from: Deno.NetAddr): void {
    const latch = this.#udpSources[index];
    const pair = this.#pairs[index];
    // The worker's arrival time on this thread's performance.now() clock (the default of the stream's and the
    // track's): no clock read per packet (one costs a few hundred nanoseconds on some VMs).
    const arrivalMs = digest.arrivalMs - TIME_ORIGIN;
    if (!latch || !pair || latch.acceptRtp(from.hostname, from.port, digest.ssrc, arrivalMs) !== null) {
      return track.countDrop("unexpected_source");
    }
    track.ingestDigest(digest, arrivalMs / 1000, pair.planeDests);
    const gop = track.gopCache;
    const ring = pair.ringBytes;
    if (gop && ring > 0 && gop.bytes * 2 > ring && ring < 2 * gop.maxBytes) this.#syncRoute(index); // grow it
  }

  #onUdpRtcp(index: number, track: Track, packet: Uint8Array, from: Deno.NetAddr): void {
    // The source's known RTCP port first (a reader on its address may name it as its own), then readers (their
    // ports are exact, while a source's may still be unknown and latch on its first packet).
    const latch = this.#udpSources[index];
    if (latch?.holdsRtcp(from.hostname, from.port)) {
      track.ingestRtcp(packet);
      return;
    }
    const reader = this.#readerRtcp.get(`${from.hostname}:${from.port}`);
    if (reader) {
      track.noteReaderReport();
      reader(packet, index);
      return;
    }
    if (latch?.acceptRtcp(from.hostname, from.port)) {
      track.ingestRtcp(packet);
      return;
    }
    track.countDrop("unexpected_source");
  }
}
