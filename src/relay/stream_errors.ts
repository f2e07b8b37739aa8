/**
 * Why a stream cannot do what it was asked: the errors {@link ./stream.ts} throws (and re-exports).
 * @module
 */

/** Why a stream cannot serve readers; `status` is the RTSP status to answer. */
export class StreamUnavailable extends Error {
  readonly status: number;
  /**
   * @param message what is missing
   * @param status RTSP status (404 nothing serves the path, 503 the source is down)
   */
  constructor(message: string, status: 404 | 503) {
    super(message);
    this.name = "StreamUnavailable";
    this.status = status;
  }
}

/** A description with more media than a stream may have: nothing of it was installed. */
export class TooManyTracks extends Error {
  /**
   * @param count media sections of the description
   * @param max tracks a stream may have
   */
  constructor(readonly count: number, readonly max: number) {
    super(`The SDP has ${count} media sections; a stream may have at most ${max} (--max-tracks-per-stream)`);
    this.name = "TooManyTracks";
  }
}

/** No UDP port pair is free for a track: the configured range is in use. */
export class PortsExhausted extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PortsExhausted";
  }
}
