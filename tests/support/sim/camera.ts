/**
 * Simulated cameras and the relay's pull of one (a {@linkcode StreamSource} of kind `pull`): one H.264 video track
 * at 25 fps, one RTP packet per picture, a keyframe (IDR) at the start of each GOP. The camera's pictures follow
 * its own clock (picture n at n * 40 ms of sim time, whoever pulls it); each session gets a new random SSRC,
 * sequence base and timestamp base, as a camera restart or a second session would.
 * @module
 */
import type { TimerHandle, Timers } from "../../../src/clock.ts";
import type { Stream, StreamSource } from "../../../src/relay/stream.ts";
import { parseSdp } from "../../../src/rtsp/sdp.ts";
import { writeRtpHeader } from "../../../src/rtp/packet.ts";

/** Milliseconds between pictures (25 fps). */
export const FRAME_MS = 40;
/** Pictures per GOP: a keyframe every second. */
export const GOP_FRAMES = 25;
const CLOCK_RATE = 90_000;

const SDP = [
  "v=0",
  "o=- 0 0 IN IP4 127.0.0.1",
  "s=sim camera",
  "c=IN IP4 0.0.0.0",
  "t=0 0",
  "m=video 0 RTP/AVP 96",
  "a=rtpmap:96 H264/90000",
  "a=fmtp:96 packetization-mode=1",
  "a=control:trackID=0",
  "",
].join("\r\n");

/** NAL unit type of a picture's first byte: 5 (IDR) or 1 (non-IDR slice). */
export function isKeyframePayload(payload: Uint8Array): boolean {
  return (payload[0]! & 0x1f) === 5;
}

/** The cameras of the simulation, by URL: their sessions and restarts. */
export class SimCameras {
  readonly #random: () => number;
  readonly #generation = new Map<string, number>();
  /** Sessions opened so far (every relay's). */
  sessions = 0;

  /**
   * @param random seeded uniform [0, 1): SSRCs and bases
   * @param frameMs milliseconds between pictures (a control-plane bench sends few)
   */
  constructor(random: () => number, readonly frameMs = FRAME_MS) {
    this.#random = random;
  }

  /** The camera restarts: every session of it ends (the pulls reconnect). */
  restart(url: string): void {
    this.#generation.set(url, this.generation(url) + 1);
  }

  /** How many times the camera at `url` restarted. */
  generation(url: string): number {
    return this.#generation.get(url) ?? 0;
  }

  /** A new session's numbering. */
  open(): { ssrc: number; seqBase: number; tsBase: number } {
    this.sessions++;
    return {
      ssrc: Math.floor(this.#random() * 0xffffffff) >>> 0,
      seqBase: Math.floor(this.#random() * 0x10000),
      tsBase: Math.floor(this.#random() * 0xffffffff) >>> 0,
    };
  }
}

/** A relay's pull of a simulated camera. */
export class SimCameraSource implements StreamSource {
  readonly kind = "pull" as const;
  #running = false;
  #timer: TimerHandle;
  #session: { ssrc: number; seqBase: number; tsBase: number; firstFrame: number; generation: number } | null =
    null;
  /** Packets produced into the stream. */
  packets = 0;

  /**
   * @param stream the stream it feeds
   * @param url the camera
   * @param cameras the cameras of the simulation
   * @param timers the relay's timers
   * @param now the simulated clock
   * @param connectMs how long DESCRIBE, SETUP and PLAY take
   */
  constructor(
    readonly stream: Stream,
    readonly url: string,
    readonly cameras: SimCameras,
    readonly timers: Timers,
    readonly now: () => number,
    readonly connectMs = 30,
  ) {}

  start(): void {
    if (this.#running) return;
    this.#running = true;
    if (this.stream.state !== "error") this.stream.setState("connecting");
    this.#timer = this.timers.setTimeout(() => this.#connect(), this.connectMs);
  }

  stop(): Promise<void> {
    this.#running = false;
    this.timers.clearTimeout(this.#timer);
    this.#session = null;
    return Promise.resolve();
  }

  info(): Record<string, unknown> {
    return { url: this.url, packets: this.packets };
  }

  #connect(): void {
    if (!this.#running) return;
    const numbering = this.cameras.open();
    const next = Math.ceil(this.now() / this.cameras.frameMs);
    this.#session = { ...numbering, firstFrame: next, generation: this.cameras.generation(this.url) };
    this.stream.setDescription(parseSdp(SDP));
    this.stream.setState("ready");
    this.#timer = this.timers.setTimeout(() => this.#frame(next), next * this.cameras.frameMs - this.now());
  }

  #frame(index: number): void {
    const session = this.#session;
    if (!this.#running || !session) return;
    if (session.generation !== this.cameras.generation(this.url)) {
      // The camera restarted: the session is gone; reconnect as the pull would (after its first retry delay).
      this.#session = null;
      this.stream.setState("connecting");
      this.#timer = this.timers.setTimeout(() => this.#connect(), 500);
      return;
    }
    const track = this.stream.tracks[0];
    if (track) {
      const n = index - session.firstFrame;
      // 64 payload bytes, made from the frame's index: every session of the camera gets the same ones (a standby
      // root aligns its own session with the root's by them), no two frames alike.
      const packet = new Uint8Array(12 + 64);
      writeRtpHeader(packet, 0, {
        marker: true,
        payloadType: 96,
        sequence: session.seqBase + n,
        timestamp: session.tsBase + n * (CLOCK_RATE * this.cameras.frameMs) / 1000,
        ssrc: session.ssrc,
      });
      packet[12] = index % GOP_FRAMES === 0 ? 0x65 : 0x41; // IDR or non-IDR slice
      new DataView(packet.buffer).setUint32(13, index >>> 0);
      for (let i = 17; i < packet.length; i++) {
        packet[i] = (Math.imul(index + 1, 2654435761) >>> (i % 24)) & 0xff;
      }
      this.packets++;
      track.ingestRtp(packet);
    }
    this.#timer = this.timers.setTimeout(
      () => this.#frame(index + 1),
      (index + 1) * this.cameras.frameMs - this.now(),
    );
  }
}
