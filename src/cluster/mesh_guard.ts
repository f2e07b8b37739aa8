/**
 * The receiving side of the peer protocol's authentication (see mesh_auth.ts) as Hono middleware: with keys, only
 * requests signed by a key holder reach the routes, and every answer to them is signed back. Without keys it lets
 * everything through (an open mesh).
 * @module
 */
import type { MiddlewareHandler } from "hono";
import {
  MESH_AUTH_HEADER,
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
  return async (c, next) => {
    const ring = options.ring();
    if (!ring) return await next();
    const body = new Uint8Array(await c.req.arrayBuffer());
    const path = new URL(c.req.url).pathname;
    const time = now();
    const header = c.req.header(MESH_AUTH_HEADER) ?? null;
    const v = verifyRequest(ring, header, { method: c.req.method, path, body }, time, nonces);
    if (!v.ok) {
      const from = (c.env as { remoteAddr?: Deno.NetAddr } | undefined)?.remoteAddr?.hostname ?? "unknown";
      options.onRefused?.(v, from, `${c.req.method} ${path}`);
      const res = c.json({ error: v.message }, v.status);
      if (v.reason === "stale" && header) {
        // The caller proved it holds a key: tell it our time, signed, so it can call again on our clock.
        res.headers.set(MESH_TIME_HEADER, String(time));
        const bytes = new Uint8Array(await res.clone().arrayBuffer());
        res.headers.set(MESH_AUTH_HEADER, signResponse(ring, requestSignatureOf(header), res.status, bytes));
      }
      return res;
    }
    await next();
    const bytes = new Uint8Array(await c.res.clone().arrayBuffer());
    const signed = new Response(bytes, c.res);
    signed.headers.set(MESH_AUTH_HEADER, signResponse(ring, v.signature, c.res.status, bytes));
    c.res = undefined;
    c.res = signed;
  };
}
