/**
 * Who may watch in a browser, and how many at once (issue 18), shared by both players: the MSE player's WebSocket
 * (src/admin/viewer.ts) and WHEP (src/admin/whep.ts). The RTSP server's rules apply: its `--rtsp-allow` list,
 * and with `--user`s the user's read right on the path, proven by a short-lived single-use viewer token (traded
 * for the password at `POST /watch/v1/token`), so no password sits in a URL. `--max-viewers` bounds both players
 * together.
 * @module
 */
import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { pathNameSchema } from "../config/values.ts";
import type { AuthDecision } from "../relay/rtsp_auth.ts";
import type { StreamHub } from "../relay/hub.ts";
import type { Stream } from "../relay/stream.ts";
import { ViewerTokens } from "../viewer/viewer_tokens.ts";
import { clientAddress } from "./auth.ts";

/** Who may watch: the RTSP server's address list, users and rights (rtsp_auth.ts's authenticator). */
export interface ViewerAccess {
  allows(address: string): boolean;
  readonly requiresCredentials: boolean;
  checkPassword(
    user: string,
    password: string,
    path: string,
    action: "read",
    clientAddress: string,
  ): AuthDecision;
}

/** The rights and the bound of browser viewers. */
export class ViewerGate {
  readonly tokens = new ViewerTokens();
  readonly max: number;
  readonly #access: ViewerAccess | undefined;
  /** Viewers admitted (playing, or connecting). */
  #admitted = 0;

  constructor(access: ViewerAccess | undefined, max: number) {
    this.#access = access;
    this.max = max;
  }

  get access(): ViewerAccess | undefined {
    return this.#access;
  }

  /** The stream path after `prefix` in the request's path, or an error answer. */
  pathOf(c: Context, prefix: string): string | Response {
    let raw: string;
    try {
      raw = decodeURIComponent(c.req.path.slice(prefix.length));
    } catch {
      return c.json({ error: "The stream path is not valid percent-encoding" }, 400);
    }
    const parsed = pathNameSchema.safeParse(raw);
    if (!parsed.success) {
      return c.json({ error: `Stream path: ${parsed.error.issues.map((i) => i.message).join("; ")}` }, 400);
    }
    return parsed.data;
  }

  /**
   * Why the request may not watch `path` (403 address, 401 no or bad token), or null. The token comes as
   * `?token=` or `Authorization: Bearer` (WHEP's way); checking it spends it.
   */
  refusal(c: Context, path: string): Response | null {
    const access = this.#access;
    if (access && !access.allows(clientAddress(c))) {
      return c.json({ error: `Client address ${clientAddress(c)} is not allowed (--rtsp-allow)` }, 403);
    }
    if (access?.requiresCredentials) {
      const bearer = /^Bearer\s+(\S+)$/i.exec(c.req.header("authorization") ?? "")?.[1];
      const token = c.req.query("token") ?? bearer;
      if (!token) {
        return c.json({
          error: "This relay's streams need a user: get a viewer token (POST /watch/v1/token)",
        }, 401);
      }
      const checked = this.tokens.check(token, path, Date.now());
      if (!checked.ok) return c.json({ error: `Viewer token refused: ${checked.reason}` }, 401);
    }
    return null;
  }

  /**
   * Takes a place for a viewer and the stream of `path` (created on demand, retained), waits up to `waitMs` for it
   * to be ready. @returns the stream and `refuse(status, error)`, which gives both back and answers; or the answer
   * when there is no place (503), no such stream (404) or it did not get ready (503). The place is taken before
   * the wait: requests arriving together cannot pass the bound.
   */
  async open<S extends ContentfulStatusCode>(
    c: Context,
    hub: StreamHub,
    path: string,
    waitMs: number,
  ): Promise<{ stream: Stream; refuse(status: S | 503, error: string): Response } | Response> {
    const full = this.admit(c);
    if (full) return full;
    const stream = hub.forReader(path);
    if (!stream) {
      this.leave();
      return c.json({ error: `No stream at "${path}"` }, 404);
    }
    stream.retain();
    const refuse = (status: S | 503, error: string) => {
      this.leave();
      stream.release();
      return c.json({ error }, status);
    };
    try {
      await stream.whenReady(waitMs);
    } catch (err) {
      return refuse(503, (err as Error).message);
    }
    return { stream, refuse };
  }

  /** Takes a place for a viewer, or answers 503 why not. Give it back with {@linkcode ViewerGate.leave}. */
  admit(c: Context): Response | null {
    if (this.max === 0) return c.json({ error: "Watching in a browser is off here (--max-viewers 0)" }, 503);
    if (this.#admitted >= this.max) {
      return c.json({ error: `${this.max} viewers are watching already (--max-viewers)` }, 503);
    }
    this.#admitted++;
    return null;
  }

  /** Gives a place back. */
  leave(): void {
    if (this.#admitted > 0) this.#admitted--;
  }
}
