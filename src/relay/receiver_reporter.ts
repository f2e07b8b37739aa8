/**
 * RTCP receiver reports to an upstream: the relay is a receiver in each RTP session it takes media from (a
 * camera it pulls, a client publishing to it) and tells the sender, per track, what it lost and its jitter
 * (RFC 3550 §6.4.2), which is how a camera or an encoder learns the path to the relay is lossy.
 *
 * One schedule per upstream session: the first report half an interval after the session starts to deliver
 * (RFC 3550 §6.2's initial delay), then one every interval. Each report is an RR compound (RR with the track's
 * report block, none before the track has validated a source, and SDES CNAME) under the relay's own random SSRC
 * for that upstream. Sans-I/O: {@linkcode ReceiverReporter.poll} is given the time, the tracks and a sender.
 * @module
 */
import { randomSsrc } from "../rtp/packet.ts";
import { buildReceiverReportCompound, type ReportBlock } from "../rtp/rtcp.ts";

/** Where one track's reports go: a UDP port of the sender, or an interleaved channel of its connection. */
export type ReportRoute = { kind: "udp"; host: string; port: number } | { kind: "tcp"; channel: number };

/** A track as the reporter reads it. */
export interface ReportedTrack {
  /** The report block about the track's current source, or null before one is validated. */
  receiverReportBlock(): ReportBlock | null;
}

/** The I/O of sending reports, supplied by the caller. */
export interface ReportSender {
  /** Sends over UDP from track `index`'s RTCP port. @returns false when it could not be handed over */
  udp(index: number, packet: Uint8Array, host: string, port: number): boolean;
  /** Sends on an interleaved channel. @returns false when it could not be queued */
  tcp(channel: number, packet: Uint8Array): boolean;
}

/** Options of {@linkcode ReceiverReporter}. */
export interface ReceiverReporterOptions {
  /** Milliseconds between reports. */
  intervalMs: number;
  /** CNAME of the SDES item. */
  cname: string;
  /** The relay's SSRC in this RTP session. @default a random one */
  ssrc?: number;
}

/** The receiver-report schedule and builder of one upstream session. */
export class ReceiverReporter {
  /** The relay's SSRC in this RTP session. */
  readonly ssrc: number;
  /** Reports handed to the sender so far. */
  sent = 0;
  readonly #intervalMs: number;
  readonly #cname: string;
  #next: number | null = null;

  /** @param options interval, CNAME and SSRC */
  constructor(options: ReceiverReporterOptions) {
    this.#intervalMs = options.intervalMs;
    this.#cname = options.cname;
    this.ssrc = options.ssrc ?? randomSsrc();
  }

  /** Starts (or restarts) the schedule at `now`: the first report is due half an interval later. */
  start(now: number): void {
    this.#next = now + this.#intervalMs / 2;
  }

  /** Stops the schedule until the next {@linkcode start}. */
  stop(): void {
    this.#next = null;
  }

  /**
   * Sends each routed track its report when one is due at `now` (a track without a route is skipped).
   * @returns the reports sent by this call
   */
  poll(
    now: number,
    tracks: readonly ReportedTrack[],
    routes: readonly (ReportRoute | null | undefined)[],
    send: ReportSender,
  ): number {
    if (this.#next === null || now < this.#next) return 0;
    this.#next = now + this.#intervalMs;
    let sent = 0;
    for (let i = 0; i < routes.length; i++) {
      const route = routes[i];
      const track = tracks[i];
      if (!route || !track) continue;
      const block = track.receiverReportBlock();
      const packet = buildReceiverReportCompound(this.ssrc, this.#cname, block ? [block] : []);
      const ok = route.kind === "tcp"
        ? send.tcp(route.channel, packet)
        : send.udp(i, packet, route.host, route.port);
      if (ok) sent++;
    }
    this.sent += sent;
    return sent;
  }
}
