/**
 * Thin shell around an RTP/RTCP UDP socket pair (even port RTP, next port RTCP) bound from the allocator.
 * It only receives and sends; what packets mean is decided by the handlers it is given.
 * @module
 */
import { type DeliveredCell, writeDelivered } from "../dataplane/mesh_ingress.ts";
import type { PortPairAllocator } from "./port_allocator.ts";
import type { FastUdpPlane } from "../dataplane/shared_udp.ts";
import { compileRoute, type PlaneRoute, type RouteSpec } from "../dataplane/route.ts";
import { OrderedSender } from "../dataplane/ordered_sender.ts";
import type { DatagramHandler, DigestHandler, PortPair, PortPairFactory } from "./port_pair.ts";
import { PacketRing } from "../dataplane/packet_ring.ts";

const NO_DESTS: ReadonlySet<string> = new Set();

/** A bound RTP/RTCP socket pair. */
export class UdpPortPair implements PortPair {
  readonly rtpPort: number;
  readonly rtcpPort: number;
  /** The RTP socket: a Deno socket, or (fast data plane) an fd of the shared plane's worker. */
  readonly #rtp: Deno.DatagramConn | { plane: FastUdpPlane; fd: number };
  readonly #rtcp: Deno.DatagramConn;
  /** In-order sends per destination on the portable path (see ordered_sender.ts; the fast plane keeps order). */
  readonly #rtpOut: OrderedSender | null;
  readonly #rtcpOut: OrderedSender;
  readonly #allocator: PortPairAllocator | null;
  #closed = false;
  /** Ids of the destinations the fast plane's worker serves itself (cut-through); empty on the portable path. */
  planeDests: ReadonlySet<string> = NO_DESTS;
  /** Send failures (ICMP unreachable from a reader that left, buffers full). */
  sendErrors = 0;
  onRtp: DatagramHandler = () => {};
  onRtcp: DatagramHandler = () => {};
  onRtpDigest: DigestHandler = () => {};
  /** The ring of the fast plane's route (see {@linkcode PlaneRoute.ringBytes}), made when a route wants one. */
  #ring: PacketRing | null = null;

  private constructor(
    rtp: Deno.DatagramConn | { plane: FastUdpPlane; fd: number; port: number },
    rtcp: Deno.DatagramConn,
    allocator: PortPairAllocator | null,
  ) {
    this.#rtp = rtp;
    this.#rtcp = rtcp;
    this.#rtpOut = "plane" in rtp
      ? null
      : new OrderedSender((d, to) => rtp.send(d, to), this.#countSendError);
    this.#rtcpOut = new OrderedSender((d, to) => rtcp.send(d, to), this.#countSendError);
    this.#allocator = allocator;
    this.rtpPort = "plane" in rtp ? rtp.port : (rtp.addr as Deno.NetAddr).port;
    this.rtcpPort = (rtcp.addr as Deno.NetAddr).port;
    if (!("plane" in rtp)) void this.#receive(rtp, (p, a) => this.onRtp(p, a));
    void this.#receive(this.#rtcp, (p, a) => this.onRtcp(p, a));
  }

  /**
   * Binds the next free pair of the allocator, skipping pairs other programs hold.
   * @param hostname bind address
   * @param allocator the configured port range
   * @param plane with the fast data plane, the shared worker that owns the RTP socket (RTCP stays a Deno socket)
   * @throws Error when the range holds no bindable pair
   */
  static bind(hostname: string, allocator: PortPairAllocator, plane?: FastUdpPlane): UdpPortPair {
    const open = plane
      ? (port: number) => {
        let fd = -1;
        try {
          let pair: UdpPortPair | null = null;
          fd = plane.bind(
            hostname,
            port,
            (p, a, forwarded) => pair?.onRtp(p, a, forwarded),
            (d, a) => pair?.onRtpDigest(d, a),
          );
          const rtcp = Deno.listenDatagram({ transport: "udp", hostname, port: port + 1 });
          pair = new UdpPortPair({ plane, fd, port }, rtcp, allocator);
          return pair;
        } catch (err) {
          if (fd >= 0) plane.closeSocket(fd);
          throw err;
        }
      }
      : (port: number) => {
        let rtp: Deno.DatagramConn | null = null;
        try {
          rtp = Deno.listenDatagram({ transport: "udp", hostname, port });
          const rtcp = Deno.listenDatagram({ transport: "udp", hostname, port: port + 1 });
          return new UdpPortPair(rtp, rtcp, allocator);
        } catch (err) {
          rtp?.close();
          throw err;
        }
      };
    const tries = allocator.free;
    const busy: number[] = [];
    try {
      for (let i = 0; i < tries; i++) {
        const port = allocator.allocate();
        if (port === null) break;
        try {
          return open(port);
        } catch (err) {
          if (!(err instanceof Deno.errors.AddrInUse)) {
            allocator.release(port);
            throw err;
          }
          busy.push(port);
        }
      }
    } finally {
      for (const p of busy) allocator.release(p);
    }
    throw new Error(`Cannot bind an RTP/RTCP port pair on "${hostname}": the UDP port range is exhausted`);
  }

  /** True when the fast plane's worker can forward this pair's RTP itself. */
  get cutThrough(): boolean {
    return "plane" in this.#rtp;
  }

  /**
   * Tells the fast plane's worker what to forward itself (no-op on the portable path); see
   * {@linkcode compileRoute}. {@linkcode planeDests} follows once the worker applies it.
   */
  setRoute(route: PlaneRoute): void {
    const rtp = this.#rtp;
    if (!("plane" in rtp) || this.#closed) return;
    // A ring only while the worker serves every reader; it grows (a new, larger one) as the route asks. The old
    // one lives on as long as GOP cache entries refer to it.
    const want = route.prompt ? 0 : route.ringBytes ?? 0;
    if (want === 0) this.#ring = null;
    else if (this.#ring === null || this.#ring.size < want) this.#ring = new PacketRing(want);
    if (this.#ring === null || this.#ring.refused === 0) this.#refusedSeen = 0;
    const { spec, served } = compileRoute(route, this.#ring);
    this.#routeIds.set(spec.dests, served);
    rtp.plane.setRoute(rtp.fd, spec, this.#onRouteApplied);
  }

  /** @inheritdoc */
  bindMeshIngress(
    streamId: number,
    track: number,
    on: boolean,
    delivered: DeliveredCell | null = null,
  ): void {
    const rtp = this.#rtp;
    if (!("plane" in rtp) || this.#closed) return;
    rtp.plane.setMeshIngress(streamId, track, on ? rtp.fd : -1, delivered);
  }

  /** @inheritdoc */
  noteDelivered(cell: DeliveredCell, seq: number, ssrc: number): void {
    const rtp = this.#rtp;
    if (!("plane" in rtp) || this.#closed) return;
    // The sends of what was delivered reach the Worker before the cell says so (with the plane's own flush at the
    // end of this macrotask: no extra hand-over per packet).
    rtp.plane.afterFlush(cell, () => writeDelivered(cell, seq, ssrc));
  }

  /** Destination ids of each route handed to the plane, by its `dests` buffer. */
  readonly #routeIds = new WeakMap<Uint8Array, ReadonlySet<string>>();
  readonly #onRouteApplied = (spec: RouteSpec): void => {
    this.planeDests = this.#routeIds.get(spec.dests) ?? NO_DESTS;
  };

  /** Bytes of the ring of the fast plane's route; 0 without one. */
  get ringBytes(): number {
    return this.#ring?.size ?? 0;
  }

  /** Refusals of the ring seen by {@linkcode ringStarved}. */
  #refusedSeen = 0;

  /**
   * True when the worker had to post packets' bytes because the ring had no room the main thread had released
   * (it lagged more than the ring holds) since the last call: the ring should grow.
   */
  ringStarved(): boolean {
    const refused = this.#ring?.refused ?? 0;
    if (refused === this.#refusedSeen) return false;
    this.#refusedSeen = refused;
    return true;
  }

  /** Sends an RTP datagram from the RTP port without awaiting (fast data plane: batched to its worker). */
  readonly sendRtp = (packet: Uint8Array, to: Deno.NetAddr): void => {
    if (this.#closed) return;
    const rtp = this.#rtp;
    if ("plane" in rtp) {
      if (!rtp.plane.send(rtp.fd, packet, to)) this.sendErrors++;
      return;
    }
    this.#rtpOut!.send(packet, to);
  };

  /** Sends an RTCP datagram from the RTCP port without awaiting. */
  readonly sendRtcp = (packet: Uint8Array, to: Deno.NetAddr): void => {
    if (this.#closed) return;
    this.#rtcpOut.send(packet, to);
  };

  readonly #countSendError = (): void => {
    this.sendErrors++;
  };

  /** Closes both sockets and returns the pair to the allocator. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const rtp = this.#rtp;
    if ("plane" in rtp) rtp.plane.closeSocket(rtp.fd);
    else {
      try {
        rtp.close();
      } catch { /* already closed */ }
    }
    try {
      this.#rtcp.close();
    } catch { /* already closed */ }
    this.#allocator?.release(this.rtpPort);
  }

  async #receive(conn: Deno.DatagramConn, handle: DatagramHandler): Promise<void> {
    // Without a buffer, receive() allocates (and zeroes) a 64 KiB one per datagram. One buffer per socket instead,
    // and the datagram copied out at its own size: the handler owns the copy (sends may still hold it).
    const buffer = new Uint8Array(65536);
    while (!this.#closed) {
      let packet: Uint8Array;
      let from: Deno.Addr;
      try {
        const [view, addr] = await conn.receive(buffer);
        packet = view.slice();
        from = addr;
      } catch {
        // Closed, or an ICMP error surfaced on receive: keep going unless closed.
        if (this.#closed) return;
        await new Promise((r) => setTimeout(r, 1));
        continue;
      }
      try {
        handle(packet, from as Deno.NetAddr);
      } catch {
        // A handler bug must not kill the socket's receive loop.
      }
    }
  }
}

/**
 * The factory of a relay's port pairs: bound on `hostname` from `allocator`'s range, with the fast plane's worker
 * owning the RTP sockets when `plane` is given.
 */
export function udpPortPairs(
  hostname: string,
  allocator: PortPairAllocator,
  plane?: FastUdpPlane,
): PortPairFactory {
  return () => UdpPortPair.bind(hostname, allocator, plane);
}
