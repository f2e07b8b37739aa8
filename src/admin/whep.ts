/**
 * WHEP (RFC 9725) on the admin port (issue 18): `POST /whep/{path}` with the browser's SDP offer answers `201`
 * with the relay's SDP and the session's URL; `DELETE` on that URL ends it; `PATCH` takes trickled candidates
 * (`204`: the relay is ICE-lite, the browser checks its candidates, it needs none of the browser's). The viewer
 * takes the stream as an RTSP reader would (a camera pulled on demand, the mesh joined for a stream rooted
 * elsewhere) and counts as a viewer in sessions, metrics and `--max-viewers`, with the same rights as the MSE
 * player (src/admin/viewer_gate.ts; the token as `Authorization: Bearer`). The session's media run on the shared
 * `--webrtc-port` (src/webrtc/). Bad offers get `400`, offers sharing no codec with the stream `422`, each with
 * the reason.
 * @module
 */
import type { DatagramPlane } from "../webrtc/webrtc_port.ts";
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { Logger } from "../log.ts";
import type { StreamHub } from "../relay/hub.ts";
import type { ViewerRegistry } from "../viewer/viewer_registry.ts";
import { candidateAddresses, isIpv4 } from "../webrtc/candidates.ts";
import { MAX_OFFER_BYTES } from "../webrtc/whep_negotiation.ts";
import { clientAddress } from "./auth.ts";
import type { ViewerGate } from "./viewer_gate.ts";

/** The WebRTC machinery (werift) loads with the first offer: a relay nobody watches this way never loads it. */
let whepModule: Promise<typeof import("../webrtc/whep_viewers.ts")> | null = null;
const loadWhep = () => whepModule ??= import("../webrtc/whep_viewers.ts");

/**
 * Answered offers whose browser has not connected yet, at most, per client address: an outsider posting offers it
 * never completes holds a viewer's place each for 15 s, and must not hold every place of `--max-viewers`.
 */
export const MAX_CONNECTING_PER_CLIENT = 8;

/** What the WHEP routes need. */
export interface WhepDeps {
  hub: StreamHub;
  gate: ViewerGate;
  registry: ViewerRegistry;
  /** `--listen` (where the UDP port binds, and the candidate when it names an address). */
  listen: string;
  /** `--webrtc-port`. */
  port: number;
  /** The fast data plane, when the relay runs one: the port's socket is then its Worker's. */
  plane?: DatagramPlane;
  /** How long an offer waits for the stream's source. @default 10 s */
  readyWaitMs?: number;
  logger?: Logger;
}

/** The node's IPv4 addresses (candidates when `--listen` names none and the request came by name). */
function interfaceAddresses(): string[] {
  try {
    return Deno.networkInterfaces().filter((i) => i.family === "IPv4").map((i) => i.address);
  } catch {
    return []; // no --allow-sys: the candidates fall back to the loopback address
  }
}

/** The `/whep` routes. */
export function whepRoutes(deps: WhepDeps): Hono {
  const app = new Hono();
  let viewers: InstanceType<Awaited<ReturnType<typeof loadWhep>>["WhepViewers"]> | null = null;
  const connecting = new Map<string, number>();
  const connectingDone = (address: string) => {
    const n = (connecting.get(address) ?? 1) - 1;
    if (n > 0) connecting.set(address, n);
    else connecting.delete(address);
  };
  const offerLimit = bodyLimit({
    maxSize: MAX_OFFER_BYTES,
    onError: (c) => c.json({ error: `The offer is larger than ${MAX_OFFER_BYTES} bytes` }, 413),
  });

  app.options("/whep/*", (c) => {
    c.header("Accept-Post", "application/sdp");
    return c.body(null, 204);
  });

  app.post("/whep/*", offerLimit, async (c) => {
    const path = deps.gate.pathOf(c, "/whep/");
    if (typeof path !== "string") return path;
    if ((c.req.header("content-type") ?? "").split(";")[0]!.trim().toLowerCase() !== "application/sdp") {
      return c.json({ error: "Send the offer as application/sdp (WHEP)" }, 415);
    }
    const offer = await c.req.text();
    const refused = deps.gate.refusal(c, path);
    if (refused) return refused;
    const remote = clientAddress(c);
    if ((connecting.get(remote) ?? 0) >= MAX_CONNECTING_PER_CLIENT) {
      return c.json({
        error:
          `${MAX_CONNECTING_PER_CLIENT} WebRTC sessions from this address are still connecting; try again later`,
      }, 429);
    }
    // Counted now, before the waits below: offers arriving together cannot pass the bound.
    connecting.set(remote, (connecting.get(remote) ?? 0) + 1);
    const opened = await deps.gate.open<400 | 422>(c, deps.hub, path, deps.readyWaitMs ?? 10_000);
    if (opened instanceof Response) {
      connectingDone(remote);
      return opened;
    }
    const refuse = (status: 400 | 422 | 503, error: string) => {
      connectingDone(remote);
      return opened.refuse(status, error);
    };
    const { stream } = opened;
    let module: Awaited<ReturnType<typeof loadWhep>>;
    try {
      module = await loadWhep();
    } catch (err) {
      return refuse(503, `WebRTC is not available: ${(err as Error).message}`);
    }
    viewers ??= new module.WhepViewers({
      bindHost: isIpv4(deps.listen) ? deps.listen : "0.0.0.0",
      port: deps.port,
      ...(deps.plane ? { plane: deps.plane } : {}),
      ...(deps.logger ? { logger: deps.logger } : {}),
    });
    const id = `whep-${crypto.randomUUID()}`;
    let playing = false;
    const addresses = candidateAddresses(deps.listen, c.req.header("host"), interfaceAddresses());
    const answering = viewers.answer(id, stream, offer, addresses, {
      playing: (session) => {
        playing = true;
        connectingDone(remote);
        deps.registry.add({
          id,
          path,
          remote,
          transport: "webrtc",
          createdAt: Date.now(),
          counts: {
            get pictures() {
              return session.counts.pictures;
            },
            skipped: 0,
            get undecodable() {
              return 0;
            },
            get bytes() {
              return session.counts.bytes;
            },
          },
          reports: () => session.reports,
          queuedBytes: () => 0,
          close: () => viewers?.end(id, "ended by the relay's admin"),
        });
        deps.logger?.info("viewer watching", { path, viewer: id, remote, transport: "webrtc" });
      },
      ended: (session, reason) => {
        if (!playing) connectingDone(remote);
        deps.registry.remove(id);
        deps.gate.leave();
        stream.release();
        deps.logger?.info("viewer left", { path, viewer: id, reason, ...session.counts });
      },
    });
    let answered: Awaited<typeof answering>;
    try {
      answered = await answering;
    } catch (err) {
      // DTLS set-up failed (werift, the certificate): the place and the stream are given back, the reason said.
      deps.logger?.warn("WHEP offer not answered", { path, error: (err as Error).message });
      return refuse(503, `WebRTC could not be set up: ${(err as Error).message}`);
    }
    if ("status" in answered) return refuse(answered.status, answered.reason);
    const location = `/whep/v1/session/${id}`;
    c.header("Location", location);
    c.header("Content-Type", "application/sdp");
    c.header("Accept-Patch", "application/trickle-ice-sdpfrag");
    c.header("Cache-Control", "no-store");
    // What WebRTC cannot carry here (AAC, H.265): a player may prefer the MSE player, which can.
    if (answered.unsent.length > 0) c.header("X-Unsent-Tracks", answered.unsent.join(", "));
    return c.body(answered.answer, 201);
  });

  app.patch("/whep/v1/session/:id", offerLimit, async (c) => {
    if (!viewers?.get(c.req.param("id"))) return c.json({ error: "No such WHEP session" }, 404);
    if ((c.req.header("content-type") ?? "").split(";")[0]!.trim() !== "application/trickle-ice-sdpfrag") {
      return c.json({ error: "Send candidates as application/trickle-ice-sdpfrag" }, 415);
    }
    await c.req.text().catch(() => ""); // ICE-lite: the browser checks the relay's candidates; its own are not needed
    return c.body(null, 204);
  });

  app.delete("/whep/v1/session/:id", (c) => {
    if (!viewers?.end(c.req.param("id"), "the browser ended it (DELETE)")) {
      return c.json({ error: "No such WHEP session" }, 404);
    }
    return c.body(null, 200);
  });

  return app;
}
