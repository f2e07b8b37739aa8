/**
 * Watching a stream in a browser (issue 18), the sockets' side: `GET /watch/{path}` is a page that plays the
 * stream with Media Source Extensions, `GET /watch/v1/fmp4/{path}` its WebSocket of fragmented MP4
 * (src/viewer/fmp4_viewer.ts). The viewer takes the stream as an RTSP reader would: the hub creates it on demand
 * (a camera pulled, or the mesh joined for a stream rooted on another relay), and it holds a reference while it
 * plays. Outside `/api/v1/`: the admin token is not needed to watch. The RTSP server's rules apply: its
 * `--rtsp-allow` list, and while `--user`s are configured watching is refused (401) until viewer tokens exist.
 * At most `maxViewers` play at once (503 beyond; `--max-viewers`, 0 turns watching off).
 * @module
 */
import { Hono } from "hono";
import type { Context } from "hono";
import { pathNameSchema } from "../config/values.ts";
import type { Logger } from "../log.ts";
import type { StreamHub } from "../relay/hub.ts";
import type { Stream } from "../relay/stream.ts";
import { Fmp4Viewer } from "../viewer/fmp4_viewer.ts";
import { clientAddress } from "./auth.ts";
import { VIEWER_CSP, VIEWER_PAGE } from "./viewer_page.ts";

/** Who may watch: the RTSP server's address list and whether it needs credentials. */
export interface ViewerAccess {
  allows(address: string): boolean;
  readonly requiresCredentials: boolean;
}

/** What the viewer routes need. */
export interface ViewerDeps {
  hub: StreamHub;
  access?: ViewerAccess;
  logger?: Logger;
  /** Viewers playing at once, at most. @default 64 */
  maxViewers?: number;
  /** How long a viewer waits for the stream's source. @default 10 s */
  readyWaitMs?: number;
}

/** Live viewers (for metrics and the admin API later). */
export interface ViewerRegistry {
  readonly count: number;
}

/** The `/watch` routes. */
export function viewerRoutes(deps: ViewerDeps): Hono & { viewers: ViewerRegistry } {
  const app = new Hono();
  const max = deps.maxViewers ?? 64;
  const viewers = { count: 0 };
  let nextId = 0;

  /** The stream path after `prefix`, or an error answer. */
  const pathOf = (c: Context, prefix: string): string | Response => {
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
  };
  const refusal = (c: Context): Response | null => {
    const access = deps.access;
    if (access && !access.allows(clientAddress(c))) {
      return c.json({ error: `Client address ${clientAddress(c)} is not allowed (--rtsp-allow)` }, 403);
    }
    if (access?.requiresCredentials) {
      return c.json({
        error:
          "This relay's streams need RTSP credentials (--user); watching in a browser is not offered yet",
      }, 401);
    }
    return null;
  };

  app.get("/watch/v1/fmp4/*", async (c) => {
    const path = pathOf(c, "/watch/v1/fmp4/");
    if (typeof path !== "string") return path;
    const refused = refusal(c);
    if (refused) return refused;
    if (c.req.header("upgrade")?.toLowerCase() !== "websocket") {
      return c.json({ error: "This is a WebSocket: open it with Upgrade: websocket" }, 426);
    }
    if (max === 0) return c.json({ error: "Watching in a browser is off here (--max-viewers 0)" }, 503);
    if (viewers.count >= max) {
      return c.json({ error: `${max} viewers are watching already (--max-viewers)` }, 503);
    }
    const stream = deps.hub.forReader(path);
    if (!stream) return c.json({ error: `No stream at "${path}"` }, 404);
    stream.retain();
    try {
      await stream.whenReady(deps.readyWaitMs ?? 10_000);
    } catch (err) {
      stream.release();
      return c.json({ error: (err as Error).message }, 503);
    }
    const track = stream.tracks.find((t) =>
      stream.description?.medias[t.index]?.encoding?.toUpperCase() === "H264"
    );
    const media = track && stream.description?.medias[track.index];
    if (!track || !media) {
      stream.release();
      return c.json({ error: `"${path}" has no H.264 video track to play in a browser` }, 415);
    }
    const { socket, response } = Deno.upgradeWebSocket(c.req.raw);
    const viewer = new Fmp4Viewer({
      id: `viewer-${++nextId}`,
      media,
      sink: {
        text: (m) => socket.readyState === WebSocket.OPEN && socket.send(m),
        binary: (b) => socket.readyState === WebSocket.OPEN && socket.send(b),
        buffered: () => socket.bufferedAmount,
      },
    });
    viewers.count++;
    let attached: Stream | null = null;
    socket.onopen = () => {
      attached = stream;
      track.addEgress(viewer, { burst: true });
      deps.logger?.info("viewer watching", { path, viewer: viewer.id, remote: clientAddress(c) });
    };
    socket.onclose = () => {
      viewers.count--;
      if (attached) track.removeEgress(viewer.id);
      stream.release();
      deps.logger?.info("viewer left", { path, viewer: viewer.id, ...viewer.counts });
    };
    socket.onerror = () => {};
    return response;
  });

  app.get("/watch/*", (c) => {
    const path = pathOf(c, "/watch/");
    if (typeof path !== "string") return path;
    c.header("Content-Security-Policy", VIEWER_CSP);
    c.header("X-Content-Type-Options", "nosniff");
    c.header("Referrer-Policy", "no-referrer");
    c.header("Cache-Control", "no-cache");
    return c.html(VIEWER_PAGE);
  });

  return Object.assign(app, { viewers });
}
