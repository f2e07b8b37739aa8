/**
 * Cut-through forwarding of the fast data plane, sans-I/O: what the plane's worker needs to send an RTP packet
 * to a track's UDP readers itself, the moment it arrives, without a round trip through the main thread.
 *
 * The main thread stays the authority (statistics, GOP cache, TCP and mesh readers, every unusual packet): it
 * gives the worker a {@linkcode RouteSpec} per receiving socket, and the worker forwards only packets that are
 * valid RTP from the expected source with the SSRC the spec rewrites; everything else is left to the main thread.
 * Each packet is still posted to the main thread, flagged when the worker already sent it.
 *
 * An update that widens what the worker forwards (a new reader, a new SSRC mapping) applies only once the main
 * thread has handled every packet the worker posted for the socket; until then the main thread keeps sending
 * those packets itself, so a reader never sees a later packet before an earlier one. An update that only
 * narrows it (a reader left, mapping cleared) applies at once.
 * @module
 */
import { rtpPayloadOffsetAt } from "../rtp/packet.ts";
import { writeSockaddrIn } from "./_libc.ts";
import { ipv4Number } from "../address.ts";
import type { PacketRing } from "./packet_ring.ts";
import type { KeyframeCodec } from "../rtp/keyframe.ts";
import { meshRouteNarrows, type MeshRouteSpec, packMeshChildren, type PlaneMeshChild } from "./mesh_route.ts";

/** RFC 3550 A.1: a sequence number further ahead is a jump, not loss (as `relay/track_ingress.ts` counts it). */
const MAX_DROPOUT = 3000;
/** RFC 3550 A.1: a sequence number at most this far behind is reordering. */
const MAX_MISORDER = 100;

/** The rewrite the relay applies to the packets of one upstream SSRC. */
export interface RouteMap {
  /** Upstream SSRC. */
  ssrc: number;
  /** Added to the sequence number (mod 2^16). */
  seqDelta: number;
  /** Added to the timestamp (mod 2^32). */
  tsDelta: number;
  /** SSRC readers see. */
  outSsrc: number;
}

/** What the worker forwards for one receiving socket. */
export interface RouteSpec {
  /** Expected source (IPv4 as an unsigned 32-bit number; port 0: any port), or null: forward nothing. */
  src: { ip: number; port: number } | null;
  /** Rewrite of the current upstream SSRC, or null: forward nothing. */
  map: RouteMap | null;
  /** Destinations as `sockaddr_in` structs, 16 bytes each. */
  dests: Uint8Array;
  /**
   * The main thread needs each packet at once (it has readers of its own: TCP, mesh); otherwise the worker may
   * hold packets for the main thread's statistics and GOP cache a little (a few milliseconds) to batch them.
   */
  prompt: boolean;
  /** Mesh children the worker sends to from the mesh socket (see mesh_route.ts), or null. */
  mesh?: MeshRouteSpec | null;
  /**
   * The ring (packet_ring.ts) the worker keeps the packets it forwards in while the route is not `prompt`,
   * posting digests of them instead of their bytes; null: it posts the bytes, unless {@linkcode digests}.
   */
  ring?: SharedArrayBuffer | null;
  /**
   * Without a ring, the worker still posts digests of what it forwards while the route is not `prompt`, and drops
   * the bytes: the track keeps no packet (no GOP cache, no mesh child to repair) and every egress is served.
   */
  digests?: boolean;
  /** The keyframe grammar of the track, for the digests' keyframe flag; null: none flagged. */
  codec?: KeyframeCodec | null;
}

/** What the relay asks the plane to forward for one receiving socket, in its own terms. */
export interface PlaneRoute {
  /** The expected sender (`port` absent: any port of it), or null: forward nothing. */
  source: { host: string; port?: number | undefined } | null;
  /** Rewrite of the current upstream SSRC, or null: forward nothing. */
  map: RouteMap | null;
  /** UDP readers the worker may serve itself: an id of the relay's and the reader's RTP address. */
  readers: readonly { id: string; host: string; port: number }[];
  /** The main thread has readers of its own (TCP, mesh, a reader still paced) and needs each packet at once. */
  prompt: boolean;
  /** Mesh children the worker may serve itself, all from the mesh socket `fd` of the plane. */
  mesh?: { fd: number; children: readonly PlaneMeshChild[] } | null;
  /**
   * Bytes of the ring the worker may keep the packets it forwards in, posting digests instead (see
   * {@linkcode RouteSpec.ring}); 0 or absent: none. The port pair makes the ring.
   */
  ringBytes?: number;
  /** Digests without a ring when `ringBytes` is 0 (see {@linkcode RouteSpec.digests}). */
  digests?: boolean;
  /** See {@linkcode RouteSpec.codec}. */
  codec?: KeyframeCodec | null;
}

/**
 * The worker's spec of a route, and the ids of the readers it serves. The worker speaks IPv4 only: a source that
 * is not IPv4 forwards nothing, readers that are not IPv4 stay with the main thread (which then needs every
 * packet at once).
 */
export function compileRoute(
  route: PlaneRoute,
  ring: PacketRing | null = null,
): { spec: RouteSpec; served: ReadonlySet<string> } {
  const ip = route.source ? ipv4Number(route.source.host) : null;
  const src: RouteSpec["src"] = ip === null ? null : { ip, port: route.source?.port ?? 0 };
  const ipv4 = route.readers.filter((r) => ipv4Number(r.host) !== null);
  const dests = packRouteDests(ipv4.map((r) => ({ hostname: r.host, port: r.port })));
  const children = route.mesh?.children ?? [];
  const packed = packMeshChildren(children);
  const mesh = route.mesh && packed.ids.length > 0 ? { fd: route.mesh.fd, dests: packed.dests } : null;
  const prompt = route.prompt || ipv4.length < route.readers.length || packed.ids.length < children.length;
  const buffer = prompt ? null : ring?.buffer ?? null;
  const spec: RouteSpec = {
    src,
    map: route.map,
    dests,
    prompt,
    mesh,
    ring: buffer,
    digests: !prompt && (buffer !== null || route.digests === true),
    codec: route.codec ?? null,
  };
  return { spec, served: new Set([...ipv4.map((r) => r.id), ...packed.ids]) };
}

/** A spec that forwards nothing. */
export const EMPTY_ROUTE: RouteSpec = { src: null, map: null, dests: new Uint8Array(0), prompt: true };

/** Number of destinations of a spec. */
export function routeDestCount(spec: RouteSpec): number {
  return spec.dests.length >> 4;
}

/** True when applying `next` after `current` can only make the worker forward less. */
export function routeNarrows(current: RouteSpec, next: RouteSpec): boolean {
  if (next.map === null || next.src === null) return true; // forwards nothing
  if (!sameMap(current.map, next.map) || !sameSrc(current.src, next.src)) return false;
  if (!meshRouteNarrows(current.mesh ?? null, next.mesh ?? null)) return false;
  for (let i = 0; i < next.dests.length; i += 16) {
    if (!hasDest(current.dests, next.dests.subarray(i, i + 16))) return false;
  }
  return true;
}

function sameMap(a: RouteMap | null, b: RouteMap | null): boolean {
  return a === b || (a !== null && b !== null && a.ssrc === b.ssrc && a.seqDelta === b.seqDelta &&
    a.tsDelta === b.tsDelta && a.outSsrc === b.outSsrc);
}

function sameSrc(a: RouteSpec["src"], b: RouteSpec["src"]): boolean {
  return a === b || (a !== null && b !== null && a.ip === b.ip && a.port === b.port);
}

function hasDest(dests: Uint8Array, dest: Uint8Array): boolean {
  outer: for (let i = 0; i < dests.length; i += 16) {
    for (let k = 0; k < 16; k++) if (dests[i + k] !== dest[k]) continue outer;
    return true;
  }
  return false;
}

/** The worker's state for one receiving socket. */
export class Route {
  spec: RouteSpec = EMPTY_ROUTE;
  /** Packets of this socket posted to the main thread. */
  posted = 0;
  /** An update was refused because the main thread lagged: post promptly so the next attempt finds it caught up. */
  #awaitingUpdate = false;

  /** Whether received packets go to the main thread at once. */
  get prompt(): boolean {
    return this.spec.prompt || this.#awaitingUpdate;
  }

  /**
   * Applies an update from the main thread.
   * @param processed packets of this socket the main thread had handled when it sent the update
   * @param force the update only narrows forwarding (see {@linkcode routeNarrows})
   * @returns false when the main thread lags behind what was posted: it must send the update again
   */
  apply(spec: RouteSpec, processed: number, force: boolean): boolean {
    if (!force && processed !== this.posted) {
      this.#awaitingUpdate = true;
      return false;
    }
    this.spec = spec;
    this.#awaitingUpdate = false;
    // Built after the main thread handled every packet posted, the jump included: its map is the re-based one.
    if (!force) this.#jumped = false;
    return true;
  }

  /** Input sequence number of the last packet from the route's source and SSRC, or -1. */
  #lastSeq = -1;
  /**
   * The input numbering jumped since the last update the main thread built after seeing every packet: the track
   * re-bases on such a jump (RFC 3550 A.1, relay/track_ingress.ts), so the map here is stale until a new one
   * applies, and the main thread sends these packets itself (a child relay would drop them as far out of order).
   */
  #jumped = false;

  /**
   * Whether the worker forwards the packet of `length` bytes at `at` in `buf` itself: valid RTP, from the expected
   * source, with the mapped SSRC, and someone to send it to. Read in place: the worker makes no view per packet.
   */
  forwards(buf: Uint8Array, at: number, length: number, fromIp: number, fromPort: number): boolean {
    const { src, map, dests } = this.spec;
    if (src === null || map === null || (dests.length === 0 && !this.spec.mesh)) return false;
    if (fromIp !== src.ip || (src.port !== 0 && fromPort !== src.port)) return false;
    if (length < 12) return false;
    // The SSRC first: it rules out most foreign packets before the full header check.
    const ssrc = ((buf[at + 8]! << 24) | (buf[at + 9]! << 16) | (buf[at + 10]! << 8) | buf[at + 11]!) >>> 0;
    if (ssrc !== map.ssrc || rtpPayloadOffsetAt(buf, at, length) < 0) return false;
    const seq = (buf[at + 2]! << 8) | buf[at + 3]!;
    if (this.#lastSeq >= 0) {
      const ahead = (seq - this.#lastSeq) & 0xffff;
      if (ahead > MAX_DROPOUT && ahead < 0x10000 - MAX_MISORDER) this.#jumped = true;
      if (ahead <= MAX_DROPOUT || this.#jumped) this.#lastSeq = seq; // not behind: the numbering goes on from it
    } else this.#lastSeq = seq;
    return !this.#jumped;
  }

  /** Rewrites sequence number, timestamp and SSRC in place of the packet at `at` (it passed {@linkcode forwards}). */
  rewrite(buf: Uint8Array, at: number): void {
    const map = this.spec.map!;
    const seq = (((buf[at + 2]! << 8) | buf[at + 3]!) + map.seqDelta) & 0xffff;
    buf[at + 2] = seq >> 8;
    buf[at + 3] = seq & 0xff;
    const ts = ((((buf[at + 4]! << 24) | (buf[at + 5]! << 16) | (buf[at + 6]! << 8) | buf[at + 7]!) >>> 0) +
      map.tsDelta) >>>
      0;
    buf[at + 4] = ts >>> 24;
    buf[at + 5] = (ts >>> 16) & 0xff;
    buf[at + 6] = (ts >>> 8) & 0xff;
    buf[at + 7] = ts & 0xff;
    const out = map.outSsrc;
    buf[at + 8] = out >>> 24;
    buf[at + 9] = (out >>> 16) & 0xff;
    buf[at + 10] = (out >>> 8) & 0xff;
    buf[at + 11] = out & 0xff;
  }
}

/**
 * Packs IPv4 destinations as the `dests` of a {@linkcode RouteSpec}: one 16-byte `sockaddr_in` each, in order.
 * @throws Error when a hostname is not an IPv4 literal (filter with `ipv4Number` first)
 */
export function packRouteDests(dests: readonly { hostname: string; port: number }[]): Uint8Array {
  const bytes = new Uint8Array(dests.length * 16);
  const view = new DataView(bytes.buffer);
  dests.forEach((d, i) => writeSockaddrIn(view, i * 16, d.hostname, d.port));
  return bytes;
}
