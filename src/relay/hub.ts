/**
 * The stream hub: path -> stream. It creates streams for configured cameras, the demo path and publishers,
 * and forgets them when they go idle.
 * @module
 */
import { reportContained } from "../contain.ts";
import type { Logger } from "../log.ts";
import type { SessionDescription } from "../rtsp/sdp.ts";
import { type SourceKind, Stream, type StreamOptions, type StreamSource } from "./stream.ts";

/** Builds the source of a pulled or demo stream. */
export type SourceFactory = (stream: Stream, kind: "pull" | "demo", url: string | null) => StreamSource;

/**
 * What the mesh tells the hub about paths rooted on other relays (the hub never imports the mesh: it is handed
 * this resolver).
 */
export interface RemoteResolver {
  /** False when a configured camera path is rooted on another relay: readers here get it through the mesh. */
  isLocalRoot(path: string, url: string): boolean;
  /** True when a path this relay does not serve may be served by another relay (a publisher elsewhere). */
  mayServeRemotely(path: string): boolean;
  /** The source of a stream fed by a parent relay. */
  createSource(stream: Stream): StreamSource;
}

/** Options of {@linkcode StreamHub}. */
export interface StreamHubOptions {
  logger: Logger;
  /** Configured cameras: path -> URL. */
  pulls: Record<string, string>;
  /** Whether the built-in `demo` path exists. */
  demo: boolean;
  /** Whether unconfigured paths accept publishers. */
  publish: boolean;
  /** Binds the tracks' RTP/RTCP port pairs (udp_pair.ts's `udpPortPairs`, or fakes in tests). */
  bindPair: StreamOptions["bindPair"];
  /** Timers of the streams' lingers and readers' waits. @default realTimers */
  timers?: StreamOptions["timers"];
  lingerSeconds: number;
  /**
   * How long a reader waits for a configured camera that is not playing before it gets 503 (see
   * {@linkcode Stream.readyWaitLimitMs}; 0: answer as soon as an attempt failed). @default the reader's own wait
   */
  cameraWaitMs?: number;
  /** GOP cache bound per H.264/H.265 track in bytes; 0 disables the cache. */
  gopCacheBytes: number;
  /** Fast plane: digests instead of packets while the Worker serves every reader (`--no-plane-digests`). @default off */
  planeDigests?: boolean;
  /** Most tracks a stream may have (`--max-tracks-per-stream`). */
  maxTracks: number;
  /** The relay-wide budget the GOP caches take their bytes from. @default none */
  memoryBudget?: StreamOptions["memoryBudget"];
  createSource: SourceFactory;
  /** Resolver for paths rooted on other relays; without it every path is local. */
  remote?: RemoteResolver;
  observeTrack?: StreamOptions["observeTrack"];
}

/** Why a publisher was refused. */
export type PublishRefusal = "not_allowed" | "busy";

/** Path -> stream registry. */
export class StreamHub {
  readonly #opts: StreamHubOptions;
  readonly #streams = new Map<string, Stream>();
  readonly #pulls: Map<string, string>;

  /** @param options configuration and the source factory */
  constructor(options: StreamHubOptions) {
    this.#opts = options;
    this.#pulls = new Map(Object.entries(options.pulls));
  }

  /** Most tracks a stream may have. */
  get maxTracks(): number {
    return this.#opts.maxTracks;
  }

  /** Live streams. */
  streams(): Stream[] {
    return [...this.#streams.values()];
  }

  /** Configured pull paths and their URLs. */
  pulls(): ReadonlyMap<string, string> {
    return this.#pulls;
  }

  /** Adds or replaces a pulled path at run time. */
  addPull(path: string, url: string): void {
    this.#pulls.set(path, url);
  }

  /** Removes a pulled path; its stream closes. */
  async removePull(path: string): Promise<boolean> {
    const existed = this.#pulls.delete(path);
    const stream = this.#streams.get(path);
    if (stream?.kind === "pull") await this.#forget(stream);
    return existed;
  }

  /** The kind a path would have, or null when nothing can serve it right now. */
  kindOf(path: string): SourceKind | null {
    const url = this.#pulls.get(path);
    const remote = this.#opts.remote;
    if (url !== undefined) return remote && !remote.isLocalRoot(path, url) ? "mesh" : "pull";
    if (path === "demo" && this.#opts.demo) return "demo";
    const existing = this.#streams.get(path);
    if (existing?.kind === "publish") return "publish";
    if (remote?.mayServeRemotely(path)) return "mesh";
    return null;
  }

  /** True when this relay is where `path` enters the mesh: a camera it pulls, its demo, or a local publisher. */
  isLocalRoot(path: string): boolean {
    const kind = this.kindOf(path);
    return kind === "pull" || kind === "demo" || kind === "publish";
  }

  /** The stream of a path if it exists now. */
  get(path: string): Stream | undefined {
    return this.#streams.get(path);
  }

  /**
   * The stream a reader of `path` attaches to, creating pulled and demo streams on demand.
   * @returns null when the path is unknown or has no publisher
   */
  forReader(path: string): Stream | null {
    const existing = this.#streams.get(path);
    if (existing) return existing;
    const kind = this.kindOf(path);
    if (kind === "mesh") {
      const stream = this.#create(path, kind);
      stream.source = this.#opts.remote!.createSource(stream);
      return stream;
    }
    if (kind !== "pull" && kind !== "demo") return null;
    const stream = this.#create(path, kind);
    this.#setWaitLimit(stream);
    stream.source = this.#opts.createSource(stream, kind, kind === "pull" ? this.#pulls.get(path)! : null);
    return stream;
  }

  /**
   * Reserves a path for a publisher that sent ANNOUNCE. Readers already waiting on the path keep their sessions.
   * @returns the stream, or why it was refused
   */
  forPublisher(path: string, desc: SessionDescription, source: StreamSource): Stream | PublishRefusal {
    if (!this.#opts.publish || this.#pulls.has(path) || (path === "demo" && this.#opts.demo)) {
      return "not_allowed";
    }
    const existing = this.#streams.get(path);
    if (existing?.source) return "busy";
    const stream = existing ?? this.#create(path, "publish");
    try {
      stream.setDescription(desc);
    } catch (err) {
      // Nothing of a refused description stays: a stream made for it is forgotten, the path is free.
      if (!existing) void this.#forget(stream).catch((e) => reportContained("stream close", e));
      throw err;
    }
    stream.source = source;
    stream.retain();
    return stream;
  }

  /**
   * Releases a publisher's hold on its path: its media ends (UDP sources and the fast plane's routes are cleared,
   * the next publisher starts a new epoch); readers keep their sessions and wait for the next one.
   */
  unpublish(stream: Stream, source: StreamSource): void {
    if (stream.source !== source) return;
    stream.source = null;
    stream.endSource();
    stream.setState("idle", "publisher left");
    stream.release();
  }

  /**
   * Re-homes a live camera stream whose root moved: this relay became the root (`mesh` → `pull`) or stopped
   * being it (`pull` → `mesh`). The stream object, its tracks and its readers stay; only the source is swapped, so
   * readers see a gap and carry on (sequence numbers stay continuous).
   * @returns true when the source was swapped
   */
  rehome(path: string): boolean {
    const stream = this.#streams.get(path);
    const url = this.#pulls.get(path);
    if (!stream || url === undefined || (stream.kind !== "pull" && stream.kind !== "mesh")) return false;
    const kind = this.kindOf(path);
    if (kind === stream.kind || (kind !== "pull" && kind !== "mesh")) return false;
    const old = stream.source;
    this.#opts.logger.info("stream re-homed", { path, from: stream.kind, to: kind });
    stream.kind = kind;
    this.#setWaitLimit(stream);
    // A standby root hands over its own pull of the camera, aligned with the old root's numbering.
    const handed = kind === "pull" ? old?.handOver?.() ?? null : null;
    if (handed) this.#opts.logger.info("standby root takes over", { path });
    stream.source = kind === "mesh"
      ? this.#opts.remote!.createSource(stream)
      : handed ?? this.#opts.createSource(stream, "pull", url);
    void old?.stop().catch(() => {});
    if (stream.refs > 0) stream.source.start();
    return true;
  }

  /**
   * A second pull of a configured camera, outside the registry (no readers find it, no metrics count it): a standby
   * root's own session, matched against the root's numbering. Not started: retain it to start, close it to end.
   * @returns null when this relay is not configured with `path`
   */
  shadowPull(path: string): Stream | null {
    const url = this.#pulls.get(path);
    if (url === undefined) return null;
    const stream = new Stream({
      path,
      kind: "pull",
      logger: this.#opts.logger.child("standby"),
      bindPair: this.#opts.bindPair,
      ...(this.#opts.timers ? { timers: this.#opts.timers } : {}),
      lingerSeconds: this.#opts.lingerSeconds,
      gopCacheBytes: 0,
      maxTracks: this.#opts.maxTracks,
      onIdle: () => {},
    });
    stream.source = this.#opts.createSource(stream, "pull", url);
    return stream;
  }

  /** Stops every stream. */
  async close(): Promise<void> {
    await Promise.all(this.streams().map((s) => this.#forget(s)));
  }

  /** Readers of a camera this relay pulls wait at most `cameraWaitMs`; other streams keep the reader's wait. */
  #setWaitLimit(stream: Stream): void {
    stream.readyWaitLimitMs = stream.kind === "pull" ? this.#opts.cameraWaitMs : undefined;
  }

  #create(path: string, kind: SourceKind): Stream {
    const stream = new Stream({
      path,
      kind,
      logger: this.#opts.logger,
      bindPair: this.#opts.bindPair,
      ...(this.#opts.timers ? { timers: this.#opts.timers } : {}),
      lingerSeconds: this.#opts.lingerSeconds,
      gopCacheBytes: this.#opts.gopCacheBytes,
      ...(this.#opts.planeDigests ? { planeDigests: true } : {}),
      maxTracks: this.#opts.maxTracks,
      ...(this.#opts.memoryBudget ? { memoryBudget: this.#opts.memoryBudget } : {}),
      onIdle: (s) => void this.#forget(s).catch((err) => reportContained("stream close", err)),
      ...(this.#opts.observeTrack ? { observeTrack: this.#opts.observeTrack } : {}),
    });
    this.#streams.set(path, stream);
    return stream;
  }

  async #forget(stream: Stream): Promise<void> {
    if (this.#streams.get(stream.path) === stream) this.#streams.delete(stream.path);
    await stream.close();
  }
}
