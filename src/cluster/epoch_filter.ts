/**
 * Which packets of its parents a mesh source takes. The mesh carries one numbering per epoch of the root (members
 * forward the root's numbering untouched, see track.ts), and each subscription is made in an epoch and fed that
 * epoch's numbering only. So:
 * - packets of the epoch forwarded now go through a duplicate filter per track ({@linkcode SeqWindow}), one for
 *   every parent: the repeats of a make-before-break overlap are dropped;
 * - the first packet of a subscription in the epoch joined last is where the numbering changes (even during the
 *   overlap, even under the old SSRC and close to the old numbers: only the epoch tells): the filters start over
 *   and the owner re-bases its tracks;
 * - packets of a subscription in an epoch left behind are late, and dropped.
 * Sans-I/O.
 * @module
 */
import { rtpSequence, rtpSsrc } from "../rtp/packet.ts";
import { SeqWindow } from "./seq_window.ts";

/** One mesh source's filter of its parents' packets. */
export class EpochFilter {
  readonly #onCutOver: (epoch: string | null) => void;
  #forwarding: string | null = null;
  readonly #windows: SeqWindow[] = [];
  /** Repeats dropped (the overlap of two parents). */
  duplicates = 0;
  /** Packets of an epoch left behind, or far behind the numbering. */
  stale = 0;
  /** Numberings taken so far (the first epoch's included). */
  epochs = 0;

  /** @param onCutOver told at each change of the epoch forwarded (the owner's tracks re-base) */
  constructor(onCutOver: (epoch: string | null) => void) {
    this.#onCutOver = onCutOver;
  }

  /** The epoch whose numbering is taken (and forwarded) now; null before the first packet and after a stop. */
  get forwarding(): string | null {
    return this.#forwarding;
  }

  /**
   * Whether to take one packet.
   * @param epoch the epoch of the subscription it came through
   * @param joined the epoch of the last join answer
   * @param track its track index
   * @param rtp the RTP packet (at least 12 bytes), or null for RTCP (no duplicate filter)
   * @param now the time in ms
   */
  take(epoch: string, joined: string | null, track: number, rtp: Uint8Array | null, now: number): boolean {
    if (epoch !== this.#forwarding) {
      if (epoch !== joined) {
        this.stale++;
        return false;
      }
      this.cutOver(epoch);
    }
    if (!rtp) return true;
    const verdict = (this.#windows[track] ??= new SeqWindow()).check(rtpSequence(rtp), rtpSsrc(rtp), now);
    if (verdict === true) return true;
    if (verdict === "repeat") this.duplicates++;
    else this.stale++;
    return false;
  }

  /** Takes `epoch`'s numbering from now on (null: none, the owner stopped): the filters start over. */
  cutOver(epoch: string | null): void {
    if (epoch === this.#forwarding) return;
    this.#forwarding = epoch;
    for (const window of this.#windows) window?.reset();
    if (epoch !== null) this.epochs++;
    this.#onCutOver(epoch);
  }
}
