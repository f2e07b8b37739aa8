/**
 * RTP and RTCP interleaved in an RTSP connection (RFC 2326 §10.12): which `$` channel of a connection belongs to
 * which session's track, the channels a SETUP may take, and where a received frame goes (a publisher's media
 * into its track, a reader's RTCP into its reports). One table per connection.
 * @module
 */
import { RtspProtocolError } from "../rtsp/errors.ts";
import type { Transport } from "../rtsp/headers/transport.ts";
import type { RelaySession } from "./relay_session.ts";

/** What one channel carries. */
export interface ChannelRoute {
  session: RelaySession;
  /** Track index in the session's stream. */
  index: number;
  rtcp: boolean;
}

/** The `$` channels of one connection. */
export class InterleavedRoutes {
  readonly #channels = new Map<number, ChannelRoute>();

  /**
   * The channels a TCP offer gets: the ones it names, or the first free pair.
   * @throws 461 when another session holds a named channel, 453 when no pair is free
   */
  channelsFor(offer: Transport, session: RelaySession | undefined): [number, number] {
    const channels = offer.interleaved ?? this.#freePair();
    for (const ch of channels) {
      const taken = this.#channels.get(ch);
      if (taken && taken.session !== session) {
        throw new RtspProtocolError(`Interleaved channel ${ch} is already in use on this connection`, 461);
      }
    }
    return channels;
  }

  /** Gives `channels` (RTP, RTCP) to a session's track. */
  assign(session: RelaySession, index: number, channels: readonly [number, number]): void {
    this.#channels.set(channels[0], { session, index, rtcp: false });
    this.#channels.set(channels[1], { session, index, rtcp: true });
  }

  /** Frees every channel of a session. */
  release(session: RelaySession): void {
    for (const [ch, route] of this.#channels) if (route.session === session) this.#channels.delete(ch);
  }

  /** What channel `channel` carries, if anything. */
  route(channel: number): ChannelRoute | undefined {
    return this.#channels.get(channel);
  }

  #freePair(): [number, number] {
    for (let ch = 0; ch < 254; ch += 2) {
      if (!this.#channels.has(ch) && !this.#channels.has(ch + 1)) return [ch, ch + 1];
    }
    throw new RtspProtocolError("No free interleaved channels on this connection", 453);
  }
}

/**
 * Routes a received `$` frame: a recording publisher's media into its track (copied: the parser's view dies
 * with the next read, the track keeps and rewrites its own), a reader's RTCP to `onReaderRtcp`. Frames on
 * channels nobody set up, and a publisher's frames before RECORD, are dropped.
 */
export function routeFrame(
  routes: InterleavedRoutes,
  channel: number,
  payload: Uint8Array,
  onReaderRtcp: (session: RelaySession, packet: Uint8Array, index: number) => void,
): void {
  const route = routes.route(channel);
  if (!route) return;
  const track = route.session.stream.tracks[route.index];
  if (!track) return;
  if (route.session.role === "publisher") {
    if (route.session.state !== "recording") return;
    if (route.rtcp) track.ingestRtcp(payload.slice());
    else track.ingestRtp(payload.slice());
  } else if (route.rtcp) {
    track.noteReaderReport();
    onReaderRtcp(route.session, payload, route.index);
  }
}
