/**
 * One browser viewer of a stream's H.264 track over Media Source Extensions (issue 18): an egress of the track
 * (so it gets the GOP cache's burst when it attaches: the first picture comes at once, not at the camera's next
 * keyframe) that turns the RTP packets into pictures (h264_depacketizer.ts) and the pictures into fragmented MP4
 * (fmp4.ts) for its sink (a WebSocket). The first message is a text one naming the MIME type and size (and, with
 * an AAC track, the audio's MIME type: {@linkcode Fmp4Viewer.audioEgress} is that track's egress), then the video's
 * initialization segment (and the audio's), then a fragment per picture and per audio frame, told apart by their
 * `tfhd` track ID (1 video, 2 audio). The audio's timeline starts where the video's is when its first frame comes
 * (the video's GOP burst is out by then: the two play in step within a packet's jitter).
 *
 * A viewer that does not keep up (its sink holds more than `maxBufferedBytes`) skips pictures until the next
 * keyframe once it has room again, counted: it never holds the relay's memory or the other readers back.
 * Sans-I/O: packets in, messages to the sink.
 * @module
 */
import type { Egress } from "../relay/egress.ts";
import { VideoDepacketizer } from "../rtp/h264_depacketizer.ts";
import { rtpMarker, rtpPayloadEnd, rtpPayloadOffset, rtpSequence, rtpTimestamp } from "../rtp/packet.ts";
import type { MediaDescription } from "../rtsp/sdp.ts";
import { AacDepacketizer, aacParameters, readAacConfig } from "../rtp/aac_depacketizer.ts";
import { aacInitSegment, AUDIO_TRACK_ID, Fmp4Fragments, hevcInitSegment, initSegment } from "./fmp4.ts";

/** Where a viewer's messages go (a WebSocket). */
export interface ViewerSink {
  text(message: string): void;
  binary(bytes: Uint8Array): void;
  /** Bytes queued and not sent yet. */
  buffered(): number;
}

/** What a viewer did so far. */
export interface ViewerCounts {
  /** Pictures sent. */
  pictures: number;
  /** Pictures skipped because the viewer did not keep up. */
  skipped: number;
  /** Pictures the depacketizer dropped (a lost packet, waiting for a keyframe). */
  undecodable: number;
  bytes: number;
}

/** The VPS, SPS and PPS of an H.265 media's `sprop-vps`, `sprop-sps` and `sprop-pps`, when its fmtp has them. */
export function spropOfH265(
  media: MediaDescription,
): { vps: Uint8Array; sps: Uint8Array; pps: Uint8Array } | null {
  const one = (name: string) => {
    const m = new RegExp(`${name}=([^;\\s,]+)`, "i").exec(media.fmtp ?? "");
    if (!m) return null;
    try {
      return Uint8Array.from(atob(m[1]!), (ch) => ch.charCodeAt(0));
    } catch {
      return null;
    }
  };
  const vps = one("sprop-vps");
  const sps = one("sprop-sps");
  const pps = one("sprop-pps");
  return vps && sps && pps ? { vps, sps, pps } : null;
}

/** The SPS and PPS of an H.264 media's `sprop-parameter-sets`, when its fmtp has them. */
export function spropOf(media: MediaDescription): { sps: Uint8Array; pps: Uint8Array } | null {
  const m = /sprop-parameter-sets=([^;\s]+)/i.exec(media.fmtp ?? "");
  if (!m) return null;
  try {
    const sets = m[1]!.split(",").map((b64) => Uint8Array.from(atob(b64), (ch) => ch.charCodeAt(0)));
    const sps = sets.find((s) => (s[0]! & 0x1f) === 7);
    const pps = sets.find((s) => (s[0]! & 0x1f) === 8);
    return sps && pps ? { sps, pps } : null;
  } catch {
    return null;
  }
}

/** Options of {@linkcode Fmp4Viewer}. */
export interface Fmp4ViewerOptions {
  /** Egress id (unique on the track). */
  id: string;
  sink: ViewerSink;
  /** The track's SDP (its `sprop-parameter-sets` when present; else the first in-band SPS and PPS). */
  media: MediaDescription;
  /** An AAC track of the stream (`mpeg4-generic`, AAC-hbr or -lbr) to play too; others are ignored. */
  audio?: MediaDescription;
  /** The sink's backlog past which pictures are skipped. @default 4 MiB */
  maxBufferedBytes?: number;
  /**
   * Every viewer's backlog together (the relay's memory for slow viewers), and its bound past which this viewer
   * skips pictures too. @default no bound beyond this viewer's own
   */
  total?: { buffered(): number; maxBytes: number };
}

/** A browser viewer of one H.264 or H.265 track (and an AAC track). */
export class Fmp4Viewer implements Egress {
  readonly id: string;
  readonly kind = "tcp" as const;
  readonly counts: ViewerCounts = { pictures: 0, skipped: 0, undecodable: 0, bytes: 0 };
  readonly #sink: ViewerSink;
  readonly #h265: boolean;
  readonly #depacketizer: VideoDepacketizer;
  readonly #fragments = new Fmp4Fragments();
  readonly #maxBuffered: number;
  readonly #total: { buffered(): number; maxBytes: number } | null;
  #sprop: { vps?: Uint8Array; sps: Uint8Array; pps: Uint8Array } | null;
  #initialised = false;
  /** The next audio frame is the first: its timeline starts at the video's. */
  #audioStarts = false;
  /** Behind: pictures are skipped until a keyframe. */
  #skipping = false;
  readonly #audio: {
    depacketizer: AacDepacketizer;
    config: Uint8Array;
    fragments: Fmp4Fragments | null;
  } | null;
  /** The egress of the AAC track (attach it to that track after this one), or null without one. */
  readonly audioEgress: Egress | null;

  /** @param options id, sink, the track's SDP and the backlog bound */
  constructor(options: Fmp4ViewerOptions) {
    this.id = options.id;
    this.#sink = options.sink;
    this.#h265 = options.media.encoding?.toUpperCase() === "H265";
    this.#depacketizer = new VideoDepacketizer(this.#h265 ? "H265" : "H264");
    this.#sprop = this.#h265 ? spropOfH265(options.media) : spropOf(options.media);
    this.#maxBuffered = options.maxBufferedBytes ?? 4 * 1024 * 1024;
    this.#total = options.total ?? null;
    const aac = options.audio?.encoding?.toUpperCase() === "MPEG4-GENERIC"
      ? aacParameters(options.audio.fmtp)
      : null;
    this.#audio = aac && readAacConfig(aac.config)
      ? { depacketizer: new AacDepacketizer(aac), config: aac.config, fragments: null }
      : null;
    this.audioEgress = this.#audio
      ? {
        id: `${this.id}-audio`,
        kind: "tcp",
        sendRtp: (packet) => this.#onAudio(packet),
        sendRtcp: () => true,
      }
      : null;
  }

  #onAudio(packet: Uint8Array): boolean {
    const audio = this.#audio!;
    const start = rtpPayloadOffset(packet);
    const end = rtpPayloadEnd(packet);
    if (start < 0 || end <= start) return true;
    const frames = audio.depacketizer.push(
      packet.subarray(start, end),
      rtpTimestamp(packet),
      rtpMarker(packet),
    );
    if (!this.#initialised || !audio.fragments) return true; // no audio before the pictures start
    for (const frame of frames) {
      if (this.#skipping || this.#behind(1)) {
        this.counts.skipped++;
        continue;
      }
      if (this.#audioStarts) {
        audio.fragments.startAt(this.#fragments.seconds);
        this.#audioStarts = false;
      }
      const bytes = audio.fragments.fragmentFrame(frame.timestamp, frame.data);
      this.#sink.binary(bytes);
      this.counts.bytes += bytes.length;
    }
    return true;
  }

  sendRtp(packet: Uint8Array): boolean {
    const start = rtpPayloadOffset(packet);
    const end = rtpPayloadEnd(packet);
    if (start < 0 || end <= start) return true;
    const units = this.#depacketizer.push(
      packet.subarray(start, end),
      rtpSequence(packet),
      rtpTimestamp(packet),
      rtpMarker(packet),
    );
    this.counts.undecodable = this.#depacketizer.dropped;
    for (const unit of units) {
      if (!this.#initialised && !this.#init()) continue;
      if (this.#behind(1)) this.#skipping = true;
      if (this.#skipping) {
        if (!unit.keyframe || this.#behind(0.5)) {
          this.counts.skipped++;
          continue;
        }
        this.#skipping = false;
      }
      const bytes = this.#fragments.fragment(unit);
      this.#sink.binary(bytes);
      this.counts.pictures++;
      this.counts.bytes += bytes.length;
    }
    return true;
  }

  sendRtcp(): boolean {
    return true;
  }

  /** True when its own backlog, or all viewers' together, is over `share` of its bound. */
  #behind(share: number): boolean {
    if (this.#sink.buffered() > this.#maxBuffered * share) return true;
    const total = this.#total;
    return total !== null && total.buffered() > total.maxBytes * share;
  }

  /** Sends the MIME type and the initialization segment, once the parameter sets are known. */
  #init(): boolean {
    const d = this.#depacketizer;
    const sets = this.#sprop ??
      (d.sps && d.pps && (!this.#h265 || d.vps)
        ? { ...(d.vps ? { vps: d.vps } : {}), sps: d.sps, pps: d.pps }
        : null);
    if (!sets) return false;
    const init = this.#h265
      ? (sets.vps ? hevcInitSegment(sets.vps, sets.sps, sets.pps) : null)
      : initSegment(sets.sps, sets.pps);
    if (!init) {
      // An SPS that cannot be read: try the next one that comes in band.
      this.#sprop = null;
      return false;
    }
    const audio = this.#audio ? aacInitSegment(this.#audio.config) : null;
    this.#sink.text(
      JSON.stringify({
        type: "init",
        mime: init.mime,
        width: init.width,
        height: init.height,
        ...(audio ? { audio: { mime: audio.mime, sampleRate: audio.sampleRate } } : {}),
      }),
    );
    this.#sink.binary(init.bytes);
    this.counts.bytes += init.bytes.length;
    if (audio) {
      this.#sink.binary(audio.bytes);
      this.counts.bytes += audio.bytes.length;
      // The audio joins the video's timeline where the video is when the first frame comes (after the burst).
      const fragments = new Fmp4Fragments(audio.sampleRate, 1024, AUDIO_TRACK_ID);
      this.#audio!.fragments = fragments;
      this.#audioStarts = true;
    }
    this.#initialised = true;
    return true;
  }
}
