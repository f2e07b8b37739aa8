/**
 * A track's RTP/RTCP port pair as the stream and the RTSP methods use it: the two ports a SETUP answers with,
 * the handlers of what arrives, sending from either port, and (fast data plane) what the plane's worker may
 * forward itself. The sockets are udp_pair.ts's; a stream gets its pairs from an injected
 * {@linkcode PortPairFactory}, so it can run, and be tested, without any.
 * @module
 */
import type { DeliveredCell } from "../dataplane/mesh_ingress.ts";
import type { PlaneRoute } from "../dataplane/route.ts";
import type { RingDigest } from "../dataplane/packet_ring.ts";

/**
 * Receives one datagram. The handler owns the buffer (fresh per datagram). `forwarded` (fast data plane only):
 * the plane's worker already sent it to the destinations in {@linkcode PortPair.planeDests}.
 */
export type DatagramHandler = (packet: Uint8Array, from: Deno.NetAddr, forwarded?: boolean) => void;

/**
 * Receives the digest of an RTP datagram the fast plane's worker forwarded to every destination of the route and
 * kept in the route's ring (the digest object is reused: read it during the call only).
 */
export type DigestHandler = (digest: RingDigest, from: Deno.NetAddr) => void;

/** A bound pair of UDP ports: RTP on an even port, RTCP on the next one. */
export interface PortPair {
  readonly rtpPort: number;
  readonly rtcpPort: number;
  /** Called for each datagram on the RTP port. */
  onRtp: DatagramHandler;
  /** Called for each datagram on the RTCP port. */
  onRtcp: DatagramHandler;
  /** Called for each digest of an RTP datagram (fast data plane, a route with {@linkcode PlaneRoute.ringBytes}). */
  onRtpDigest: DigestHandler;
  /** Bytes of the ring the plane's worker keeps forwarded packets in; 0 without one. */
  readonly ringBytes: number;
  /** True when the ring was too small for the main thread's lag since the last call (it should grow). */
  ringStarved(): boolean;
  /** Sends from the RTP port without awaiting. */
  readonly sendRtp: (packet: Uint8Array, to: Deno.NetAddr) => void;
  /** Sends from the RTCP port without awaiting. */
  readonly sendRtcp: (packet: Uint8Array, to: Deno.NetAddr) => void;
  /** True when the fast plane's worker can forward this pair's RTP itself. */
  readonly cutThrough: boolean;
  /** Ids of the destinations the plane's worker serves itself (cut-through); empty otherwise. */
  readonly planeDests: ReadonlySet<string>;
  /** Tells the plane's worker what to forward itself (ignored without cut-through). */
  setRoute(route: PlaneRoute): void;
  /**
   * Lets the plane's worker send the RTP of a parent relay's subscription `streamId`, track `track`, to this
   * pair's route itself (`on`), or stops it (ignored without cut-through; see src/dataplane/mesh_ingress.ts).
   */
  bindMeshIngress(streamId: number, track: number, on: boolean, delivered?: DeliveredCell | null): void;
  /**
   * The main thread delivered RTP packet `seq` of `ssrc` itself (an in-order binding's cell): its sends are handed
   * to the plane now, then the cell says so (see src/dataplane/mesh_ingress.ts). Nothing without cut-through.
   */
  noteDelivered(cell: DeliveredCell, seq: number, ssrc: number): void;
  /** Closes both ports and gives them back. */
  close(): void;
}

/**
 * Binds the next free pair.
 * @throws Error when no pair can be bound (the range is in use)
 */
export type PortPairFactory = () => PortPair;
