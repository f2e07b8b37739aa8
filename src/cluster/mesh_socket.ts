/**
 * The mesh UDP socket shell: one port per relay (`--mesh-port`) for every stream, child and parent. It frames
 * (or, with a mesh key, seals) what it sends, decodes (or opens) what it receives and hands packets to the mesh;
 * it knows nothing of trees or streams.
 * @module
 */
import { decodeMeshPacket, encodeMeshPacket, type MeshPacket, type MeshPacketType } from "./mesh_frame.ts";
import {
  emptyRejectCounts,
  isMeshReject,
  type MeshOpener,
  type MeshReject,
  type MeshRejectReason,
  type MeshSealer,
} from "./mesh_seal.ts";
import type { MeshPort } from "./mesh_io.ts";
import { OrderedSender } from "../dataplane/ordered_sender.ts";
import type { RtpRenumber } from "../rtp/packet.ts";

/**
 * Receives decoded mesh packets with the sender's `host:port`; the payload is a view valid during the call, unless
 * the packet says it is `owned` (opened sealed packets are).
 */
/**
 * Told about each accepted packet; `forwarded`: the fast plane's worker already sent its RTP to the readers its
 * binding names (src/dataplane/mesh_ingress.ts).
 */
export type MeshPacketHandler = (packet: MeshPacket, from: Deno.NetAddr, forwarded?: boolean) => void;
/** Told about each refused datagram. */
export type MeshRejectHandler = (reject: MeshReject, from: Deno.NetAddr) => void;

/** Sealing both ways, when the cluster has a key. */
export interface MeshSocketSecurity {
  sealer: MeshSealer;
  opener: MeshOpener;
}

/** The relay's mesh UDP port. */
export class MeshSocket implements MeshPort {
  readonly #conn: Deno.DatagramConn;
  /** In-order sends per destination (see ordered_sender.ts: a GOP burst must not reach a child backwards). */
  readonly #out: OrderedSender;
  readonly #security: MeshSocketSecurity | null;
  #closed = false;
  /** Datagrams refused, per reason. */
  readonly rejected: Record<MeshRejectReason, number> = emptyRejectCounts();
  /** Send failures (unreachable child and friends). */
  sendErrors = 0;
  onPacket: MeshPacketHandler = () => {};
  onReject: MeshRejectHandler = () => {};

  /**
   * Binds `hostname:port` (port 0 picks one).
   * @param security seal and open every packet (a relay with a key accepts only sealed packets)
   * @throws Deno.errors.AddrInUse when the port is taken
   */
  constructor(hostname: string, port: number, security: MeshSocketSecurity | null = null) {
    this.#security = security;
    this.#conn = Deno.listenDatagram({ transport: "udp", hostname, port });
    const conn = this.#conn;
    this.#out = new OrderedSender((d, to) => conn.send(d, to), () => this.sendErrors++);
    void this.#receive();
  }

  /** The bound port. */
  get port(): number {
    return (this.#conn.addr as Deno.NetAddr).port;
  }

  /** True when packets are sealed. */
  get sealed(): boolean {
    return this.#security !== null;
  }

  /**
   * Frames (or seals) and sends without awaiting; never throws (failures count in {@linkcode sendErrors}).
   * @param to the receiver's mesh address
   * @param incarnation the receiver's incarnation (8 bytes): a sealed packet opens only there
   * @param renumber applied to the copy of an RTP payload (see {@linkcode MeshPort.send})
   */
  send(
    to: Deno.NetAddr,
    incarnation: Uint8Array,
    type: MeshPacketType,
    streamId: number,
    track: number,
    payload: Uint8Array,
    renumber: RtpRenumber | null = null,
  ): void {
    if (this.#closed) return;
    let datagram: Uint8Array;
    try {
      datagram = this.#security
        ? this.#security.sealer.seal(type, streamId, track, payload, incarnation, renumber)
        : encodeMeshPacket(type, streamId, track, payload, renumber);
    } catch {
      // A packet the framing cannot carry (a track index past 255): dropped and counted, never thrown at the
      // caller's fan-out loop or timer.
      this.sendErrors++;
      return;
    }
    this.#out.send(datagram, to);
  }

  /** Closes the socket. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#conn.close();
    } catch { /* already closed */ }
  }

  async #receive(): Promise<void> {
    // One receive buffer for the socket (receive() would allocate 64 KiB per datagram): packets handed to
    // `onPacket` are views valid only during the call; handlers copy what they keep.
    const buffer = new Uint8Array(65536);
    while (!this.#closed) {
      let datagram: Uint8Array;
      let from: Deno.Addr;
      try {
        [datagram, from] = await this.#conn.receive(buffer);
      } catch {
        if (this.#closed) return;
        await new Promise((r) => setTimeout(r, 1));
        continue;
      }
      try {
        const packet = decodeMeshDatagram(this.#security, datagram);
        if (isMeshReject(packet)) {
          this.rejected[packet.reason]++;
          this.onReject(packet, from as Deno.NetAddr);
          continue;
        }
        this.onPacket(packet, from as Deno.NetAddr);
      } catch {
        // A handler bug must not stop the mesh port.
      }
    }
  }
}

/**
 * Opens (with a key) or decodes one datagram of the mesh port: the packet, or why it is refused. `owned`: the
 * datagram is handed over (the fast plane's records are), so an open mesh's payload needs no copy downstream.
 */
export function decodeMeshDatagram(
  security: MeshSocketSecurity | null,
  datagram: Uint8Array,
  owned = false,
): MeshPacket | MeshReject {
  if (security) return security.opener.open(datagram);
  const packet = decodeMeshPacket(datagram, owned);
  return typeof packet === "string" ? { reason: "malformed", message: packet } : packet;
}
