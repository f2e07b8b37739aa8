/**
 * A mesh child as an egress of a track: RTP/RTCP framed with the stream id the parent gave the subscription and
 * sent to the child's mesh port, in the mesh's numbering (the root's: a member's track hands the renumbering back
 * to it, applied to the framed copy).
 * @module
 */
import type { Egress } from "../relay/egress.ts";
import type { RtpRenumber } from "../rtp/packet.ts";
import type { MeshPort } from "./mesh_io.ts";
import type { PlaneMeshChild } from "../dataplane/mesh_route.ts";

/** One child relay subscribed to one track of a stream. */
export class MeshEgress implements Egress {
  readonly kind = "mesh" as const;
  readonly id: string;
  readonly #socket: MeshPort;
  readonly #to: Deno.NetAddr;
  readonly #incarnation: Uint8Array;
  readonly #streamId: number;
  readonly #track: number;
  /** @inheritdoc */
  readonly planeMesh?: PlaneMeshChild & { fd: number };

  /**
   * @param id egress id (`mesh:<child>:<path>:<track>`)
   * @param socket this relay's mesh socket
   * @param to the child's mesh address
   * @param incarnation the child's incarnation (8 bytes): what is sealed for it opens nowhere else
   * @param streamId id of the stream in this subscription
   * @param track track index
   */
  constructor(
    id: string,
    socket: MeshPort,
    to: Deno.NetAddr,
    incarnation: Uint8Array,
    streamId: number,
    track: number,
  ) {
    this.id = id;
    this.#socket = socket;
    this.#to = to;
    this.#incarnation = incarnation;
    this.#streamId = streamId;
    this.#track = track;
    // On the fast plane the worker may send this child the root's RTP itself (src/dataplane/mesh_route.ts).
    if (socket.planeFd !== undefined) {
      this.planeMesh = {
        id,
        host: to.hostname,
        port: to.port,
        streamId,
        track,
        incarnation,
        fd: socket.planeFd,
      };
    }
  }

  /** @inheritdoc */
  sendRtp(packet: Uint8Array, mesh: RtpRenumber | null = null): boolean {
    this.#socket.send(this.#to, this.#incarnation, "rtp", this.#streamId, this.#track, packet, mesh);
    return true;
  }

  /** @inheritdoc */
  sendRtcp(packet: Uint8Array): boolean {
    this.#socket.send(this.#to, this.#incarnation, "rtcp", this.#streamId, this.#track, packet);
    return true;
  }
}
