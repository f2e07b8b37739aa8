/**
 * The RTSP `Session` header (RFC 2326 §12.37): a session identifier with an optional timeout in seconds.
 * @module
 */

import { RtspProtocolError } from "../errors.ts";

/** A parsed `Session` header. */
export interface Session {
  /** Session identifier, as sent (case-sensitive). */
  id: string;
  /** Seconds of inactivity after which the server may drop the session. */
  timeout?: number;
}

/**
 * Parses a `Session` header value such as `abc123;timeout=60`. Spaces around `;` and `=` are tolerated and
 * parameters other than `timeout` are ignored.
 * @throws {RtspProtocolError} status 400 when the id is missing or malformed or the timeout is not a number
 * @example parseSession("abc123;timeout=60") // { id: "abc123", timeout: 60 }
 */
export function parseSession(value: string): Session {
  const [first = "", ...params] = value.split(";");
  const id = first.trim();
  if (!/^[\x21-\x7e]+$/.test(id) || id.includes(",") || id.includes('"')) {
    throw new RtspProtocolError(`Invalid session id in Session "${value}"`);
  }
  const session: Session = { id };
  for (const param of params) {
    const eq = param.indexOf("=");
    const name = (eq < 0 ? param : param.slice(0, eq)).trim().toLowerCase();
    if (name !== "timeout") continue;
    const raw = eq < 0 ? "" : param.slice(eq + 1).trim();
    if (!/^\d{1,9}$/.test(raw)) {
      throw new RtspProtocolError(`Invalid timeout "${raw}" in Session "${value}"`);
    }
    session.timeout = Number(raw);
  }
  return session;
}

/**
 * Formats a `Session` header value: the id, then `;timeout=N` when a timeout is set.
 * @example formatSession({ id: "abc123", timeout: 60 }) // "abc123;timeout=60"
 */
export function formatSession(session: Session): string {
  return session.timeout === undefined ? session.id : `${session.id};timeout=${session.timeout}`;
}
