/**
 * What the mesh does I/O through, so that one process can run many relays on a simulated network and clock: the
 * peer protocol's calls ({@linkcode PeerTransport}, by default HTTP through `MeshHttp`) and the mesh UDP
 * port ({@linkcode MeshPort}, by default a `MeshSocket`).
 * @module
 */
import type { RtpRenumber } from "../rtp/packet.ts";
import type { PeerAnswer, PeerTarget } from "./mesh_http.ts";
import type { MeshPacketType } from "./mesh_frame.ts";
import type { MeshRejectReason } from "./mesh_seal.ts";
import type { MeshPacketHandler, MeshRejectHandler, MeshSocketSecurity } from "./mesh_socket.ts";

/**
 * Calls another relay's `/mesh/v1`. Throws `UnsignedAnswerError` (mesh_http.ts) for an answer not signed with the
 * mesh key, any other error when there is no answer (refused, timed out).
 */
export interface PeerTransport {
  request(
    target: PeerTarget,
    method: "GET" | "POST",
    path: string,
    body: unknown,
    timeoutMs: number,
  ): Promise<PeerAnswer>;
  /** Releases connections, when it holds any. */
  close?(): void;
}

/** A relay's mesh port as the mesh uses it (implemented by `MeshSocket`). */
export interface MeshPort {
  /** The bound port. */
  readonly port: number;
  /** Datagrams refused, per reason. */
  readonly rejected: Record<MeshRejectReason, number>;
  /** The socket's fd on the fast data plane, whose worker may then send to children itself; else absent. */
  readonly planeFd?: number;
  onPacket: MeshPacketHandler;
  onReject: MeshRejectHandler;
  /**
   * Frames (or seals) and sends without awaiting; never throws. The payload is copied during the call (the caller
   * keeps it); `renumber` applies to the copy of an RTP payload (the numbering a mesh child gets).
   */
  send(
    to: Deno.NetAddr,
    incarnation: Uint8Array,
    type: MeshPacketType,
    streamId: number,
    track: number,
    payload: Uint8Array,
    renumber?: RtpRenumber | null,
  ): void;
  close(): void;
}

/** Opens the mesh port: binds `bindHost:port` (port 0 picks one), sealing with `security` when there are keys. */
export type OpenMeshPort = (bindHost: string, port: number, security: MeshSocketSecurity | null) => MeshPort;
