/**
 * Who may use the RTSP server, per request: the client address against `--rtsp-allow`, then the request's
 * credentials against the right its method needs on the path it acts on (`read` for DESCRIBE, a reader's
 * SETUP and its later requests; `publish` for ANNOUNCE and a publisher's). The decisions are the
 * authenticator's (rtsp_auth.ts); this file turns them into answers: 401 with fresh challenges or 403, each
 * refusal counted and logged.
 * @module
 */
import { response, type RtspRequest, type RtspResponse } from "../rtsp/message.ts";
import type { RtspConnection } from "../rtsp/server.ts";
import type { Refusal, RefusalReason } from "../rtsp/refusals.ts";
import type { AuthAction, RtspAuthenticator } from "./rtsp_auth.ts";

/** A request the access check refused: the answer to give (401 with fresh challenges, or 403). */
export class AuthRefusal extends Error {
  /** @param response the 401 or 403 to send */
  constructor(readonly response: RtspResponse) {
    super(`Refused with ${response.status}`);
    this.name = "AuthRefusal";
  }
}

const encoder = new TextEncoder();

/** The access checks of the RTSP service; without an authenticator, everyone may do everything. */
export class RtspAccess {
  readonly #auth: RtspAuthenticator | undefined;
  readonly #refuse: (refusal: Refusal) => void;

  /**
   * @param auth who may read and publish what (absent: everyone may)
   * @param refuse counts and logs a refusal
   */
  constructor(auth: RtspAuthenticator | undefined, refuse: (refusal: Refusal) => void) {
    this.#auth = auth;
    this.#refuse = refuse;
  }

  /** True when requests must carry credentials (users are configured). */
  get requiresCredentials(): boolean {
    return this.#auth?.requiresCredentials ?? false;
  }

  /**
   * Clients outside `--rtsp-allow` get 403 for every method, before anything else.
   * @throws AuthRefusal with the 403
   */
  checkAllowList(req: RtspRequest, conn: RtspConnection): void {
    const auth = this.#auth;
    const address = conn.remote.hostname;
    if (!auth || auth.allows(address)) return;
    const detail = `Client address ${address} is not allowed`;
    this.#refuse({ reason: "forbidden", remote: address, status: 403, method: req.method, detail });
    throw new AuthRefusal(response(403, { "Content-Type": "text/plain" }, encoder.encode(detail + "\r\n")));
  }

  /**
   * Checks that the client may `action` on `path` with the request's credentials, from the same facts the
   * handler acts on (the path it will serve, the role its session will have).
   * @returns the user (null when no users are configured)
   * @throws AuthRefusal: 401 with fresh challenges, or 403
   */
  authorize(req: RtspRequest, conn: RtspConnection, path: string, action: AuthAction): string | null {
    const auth = this.#auth;
    if (!auth) return null;
    const remote = conn.remote.hostname;
    const decision = auth.check(
      req.method,
      path,
      action,
      req.headers.getAll("Authorization"),
      remote,
      req.url,
    );
    if (decision.kind === "allow") return decision.user;
    // A first request without credentials is how every handshake starts: counted apart, logged at debug.
    const reason: RefusalReason = decision.kind === "forbidden"
      ? "forbidden"
      : req.headers.get("Authorization") === undefined
      ? "auth_required"
      : "unauthorized";
    const status = decision.kind === "forbidden" ? 403 : 401;
    this.#refuse({ reason, remote, status, method: req.method, path, detail: decision.reason });
    const res = response(status, { "Content-Type": "text/plain" }, encoder.encode(decision.reason + "\r\n"));
    if (decision.kind !== "forbidden") {
      for (const c of auth.challenges(decision.stale, remote)) res.headers.append("WWW-Authenticate", c);
    }
    throw new AuthRefusal(res);
  }
}
