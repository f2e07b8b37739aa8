/**
 * The mesh UDP port on the fast data plane (`--data-plane fast`): the same contract as `MeshSocket`, but the
 * socket belongs to the plane's Worker, which receives with recvmmsg (datagrams reach this thread in batches, not
 * one promise each) and sends with sendmmsg (every copy to a child joins the plane's outbox, flushed once per
 * macrotask). Framing and sealing write into two reusable buffers, so a copy to a child allocates no
 * buffer; the plane copies the datagram into its outbox at once. The worker also seals the root's copies itself
 * (a sealer of its own, see src/dataplane/mesh_route.ts) and opens what the senders this thread authenticated
 * send (src/dataplane/mesh_open.ts): this thread then only checks the header and the replay window. Sends to one
 * child leave in the order they were made (one outbox, one sendmmsg loop), as `OrderedSender` guarantees on the
 * portable port.
 * @module
 */
import { encodeMeshPacketInto, MESH_HEADER_SIZE, type MeshPacketType } from "./mesh_frame.ts";
import { emptyRejectCounts, isMeshReject, type MeshRejectReason, SealScratch } from "./mesh_seal.ts";
import type { MeshPort, OpenMeshPort } from "./mesh_io.ts";
import {
  decodeMeshDatagram,
  type MeshPacketHandler,
  type MeshRejectHandler,
  MeshSocket,
  type MeshSocketSecurity,
} from "./mesh_socket.ts";
import type { FastUdpPlane } from "../dataplane/shared_udp.ts";
import type { RtpRenumber } from "../rtp/packet.ts";
import { derivePacketKey } from "./mesh_keys.ts";
import type { PacketKey } from "./mesh_senders.ts";

/** Largest datagram this port frames (the UDP maximum over IPv4). */
const MAX_DATAGRAM = 65507;

/** One reusable buffer and its views of the lengths framed so far (bounded). */
class FrameScratch {
  readonly buf = new Uint8Array(MAX_DATAGRAM);
  readonly #byLength = new Map<number, Uint8Array>();
  view(length: number): Uint8Array {
    let v = this.#byLength.get(length);
    if (!v) {
      if (this.#byLength.size >= 64) this.#byLength.clear();
      v = this.buf.subarray(0, length);
      this.#byLength.set(length, v);
    }
    return v;
  }
}

/** The relay's mesh port, owned by the fast plane's Worker. */
export class FastMeshSocket implements MeshPort {
  readonly #plane: FastUdpPlane;
  readonly #fd: number;
  readonly #port: number;
  readonly #security: MeshSocketSecurity | null;
  /**
   * Two of each, used in turn: the plane takes a send of the very view it got last for a repeat of that packet
   * (to another destination) and copies its payload once, so two consecutive datagrams never share a view.
   */
  readonly #seal = [new SealScratch(), new SealScratch()] as const;
  readonly #frame = [new FrameScratch(), new FrameScratch()] as const;
  #turn = 0;
  #flushQueued = false;
  readonly #flushAfterBatch = (): void => {
    this.#flushQueued = false;
    this.#plane.flush();
  };
  /** Packet keys given to the worker to open with. */
  readonly #handed = new WeakSet<PacketKey>();
  #generation = 0;
  #closed = false;
  /** Datagrams refused, per reason. */
  readonly rejected: Record<MeshRejectReason, number> = emptyRejectCounts();
  /** Datagrams that could not be framed or queued. */
  sendErrors = 0;
  /** Sealed datagrams the plane's worker opened (the rest were opened, or refused, on this thread). */
  openedByPlane = 0;
  onPacket: MeshPacketHandler = () => {};
  onReject: MeshRejectHandler = () => {};

  /**
   * Binds `hostname:port` on the plane.
   * @param hostname IPv4 literal
   * @param port the mesh port (not 0: the plane cannot say which port it picked)
   * @throws Deno.errors.AddrInUse when the port is taken
   */
  constructor(
    plane: FastUdpPlane,
    hostname: string,
    port: number,
    security: MeshSocketSecurity | null = null,
  ) {
    if (port === 0) throw new RangeError("The fast mesh port needs a port number, not 0");
    this.#plane = plane;
    this.#security = security;
    this.#port = port;
    this.#fd = plane.bind(hostname, port, this.#receive);
    this.#giveWorkerSealer();
    if (security) plane.setMeshOpen(this.#fd, security.opener.incarnation);
    plane.setMeshPort(this.#fd, security !== null);
  }

  /** The socket's fd on the plane: its worker sends the copies of routes that name it (mesh_route.ts). */
  get planeFd(): number {
    return this.#fd;
  }

  /** Hands the worker a sealer of its own (none when the mesh is open), again after each keyring change. */
  #giveWorkerSealer(): void {
    const sealer = this.#security?.sealer;
    this.#generation = sealer?.generation ?? 0;
    this.#plane.setMeshSealer(sealer ? sealer.forWorker() : null);
  }

  /** The bound port. */
  get port(): number {
    return this.#port;
  }

  /** @inheritdoc */
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
    // Heartbeats pass here every second: a keyring change reaches the worker's sealer within one.
    if (this.#security && this.#security.sealer.generation !== this.#generation) this.#giveWorkerSealer();
    const turn = (this.#turn ^= 1) as 0 | 1;
    let datagram: Uint8Array;
    try {
      if (this.#security) {
        datagram = this.#security.sealer.sealInto(
          this.#seal[turn],
          type,
          streamId,
          track,
          payload,
          incarnation,
          renumber,
        );
      } else {
        const frame = this.#frame[turn];
        if (payload.length > MAX_DATAGRAM - MESH_HEADER_SIZE) throw new RangeError("payload too long");
        datagram = frame.view(encodeMeshPacketInto(frame.buf, type, streamId, track, payload, renumber));
      }
    } catch {
      // A packet the framing cannot carry: dropped and counted, never thrown at the caller's fan-out loop.
      this.sendErrors++;
      return;
    }
    if (!this.#plane.send(this.#fd, datagram, to)) this.sendErrors++;
  }

  /**
   * Gives the worker the key of a sender this thread just authenticated a packet of, once per sender and key:
   * the worker opens that sender's next packets itself (src/dataplane/mesh_open.ts).
   */
  #handOver(last: { salt: Uint8Array; key: PacketKey }): void {
    if (this.#handed.has(last.key)) return;
    this.#handed.add(last.key);
    const key = new Uint8Array(derivePacketKey(last.key.key, last.salt).export());
    this.#plane.addMeshOpenKey({ salt: last.salt.slice(), keyId: last.key.key.id, key });
    key.fill(0);
  }

  /** Closes the socket (in the plane's Worker, after the sends already queued). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#plane.closeSocket(this.#fd);
  }

  readonly #receive = (
    datagram: Uint8Array,
    from: Deno.NetAddr,
    forwarded: boolean,
    opened: boolean,
  ): void => {
    if (this.#closed) return;
    // What this batch makes the relay send (its readers' and children's copies) leaves once the batch is handled,
    // not a timer tick later: one flush per batch either way.
    if (!this.#flushQueued) {
      this.#flushQueued = true;
      queueMicrotask(this.#flushAfterBatch);
    }
    const security = this.#security;
    if (opened) this.openedByPlane++;
    const packet = opened && security
      ? security.opener.open(datagram, true, true)
      : decodeMeshDatagram(security, datagram, true); // the plane's record view is the handler's to keep
    if (!opened && security?.opener.lastOpened) this.#handOver(security.opener.lastOpened);
    if (isMeshReject(packet)) {
      this.rejected[packet.reason]++;
      this.onReject(packet, from);
      return;
    }
    this.onPacket(packet, from, forwarded);
  };
}

/** Opens the mesh port on `plane` ({@linkcode FastMeshSocket}), or as a `MeshSocket` when asked for port 0. */
export function fastMeshPort(plane: FastUdpPlane): OpenMeshPort {
  return (host, port, security) =>
    port === 0 ? new MeshSocket(host, port, security) : new FastMeshSocket(plane, host, port, security);
}
