/**
 * The source of a stream whose standby root became its root (issue 17): the standby's own camera session, aligned
 * with the dead root's numbering, carries the stream on. The tree keeps the dead root's epoch
 * ({@linkcode StreamSource.meshEpoch}), so members and their readers see the same numbering go on: no camera
 * reconnect, no wait for a keyframe, no re-base.
 * @module
 */
import type { Stream, StreamSource } from "../relay/stream.ts";
import type { StandbyFeed } from "./standby_feed.ts";

/** A standby root promoted in place of the root. */
export class StandbyRootSource implements StreamSource {
  readonly kind = "pull" as const;
  readonly meshEpoch: string;
  readonly #stream: Stream;
  readonly #feed: StandbyFeed;
  #stopped = false;

  /**
   * @param stream the stream it feeds (its tracks carry the mesh's numbering on)
   * @param feed the standby's aligned camera session (frozen here)
   * @param epoch the epoch of the dead root, which the tree keeps
   */
  constructor(stream: Stream, feed: StandbyFeed, epoch: string) {
    this.#stream = stream;
    this.#feed = feed;
    this.meshEpoch = epoch;
    feed.freeze(
      (track, packet) => {
        if (!this.#stopped) this.#stream.tracks[track]?.relayRtp(packet);
      },
      (track, compound) => {
        if (!this.#stopped) this.#stream.tracks[track]?.relayRtcp(compound);
      },
      // The stream's state is the camera session's now (readers are told when the camera is down, as for any pull).
      (state, error) => {
        if (!this.#stopped) this.#stream.setState(state, error ?? undefined);
      },
    );
    stream.setState("ready");
  }

  start(): void {
    // Running since it was the standby's session.
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#feed.close();
  }

  info(): Record<string, unknown> {
    return { standby: "promoted", epoch: this.meshEpoch, ...this.#feed.info() };
  }
}
