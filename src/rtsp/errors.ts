/**
 * Typed errors of the RTSP layer. Each carries the status code the server should answer with.
 * @module
 */

/** A peer sent bytes that break RTSP/1.0 framing or a header grammar. */
export class RtspProtocolError extends Error {
  /** Status to answer a request with (400 Bad Request unless more specific). */
  readonly status: number;
  /** The configured value of the limit the input exceeded (head bytes, body bytes, ms), when it is one. */
  readonly limit: number | undefined;
  /**
   * @param message sentence-case description naming the offending value
   * @param status RTSP status code hint, default 400
   * @param limit the limit exceeded, when the error is one
   */
  constructor(message: string, status = 400, limit?: number) {
    super(message);
    this.name = "RtspProtocolError";
    this.status = status;
    this.limit = limit;
  }
}
