/**
 * A mesh member's cut-through: the fast plane's Worker sends the RTP its parent relay sends it straight on to the
 * member's own UDP readers, as a root's Worker does with a camera's, instead of handing every packet to the main
 * thread and waiting for the copies it makes (two thread hand-offs per packet: milliseconds of hop latency and
 * most of a member's CPU at camera rates).
 *
 * The main thread stays the authority. It binds a subscription (the stream id this relay gave its parent, and a
 * track) to the track's RTP socket, whose route (route.ts) says where the readers are, what numbering they get and
 * which address the parent sends from; it binds only the attached parent's subscription, and only while no other
 * is pending, and unbinds before every change. The Worker forwards a frame only when it is authentic (opened by
 * the Worker with a key the main thread handed over, or an open mesh's frame), from the route's source, of the
 * route's SSRC, and newer than every packet it forwarded for that binding: a repeat, a replay or a packet out of
 * order goes to the main thread unforwarded, which filters and sends it as before. Every frame still reaches the
 * main thread (statistics, the duplicate filter, the GOP cache, the mesh's children), flagged as forwarded.
 *
 * With per-hop retransmission the main thread delivers in order (a packet behind a gap waits for its repair,
 * cluster/repair_hold.ts), and a binding made with a {@linkcode DeliveredCell} is in-order too: the Worker forwards
 * only the packet right after the last one delivered, its own or the main thread's (the cell, which the main
 * thread writes after it handed its sends of those packets over, so the Worker sends them before any it
 * forwards). Behind a gap it forwards nothing; the main thread holds, repairs, delivers, and the Worker takes over
 * again from where it got to.
 * Sans-I/O.
 * @module
 */

/** Numbers ahead of the last forwarded one that continue the numbering (as route.ts and RFC 3550 A.1). */
const MAX_DROPOUT = 3000;
const MAX_MISORDER = 100;
const OPEN_VERSION = 1;
const OPEN_HEADER = 6;
const SEALED_VERSION = 3;
const SEALED_HEADER = 32;
const SEALED_TAG = 16;
const TYPE_RTP = 0;
const RTP_HEADER = 12;

/**
 * The last packet the main thread delivered of a bound track, shared with the Worker: Int32 slots `[generation,
 * seq, ssrc]`; the generation is odd while the main thread writes (a seqlock) and changes at every write.
 */
export type DeliveredCell = Int32Array;

/** A new cell (nothing delivered yet) in shared memory. */
export function newDeliveredCell(): DeliveredCell {
  const cell = new Int32Array(new SharedArrayBuffer(12));
  cell[1] = -1;
  return cell;
}

/** Notes in `cell` that the main thread delivered `seq` of `ssrc` (after its sends of it were handed over). */
export function writeDelivered(cell: DeliveredCell, seq: number, ssrc: number): void {
  Atomics.add(cell, 0, 1);
  Atomics.store(cell, 1, seq & 0xffff);
  Atomics.store(cell, 2, ssrc | 0);
  Atomics.add(cell, 0, 1);
}

/** One bound subscription and track. */
export interface MeshIngressBinding {
  /** The track's RTP socket, whose route the Worker forwards by. */
  readonly targetFd: number;
  /** Highest sequence number forwarded, or -1. */
  highest: number;
  /** Its SSRC. */
  ssrc: number;
  /** The route spec it was forwarded under (a new one may start a new numbering). */
  spec: unknown;
  /** In-order forwarding: the main thread's last delivered packet, or null. */
  delivered: DeliveredCell | null;
  /** The cell's generation last taken over. */
  deliveredSeen: number;
}

/** The Worker's bindings, by stream id and track. */
export class MeshIngressTable {
  readonly #bindings = new Map<number, MeshIngressBinding>();
  /** Where the RTP of the last {@linkcode match}ed frame starts, and its length. */
  payloadAt = 0;
  payloadLength = 0;

  /** Bound subscriptions and tracks. */
  get size(): number {
    return this.#bindings.size;
  }

  /**
   * Binds frames of `streamId` and `track` to the RTP socket `targetFd`; a negative fd unbinds them.
   * @param delivered in-order forwarding after the main thread's deliveries (see {@linkcode DeliveredCell})
   */
  bind(streamId: number, track: number, targetFd: number, delivered: DeliveredCell | null = null): void {
    const key = streamId * 256 + track;
    if (targetFd < 0) this.#bindings.delete(key);
    else {this.#bindings.set(key, {
        targetFd,
        highest: -1,
        ssrc: -1,
        spec: null,
        delivered,
        deliveredSeen: -1,
      });}
  }

  /** Unbinds everything bound to `targetFd` (its socket closed). */
  unbindTarget(targetFd: number): void {
    for (const [key, b] of this.#bindings) if (b.targetFd === targetFd) this.#bindings.delete(key);
  }

  /**
   * The binding of the RTP frame of `length` bytes at `at` (its payload in clear: sealed frames opened already),
   * and its payload's place in {@linkcode payloadAt} and {@linkcode payloadLength}; null for anything else.
   * @param sealed the mesh is sealed: only version 3 frames count (and only opened ones may be passed)
   */
  match(buf: Uint8Array, at: number, length: number, sealed: boolean): MeshIngressBinding | null {
    if (this.#bindings.size === 0) return null;
    const first = buf[at]!;
    if ((first & 0x0f) !== TYPE_RTP) return null;
    if (sealed) {
      if (first >> 4 !== SEALED_VERSION || length < SEALED_HEADER + RTP_HEADER + SEALED_TAG) return null;
      this.payloadAt = at + SEALED_HEADER;
      this.payloadLength = length - SEALED_HEADER - SEALED_TAG;
    } else {
      if (first >> 4 !== OPEN_VERSION || length < OPEN_HEADER + RTP_HEADER) return null;
      this.payloadAt = at + OPEN_HEADER;
      this.payloadLength = length - OPEN_HEADER;
    }
    const streamId = ((buf[at + 2]! << 24) | (buf[at + 3]! << 16) | (buf[at + 4]! << 8) | buf[at + 5]!) >>> 0;
    return this.#bindings.get(streamId * 256 + buf[at + 1]!) ?? null;
  }

  /**
   * Whether the Worker forwards the packet of `seq` and `ssrc` for `binding` (and notes it as forwarded): the
   * first of a binding or of a new SSRC, one ahead of every packet forwarded, or the start of a new numbering once
   * the route changed (the main thread re-based the track). Never a repeat or anything behind.
   * @param spec the route spec the packet would be forwarded under
   */
  static take(
    binding: MeshIngressBinding,
    seq: number,
    ssrc: number,
    spec: unknown,
    sendQueued: () => boolean = () => true,
  ): boolean {
    if (binding.delivered !== null) return takeInOrder(binding, binding.delivered, seq, ssrc, sendQueued);
    if (binding.highest >= 0 && ssrc === binding.ssrc) {
      const ahead = (seq - binding.highest) & 0xffff;
      const next = ahead >= 1 && ahead <= MAX_DROPOUT;
      const renumbered = spec !== binding.spec && ahead > MAX_DROPOUT && ahead < 0x10000 - MAX_MISORDER;
      if (!next && !renumbered) return false;
    }
    binding.highest = seq;
    binding.ssrc = ssrc;
    binding.spec = spec;
    return true;
  }
}

/**
 * An in-order binding's rule: only the packet right after the last delivered one, the Worker's or (when the cell
 * changed) the main thread's; taking the main thread's over first sends what it queued (`sendQueued`, false when
 * that cannot be done now: then nothing is taken over, and the packet goes to the main thread).
 */
function takeInOrder(
  b: MeshIngressBinding,
  cell: DeliveredCell,
  seq: number,
  ssrc: number,
  sendQueued: () => boolean,
): boolean {
  const generation = Atomics.load(cell, 0);
  if (generation !== b.deliveredSeen) {
    if ((generation & 1) !== 0) return false; // being written
    const last = Atomics.load(cell, 1);
    const lastSsrc = Atomics.load(cell, 2) >>> 0;
    if (Atomics.load(cell, 0) !== generation || last < 0) return false;
    if (seq !== ((last + 1) & 0xffff) || ssrc !== lastSsrc) return false;
    if (!sendQueued()) return false;
    b.deliveredSeen = generation;
    b.highest = seq;
    b.ssrc = ssrc;
    return true;
  }
  if (b.highest < 0 || ssrc !== b.ssrc || seq !== ((b.highest + 1) & 0xffff)) return false;
  b.highest = seq;
  return true;
}
