/**
 * Which UDP sender a track takes its media from. A camera or publisher is known by its address and, when its RTSP
 * exchange gave them, its ports (`server_port` of a camera, `client_port` of a publisher). What the exchange left
 * open is latched from the first packet: the RTP port and RTCP port, and the SSRC. From then on only that sender
 * feeds the track: another process behind the same address (a NAT, a shared host) cannot splice packets into the
 * readers' stream, whatever SSRC it uses.
 *
 * The latched SSRC may change only on the latched port and only once it has been silent for
 * {@linkcode SSRC_IDLE_MS}: an encoder restart on the camera, not a second sender interleaving its packets.
 * Sans-I/O: the time is passed in.
 * @module
 */

/** Silence of the latched SSRC after which its sender (same address and port) may switch to another SSRC. */
export const SSRC_IDLE_MS = 1000;

/** The address UDP media is expected from. */
export interface UdpSourceAddress {
  host: string;
  /** RTP source port when known (server_port of a camera, client_port of a publisher). */
  rtpPort?: number | undefined;
  /** RTCP source port when known. */
  rtcpPort?: number | undefined;
}

/** Why a packet was refused. */
export type LatchRefusal = "address" | "ssrc";

/** The sender of one track's UDP media, latched on its first packets. */
export class SourceLatch {
  readonly host: string;
  #rtpPort: number | undefined;
  #rtcpPort: number | undefined;
  #ssrc = -1;
  #lastAt = 0;

  /** @param expected the address (and the ports, when known) the RTSP exchange gave */
  constructor(expected: UdpSourceAddress) {
    this.host = expected.host;
    this.#rtpPort = expected.rtpPort;
    this.#rtcpPort = expected.rtcpPort;
  }

  /** The RTP port media comes from: given, or latched; undefined before the first packet. */
  get rtpPort(): number | undefined {
    return this.#rtpPort;
  }

  /** The SSRC latched, or null before the first packet. */
  get ssrc(): number | null {
    return this.#ssrc < 0 ? null : this.#ssrc;
  }

  /** True when `host`:`port` is this source's RTP port, given by the RTSP exchange or latched. */
  holdsRtp(host: string, port: number): boolean {
    return host === this.host && port === this.#rtpPort;
  }

  /** True when `host`:`port` is this source's RTCP port, given by the RTSP exchange or latched. */
  holdsRtcp(host: string, port: number): boolean {
    return host === this.host && port === this.#rtcpPort;
  }

  /** True when an RTP packet from `host`:`port` may come from this source (before any latching). */
  mayBeFrom(host: string, port: number): boolean {
    return host === this.host && (this.#rtpPort === undefined || port === this.#rtpPort);
  }

  /**
   * Checks an RTP packet's sender and SSRC, latching what is still open.
   * @returns null when accepted (the port just latched is reported by {@linkcode rtpPort}), else why not
   */
  acceptRtp(host: string, port: number, ssrc: number, nowMs: number): LatchRefusal | null {
    if (host !== this.host) return "address";
    if (this.#rtpPort === undefined) this.#rtpPort = port;
    else if (port !== this.#rtpPort) return "address";
    if (ssrc !== this.#ssrc) {
      if (this.#ssrc >= 0 && nowMs - this.#lastAt < SSRC_IDLE_MS) return "ssrc";
      this.#ssrc = ssrc;
    }
    this.#lastAt = nowMs;
    return null;
  }

  /** Checks an RTCP packet's sender, latching its port on the first one. */
  acceptRtcp(host: string, port: number): boolean {
    if (host !== this.host) return false;
    // Without a known RTCP port, the sender's RTP port cannot be its RTCP port too.
    if (this.#rtcpPort === undefined && port !== this.#rtpPort) this.#rtcpPort = port;
    return port === this.#rtcpPort;
  }
}
