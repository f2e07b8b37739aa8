/**
 * Port pairs without sockets, for tests of streams, the hub and the RTSP service: a factory that hands out
 * numbered pairs from a small range (and runs out like the real one), pairs that record what is sent from them
 * and let the test deliver datagrams to their handlers, as if they arrived on the ports.
 * @module
 */
import { type DeliveredCell, writeDelivered } from "../../src/dataplane/mesh_ingress.ts";
import type { PlaneRoute } from "../../src/dataplane/route.ts";
import type { DatagramHandler, DigestHandler, PortPair, PortPairFactory } from "../../src/relay/port_pair.ts";
import { PacketRing } from "../../src/dataplane/packet_ring.ts";

/** One datagram a fake pair sent. */
export interface SentDatagram {
  port: "rtp" | "rtcp";
  packet: Uint8Array;
  to: Deno.NetAddr;
}

/** A pair that records what it sends and receives what the test delivers. */
export class FakePortPair implements PortPair {
  readonly sent: SentDatagram[] = [];
  readonly routes: PlaneRoute[] = [];
  onRtp: DatagramHandler = () => {};
  onRtcp: DatagramHandler = () => {};
  onRtpDigest: DigestHandler = () => {};
  planeDests: ReadonlySet<string> = new Set();
  /** The ring the latest route asked for (as udp_pair.ts makes it), or null. */
  ring: PacketRing | null = null;
  closed = false;

  /**
   * @param rtpPort the even port
   * @param cutThrough whether it plays a fast-plane pair (routes are recorded, `planeDests` follows them)
   * @param onClose gives the pair back to its factory
   */
  constructor(readonly rtpPort: number, readonly cutThrough: boolean, private readonly onClose: () => void) {}

  get rtcpPort(): number {
    return this.rtpPort + 1;
  }

  readonly sendRtp = (packet: Uint8Array, to: Deno.NetAddr): void => {
    if (!this.closed) this.sent.push({ port: "rtp", packet, to });
  };

  readonly sendRtcp = (packet: Uint8Array, to: Deno.NetAddr): void => {
    if (!this.closed) this.sent.push({ port: "rtcp", packet, to });
  };

  setRoute(route: PlaneRoute): void {
    if (!this.cutThrough || this.closed) return;
    this.routes.push(route);
    this.planeDests = new Set(route.readers.map((r) => r.id));
    const want = route.prompt ? 0 : route.ringBytes ?? 0;
    if (want === 0) this.ring = null;
    else if (this.ring === null || this.ring.size < want) this.ring = new PacketRing(want);
  }

  get ringBytes(): number {
    return this.ring?.size ?? 0;
  }

  /** The mesh subscriptions bound to this pair now, as `streamId/track`. */
  readonly meshIngress = new Set<string>();
  /** Cells of in-order bindings, by `streamId/track`, and what was noted delivered in them. */
  readonly delivered = new Map<string, DeliveredCell>();
  readonly notedDelivered: number[] = [];
  noteDelivered(cell: DeliveredCell, seq: number, ssrc: number): void {
    if (!this.cutThrough || this.closed) return;
    writeDelivered(cell, seq, ssrc);
    this.notedDelivered.push(seq);
  }
  bindMeshIngress(
    streamId: number,
    track: number,
    on: boolean,
    delivered: DeliveredCell | null = null,
  ): void {
    if (!this.cutThrough || this.closed) return;
    if (on && delivered) this.delivered.set(`${streamId}/${track}`, delivered);
    if (on) this.meshIngress.add(`${streamId}/${track}`);
    else this.meshIngress.delete(`${streamId}/${track}`);
  }

  /** Starvation a test reports (as the real pair reads it from its ring's refusals), once. */
  starved = false;
  ringStarved(): boolean {
    const starved = this.starved;
    this.starved = false;
    return starved;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.onClose();
  }

  /** Delivers a datagram to the RTP port's handler, from `host:port`. */
  receiveRtp(packet: Uint8Array, host: string, port: number, forwarded?: boolean): void {
    if (!this.closed) this.onRtp(packet, { transport: "udp", hostname: host, port }, forwarded);
  }

  /** Delivers a datagram to the RTCP port's handler, from `host:port`. */
  receiveRtcp(packet: Uint8Array, host: string, port: number): void {
    if (!this.closed) this.onRtcp(packet, { transport: "udp", hostname: host, port });
  }
}

/** A factory of fake pairs: `pairs` of them at most at once, numbered from `firstPort`. */
export class FakePortPairs {
  readonly all: FakePortPair[] = [];
  #open = 0;

  /**
   * @param pairs how many may be open at once (beyond, binding throws like an exhausted range)
   * @param firstPort the first pair's RTP port
   * @param cutThrough whether the pairs play fast-plane pairs
   */
  constructor(readonly pairs = 8, readonly firstPort = 30_000, readonly cutThrough = false) {}

  /** Pairs that could be bound now. */
  get free(): number {
    return this.pairs - this.#open;
  }

  /** The factory to inject. */
  readonly bind: PortPairFactory = () => {
    if (this.#open >= this.pairs) throw new Error("the UDP port range is exhausted (fake)");
    this.#open++;
    const pair = new FakePortPair(this.firstPort + 2 * this.all.length, this.cutThrough, () => this.#open--);
    this.all.push(pair);
    return pair;
  };
}
