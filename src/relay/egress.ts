/**
 * Egresses: where a track's packets go (a UDP reader, a TCP-interleaved reader, later a mesh child).
 * @module
 */
import type { RtpRenumber } from "../rtp/packet.ts";
import type { FrameQueue } from "../rtsp/interleaved_writer.ts";
import type { PlaneMeshChild } from "../dataplane/mesh_route.ts";

/** Why the relay itself dropped a packet (the `reason` label of `msm_rtp_packets_dropped_total`). */
export type DropReason = "slow_reader" | "invalid_rtp" | "invalid_rtcp" | "unexpected_source" | "send_error";

/** One destination of a track. Implementations never block and never throw on the hot path. */
export interface Egress {
  /** Stable id for removal and metrics. */
  readonly id: string;
  /** Kind, the `sink` label of `msm_rtp_packets_forwarded_total`. */
  readonly kind: "udp" | "tcp" | "mesh";
  /**
   * Queues an RTP packet for sending; the buffer is owned by the caller and may be shared between egresses,
   * so an egress must not modify it.
   * @param packet the packet in the numbering this relay's readers see
   * @param mesh at a relay fed by the mesh, the renumbering back to the numbering the packet arrived with, which
   *   mesh children get instead (the mesh carries one numbering per epoch, the root's); null when the packet
   *   already is in it. Local readers ignore it.
   * @returns false when the egress dropped it (counted by the egress)
   */
  sendRtp(packet: Uint8Array, mesh?: RtpRenumber | null): boolean;
  /** Queues an RTCP packet; same rules as {@linkcode Egress.sendRtp}. */
  sendRtcp(packet: Uint8Array): boolean;
  /**
   * A mesh child the fast plane's worker can send RTP to itself, from the plane's mesh socket `fd` (set only
   * when the mesh port is on the fast plane).
   */
  readonly planeMesh?: PlaneMeshChild & { fd: number };
}

/** Sends a datagram without awaiting; the data plane's portable UDP primitive. */
export type DatagramSend = (packet: Uint8Array, address: Deno.NetAddr) => void;

/** A UDP reader: RTP to its client RTP port, RTCP to its client RTCP port. */
export class UdpEgress implements Egress {
  readonly kind = "udp" as const;
  readonly id: string;
  readonly #rtpAddr: Deno.NetAddr;
  readonly #rtcpAddr: Deno.NetAddr;
  readonly #sendRtp: DatagramSend;
  readonly #sendRtcp: DatagramSend;

  /**
   * @param id egress id
   * @param host reader's address
   * @param ports reader's client_port pair
   * @param sendRtp sends from the track's server RTP port
   * @param sendRtcp sends from the track's server RTCP port
   */
  constructor(
    id: string,
    host: string,
    ports: readonly [number, number],
    sendRtp: DatagramSend,
    sendRtcp: DatagramSend,
  ) {
    this.id = id;
    this.#rtpAddr = { transport: "udp", hostname: host, port: ports[0] };
    this.#rtcpAddr = { transport: "udp", hostname: host, port: ports[1] };
    this.#sendRtp = sendRtp;
    this.#sendRtcp = sendRtcp;
  }

  /** The reader's RTP address. */
  get rtpAddress(): Deno.NetAddr {
    return this.#rtpAddr;
  }

  /** @inheritdoc */
  sendRtp(packet: Uint8Array): boolean {
    this.#sendRtp(packet, this.#rtpAddr);
    return true;
  }

  /** @inheritdoc */
  sendRtcp(packet: Uint8Array): boolean {
    this.#sendRtcp(packet, this.#rtcpAddr);
    return true;
  }
}

/** A TCP-interleaved reader: frames on its RTP/RTCP channels of the RTSP connection. */
export class TcpEgress implements Egress {
  readonly kind = "tcp" as const;
  readonly id: string;
  readonly #queue: FrameQueue;
  readonly #rtpChannel: number;
  readonly #rtcpChannel: number;
  readonly #framed: boolean;

  /**
   * @param id egress id
   * @param queue the connection's frame queue
   * @param channels interleaved channels (RTP, RTCP)
   * @param framed video whose marker bit ends each frame (RFC 3551 §4.1): the packets of a frame are written
   *   together
   */
  constructor(id: string, queue: FrameQueue, channels: readonly [number, number], framed = false) {
    this.id = id;
    this.#queue = queue;
    this.#rtpChannel = channels[0];
    this.#rtcpChannel = channels[1];
    this.#framed = framed;
  }

  /** @inheritdoc */
  sendRtp(packet: Uint8Array): boolean {
    const hold = this.#framed && (packet[1]! & 0x80) === 0;
    return this.#queue.enqueueFrame(this.#rtpChannel, packet, true, hold);
  }

  /** @inheritdoc */
  sendRtcp(packet: Uint8Array): boolean {
    return this.#queue.enqueueFrame(this.#rtcpChannel, packet, true);
  }
}
