/**
 * The built-in `demo` path: a short committed H.264 clip (assets/demo.h264, Annex B, 25 fps) packetized as
 * RTP (RFC 6184, FU-A for large NAL units) at real time and looped, so a fresh relay serves something.
 * @module
 */
import type { Logger } from "../../log.ts";
import { contained } from "../../contain.ts";
import { H264Packetizer, nalType, profileLevelId, splitAnnexB, spropParameterSets } from "../../rtp/h264.ts";
import { randomSsrc } from "../../rtp/packet.ts";
import { parseSdp } from "../../rtsp/sdp.ts";
import type { StreamSink, StreamSource } from "../stream.ts";

/** Frames per second of the committed clip. */
export const DEMO_FPS = 25;
const CLOCK_RATE = 90_000;
const PAYLOAD_TYPE = 96;

/** The clip's bytes, read through the same path the compiled binary uses (an embedded asset). */
export async function loadDemoClip(): Promise<Uint8Array> {
  return await Deno.readFile(new URL("../../../assets/demo.h264", import.meta.url));
}

/**
 * Groups Annex B NAL units into access units (one per picture). A new unit starts at an access unit delimiter,
 * SPS, PPS or SEI that follows a picture's slices, or at a slice whose first_mb_in_slice is 0.
 */
export function accessUnits(nals: Uint8Array[]): Uint8Array[][] {
  const units: Uint8Array[][] = [];
  let current: Uint8Array[] = [];
  let hasSlice = false;
  for (const nal of nals) {
    if (nal.length === 0) continue;
    const type = nalType(nal);
    const isSlice = type >= 1 && type <= 5;
    const startsPicture = isSlice ? nal.length > 1 && (nal[1]! & 0x80) !== 0 : [6, 7, 8, 9].includes(type);
    if (hasSlice && startsPicture) {
      units.push(current);
      current = [];
      hasSlice = false;
    }
    current.push(nal);
    if (isSlice) hasSlice = true;
  }
  if (current.length) units.push(current);
  return units;
}

/** Builds the demo SDP from the clip's parameter sets. */
export function demoSdp(sps: Uint8Array, pps: Uint8Array): string {
  return [
    "v=0",
    "o=- 0 0 IN IP4 127.0.0.1",
    "s=msm-relay demo",
    "c=IN IP4 0.0.0.0",
    "t=0 0",
    `m=video 0 RTP/AVP ${PAYLOAD_TYPE}`,
    `a=rtpmap:${PAYLOAD_TYPE} H264/${CLOCK_RATE}`,
    `a=fmtp:${PAYLOAD_TYPE} packetization-mode=1;profile-level-id=${
      profileLevelId(sps)
    };sprop-parameter-sets=${spropParameterSets(sps, pps)}`,
    `a=framerate:${DEMO_FPS}`,
    "a=control:trackID=0",
    "",
  ].join("\r\n");
}

/** Options of {@linkcode DemoSource}. */
export interface DemoSourceOptions {
  stream: StreamSink;
  logger: Logger;
  /** Clip loader. @default loadDemoClip */
  load?: () => Promise<Uint8Array>;
}

/** Plays the demo clip into its stream while readers want it. */
export class DemoSource implements StreamSource {
  readonly kind = "demo" as const;
  readonly #o: DemoSourceOptions;
  #units: Uint8Array[][] | null = null;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #running = false;
  #frame = 0;
  #packetizer: H264Packetizer | null = null;

  /** @param options stream and logger */
  constructor(options: DemoSourceOptions) {
    this.#o = options;
  }

  /** @inheritdoc */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    void this.#begin();
  }

  /** @inheritdoc */
  stop(): Promise<void> {
    this.#running = false;
    clearTimeout(this.#timer);
    return Promise.resolve();
  }

  /** @inheritdoc */
  info(): Record<string, unknown> {
    return { clip: "assets/demo.h264", fps: DEMO_FPS, frames: this.#units?.length ?? 0 };
  }

  async #begin(): Promise<void> {
    const { stream, logger } = this.#o;
    try {
      if (!this.#units) {
        const clip = await (this.#o.load ?? loadDemoClip)();
        const nals = splitAnnexB(clip);
        const sps = nals.find((n) => nalType(n) === 7);
        const pps = nals.find((n) => nalType(n) === 8);
        if (!sps || !pps) throw new Error("Demo clip has no SPS/PPS");
        this.#units = accessUnits(nals);
        stream.setDescription(parseSdp(demoSdp(sps, pps)));
      }
    } catch (err) {
      stream.setState("error", (err as Error).message);
      logger.error("cannot load the demo clip", { error: (err as Error).message });
      this.#running = false;
      return;
    }
    if (!this.#running) return;
    this.#packetizer = new H264Packetizer({
      payloadType: PAYLOAD_TYPE,
      ssrc: randomSsrc(),
      initialSequence: crypto.getRandomValues(new Uint16Array(1))[0]!,
    });
    stream.setState("ready");
    const started = performance.now();
    const firstFrame = this.#frame;
    const tick = () => {
      if (!this.#running) return;
      // A failing frame must not stop the clip (or reach the event loop): the next frame is scheduled anyway.
      contained("demo clip", () => this.#emitFrame());
      const due = started + (this.#frame - firstFrame) * (1000 / DEMO_FPS);
      this.#timer = setTimeout(tick, Math.max(0, due - performance.now()));
    };
    tick();
  }

  #emitFrame(): void {
    const units = this.#units!;
    const unit = units[this.#frame % units.length]!;
    const timestamp = (this.#frame * (CLOCK_RATE / DEMO_FPS)) >>> 0;
    const track = this.#o.stream.tracks[0];
    this.#frame++;
    if (!track) return;
    this.#packetizer!.packetize(unit, timestamp, (packet) => track.ingestRtp(packet));
  }
}
