/**
 * The mesh's failure detector, sans-I/O (time passed in): which peers are suspected of being dead (out of root
 * choices and plans for a hold unless they speak), which peers said their own mesh port hears nothing (deaf: kept
 * out of plans until they say otherwise, their heartbeats do not count), and whether this relay's own mesh port is
 * deaf (it hears nothing though two or more peers should be sending to it).
 *
 * Why two or more: one silent peer is more likely dead than this port blocked; a parent and a child that both fall
 * silent at once point at this relay.
 * @module
 */

/** Options of {@linkcode FailureDetector}. */
export interface FailureDetectorOptions {
  /** This relay's node name: never suspected. */
  self: string;
  /** How long a suspect stays out of plans unless it speaks (ms). */
  suspectHoldMs: number;
  /** Silence of this relay's port after which it counts as deaf (ms): the parent timeout. */
  silenceMs: number;
  /** Deaf peers remembered at most (only key holders or known peers can say so). @default 4096 */
  maxDeafPeers?: number;
  /** The clock's reading at construction: the port's silence counts from it. */
  now: number;
}

/** A change of this relay's hearing, as {@linkcode FailureDetector.checkHearing} reports it. */
export type HearingChange =
  /** The port fell silent though `expected` peers should be sending: step back from every tree. */
  | { change: "deaf"; silentMs: number }
  /** The first packet after a deaf spell arrived. */
  | { change: "hears"; deafMs: number };

/** Suspects, deaf peers and this relay's own deafness. */
export class FailureDetector {
  readonly #self: string;
  readonly #holdMs: number;
  readonly #silenceMs: number;
  readonly #maxDeafPeers: number;
  /** Suspected node -> until when (monotonic ms). Kept after the hold: a member once suspected stays noted. */
  readonly #suspects = new Map<string, number>();
  /** Members that said their mesh port hears nothing. */
  readonly #deafPeers = new Set<string>();
  /** Last packet of any peer on this relay's port. */
  #lastHeard: number;
  /** Since when this relay's port hears nothing, or null. */
  #deafSince: number | null = null;
  #generation = 0;

  /** @param options this relay, hold and silence */
  constructor(options: FailureDetectorOptions) {
    this.#self = options.self;
    this.#holdMs = options.suspectHoldMs;
    this.#silenceMs = options.silenceMs;
    this.#maxDeafPeers = options.maxDeafPeers ?? 4096;
    this.#lastHeard = options.now;
  }

  /**
   * Counts changes of the suspects and deaf peers (not the passing of time): plans made for one generation (and
   * one live view) need not be made again.
   */
  get generation(): number {
    return this.#generation;
  }

  // ---- suspects -----------------------------------------------------------------------------------------------

  /**
   * Keeps `node` out of live views until `now` + the hold. The caller decides whether `node` may be recorded at
   * all (a relay discovery knows, or a member of a tree here): names made up by a peer must not grow the table.
   * @returns false for this relay itself (never suspected)
   */
  suspect(node: string, now: number): boolean {
    if (node === this.#self) return false;
    this.#suspects.set(node, now + this.#holdMs);
    this.#generation++;
    return true;
  }

  /** A sign of life from `node` (an answer, a heartbeat, a call): no longer suspected, unless it said it is deaf. */
  heard(node: string): void {
    if (this.#deafPeers.has(node)) return;
    if (this.#suspects.delete(node)) this.#generation++;
  }

  /** True while `node` is suspected at `now`. */
  suspected(node: string, now: number): boolean {
    return (this.#suspects.get(node) ?? 0) > now;
  }

  /** True when `node` was suspected and has not spoken since (whether or not its hold is over). */
  noted(node: string): boolean {
    return this.#suspects.has(node);
  }

  /** Until when `node` is suspected (monotonic ms), or null when it is not at `now`. */
  suspectedUntil(node: string, now: number): number | null {
    const until = this.#suspects.get(node) ?? 0;
    return until > now ? until : null;
  }

  // ---- deaf peers ---------------------------------------------------------------------------------------------

  /**
   * `node` said its mesh port receives nothing: it stays out of plans (a leaf fed by the root) until it says it
   * hears again; the heartbeats it still sends do not count.
   */
  peerDeaf(node: string, now: number): void {
    if (node === this.#self) return;
    if (this.#deafPeers.size < this.#maxDeafPeers) this.#deafPeers.add(node);
    this.suspect(node, now);
  }

  /** `node` says it hears again (a join without the deaf flag). */
  peerHears(node: string): void {
    if (this.#deafPeers.delete(node)) this.#generation++;
    this.heard(node);
  }

  /** True while `node` says its port hears nothing. */
  isPeerDeaf(node: string): boolean {
    return this.#deafPeers.has(node);
  }

  // ---- this relay's hearing -----------------------------------------------------------------------------------

  /** A valid packet arrived on this relay's port. */
  packetArrived(now: number): void {
    this.#lastHeard = now;
  }

  /** A new parent or child will send: its silence counts from now, not from the last packet of anyone. */
  peerExpected(now: number): void {
    if (this.#deafSince === null) this.#lastHeard = Math.max(this.#lastHeard, now);
  }

  /** True while this relay's mesh port hears nothing though peers should be sending to it. */
  get deaf(): boolean {
    return this.#deafSince !== null;
  }

  /**
   * Enters or leaves the deaf state.
   * @param expected the peers that should be sending to this relay now (its parents and children)
   * @returns the change, or null
   */
  checkHearing(now: number, expected: number): HearingChange | null {
    if (this.#deafSince !== null) {
      if (this.#lastHeard <= this.#deafSince) return null;
      const deafMs = now - this.#deafSince;
      this.#deafSince = null;
      return { change: "hears", deafMs };
    }
    const silentMs = now - this.#lastHeard;
    if (silentMs <= this.#silenceMs || expected < 2) return null;
    this.#deafSince = now;
    return { change: "deaf", silentMs };
  }
}
