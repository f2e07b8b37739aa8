/**
 * H.264 (RFC 6184) and H.265 (RFC 7798) over RTP back into access units: single NAL unit packets, aggregates
 * (STAP-A, AP) and fragments (FU-A, FU), in packet order, grouped by RTP timestamp (one picture per timestamp; the
 * marker bit ends it early). What a browser player needs: whole pictures, each with its NAL units, and whether it
 * is a keyframe (an IDR slice; for H.265 an IRAP picture). H.265 is read without DONL fields
 * (`sprop-max-don-diff` 0, what cameras send).
 *
 * A lost packet makes the picture it belongs to undecodable and every picture after it until the next keyframe
 * (they refer to it): those are dropped, counted, and the stream resumes at the next IDR. Parameter sets seen in
 * band are kept (the latest SPS and PPS), for the decoder configuration.
 * Sans-I/O: payloads in, pictures out.
 * @module
 */
import { H264_FU_A, H264_NAL_IDR, H264_NAL_PPS, H264_NAL_SPS, H264_STAP_A } from "./h264.ts";
import { H265_AP, H265_FU } from "./h265.ts";

/** The two codecs' RTP payload formats, as far as they differ here. */
const FORMATS = {
  H264: {
    headerBytes: 1,
    type: (b0: number) => b0 & 0x1f,
    single: (t: number) => t >= 1 && t <= 23,
    aggregate: H264_STAP_A,
    fragment: H264_FU_A,
    /** A fragmented unit's own header: the FU indicator's F and NRI bits, the FU header's type. */
    unitHeader: (p: Uint8Array, fu: number) => Uint8Array.of((p[0]! & 0xe0) | (fu & 0x1f)),
    keyframe: (t: number) => t === H264_NAL_IDR,
  },
  H265: {
    headerBytes: 2,
    type: (b0: number) => (b0 >> 1) & 0x3f,
    single: (t: number) => t <= 47,
    aggregate: H265_AP,
    fragment: H265_FU,
    /** The payload header's F, layer and TID bits, the FU header's type. */
    unitHeader: (p: Uint8Array, fu: number) => Uint8Array.of((p[0]! & 0x81) | ((fu & 0x3f) << 1), p[1]!),
    /** IRAP pictures: BLA, IDR, CRA (16..21). */
    keyframe: (t: number) => t >= 16 && t <= 21,
  },
} as const;

/** One picture: its NAL units (without start codes), in decoding order. */
export interface AccessUnit {
  /** RTP timestamp (90 kHz) of the picture. */
  readonly timestamp: number;
  readonly nals: readonly Uint8Array[];
  /** It holds an IDR slice: a decoder can start here. */
  readonly keyframe: boolean;
}

/** Most bytes one picture may take (a FU-A run that never ends must not grow without bound). */
const MAX_PICTURE_BYTES = 8 * 1024 * 1024;

/** H.264 or H.265 RTP payloads in, whole pictures out. */
export class VideoDepacketizer {
  readonly #f: (typeof FORMATS)["H264"] | (typeof FORMATS)["H265"];
  readonly #h265: boolean;
  #nals: Uint8Array[] = [];
  #bytes = 0;
  #timestamp = -1;
  #fragment: Uint8Array[] | null = null;
  #fragmentBytes = 0;
  #nextSeq = -1;
  /** Waiting for a keyframe (at the start, and after a loss). */
  #waitingForKey = true;
  /** The picture being gathered lost a packet. */
  #broken = false;
  /** The latest parameter sets seen in band (the VPS: H.265's). */
  vps: Uint8Array | null = null;
  sps: Uint8Array | null = null;
  pps: Uint8Array | null = null;
  /** Pictures dropped because a packet of theirs, or of a picture they depend on, was lost. */
  dropped = 0;
  /** Payloads that are not packed as the RFC says (malformed aggregates, unknown types). */
  malformed = 0;

  /** @param codec the stream's */
  constructor(codec: "H264" | "H265" = "H264") {
    this.#f = FORMATS[codec];
    this.#h265 = codec === "H265";
  }

  /**
   * One RTP packet's payload, in arrival order.
   * @param payload the payload (not kept: what is needed is copied)
   * @param seq its sequence number (a gap is a loss)
   * @param timestamp its RTP timestamp
   * @param marker its marker bit (the last packet of a picture)
   * @returns the pictures completed by it (usually none or one)
   */
  push(payload: Uint8Array, seq: number, timestamp: number, marker: boolean): AccessUnit[] {
    const out: AccessUnit[] = [];
    if (this.#nextSeq >= 0 && seq !== this.#nextSeq) this.#lost();
    this.#nextSeq = (seq + 1) & 0xffff;
    if (timestamp !== this.#timestamp) {
      this.#finish(out);
      this.#timestamp = timestamp;
    }
    this.#take(payload);
    if (marker) this.#finish(out);
    return out;
  }

  /** A loss: the picture being gathered and those after it until the next keyframe are not decodable. */
  #lost(): void {
    this.#broken = true;
    this.#fragment = null;
    this.#waitingForKey = true;
  }

  #take(payload: Uint8Array): void {
    const f = this.#f;
    const hdr = f.headerBytes;
    if (payload.length < hdr) return;
    const type = f.type(payload[0]!);
    if (type === f.aggregate) {
      this.#fragment = null;
      let off = hdr;
      while (off + 2 <= payload.length) {
        const size = (payload[off]! << 8) | payload[off + 1]!;
        off += 2;
        if (size < hdr || off + size > payload.length) {
          this.malformed++;
          return;
        }
        this.#add(payload.slice(off, off + size));
        off += size;
      }
    } else if (type === f.fragment) {
      if (payload.length < hdr + 1) {
        this.malformed++;
        return;
      }
      const fu = payload[hdr]!;
      if (fu & 0x80) {
        const header = f.unitHeader(payload, fu);
        this.#fragment = [header, payload.slice(hdr + 1)];
        this.#fragmentBytes = header.length + payload.length - hdr - 1;
      } else if (this.#fragment) {
        this.#fragment.push(payload.slice(hdr + 1));
        this.#fragmentBytes += payload.length - hdr - 1;
      } else {
        return; // the start was lost (counted as a loss already) or never came
      }
      if (this.#fragmentBytes > MAX_PICTURE_BYTES) {
        this.#fragment = null;
        this.#lost();
        return;
      }
      if (fu & 0x40) {
        const parts = this.#fragment;
        this.#fragment = null;
        const nal = new Uint8Array(this.#fragmentBytes);
        let at = 0;
        for (const p of parts) {
          nal.set(p, at);
          at += p.length;
        }
        this.#add(nal);
      }
    } else if (f.single(type)) {
      this.#fragment = null;
      this.#add(payload.slice());
    } else {
      this.malformed++;
    }
  }

  #add(nal: Uint8Array): void {
    const type = this.#f.type(nal[0]!);
    if (this.#h265) {
      if (type === 32) this.vps = nal;
      else if (type === 33) this.sps = nal;
      else if (type === 34) this.pps = nal;
    } else if (type === H264_NAL_SPS) this.sps = nal;
    else if (type === H264_NAL_PPS) this.pps = nal;
    if (this.#bytes + nal.length > MAX_PICTURE_BYTES) {
      this.#lost();
      return;
    }
    this.#nals.push(nal);
    this.#bytes += nal.length;
  }

  #finish(out: AccessUnit[]): void {
    const nals = this.#nals;
    const broken = this.#broken || this.#fragment !== null;
    this.#nals = [];
    this.#bytes = 0;
    this.#broken = false;
    this.#fragment = null;
    if (broken) {
      // Whatever of it came (maybe nothing whole: a fragmented slice that lost a piece) is not decodable.
      this.dropped++;
      this.#waitingForKey = true;
      return;
    }
    if (nals.length === 0) return;
    const keyframe = nals.some((n) => this.#f.keyframe(this.#f.type(n[0]!)));
    if (this.#waitingForKey && !keyframe) {
      this.dropped++;
      return;
    }
    this.#waitingForKey = false;
    out.push({ timestamp: this.#timestamp, nals, keyframe });
  }
}

/** H.264 RTP payloads in, whole pictures out. */
export class H264Depacketizer extends VideoDepacketizer {
  constructor() {
    super("H264");
  }
}
