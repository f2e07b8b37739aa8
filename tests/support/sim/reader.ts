/**
 * A simulated reader: what an RTSP client playing a path does to the relay (DESCRIBE waits for the stream to be
 * ready, PLAY attaches an egress with the GOP burst), as a TCP-interleaved egress that checks every packet it
 * gets: one SSRC per session, sequence numbers and timestamps that only move forward. It also measures the
 * media gaps it sees (sim time, and time to the next keyframe: what a decoder waits).
 * @module
 */
import type { Egress } from "../../../src/relay/egress.ts";
import type { Stream } from "../../../src/relay/stream.ts";
import type { StreamHub } from "../../../src/relay/hub.ts";
import type { TimerHandle, Timers } from "../../../src/clock.ts";
import { rtpSequence, rtpSsrc, rtpTimestamp } from "../../../src/rtp/packet.ts";
import { FRAME_MS, isKeyframePayload } from "./camera.ts";

/** A gap in a reader's media. */
export interface MediaGap {
  /** Sim time of the last packet before the gap. */
  from: number;
  /** Sim time of the first packet after it. */
  to: number;
  /** Sim time of the first keyframe after it (a decoder shows pictures again from there), or null yet. */
  keyframeAt: number | null;
}

/** Gaps shorter than this are jitter, not gaps (two pictures). */
export const GAP_MS = 2 * FRAME_MS + 1;

/** What a reader needs of its relay. */
export interface ReaderHost {
  readonly node: string;
  readonly alive: boolean;
  readonly hub: StreamHub;
  readonly timers: Timers;
  readonly now: () => number;
}

/** One reader of one path on one relay. */
export class SimReader implements Egress {
  readonly kind = "tcp" as const;
  readonly id: string;
  /** `idle` before play, `waiting` for the stream, `playing`, or `stopped` (left, or its relay died). */
  state: "idle" | "waiting" | "playing" | "stopped" = "idle";
  /** Packets received in all its sessions. */
  packets = 0;
  /** Sessions (plays that got to PLAY). */
  sessions = 0;
  /** Refused attempts (404/503 or a wait that ran out), each retried after a second. */
  refusals = 0;
  lastRefusal = "";
  /** Sim time of the last packet, or -1. */
  lastPacketAt = -1;
  /** When the current session started playing (-1 when not playing). */
  playingSince = -1;
  /** Since when it waits for the stream (-1 when not waiting). */
  waitingSince = -1;
  readonly gaps: MediaGap[] = [];
  /** What broke the reader's invariants (each a sentence with the sim time). */
  readonly violations: string[] = [];
  #stream: Stream | null = null;
  #ssrc = -1;
  #seq = -1;
  #ts = -1;
  #openGap: MediaGap | null = null;
  #retry: TimerHandle;
  /** Pictures (the camera's index) seen again after a later one: old content replayed (counted, not a fault). */
  replayedPictures = 0;
  #picture = -1;

  /**
   * @param id unique name
   * @param relay the relay it reads from
   * @param path the path it plays
   * @param onViolation told at once about each violation
   */
  constructor(
    id: string,
    readonly relay: ReaderHost,
    readonly path: string,
    readonly onViolation: (reader: SimReader, what: string) => void = () => {},
  ) {
    this.id = `sim-reader:${id}`;
  }

  /** Starts playing (retrying each second while refused) until {@linkcode stop}. */
  play(): void {
    if (this.state !== "idle") return;
    this.state = "waiting";
    this.waitingSince = this.relay.now();
    void this.#attempt();
  }

  async #attempt(): Promise<void> {
    if (this.state !== "waiting" || !this.relay.alive) return;
    const stream = this.relay.hub.forReader(this.path);
    if (!stream) return this.#refused("404 no stream");
    stream.retain();
    try {
      await stream.whenReady(10_000);
    } catch (err) {
      stream.release();
      return this.#refused((err as Error).message);
    }
    if (this.state !== "waiting" || !this.relay.alive) {
      stream.release();
      return;
    }
    const track = stream.tracks[0];
    if (!track) {
      stream.release();
      return this.#refused("no track");
    }
    this.#stream = stream;
    this.#ssrc = -1;
    this.#seq = -1;
    this.#ts = -1;
    this.#picture = -1;
    this.sessions++;
    this.state = "playing";
    this.waitingSince = -1;
    this.playingSince = this.relay.now();
    this.lastPacketAt = -1;
    track.addEgress(this, { burst: true });
  }

  #refused(why: string): void {
    this.refusals++;
    this.lastRefusal = why;
    if (this.state !== "waiting") return;
    this.#retry = this.relay.timers.setTimeout(() => void this.#attempt(), 1000);
  }

  /** Leaves (TEARDOWN): the egress goes and the stream is released. */
  stop(): void {
    if (this.state === "stopped") return;
    const was = this.state;
    this.state = "stopped";
    this.playingSince = -1;
    this.waitingSince = -1;
    this.relay.timers.clearTimeout(this.#retry);
    const stream = this.#stream;
    this.#stream = null;
    if (stream && was === "playing" && this.relay.alive) {
      for (const t of stream.tracks) t.removeEgress(this.id);
      stream.release();
    }
  }

  /** Its relay died: the connection is gone, nothing is released (there is nothing left to release). */
  lost(): void {
    this.state = "stopped";
    this.playingSince = -1;
    this.waitingSince = -1;
    this.#stream = null;
  }

  sendRtp(packet: Uint8Array): boolean {
    if (this.state !== "playing") return true;
    const now = this.relay.now();
    const ssrc = rtpSsrc(packet);
    const seq = rtpSequence(packet);
    const ts = rtpTimestamp(packet);
    if (this.#ssrc === -1) this.#ssrc = ssrc;
    else if (ssrc !== this.#ssrc) {
      this.#violate(`SSRC changed from ${hex(this.#ssrc)} to ${hex(ssrc)}`);
      this.#ssrc = ssrc;
    }
    if (this.#seq !== -1) {
      const ahead = (seq - this.#seq) & 0xffff;
      if (ahead === 0) this.#violate(`sequence number ${seq} repeated`);
      else if (ahead >= 0x8000) this.#violate(`sequence number went back from ${this.#seq} to ${seq}`);
      if (ahead !== 0 && ahead < 0x8000 && ((ts - this.#ts) >>> 0) >= 0x80000000) {
        this.#violate(`timestamp went back from ${this.#ts} to ${ts} (seq ${this.#seq} -> ${seq})`);
      }
    }
    if (this.#seq === -1 || (((seq - this.#seq) & 0xffff) < 0x8000)) {
      this.#seq = seq;
      this.#ts = ts;
    }
    const picture = packet.length >= 17 ? new DataView(packet.buffer, packet.byteOffset).getUint32(13) : -1;
    if (picture >= 0 && this.#picture >= 0 && picture <= this.#picture) this.replayedPictures++;
    this.#picture = Math.max(this.#picture, picture);
    const keyframe = packet.length > 12 && isKeyframePayload(packet.subarray(12));
    if (this.lastPacketAt >= 0 && now - this.lastPacketAt >= GAP_MS) {
      this.#openGap = { from: this.lastPacketAt, to: now, keyframeAt: keyframe ? now : null };
      this.gaps.push(this.#openGap);
      if (keyframe) this.#openGap = null;
    } else if (keyframe && this.#openGap) {
      this.#openGap.keyframeAt = now;
      this.#openGap = null;
    }
    this.lastPacketAt = now;
    this.packets++;
    return true;
  }

  sendRtcp(_packet: Uint8Array): boolean {
    return true;
  }

  #violate(what: string): void {
    const line = `${
      this.relay.now().toFixed(1)
    } ms: reader ${this.id} on ${this.relay.node} (${this.path}): ${what}`;
    this.violations.push(line);
    this.onViolation(this, line);
  }
}

function hex(n: number): string {
  return `0x${n.toString(16).padStart(8, "0")}`;
}
