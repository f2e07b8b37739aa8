/**
 * Mesh ingress: every packet from the mesh port goes straight here. Frames are routed by their stream id to the
 * mesh source that chose it, and only when they come from the parent that id was given to; heartbeats count only
 * from the relay they name. Without a mesh key "from" means the mesh address discovery gives for that relay; with
 * one, sealing already proved a key holder sent it. Everything else is refused and counted.
 * @module
 */
import { heartbeatNode, type MeshPacket } from "./mesh_frame.ts";
import type { PeerTrust } from "./peer_trust.ts";

/** What a stream id routes to (a `MeshSource`). */
export interface RoutedSource {
  /** The parent that frames with `streamId` must come from, or null when the id is no longer its. */
  parentOf(streamId: number): { node: string } | null;
  /**
   * A frame with `streamId` from `from`: the payload is a view valid during the call unless `owned`; `forwarded`:
   * the fast plane's worker already sent it to the readers bound to it.
   */
  onFrame(packet: MeshPacket, streamId: number, from: Deno.NetAddr, forwarded: boolean): void;
}

/** Why a datagram was refused here (after the socket's own checks). */
export type RouterRefusal = "unexpected_source" | "unknown_stream";

/** Options of {@linkcode StreamRouter}. */
export interface StreamRouterOptions {
  trust: Pick<PeerTrust, "fromPeer">;
  /** A heartbeat of `node` arrived (from `node`). */
  onHeartbeat(node: string): void;
  /**
   * A child's NACK (a frame of the stream id it subscribed here with): the parent side checks who sent it.
   * @returns false when no child of this relay sent it (counted and refused here)
   */
  onNack(packet: MeshPacket, from: Deno.NetAddr): boolean;
  /** A packet passed the checks: this relay's mesh port hears. */
  onHeard(): void;
  /** A datagram came from elsewhere than the relay it names (worth a throttled log line): `message` says so. */
  onSpoofed(from: Deno.NetAddr, message: string): void;
}

/** Stream id -> mesh source, and the checks in front of it. */
export class StreamRouter {
  readonly #opts: StreamRouterOptions;
  readonly #routes = new Map<number, RoutedSource>();
  /** Datagrams refused here, per reason. */
  readonly refused: Record<RouterRefusal, number> = { unexpected_source: 0, unknown_stream: 0 };

  /** @param options trust and what to tell the mesh */
  constructor(options: StreamRouterOptions) {
    this.#opts = options;
  }

  /** Routes frames with `streamId` to `source`; null removes the route. */
  route(streamId: number, source: RoutedSource | null): void {
    if (source) this.#routes.set(streamId, source);
    else this.#routes.delete(streamId);
  }

  /** Routes in use. */
  get size(): number {
    return this.#routes.size;
  }

  /** A random stream id not in use: ids are not guessable, so a forged frame cannot aim at a live stream. */
  newStreamId(): number {
    const word = new Uint32Array(1);
    for (;;) {
      const id = crypto.getRandomValues(word)[0]!;
      if (id !== 0 && !this.#routes.has(id)) return id;
    }
  }

  /** One packet from the mesh port (the socket's `onPacket`). */
  readonly receive = (packet: MeshPacket, from: Deno.NetAddr, forwarded = false): void => {
    if (packet.type === "heartbeat") {
      const node = heartbeatNode(packet);
      if (!node) return;
      if (!this.#opts.trust.fromPeer(from, node)) return this.#spoofed(from, `heartbeat naming ${node}`);
      this.#opts.onHeard();
      this.#opts.onHeartbeat(node);
      return;
    }
    if (packet.type === "nack") {
      if (!this.#opts.onNack(packet, from)) return this.#spoofed(from, `NACK of stream ${packet.streamId}`);
      this.#opts.onHeard();
      return;
    }
    const source = this.#routes.get(packet.streamId);
    if (!source) {
      // Frames of a stream just unsubscribed are still in flight: counted, not worth a log line.
      this.refused.unknown_stream++;
      return;
    }
    // Only the parent this stream id was given to may feed it.
    const parent = source.parentOf(packet.streamId);
    if (!parent || !this.#opts.trust.fromPeer(from, parent.node)) {
      return this.#spoofed(from, `frame of stream ${packet.streamId}`);
    }
    this.#opts.onHeard();
    source.onFrame(packet, packet.streamId, from, forwarded);
  };

  #spoofed(from: Deno.NetAddr, what: string): void {
    this.refused.unexpected_source++;
    const where = `${from.hostname}:${from.port}`;
    this.#opts.onSpoofed(from, `${what} from ${where}, not the mesh address discovery gives for that relay`);
  }
}
