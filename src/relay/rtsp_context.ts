/**
 * What the RTSP method handlers share (rtsp_setup.ts, rtsp_reader_methods.ts, rtsp_publisher_methods.ts): the
 * hub, the sessions, the access checks, clocks and timings; and the lookups several methods make: the stream a
 * reader asks for, once ready, the base URL the client reached, a track's UDP port pair.
 * @module
 */
import { hostForUrl } from "../address.ts";
import type { Clock } from "../clock.ts";
import { RtspProtocolError } from "../rtsp/errors.ts";
import type { RtspConnection } from "../rtsp/server.ts";
import type { ClientLogBudget } from "./client_log_budget.ts";
import type { StreamHub } from "./hub.ts";
import type { RtspAccess } from "./rtsp_access.ts";
import type { SessionRegistry } from "./session_registry.ts";
import { PortsExhausted, type Stream, StreamUnavailable } from "./stream.ts";
import type { PortPair } from "./port_pair.ts";

/** The state and settings every method handler reads. */
export interface RtspContext {
  readonly hub: StreamHub;
  readonly sessions: SessionRegistry;
  readonly access: RtspAccess;
  /** Monotonic clock (session timers, report schedules). */
  readonly now: Clock;
  /** Advertised session timeout in seconds. */
  readonly timeoutSeconds: number;
  /** How long DESCRIBE/SETUP wait for an upstream to become ready. */
  readonly sourceWaitMs: number;
  /** Lines about sessions, rationed per client address. */
  readonly sessionLog: ClientLogBudget;
}

/** `rtsp://host:port/path/` as the client reached the relay (Content-Base and RTP-Info URLs). */
export function baseUrl(conn: RtspConnection, path: string): string {
  return `rtsp://${hostForUrl(conn.local.hostname)}:${conn.local.port}/${path}/`;
}

/**
 * The stream at `path`, retained (the caller releases it), once it has a description: at once when it is ready
 * (the request is then answered in the same task), else a promise.
 * @throws 404 for no stream (or a publisher's path nobody publishes); the promise rejects with 503 for an upstream
 *   that is not ready in time, or the status the stream gives
 */
export function readyStream(ctx: RtspContext, path: string): Stream | Promise<Stream> {
  const stream = ctx.hub.forReader(path);
  if (!stream) throw new RtspProtocolError(`No stream at path "${path}"`, 404);
  stream.retain();
  if (stream.state === "ready" && stream.description) return stream;
  return waitReady(ctx, stream);
}

async function waitReady(ctx: RtspContext, stream: Stream): Promise<Stream> {
  try {
    await stream.whenReady(ctx.sourceWaitMs);
  } catch (err) {
    stream.release();
    const status = err instanceof StreamUnavailable ? err.status : stream.kind === "publish" ? 404 : 503;
    throw new RtspProtocolError((err as Error).message, status);
  }
  return stream;
}

/**
 * The port pair of a stream's track, bound now if needed.
 * @throws 503 when the UDP port range is in use
 */
export function pairFor(stream: Stream, index: number): PortPair {
  try {
    return stream.pairFor(index);
  } catch (err) {
    if (!(err instanceof PortsExhausted)) throw err;
    throw new RtspProtocolError(
      "No UDP port pair is free on the relay: use RTP over TCP (RTP/AVP/TCP) or retry later",
      503,
    );
  }
}
