/**
 * The main thread's side of the fast plane's receive batches: each record (see ./_shared_protocol.ts) handed to
 * its socket's handler, a datagram as a view of the batch, a digest in the socket's reused {@linkcode RingDigest}.
 * Private to src/dataplane.
 * @module
 */
import {
  align4,
  DIGEST_ARRIVAL,
  DIGEST_FLAGS,
  DIGEST_KEYFRAME,
  DIGEST_POSITION,
  DIGEST_RECORD,
  DIGEST_SEQ,
  DIGEST_SSRC,
  DIGEST_TIMESTAMP,
  RECV_DIGEST,
  RECV_FLAGS,
  RECV_FORWARDED,
  RECV_HEADER,
  RECV_ID,
  RECV_IP,
  RECV_OPENED,
  RECV_PORT,
} from "./_shared_protocol.ts";
import { emptyRingDigest, type PacketRing, type RingDigest } from "./packet_ring.ts";

/**
 * Receives one datagram; the view is owned by the handler. `forwarded`: the worker already sent it to the
 * socket's route (rewritten), so the handler must not send it to those destinations again. `opened`: a sealed
 * mesh datagram the worker opened (tag verified, payload in plaintext; see mesh_open.ts).
 */
export type PlaneHandler = (
  packet: Uint8Array,
  from: Deno.NetAddr,
  forwarded: boolean,
  opened: boolean,
) => void;

/**
 * Receives the digest of a datagram the worker forwarded and kept in a ring (see `RECV_DIGEST` in
 * ./_shared_protocol.ts); the digest object is reused: read it during the call only.
 */
export type PlaneDigestHandler = (digest: RingDigest, from: Deno.NetAddr) => void;

/** One socket of the plane, on the main thread. */
export interface PlaneSocket {
  /** Its id in the worker's receive records (never the id of another socket, unlike fd numbers). */
  readonly id: number;
  readonly handler: PlaneHandler;
  readonly onDigest: PlaneDigestHandler | null;
  /** The ring of the route the worker applies (as far as acks have told), and the digest filled per record. */
  ring: PacketRing | null;
  digest: RingDigest | null;
  /** Packets of it handled so far: the worker widens a route only when this matches what it posted. */
  processed: number;
}

/** Dispatches receive batches to the plane's sockets. */
export class RecordDispatcher {
  readonly #sockets: ReadonlyMap<number, PlaneSocket>;
  readonly #addrCache = new Map<number, Deno.NetAddr>();

  /** @param sockets the plane's open sockets by id (read per record: a handler may close one) */
  constructor(sockets: ReadonlyMap<number, PlaneSocket>) {
    this.#sockets = sockets;
  }

  /** Hands each of the `count` records of `buf` to its socket. */
  dispatch(buf: ArrayBuffer, count: number): void {
    const v = new DataView(buf);
    let off = 0;
    for (let i = 0; i < count; i++) {
      const len = v.getUint32(off, true);
      // Looked up per record: a handler may close its socket or another one.
      const sock = this.#sockets.get(v.getUint32(off + RECV_ID, true));
      if (sock) {
        const port = v.getUint16(off + RECV_PORT, true);
        const ip = v.getUint32(off + RECV_IP, false);
        const flags = v.getUint16(off + RECV_FLAGS, true);
        sock.processed++;
        try {
          if ((flags & RECV_DIGEST) !== 0) this.#digest(sock, v, off, len, ip, port);
          else {
            const forwarded = (flags & RECV_FORWARDED) !== 0;
            const packet = new Uint8Array(buf, off + RECV_HEADER, len);
            sock.handler(packet, this.#addr(ip, port), forwarded, (flags & RECV_OPENED) !== 0);
          }
        } catch {
          // A handler bug must not stop the batch.
        }
      }
      off += (v.getUint16(off + RECV_FLAGS, true) & RECV_DIGEST) !== 0
        ? DIGEST_RECORD
        : RECV_HEADER + align4(len);
    }
  }

  /** Hands a digest record to its socket's handler, in the socket's reused digest object. */
  #digest(sock: PlaneSocket, v: DataView, off: number, length: number, ip: number, port: number): void {
    const ring = sock.ring;
    if (sock.onDigest === null) return; // cannot happen: digests come only to sockets that take them
    const d = sock.digest ??= emptyRingDigest(ring);
    d.ring = ring;
    d.position = v.getUint32(off + DIGEST_POSITION, true);
    d.length = length;
    d.seq = v.getUint16(off + DIGEST_SEQ, true);
    d.timestamp = v.getUint32(off + DIGEST_TIMESTAMP, true);
    d.ssrc = v.getUint32(off + DIGEST_SSRC, true);
    d.keyframe = (v.getUint16(off + DIGEST_FLAGS, true) & DIGEST_KEYFRAME) !== 0;
    d.arrivalMs = v.getFloat64(off + DIGEST_ARRIVAL, true);
    sock.onDigest(d, this.#addr(ip, port));
    ring?.release(d.position + length); // after the handler: it may have copied the bytes out
  }

  /** The last address handed out, and its IPv4 number and port: a track's packets come from one sender. */
  #lastAddr: Deno.NetAddr | null = null;
  #lastIp = -1;
  #lastPort = -1;

  #addr(ip: number, port: number): Deno.NetAddr {
    // Checked first: the map's key is no small integer, so a lookup allocates a heap number.
    if (ip === this.#lastIp && port === this.#lastPort) return this.#lastAddr!;
    const a = this.#lookup(ip, port);
    this.#lastAddr = a;
    this.#lastIp = ip;
    this.#lastPort = port;
    return a;
  }

  #lookup(ip: number, port: number): Deno.NetAddr {
    const key = ip * 65536 + port;
    let a = this.#addrCache.get(key);
    if (!a) {
      if (this.#addrCache.size >= 4096) this.#addrCache.clear();
      a = {
        transport: "udp",
        hostname: `${ip >>> 24}.${(ip >>> 16) & 255}.${(ip >>> 8) & 255}.${ip & 255}`,
        port,
      };
      this.#addrCache.set(key, a);
    }
    return a;
  }
}
