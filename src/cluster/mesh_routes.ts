/**
 * The peer protocol's routes (`/mesh/v1`, see mesh_protocol.ts) as a Hono app that never listens: the mesh mounts
 * it on the admin port, tests drive it with `app.request()`. In front of every route: the mesh key's signatures
 * (mesh_guard.ts), or without a key the rule that only relays discovery knows may call, from their own address.
 * Each route checks its body against the protocol's schema (400 with zod's message), that a call naming a relay
 * comes from that relay (403), and hands the request to the mesh; what the mesh refuses comes back as the
 * {@linkcode PeerError}'s status (404 unknown path or not a member, 409 another epoch or rooted elsewhere, 503 not
 * ready or draining). A refused request changes nothing.
 * @module
 */
import { type Context, Hono, type HonoRequest } from "hono";
import type { z } from "zod";
import type { NonceCache } from "./mesh_auth.ts";
import { meshGuard } from "./mesh_guard.ts";
import type { MeshKeyring } from "./mesh_keys.ts";
import { PeerError } from "./mesh_peer_client.ts";
import {
  type JoinRequest,
  joinRequestSchema,
  type JoinResponse,
  leaveRequestSchema,
  type RenewRequest,
  renewRequestSchema,
  type RenewResponse,
  type SubscribeRequest,
  subscribeRequestSchema,
  type SubscribeResponse,
  unsubscribeRequestSchema,
} from "./mesh_protocol.ts";
import type { MeshRefusals } from "./mesh_refusals.ts";
import type { PathFingerprints } from "./path_config.ts";
import type { PeerTrust } from "./peer_trust.ts";

/** What the routes ask of the mesh. Requests arrive checked, with `from` as discovery gives it. */
export interface MeshRouteHost {
  /** This relay's node name and the incarnation of its process (signatures name both). */
  readonly node: string;
  readonly incarnation: string;
  /** The current keys, or null for an open mesh. */
  ring(): MeshKeyring | null;
  /** Nonces of signed requests seen. */
  readonly nonces: NonceCache;
  /** Wall-clock ms (callers sign with theirs). */
  readonly wallClock: () => number;
  readonly trust: PeerTrust;
  readonly refusals: MeshRefusals;
  /** This relay's configured camera paths (fingerprints). */
  ownPaths(): PathFingerprints;
  /** True when `path` enters the mesh here. */
  isLocalRoot(path: string): boolean;
  /** A peer asked whether `path` enters the mesh here and is answered no (this relay may check its own belief). */
  notRootHere?(path: string): void;
  join(req: JoinRequest): Promise<JoinResponse>;
  renew(req: RenewRequest): RenewResponse;
  /** @returns false when the caller was not a member */
  leave(path: string, node: string): boolean;
  subscribe(req: SubscribeRequest): Promise<SubscribeResponse>;
  /** @returns false when this relay is not fed by `node` */
  rejoin(path: string, node: string): boolean;
  /** @returns false when `node` had no subscription */
  unsubscribe(path: string, node: string): boolean;
  /** The root's plan of `path` (its tree view), or null when it is not rooted here. */
  rootTree?(path: string): Record<string, unknown> | null;
}

/** The address a request came from (Deno.serve's connection info), or null when unknown. */
export function callerAddress(c: Context): string | null {
  return (c.env as { remoteAddr?: Deno.NetAddr } | undefined)?.remoteAddr?.hostname ?? null;
}

/** The peer protocol, to mount at `/mesh/v1`. */
export function meshRoutes(host: MeshRouteHost): Hono {
  const app = new Hono();
  app.use(
    "*",
    meshGuard({
      ring: () => host.ring(),
      node: host.node,
      incarnation: host.incarnation,
      nonces: host.nonces,
      now: host.wallClock,
      onRefused: (failure, from, what) => {
        host.refusals.countRequest(failure.reason);
        // A caller learning this run's incarnation (a first call, or this relay restarted): counted, not logged.
        if (failure.reason === "incarnation") return;
        host.refusals.log("peer request refused", failure.reason, from, `${what}: ${failure.message}`);
      },
    }),
  );
  const refuse = (c: Context, reason: string, message: string) => {
    host.refusals.countRequest(reason);
    host.refusals.log("peer request refused", reason, callerAddress(c) ?? "unknown", message);
    return c.json({ error: message }, 403);
  };
  // Without a mesh key, only relays that discovery knows may call, from the address it gives for them.
  app.use("*", async function knownPeersOnly(c, next) {
    if (host.trust.knownCaller(callerAddress(c))) return await next();
    return refuse(
      c,
      "unknown_peer",
      `${c.req.method} ${new URL(c.req.url).pathname} from ${callerAddress(c) ?? "an unknown address"}: ` +
        "without a mesh key only the relays discovery knows may call",
    );
  });
  /** The body of a call naming `node` as its sender, or the answer refusing it. */
  const bodyFrom = async <S extends z.ZodType>(
    c: Context,
    schema: S,
    sender: (body: z.infer<S>) => string,
  ): Promise<z.infer<S> | Response> => {
    const body = await parse(schema, c.req);
    if (body instanceof Response) return body;
    const node = sender(body);
    if (host.trust.callerIs(callerAddress(c), node)) return body;
    return refuse(
      c,
      "not_that_peer",
      `a call naming ${node} came from ${callerAddress(c) ?? "an unknown address"}, not from its address`,
    );
  };
  const failed = (c: Context, err: unknown) => {
    const status = err instanceof PeerError ? err.status : 500;
    return c.json({ error: (err as Error).message }, status as 404);
  };

  app.get("/paths", (c) => c.json({ paths: host.ownPaths() }));
  app.get("/roots/:path{.+}", (c) => {
    // Hono hands the parameter decoded once, as the asking relay encoded it (encodePath): RTSP paths are not
    // percent-decoded, so a second decoding would find "cam%25x" as "cam%x" and throw on "x%zz".
    const path = c.req.param("path");
    if (host.isLocalRoot(path)) return c.json({ node: host.node });
    host.notRootHere?.(path);
    return c.json({ error: `"${path}" does not enter the mesh here` }, 404);
  });
  // A member's dashboard draws the whole tree: the root, which plans it, says what it is.
  app.get("/tree/:path{.+}", (c) => {
    const tree = host.rootTree?.(c.req.param("path")) ?? null;
    return tree ? c.json(tree) : c.json({ error: "Not the root of that path" }, 404);
  });
  app.post("/join", async (c) => {
    const req = await bodyFrom(c, joinRequestSchema, (b) => b.from.node);
    if (req instanceof Response) return req;
    try {
      return c.json(await host.join({ ...req, from: host.trust.trustedRef(req.from)! }));
    } catch (err) {
      return failed(c, err);
    }
  });
  app.post("/renew", async (c) => {
    const req = await bodyFrom(c, renewRequestSchema, (b) => b.from.node);
    if (req instanceof Response) return req;
    return c.json(host.renew({ ...req, from: host.trust.trustedRef(req.from)! }));
  });
  app.post("/leave", async (c) => {
    const req = await bodyFrom(c, leaveRequestSchema, (b) => b.node);
    if (req instanceof Response) return req;
    return host.leave(req.path, req.node)
      ? c.json({ ok: true })
      : c.json({ error: `${req.node} is not a member of "${req.path}" here` }, 404);
  });
  app.post("/subscribe", async (c) => {
    const req = await bodyFrom(c, subscribeRequestSchema, (b) => b.from.node);
    if (req instanceof Response) return req;
    try {
      return c.json(await host.subscribe({ ...req, from: host.trust.trustedRef(req.from)! }));
    } catch (err) {
      return failed(c, err);
    }
  });
  app.post("/rejoin", async (c) => {
    const req = await bodyFrom(c, leaveRequestSchema, (b) => b.node);
    if (req instanceof Response) return req;
    return host.rejoin(req.path, req.node)
      ? c.json({ ok: true })
      : c.json({ error: "Not fed by that relay" }, 404);
  });
  app.post("/unsubscribe", async (c) => {
    const req = await bodyFrom(c, unsubscribeRequestSchema, (b) => b.node);
    if (req instanceof Response) return req;
    return host.unsubscribe(req.path, req.node)
      ? c.json({ ok: true })
      : c.json({ error: `${req.node} has no subscription to "${req.path}" here` }, 404);
  });
  return app;
}

/** The body checked against `schema`, or the 400 answer that says what is wrong. */
async function parse<S extends z.ZodType>(schema: S, req: HonoRequest): Promise<z.infer<S> | Response> {
  let body: unknown;
  try {
    body = await req.json();
  } catch {
    return Response.json({ error: "Body must be JSON" }, { status: 400 });
  }
  const r = schema.safeParse(body);
  if (r.success) return r.data;
  const error = r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
  return Response.json({ error }, { status: 400 });
}
