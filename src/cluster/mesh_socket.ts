/**
 * The mesh UDP socket shell: one port per relay (`--mesh-port`) for every stream, child and parent. It decodes
 * the framing and hands packets to the mesh; it knows nothing of trees or streams.
 * @module
 */
import { decodeMeshPacket, encodeMeshPacket, type MeshPacket, type MeshPacketType } from "./mesh_frame.ts";

/** Receives decoded mesh packets with the sender's `host:port`; the payload is a view valid during the call. */
export type MeshPacketHandler = (packet: MeshPacket, from: Deno.NetAddr) => void;

/** The relay's mesh UDP port. */
export class MeshSocket {
  readonly #conn: Deno.DatagramConn;
  #closed = false;
  /** Datagrams that were not mesh packets. */
  malformed = 0;
  /** Send failures (unreachable child and friends). */
  sendErrors = 0;
  onPacket: MeshPacketHandler = () => {};

  /**
   * Binds `hostname:port` (port 0 picks one).
   * @throws Deno.errors.AddrInUse when the port is taken
   */
  constructor(hostname: string, port: number) {
    this.#conn = Deno.listenDatagram({ transport: "udp", hostname, port });
    void this.#receive();
  }

  /** The bound port. */
  get port(): number {
    return (this.#conn.addr as Deno.NetAddr).port;
  }

  /** Frames and sends without awaiting. */
  send(to: Deno.NetAddr, type: MeshPacketType, streamId: number, track: number, payload: Uint8Array): void {
    this.sendRaw(encodeMeshPacket(type, streamId, track, payload), to);
  }

  /** Sends an already framed datagram without awaiting. */
  sendRaw(datagram: Uint8Array, to: Deno.NetAddr): void {
    if (this.#closed) return;
    this.#conn.send(datagram, to).catch(() => this.sendErrors++);
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
      const packet = decodeMeshPacket(datagram);
      if (typeof packet === "string") {
        this.malformed++;
        continue;
      }
      try {
        this.onPacket(packet, from as Deno.NetAddr);
      } catch {
        // A handler bug must not stop the mesh port.
      }
    }
  }
}
