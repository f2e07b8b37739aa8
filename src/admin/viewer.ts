/**
 * Watching a stream in a browser (issue 18), the sockets' side: `GET /watch/{path}` is a page that plays the
 * stream with Media Source Extensions, `GET /watch/v1/fmp4/{path}` its WebSocket of fragmented MP4
 * (src/viewer/fmp4_viewer.ts). The viewer takes the stream as an RTSP reader would: the hub creates it on demand
 * (a camera pulled, or the mesh joined for a stream rooted on another relay), and it holds a reference while it
 * plays. Outside `/api/v1/`: the admin token is not needed to watch. The RTSP server's rules apply: its
 * `--rtsp-allow` list, and with `--user`s the user's read right on the path: the page trades the user's password
 * for a short-lived, single-use token (`POST /watch/v1/token`, src/viewer/viewer_tokens.ts; wrong passwords are
 * limited per client), and the WebSocket URL carries only the token.
 * At most `maxViewers` play at once (503 beyond; `--max-viewers`, 0 turns watching off).
 * @module
 */
import type { DatagramPlane } from "../webrtc/webrtc_port.ts";
import { Hono } from "hono";
import { pathNameSchema } from "../config/values.ts";
import type { Logger } from "../log.ts";
import type { StreamHub } from "../relay/hub.ts";
import type { Stream } from "../relay/stream.ts";
/** The viewer's muxing (mp4box) loads with the first viewer: a relay nobody watches in a browser never loads it. */
let fmp4Viewer: Promise<typeof import("../viewer/fmp4_viewer.ts")> | null = null;
const loadFmp4Viewer = () => fmp4Viewer ??= import("../viewer/fmp4_viewer.ts");
import { ViewerRegistry } from "../viewer/viewer_registry.ts";
import { clientAddress } from "./auth.ts";
import {
  VIEWER_CSP,
  VIEWER_LOGIN_PAGE,
  VIEWER_PAGE,
  VIEWER_WALL_LOGIN_PAGE,
  VIEWER_WALL_PAGE,
} from "./viewer_page.ts";
import { AuthLimiter, clientKey } from "./auth_limiter.ts";
import { monotonicMs } from "../clock.ts";
import { contained } from "../contain.ts";
import type { AuthDecision } from "../relay/rtsp_auth.ts";
import { type ViewerAccess, ViewerGate } from "./viewer_gate.ts";
export type { ViewerAccess } from "./viewer_gate.ts";
import { whepRoutes } from "./whep.ts";
import { bodyLimit } from "hono/body-limit";
import { z } from "zod";

/** What all viewers' WebSockets may hold queued together (each one 4 MiB at most). */
const MAX_TOTAL_BUFFERED = 64 * 1024 * 1024;

/** `POST /watch/v1/token`: a user's password for a token to watch one path. */
const tokenRequestSchema = z.object({
  path: pathNameSchema,
  user: z.string().min(1).max(256),
  password: z.string().max(1024),
});

/** What the viewer routes need. */
export interface ViewerDeps {
  hub: StreamHub;
  access?: ViewerAccess;
  logger?: Logger;
  /** Viewers playing at once, at most. @default 64 */
  maxViewers?: number;
  /** How long a viewer waits for the stream's source. @default 10 s */
  readyWaitMs?: number;
  /** Where the viewers playing are listed (sessions, metrics). @default one of its own */
  registry?: ViewerRegistry;
  /** WHEP's UDP port and `--listen` (src/admin/whep.ts). @default any free port on 127.0.0.1 */
  webrtc?: { listen: string; port: number; plane?: DatagramPlane };
}

/** The `/watch` routes. */
export function viewerRoutes(deps: ViewerDeps): Hono {
  const app = new Hono();
  const registry = deps.registry ?? new ViewerRegistry();
  const gate = new ViewerGate(deps.access, deps.maxViewers ?? 64);
  const limiter = new AuthLimiter();
  let nextId = 0;

  const tokenBodyLimit = bodyLimit({
    maxSize: 4096,
    onError: (c) => c.json({ error: "Body too large" }, 413),
  });
  app.post("/watch/v1/token", tokenBodyLimit, async (c) => {
    if (!(c.req.header("content-type") ?? "").toLowerCase().startsWith("application/json")) {
      return c.json({ error: "Send the request as application/json" }, 415);
    }
    const client = clientKey(clientAddress(c));
    const wait = limiter.blockedFor(client, monotonicMs());
    if (wait > 0) {
      c.header("Retry-After", String(Math.ceil(wait / 1000)));
      return c.json({ error: "Too many wrong passwords from this address; try again later" }, 429);
    }
    let body: unknown;
    try {
      body = await c.req.json();
    } catch {
      return c.json({ error: "The body is not JSON" }, 400);
    }
    const parsed = tokenRequestSchema.safeParse(body);
    if (!parsed.success) {
      return c.json(
        { error: parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ") },
        400,
      );
    }
    const { path, user, password } = parsed.data;
    const decision: AuthDecision =
      gate.access?.checkPassword(user, password, path, "read", clientAddress(c)) ??
        { kind: "allow", user: null };
    if (decision.kind === "challenge") {
      limiter.fail(client, monotonicMs());
      return c.json({ error: decision.reason }, 401);
    }
    if (decision.kind === "forbidden") return c.json({ error: decision.reason }, 403);
    return c.json(
      { token: gate.tokens.issue(path, user, Date.now()), expiresInSeconds: gate.tokens.ttlSeconds },
      200,
    );
  });

  app.get("/watch/v1/fmp4/*", async (c) => {
    const path = gate.pathOf(c, "/watch/v1/fmp4/");
    if (typeof path !== "string") return path;
    // Before the token is spent: a plain GET is not a player.
    if (c.req.header("upgrade")?.toLowerCase() !== "websocket") {
      return c.json({ error: "This is a WebSocket: open it with Upgrade: websocket" }, 426);
    }
    const refused = gate.refusal(c, path);
    if (refused) return refused;
    const opened = await gate.open<400 | 415>(c, deps.hub, path, deps.readyWaitMs ?? 10_000);
    if (opened instanceof Response) return opened;
    /** Gives the place and the stream back (the viewer never started). */
    const { stream, refuse } = opened;
    const encodingOf = (t: { index: number }) => stream.description?.medias[t.index]?.encoding?.toUpperCase();
    const track = stream.tracks.find((t) => encodingOf(t) === "H264") ??
      stream.tracks.find((t) => encodingOf(t) === "H265");
    const media = track && stream.description?.medias[track.index];
    if (!track || !media) {
      return refuse(415, `"${path}" has no H.264 or H.265 video track to play in a browser`);
    }
    // Its AAC audio too, when it has some (the viewer ignores a track it cannot carry).
    const audioTrack = stream.tracks.find((t) =>
      stream.description?.medias[t.index]?.encoding?.toUpperCase() === "MPEG4-GENERIC"
    );
    const audioMedia = audioTrack && stream.description?.medias[audioTrack.index];
    // Everything that reads the request, before the upgrade: after it the request is gone, and a handler that
    // throws then (Deno.serve gets no upgrade response back) would end the process.
    const remote = clientAddress(c);
    let Fmp4Viewer: Awaited<ReturnType<typeof loadFmp4Viewer>>["Fmp4Viewer"];
    try {
      ({ Fmp4Viewer } = await loadFmp4Viewer());
    } catch (err) {
      return refuse(503, `The browser player is not available: ${(err as Error).message}`);
    }
    let upgraded: { socket: WebSocket; response: Response };
    try {
      upgraded = Deno.upgradeWebSocket(c.req.raw);
    } catch (err) {
      return refuse(400, `Not a WebSocket upgrade: ${(err as Error).message}`);
    }
    const { socket, response } = upgraded;
    const viewer = new Fmp4Viewer({
      id: `viewer-${++nextId}`,
      media,
      ...(audioMedia ? { audio: audioMedia } : {}),
      // Slow viewers together hold at most this much of the relay's memory; each skips to a keyframe beyond it.
      total: { buffered: () => registry.buffered(), maxBytes: MAX_TOTAL_BUFFERED },
      sink: {
        text: (m) => socket.readyState === WebSocket.OPEN && socket.send(m),
        binary: (b) => socket.readyState === WebSocket.OPEN && socket.send(b),
        buffered: () => socket.bufferedAmount,
      },
    });
    let attached: Stream | null = null;
    let watch: ReturnType<typeof setInterval> | undefined;
    // Socket callbacks: a bug in one must not end the process (or the other readers' streams).
    socket.onopen = () =>
      contained("viewer open", () => {
        attached = stream;
        track.addEgress(viewer, { burst: true });
        // After the video's burst: the audio's timeline starts where the pictures are.
        if (viewer.audioEgress) audioTrack?.addEgress(viewer.audioEgress);
        // A stream described again with other tracks (a camera that changed) leaves this egress on a track that
        // gets nothing: the page is told to play again, and gets the new track.
        watch = setInterval(() => {
          if (
            stream.closed || !stream.tracks.includes(track) ||
            (audioTrack && !stream.tracks.includes(audioTrack))
          ) {
            socket.close(1012, "the stream changed; play again");
          }
        }, 2000);
        registry.add({
          id: viewer.id,
          path,
          remote,
          createdAt: Date.now(),
          counts: viewer.counts,
          queuedBytes: () => socket.bufferedAmount,
          close: () => socket.close(1000, "ended by the relay's admin"),
        });
        deps.logger?.info("viewer watching", { path, viewer: viewer.id, remote });
      });
    socket.onclose = () =>
      contained("viewer close", () => {
        gate.leave();
        clearInterval(watch);
        registry.remove(viewer.id);
        if (attached) {
          track.removeEgress(viewer.id);
          if (viewer.audioEgress) audioTrack?.removeEgress(viewer.audioEgress.id);
        }
        stream.release();
        deps.logger?.info("viewer left", { path, viewer: viewer.id, ...viewer.counts });
      });
    socket.onerror = () => {};
    return response;
  });

  app.route(
    "/",
    whepRoutes({
      hub: deps.hub,
      gate,
      registry,
      listen: deps.webrtc?.listen ?? "127.0.0.1",
      port: deps.webrtc?.port ?? 0,
      ...(deps.webrtc?.plane ? { plane: deps.webrtc.plane } : {}),
      ...(deps.readyWaitMs !== undefined ? { readyWaitMs: deps.readyWaitMs } : {}),
      ...(deps.logger ? { logger: deps.logger } : {}),
    }),
  );

  // The wall: every stream, a tile each (before the player's route, which needs a path).
  app.get("/watch/", (c) => {
    c.header("Content-Security-Policy", VIEWER_CSP);
    c.header("X-Content-Type-Options", "nosniff");
    c.header("Referrer-Policy", "no-referrer");
    c.header("Cache-Control", "no-cache");
    return c.html(deps.access?.requiresCredentials ? VIEWER_WALL_LOGIN_PAGE : VIEWER_WALL_PAGE);
  });

  app.get("/watch/*", (c) => {
    const path = gate.pathOf(c, "/watch/");
    if (typeof path !== "string") return path;
    c.header("Content-Security-Policy", VIEWER_CSP);
    c.header("X-Content-Type-Options", "nosniff");
    c.header("Referrer-Policy", "no-referrer");
    c.header("Cache-Control", "no-cache");
    return c.html(deps.access?.requiresCredentials ? VIEWER_LOGIN_PAGE : VIEWER_PAGE);
  });

  return app;
}
