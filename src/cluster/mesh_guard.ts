/**
 * The receiving side of the peer protocol's authentication (see mesh_auth.ts) as Hono middleware: with keys, only
 * requests signed by a key holder for this relay process reach the routes, and every answer to a key holder is
 * signed back with this relay's incarnation (and, when the caller must sign again, its clock). Without keys it
 * lets everything through (an open mesh).
 * @module
 */
import type { MiddlewareHandler } from "hono";
import {
  MESH_AUTH_HEADER,
  MESH_INCARNATION_HEADER,
  MESH_TIME_HEADER,
  type MeshAuthFailure,
  NonceCache,
  requestSignatureOf,
  signResponse,
  verifyRequest,
} from "./mesh_auth.ts";
import type { MeshKeyring } from "./mesh_keys.ts";

/** Options of {@linkcode meshGuard}. */
export interface MeshGuardOptions {
  /** The current keys, or null for an open mesh. */
  ring: () => MeshKeyring | null;
  /** This relay's node name: requests signed for another relay are refused. */
  node: string;
  /** This relay process's incarnation (16 hex characters): requests signed for another run are refused. */
  incarnation: string;
  /** Told about each refused request, with the caller's address. */
  onRefused?: (failure: MeshAuthFailure, from: string, what: string) => void;
  /** Wall clock in ms (callers sign with theirs). @default Date.now */
  now?: () => number;
  /** Nonces seen. @default a new cache */
  nonces?: NonceCache;
}

/** Middleware that authenticates peer requests and signs the answers. */
export function meshGuard(options: MeshGuardOptions): MiddlewareHandler {
  const now = options.now ?? Date.now;
  const nonces = options.nonces ?? new NonceCache();
  const self = { node: options.node, incarnation: options.incarnation };
  return async function meshGuardMiddleware(c, next) {
    const ring = options.ring();
    if (!ring) return await next();
    const body = new Uint8Array(await c.req.arrayBuffer());
    const path = new URL(c.req.url).pathname;
    const time = now();
    const header = c.req.header(MESH_AUTH_HEADER) ?? null;
    const v = verifyRequest(ring, header, { method: c.req.method, path, body }, self, time, nonces);
    if (!v.ok) {
      const from = (c.env as { remoteAddr?: Deno.NetAddr } | undefined)?.remoteAddr?.hostname ?? "unknown";
      options.onRefused?.(v, from, `${c.req.method} ${path}`);
      const res = c.json({ error: v.message }, v.status);
      if (!v.signed || !header) return res;
      // The caller proved it holds a key: sign the refusal, with our time when it should sign again.
      const bytes = new Uint8Array(await res.clone().arrayBuffer());
      const headers = { time: v.hints ? String(time) : "", incarnation: self.incarnation };
      if (headers.time) res.headers.set(MESH_TIME_HEADER, headers.time);
      res.headers.set(MESH_INCARNATION_HEADER, headers.incarnation);
      res.headers.set(
        MESH_AUTH_HEADER,
        signResponse(ring, requestSignatureOf(header), res.status, bytes, headers),
      );
      return res;
    }
    await next();
    const bytes = new Uint8Array(await c.res.clone().arrayBuffer());
    const signed = new Response(bytes, c.res);
    signed.headers.delete(MESH_TIME_HEADER); // only the guard speaks for the clock
    signed.headers.set(MESH_INCARNATION_HEADER, self.incarnation);
    signed.headers.set(
      MESH_AUTH_HEADER,
      signResponse(ring, v.signature, c.res.status, bytes, { time: "", incarnation: self.incarnation }),
    );
    c.res = undefined;
    c.res = signed;
  };
}
