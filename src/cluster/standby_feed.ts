/**
 * A standby root's own session with the camera (dual protection, issue 17): a second pull of the camera, kept
 * outside the hub, whose packets are renumbered into the mesh's numbering once {@linkcode NumberingMatch} has
 * aligned them with the root's copies, and handed to the relay's stream as from a third parent. The standby's
 * subtree is then fed whether the root lives or not, and when the root dies the standby becomes the root with this
 * session, in the same numbering: no camera reconnect, no keyframe wait, no re-base below it.
 *
 * The pull is an ordinary stream (its tracks rewrite the camera's numbering into a continuous one, across camera
 * restarts); a tap egress on each track gets its packets. A restart of this session (its tracks re-based) makes
 * the alignment start over while the root lives; once the standby is the root (`frozen`), the numbering just goes
 * on, continuous as any root's.
 * @module
 */
import type { TimerHandle, Timers } from "../clock.ts";
import type { Logger } from "../log.ts";
import type { Egress } from "../relay/egress.ts";
import type { Stream } from "../relay/stream.ts";
import {
  rtpSequence,
  rtpSsrc,
  rtpTimestamp,
  setRtpSequence,
  setRtpSsrc,
  setRtpTimestamp,
} from "../rtp/packet.ts";
import { NumberingMatch } from "./numbering_match.ts";
import { rewriteUpstreamRtcp } from "../relay/rtcp_rewrite.ts";

/** How often the feed checks its session's tracks (taps attached, restarts). */
const CHECK_MS = 200;

/** Receives one RTP packet (or RTCP compound) in the mesh's numbering (the buffer is the receiver's). */
export type StandbyDeliver = (track: number, packet: Uint8Array) => void;

/** Counters of a standby feed (admin API). */
export interface StandbyFeedInfo {
  /** Every track's numbering is aligned with the root's. */
  aligned: boolean;
  /** Payloads matched between the two sessions so far. */
  matches: number;
  /** Packets of this session handed on in the mesh's numbering. */
  delivered: number;
  /** Packets of this session before its track was aligned (not handed on). */
  unaligned: number;
  /** This session's state (the camera's). */
  camera: string;
}

/** One standby's second pull of a camera and its alignment with the root's numbering. */
export class StandbyFeed {
  readonly #session: Stream;
  readonly #timers: Timers;
  readonly #log: Logger;
  readonly #match = new NumberingMatch();
  /** The mesh SSRC of each track (the root's, from the mesh's packets). */
  readonly #meshSsrc: number[] = [];
  /** Re-bases seen per track of the session (a change: the session restarted). */
  readonly #resyncs: number[] = [];
  #deliver: StandbyDeliver;
  /** Where the session's sender reports go once this relay is the root (null before). */
  #deliverRtcp: StandbyDeliver | null = null;
  #timer: TimerHandle;
  #frozen = false;
  #closed = false;
  #delivered = 0;
  #unaligned = 0;
  #wasAligned = false;
  /** Told when the session's state changes (the camera's: ready, connecting, error), once this relay is the root. */
  #onState: ((state: Stream["state"], error: string | null) => void) | null = null;
  #lastState: Stream["state"] | null = null;

  /**
   * @param session the second pull (the hub's `shadowPull`), not started
   * @param deliver receives the renumbered packets
   * @param timers timers of the checks
   * @param logger log
   */
  constructor(session: Stream, deliver: StandbyDeliver, timers: Timers, logger: Logger) {
    this.#session = session;
    this.#deliver = deliver;
    this.#timers = timers;
    this.#log = logger;
  }

  /** Starts the camera session. */
  start(): void {
    if (this.#closed) return;
    this.#session.retain();
    this.#check();
  }

  /** A packet of the root's numbering (from a parent), before anything rewrote it. */
  noteMesh(track: number, packet: Uint8Array): void {
    if (this.#frozen) return;
    this.#meshSsrc[track] = rtpSsrc(packet);
    this.#match.noteMesh(track, packet);
  }

  /** True when every track of the session is aligned (the feed can carry the stream alone). */
  get aligned(): boolean {
    const tracks = this.#session.tracks.length;
    return this.#match.aligned(tracks) && this.#meshSsrc.length >= tracks;
  }

  /** The mesh's numbering changed (a new epoch): the alignment starts over. */
  reset(): void {
    if (this.#frozen) return;
    this.#match.reset();
    this.#meshSsrc.length = 0;
  }

  /**
   * Keeps the alignment as it is from now on and hands the packets to `deliver` (this relay became the root: its
   * session's numbering carries on the old root's), and the session's sender reports, renamed and re-based the same
   * way, to `deliverRtcp` (the readers' lip sync goes on with the camera's clock).
   */
  freeze(
    deliver: StandbyDeliver,
    deliverRtcp: StandbyDeliver,
    onState: (state: Stream["state"], error: string | null) => void,
  ): void {
    this.#frozen = true;
    this.#deliver = deliver;
    this.#deliverRtcp = deliverRtcp;
    this.#onState = onState;
    this.#lastState = null;
  }

  /** What the feed did so far. */
  info(): StandbyFeedInfo {
    return {
      aligned: this.aligned,
      matches: this.#match.matches,
      delivered: this.#delivered,
      unaligned: this.#unaligned,
      camera: this.#session.state,
    };
  }

  /** Ends the camera session. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#timers.clearTimeout(this.#timer);
    this.#timer = undefined;
    for (const t of this.#session.tracks) t.removeEgress(tapId(t.index));
    await this.#session.close();
  }

  /** Attaches the taps to tracks that lack one (the session's tracks come with its description); logs alignment. */
  #check(): void {
    if (this.#closed) return;
    const tracks = this.#session.tracks;
    for (const t of tracks) {
      if (!t.egresses.some((e) => e.id === tapId(t.index))) t.addEgress(this.#tap(t.index));
    }
    const state = this.#session.state;
    if (this.#onState && state !== this.#lastState) {
      this.#lastState = state;
      this.#onState(state, this.#session.lastError);
    }
    const aligned = this.aligned;
    if (aligned !== this.#wasAligned) {
      this.#wasAligned = aligned;
      this.#log.info(aligned ? "standby aligned with the root's numbering" : "standby not aligned", {
        path: this.#session.path,
        matches: this.#match.matches,
      });
    }
    this.#timer = this.#timers.setTimeout(() => this.#check(), CHECK_MS);
  }

  #onLocal(track: number, packet: Uint8Array): void {
    if (this.#closed) return;
    const resyncs = this.#session.tracks[track]?.resyncs ?? 0;
    const before = this.#resyncs[track] ?? 0;
    if (resyncs !== before) {
      this.#resyncs[track] = resyncs;
      // The session re-based (not its first packet): its numbering behind the output changed, align again.
      if (before > 0 && !this.#frozen) {
        this.#log.info("standby camera session re-based: aligning again", {
          path: this.#session.path,
          track,
        });
        this.#match.resetLocal();
      }
    }
    if (!this.#frozen) this.#match.noteLocal(track, packet);
    const offset = this.#match.offset(track);
    const ssrc = this.#meshSsrc[track];
    if (!offset || ssrc === undefined) {
      this.#unaligned++;
      return;
    }
    const out = packet.slice();
    setRtpSequence(out, (rtpSequence(packet) + offset.seq) & 0xffff);
    setRtpTimestamp(out, (rtpTimestamp(packet) + offset.ts) >>> 0);
    setRtpSsrc(out, ssrc);
    this.#delivered++;
    this.#deliver(track, out);
  }

  /** A compound of the session (its track's output numbering): to the root's readers, in the mesh's numbering. */
  #onLocalRtcp(track: number, packet: Uint8Array): void {
    const deliver = this.#deliverRtcp;
    const offset = this.#match.offset(track);
    const ssrc = this.#meshSsrc[track];
    const session = this.#session.tracks[track];
    if (this.#closed || !deliver || !offset || ssrc === undefined || !session) return;
    const out = rewriteUpstreamRtcp(packet, {
      inSsrc: session.outputSsrc,
      outSsrc: ssrc,
      tsDelta: offset.ts,
    });
    if (out) deliver(track, out);
  }

  #tap(index: number): Egress {
    return {
      id: tapId(index),
      kind: "mesh",
      sendRtp: (packet) => {
        this.#onLocal(index, packet);
        return true;
      },
      sendRtcp: (packet) => {
        this.#onLocalRtcp(index, packet);
        return true;
      },
    };
  }
}

function tapId(index: number): string {
  return `standby-tap-${index}`;
}
