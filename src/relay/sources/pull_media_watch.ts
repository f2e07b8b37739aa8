/**
 * The media side of a playing camera session, for the pull's shell: interleaved `$` frames handed to their
 * tracks by channel, and when media last arrived on each track. UDP media reaches the tracks through their port
 * pairs without passing here, so arrivals are read off the tracks' packet counters and arrival times when the
 * shell asks (a timer of the machine fired): no packet costs the machine an event, and a deadline still sees the
 * exact time of the latest packet.
 * @module
 */
import type { Clock } from "../../clock.ts";
import type { ChannelRoute } from "./pull_events.ts";
import type { PullSink } from "./pull_sink.ts";

/** Media arrived on `track`, the latest at `at` (monotonic ms). */
export interface MediaArrival {
  track: number;
  at: number;
}

/** Watches the media of one camera session, from the moment it is created (just before PLAY). */
export class MediaWatch {
  readonly #sink: PullSink;
  readonly #clock: Clock;
  readonly #routes: ReadonlyMap<number, ChannelRoute>;
  /** Each track's packet count when last asked. */
  readonly #seen: number[];
  /** When a frame last arrived per track, since last asked. */
  readonly #frameAt: (number | undefined)[] = [];
  #askedAt: number;

  /**
   * @param sink the stream whose tracks get the media
   * @param channels interleaved channels and their tracks (none over UDP)
   * @param clock the monotonic clock of the machine's events
   */
  constructor(sink: PullSink, channels: readonly ChannelRoute[], clock: Clock) {
    this.#sink = sink;
    this.#clock = clock;
    this.#routes = new Map(channels.map((c) => [c.channel, c]));
    this.#seen = sink.tracks.map((t) => t.counters.packetsIn);
    this.#askedAt = clock();
  }

  /** An interleaved frame: into its track (a copy: the parser's view dies with the next read), else dropped. */
  frame(channel: number, payload: Uint8Array): void {
    const route = this.#routes.get(channel);
    const track = route && this.#sink.tracks[route.track];
    if (!track) return;
    this.#frameAt[route.track] = this.#clock();
    if (route.rtcp) track.ingestRtcp(payload.slice());
    else track.ingestRtp(payload.slice());
  }

  /**
   * The tracks that got media since the last call, each with its latest arrival. A track's own arrival time is
   * kept within the interval its counter vouches for (since the last call, up to `now`).
   */
  arrivals(now: number): MediaArrival[] {
    const out: MediaArrival[] = [];
    const tracks = this.#sink.tracks;
    for (let i = 0; i < tracks.length; i++) {
      const track = tracks[i]!;
      let at = this.#frameAt[i];
      this.#frameAt[i] = undefined;
      const count = track.counters.packetsIn;
      if (count !== this.#seen[i]) {
        this.#seen[i] = count;
        const arrival = Math.min(now, Math.max(this.#askedAt, track.lastArrival * 1000));
        at = Math.max(at ?? arrival, arrival);
      }
      if (at !== undefined) out.push({ track: i, at });
    }
    this.#askedAt = now;
    return out;
  }
}
