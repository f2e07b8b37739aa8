/**
 * The browser viewers playing on this relay (issue 18), for what counts readers: the sessions list and its kick,
 * the readers per path of the metrics and the dashboard, and the `--max-viewers` bound.
 * @module
 */
import type { ViewerCounts } from "./fmp4_viewer.ts";

/** A browser's latest receiver report on one track. */
export interface ViewerReport {
  /** 0..1, since its previous report. */
  fractionLost: number;
  cumulativeLost: number;
  jitterSeconds: number;
  highestSeq: number;
  /** Wall-clock ms. */
  at: number;
}

/** One viewer as the relay lists it. */
export interface ViewerEntry {
  readonly id: string;
  readonly path: string;
  readonly remote: string;
  /** Wall-clock ms. */
  readonly createdAt: number;
  readonly counts: ViewerCounts;
  /** How it plays: the MSE player's WebSocket (the default) or WebRTC (WHEP). */
  readonly transport?: "websocket" | "webrtc";
  /** What the browser says it received per track index (WebRTC's receiver reports). */
  reports?(): ReadonlyMap<number, ViewerReport>;
  /** Bytes queued in its WebSocket. */
  queuedBytes(): number;
  /** Ends it (its socket closes; it leaves the registry when it has). */
  close(): void;
}

/** The viewers playing now. */
export class ViewerRegistry {
  readonly #viewers = new Map<string, ViewerEntry>();

  /** Viewers playing. */
  get size(): number {
    return this.#viewers.size;
  }

  add(viewer: ViewerEntry): void {
    this.#viewers.set(viewer.id, viewer);
  }

  remove(id: string): void {
    this.#viewers.delete(id);
  }

  list(): ViewerEntry[] {
    return [...this.#viewers.values()];
  }

  /** Bytes queued in every viewer's WebSocket together. */
  buffered(): number {
    let n = 0;
    for (const v of this.#viewers.values()) n += v.queuedBytes();
    return n;
  }

  /** Viewers per path. */
  byPath(): Map<string, number> {
    const out = new Map<string, number>();
    for (const v of this.#viewers.values()) out.set(v.path, (out.get(v.path) ?? 0) + 1);
    return out;
  }

  /** Ends viewer `id`. @returns false when there is none */
  kick(id: string): boolean {
    const v = this.#viewers.get(id);
    if (!v) return false;
    v.close();
    return true;
  }
}
