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

  /** Binds frames of `streamId` and `track` to the RTP socket `targetFd`; a negative fd unbinds them. */
  bind(streamId: number, track: number, targetFd: number): void {
    const key = streamId * 256 + track;
    if (targetFd < 0) this.#bindings.delete(key);
    else this.#bindings.set(key, { targetFd, highest: -1, ssrc: -1, spec: null });
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
  static take(binding: MeshIngressBinding, seq: number, ssrc: number, spec: unknown): boolean {
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
