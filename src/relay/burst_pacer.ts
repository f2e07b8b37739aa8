/**
 * Paced GOP bursts for datagram readers (UDP readers, mesh children). A new reader gets the cached GOP first; sent
 * back to back, a 2 s GOP of a 4 Mbit/s camera is some 800 datagrams, which no receiver's socket buffer holds
 * (Linux's default 208 KiB is about 90 datagrams of 1200 bytes): most of it, everything after the keyframe's start,
 * would be dropped by the reader's kernel and the picture would break until the next keyframe. TCP readers need no
 * pacing: the connection's flow control and the bounded write queue take care of it.
 *
 * A pacer holds the reader's backlog (the GOP, then the live packets that arrive meanwhile, in order) and sends it
 * at {@linkcode BURST_PACKETS_PER_MS} beyond the live rate, so the backlog always shrinks. Sans-I/O: the owner
 * calls {@linkcode BurstPacer.drain} with the time; {@linkcode onPaceTick} is the shared 1 ms timer.
 * @module
 */
import { contained, reportContained } from "../contain.ts";
import type { RtpRenumber } from "../rtp/packet.ts";
import type { Egress } from "./egress.ts";

/** Packets per millisecond a burst sends to one reader on top of the live packets. */
export const BURST_PACKETS_PER_MS = 4;
/** Most backlog packets one drain sends to one reader (after a late timer). */
const MAX_PER_DRAIN = 32;

/** The backlog of one reader joining with a burst. */
export class BurstPacer {
  readonly egress: Egress;
  readonly #queue: Uint8Array[];
  /** Per queued packet, the renumbering a mesh child gets it with (see {@linkcode Egress.sendRtp}). */
  readonly #mesh: Array<RtpRenumber | null>;
  #head = 0;
  #last: number;
  #credit = 0;

  /**
   * @param egress the reader
   * @param packets the GOP to send first (kept by reference: packets are not modified once forwarded)
   * @param nowMs the time the burst starts
   * @param mesh the renumbering of `packets` for a mesh child (see {@linkcode Egress.sendRtp})
   */
  constructor(
    egress: Egress,
    packets: readonly Uint8Array[],
    nowMs: number,
    mesh: RtpRenumber | null = null,
  ) {
    this.egress = egress;
    this.#queue = packets.slice();
    this.#mesh = packets.map(() => mesh);
    this.#last = nowMs;
    this.#credit = MAX_PER_DRAIN; // the keyframe's start goes at once
  }

  /** Packets not sent yet. */
  get backlog(): number {
    return this.#queue.length - this.#head;
  }

  /** A live packet for this reader (with its renumbering for a mesh child): it waits behind the backlog. */
  push(packet: Uint8Array, mesh: RtpRenumber | null = null): void {
    this.#queue.push(packet);
    this.#mesh.push(mesh);
    this.#credit++; // live packets do not slow the backlog down
  }

  /**
   * Sends what the pace allows by `nowMs`.
   * @param onSent told whether each packet was taken by the egress
   * @returns true when the backlog is empty (the reader can be fed directly from now on)
   */
  drain(nowMs: number, onSent: (taken: boolean) => void): boolean {
    const elapsed = Math.max(0, nowMs - this.#last);
    const allowance = Math.min(MAX_PER_DRAIN, Math.floor(elapsed * BURST_PACKETS_PER_MS)) + this.#credit;
    if (allowance === 0) return this.backlog === 0;
    this.#last = nowMs;
    this.#credit = 0;
    const end = Math.min(this.#queue.length, this.#head + allowance);
    while (this.#head < end) {
      const mesh = this.#mesh[this.#head] ?? null;
      const packet = this.#queue[this.#head++]!;
      let taken: boolean;
      try {
        taken = this.egress.sendRtp(packet, mesh);
      } catch (err) {
        reportContained("egress send", err);
        taken = false;
      }
      onSent(taken);
    }
    if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue.splice(0, this.#head);
      this.#mesh.splice(0, this.#head);
      this.#head = 0;
    }
    return this.backlog === 0;
  }
}

const tickers = new Set<() => void>();
let timer: ReturnType<typeof setInterval> | undefined;

/**
 * Calls `tick` every millisecond (one shared timer) until the returned function is called.
 * @returns stops the calls
 */
export function onPaceTick(tick: () => void): () => void {
  tickers.add(tick);
  if (timer === undefined) {
    const t = setInterval(() => {
      // One reader's failure must not stop the other bursts, nor end the process from inside a timer.
      for (const tick of tickers) contained("gop burst pacing", tick);
    }, 1);
    Deno.unrefTimer(t);
    timer = t;
  }
  return () => {
    tickers.delete(tick);
    if (tickers.size === 0 && timer !== undefined) {
      clearInterval(timer);
      timer = undefined;
    }
  };
}
