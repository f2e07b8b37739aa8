/**
 * AAC out of RTP (RFC 3640, `mpeg4-generic` in the AAC-hbr and AAC-lbr modes cameras use): the access units
 * (AAC frames) of each packet with their timestamps, a fragmented unit reassembled across packets, and the
 * stream's AudioSpecificConfig from the SDP's `config=` (its object type, sample rate and channels, and the
 * `mp4a.40.N` codec string browsers take). Sans-I/O: payloads in, frames out. Bounded: an access unit larger than
 * {@linkcode MAX_AU_BYTES} is dropped.
 * @module
 */

/** Samples in one AAC frame (AAC-LC and HE-AAC's core; the RTP clock is the sample rate). */
export const AAC_FRAME_SAMPLES = 1024;
/** Largest access unit kept (a 6-channel AAC frame is at most 6 x 6,144 bits). */
export const MAX_AU_BYTES = 8192;

/** The `mpeg4-generic` fmtp parameters that shape the payload. */
export interface AacParameters {
  sizeLength: number;
  indexLength: number;
  indexDeltaLength: number;
  /** The AudioSpecificConfig (`config=`, hex). */
  config: Uint8Array;
}

/** What an AudioSpecificConfig says. */
export interface AacConfig {
  /** MPEG-4 audio object type (2: AAC-LC). */
  objectType: number;
  sampleRate: number;
  channels: number;
  /** `mp4a.40.N`. */
  codec: string;
}

/** One AAC frame and its RTP timestamp. */
export interface AacFrame {
  timestamp: number;
  data: Uint8Array;
}

const SAMPLE_RATES = [
  96000,
  88200,
  64000,
  48000,
  44100,
  32000,
  24000,
  22050,
  16000,
  12000,
  11025,
  8000,
  7350,
];

/** The AAC parameters of a media's fmtp, or null when it is not AAC in a mode read here. */
export function aacParameters(fmtp: string | undefined): AacParameters | null {
  const params = new Map<string, string>();
  for (const part of (fmtp ?? "").split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0) params.set(part.slice(0, eq).trim().toLowerCase(), part.slice(eq + 1).trim());
  }
  const mode = (params.get("mode") ?? "").toLowerCase();
  if (mode !== "aac-hbr" && mode !== "aac-lbr") return null;
  const int = (k: string, d: number) => {
    const v = Number(params.get(k) ?? d);
    return Number.isInteger(v) && v >= 0 && v <= 32 ? v : -1;
  };
  const sizeLength = int("sizelength", 0);
  const indexLength = int("indexlength", 0);
  const indexDeltaLength = int("indexdeltalength", 0);
  const hex = params.get("config") ?? "";
  if (sizeLength <= 0 || indexLength < 0 || indexDeltaLength < 0 || !/^([0-9a-fA-F]{2}){2,64}$/.test(hex)) {
    return null;
  }
  const config = new Uint8Array(hex.length / 2);
  for (let i = 0; i < config.length; i++) config[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return { sizeLength, indexLength, indexDeltaLength, config };
}

/** Reads an AudioSpecificConfig (ISO/IEC 14496-3 §1.6.2.1), or null when it is not one read here. */
export function readAacConfig(config: Uint8Array): AacConfig | null {
  if (config.length < 2) return null;
  const bits = new BitReader(config);
  let objectType = bits.read(5);
  if (objectType === 31) objectType = 32 + bits.read(6);
  const rateIndex = bits.read(4);
  const sampleRate = rateIndex === 15 ? bits.read(24) : SAMPLE_RATES[rateIndex];
  const channels = bits.read(4);
  if (bits.overrun || !sampleRate || objectType === 0 || channels === 0) return null;
  return { objectType, sampleRate, channels, codec: `mp4a.40.${objectType}` };
}

/** Reassembles AAC frames from RTP payloads of one stream. */
export class AacDepacketizer {
  readonly #p: AacParameters;
  /** A fragmented access unit being collected: its timestamp, size and parts. */
  #fragment: { timestamp: number; size: number; parts: Uint8Array[]; got: number } | null = null;
  /** Payloads that could not be read, or fragments that did not add up. */
  dropped = 0;

  constructor(parameters: AacParameters) {
    this.#p = parameters;
  }

  /** The frames a payload completes (none for a fragment that does not end one). */
  push(payload: Uint8Array, timestamp: number, marker: boolean): AacFrame[] {
    const p = this.#p;
    if (payload.length < 2) return this.#drop();
    const headersBits = (payload[0]! << 8) | payload[1]!;
    const headersBytes = Math.ceil(headersBits / 8);
    if (2 + headersBytes > payload.length) return this.#drop();
    const bits = new BitReader(payload.subarray(2, 2 + headersBytes));
    const sizes: number[] = [];
    for (let used = 0; used < headersBits;) {
      const size = bits.read(p.sizeLength);
      const indexBits = sizes.length === 0 ? p.indexLength : p.indexDeltaLength;
      bits.read(indexBits);
      used += p.sizeLength + indexBits;
      if (bits.overrun || p.sizeLength + indexBits === 0) return this.#drop();
      sizes.push(size);
    }
    let at = 2 + headersBytes;
    const data = payload.subarray(at);
    // One unit larger than the packet: a fragment (RFC 3640 §3.2.3), the rest in the packets up to the marker.
    if (sizes.length === 1 && sizes[0]! > data.length) {
      const size = sizes[0]!;
      if (size > MAX_AU_BYTES) return this.#drop();
      const f = this.#fragment;
      if (f && f.timestamp === timestamp && f.size === size) {
        f.parts.push(data.slice());
        f.got += data.length;
      } else {
        this.#fragment = { timestamp, size, parts: [data.slice()], got: data.length };
      }
      const cur = this.#fragment!;
      if (cur.got < cur.size && !marker) return [];
      this.#fragment = null;
      if (cur.got !== cur.size) return this.#drop();
      const whole = new Uint8Array(cur.size);
      let o = 0;
      for (const part of cur.parts) whole.set(part, o), o += part.length;
      return [{ timestamp, data: whole }];
    }
    this.#fragment = null;
    const out: AacFrame[] = [];
    for (let i = 0; i < sizes.length; i++) {
      const size = sizes[i]!;
      if (at + size > payload.length || size > MAX_AU_BYTES) return this.#drop(out);
      if (size > 0) {
        out.push({
          timestamp: (timestamp + i * AAC_FRAME_SAMPLES) >>> 0,
          data: payload.slice(at, at + size),
        });
      }
      at += size;
    }
    return out;
  }

  #drop(kept: AacFrame[] = []): AacFrame[] {
    this.dropped++;
    this.#fragment = null;
    return kept;
  }
}

/** MSB-first bits of a byte array; reading past the end sets `overrun` and gives zeros. */
class BitReader {
  readonly #bytes: Uint8Array;
  #at = 0;
  overrun = false;

  constructor(bytes: Uint8Array) {
    this.#bytes = bytes;
  }

  read(n: number): number {
    let v = 0;
    for (let i = 0; i < n; i++) {
      const byte = this.#at >> 3;
      if (byte >= this.#bytes.length) {
        this.overrun = true;
        v = v * 2;
      } else v = v * 2 + ((this.#bytes[byte]! >> (7 - (this.#at & 7))) & 1);
      this.#at++;
    }
    return v;
  }
}
