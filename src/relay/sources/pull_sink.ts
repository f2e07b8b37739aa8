/**
 * What a camera pull needs of its stream, and nothing more: the narrow side of {@linkcode Stream} that
 * {@linkcode PullMachine} drives (description, state, UDP sources, port pairs, the tracks' report blocks) and
 * {@linkcode PullSource} feeds (interleaved frames into the tracks, their packet counters, RTCP out of a track's
 * port pair). The relay's `Stream` satisfies it structurally; tests hand in a recording fake. Keeping the pull
 * behind this interface lets the stream change inside without the pull noticing, and the other way round.
 * @module
 */
import type { ReportBlock } from "../../rtp/rtcp.ts";
import type { SessionDescription } from "../../rtsp/sdp.ts";
import type { UdpSourceAddress } from "../source_latch.ts";
import type { SourceState } from "../stream.ts";

/** One track of the stream, as the pull sees it. */
export interface PullTrack {
  /** Packet counters; the pull only reads how many RTP packets came in. */
  readonly counters: { readonly packetsIn: number };
  /**
   * Arrival of the latest RTP packet, in seconds on the monotonic clock (`performance.now() / 1000`); 0 before
   * any.
   */
  readonly lastArrival: number;
  /** The receiver report block about the track's source, or null before one is validated. */
  receiverReportBlock(): ReportBlock | null;
  /** Takes one RTP packet from the camera (the track keeps and rewrites the buffer). */
  ingestRtp(packet: Uint8Array): void;
  /** Takes one RTCP compound from the camera. */
  ingestRtcp(packet: Uint8Array): void;
}

/** A track's UDP port pair: where the camera sends, and where reports to it leave from. */
export interface PullPortPair {
  /** Local RTP port (offered as `client_port`). */
  readonly rtpPort: number;
  /** Local RTCP port. */
  readonly rtcpPort: number;
  /** Sends an RTCP datagram from the RTCP port without awaiting. */
  sendRtcp(packet: Uint8Array, to: Deno.NetAddr): void;
}

/** The stream a camera pull produces into. */
export interface PullSink {
  /** The stream's path (log fields). */
  readonly path: string;
  /** The source state readers see. */
  readonly state: SourceState;
  /** The tracks of the current description. */
  readonly tracks: readonly PullTrack[];
  /** Readers waiting for the source to be ready right now. */
  readonly waiting: number;
  /** Times the source became ready (1 + reconnects). */
  readonly sourceSessions: number;
  /**
   * Installs the camera's description (same shape keeps the tracks).
   * @throws when the description has more media than a stream may have
   */
  setDescription(desc: SessionDescription): void;
  /** Sets the source state (`ready` wakes waiting readers), with the error readers are told. */
  setState(state: SourceState, error?: string): void;
  /** Sets (or clears, for TCP) where a track's UDP media is expected from. */
  setUdpSource(index: number, source: UdpSourceAddress | null): void;
  /**
   * The port pair of track `index`, bound now if it has none.
   * @throws when no pair is free
   */
  pairFor(index: number): PullPortPair;
  /** The port pair of track `index`, if one is bound. */
  pairOf(index: number): PullPortPair | undefined;
}
