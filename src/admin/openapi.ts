/**
 * The admin API's routes as OpenAPI route definitions built from the zod schemas of src/admin/schemas.ts. The app
 * (src/admin/app.ts) serves them with `@hono/zod-openapi`, which validates requests with the same schemas and
 * generates `GET /api/openapi.json` from them.
 * @module
 */
import { createRoute } from "@hono/zod-openapi";
import { z } from "zod";
import {
  addPathSchema,
  configViewSchema,
  errorSchema,
  healthSchema,
  pathNameParamSchema,
  pathSchema,
  peerListSchema,
  readinessSchema,
  sessionIdParamSchema,
  sessionListSchema,
  streamListSchema,
  streamPathParamSchema,
  streamSchema,
  treeSchema,
} from "./schemas.ts";

/** Name of the bearer security scheme in the document. */
export const BEARER_SCHEME = "bearerAuth";

/** The security scheme `components.securitySchemes.bearerAuth`. */
export const bearerSecurityScheme = {
  type: "http" as const,
  scheme: "bearer",
  description: "The admin token (`--admin-token`, `MSM_ADMIN_TOKEN` or `--admin-token-file`)",
};

/** Document header of `GET /api/openapi.json`. */
export const OPENAPI_INFO = {
  title: "msm-relay admin API",
  version: "1",
  description:
    "Streams, sessions, mesh peers and trees, configuration, health. Mutations need the admin token; " +
    "reads need it too when the relay runs with `--admin-auth-reads`. Errors are `{error}` JSON. Every route " +
    "answers 421 to a `Host` that is a DNS name the relay was not configured for (`--admin-host`; IP addresses " +
    "and localhost always pass), and request bodies must be `application/json` (else 415).",
};

const json = <S extends z.ZodType>(schema: S, description: string) => ({
  content: { "application/json": { schema } },
  description,
});

const error = (description: string) => json(errorSchema, description);

const LOCKED_OUT = error(
  "Too many wrong bearer tokens from this address (10 a minute): refused, even with the right token, until " +
    "`Retry-After` seconds have passed",
);

const AUTH_ERRORS = {
  401: error("Missing or wrong bearer token (with a `WWW-Authenticate: Bearer` challenge)"),
  403: error("No admin token is configured: changes are disabled"),
  429: LOCKED_OUT,
} as const;

/** Options of {@linkcode adminRoutes}. */
export interface AdminRoutesOptions {
  /** Whether reads need the bearer token (`--admin-auth-reads`). @default false */
  readsNeedToken?: boolean;
}

/**
 * The route definitions: method, path, request schemas, responses and security.
 * @param options whether reads need the token (it shows in their `security` and 401 responses)
 * @returns one definition per route, keyed by a short name
 * @example const routes = adminRoutes({ readsNeedToken: config.adminAuthReads })
 */
export function adminRoutes(options: AdminRoutesOptions = {}) {
  const guardedRead = options.readsNeedToken ?? false;
  const mutation = { security: [{ [BEARER_SCHEME]: [] }] };
  const read = guardedRead ? mutation : { security: [] };
  const readErrors = guardedRead ? { 401: AUTH_ERRORS[401], 429: LOCKED_OUT } : {};

  return {
    health: createRoute({
      method: "get",
      path: "/healthz",
      tags: ["health"],
      summary: "Liveness: the process answers",
      security: [],
      responses: { 200: json(healthSchema, "Alive") },
    }),
    ready: createRoute({
      method: "get",
      path: "/readyz",
      tags: ["health"],
      summary: "Readiness: RTSP and mesh listening and discovery synced",
      security: [],
      responses: {
        200: json(readinessSchema, "Ready"),
        503: json(readinessSchema, "Not ready (yet, or draining)"),
      },
    }),
    metrics: createRoute({
      method: "get",
      path: "/metrics",
      tags: ["health"],
      summary: "Prometheus metrics (text format 0.0.4)",
      ...read,
      responses: {
        200: {
          content: { "text/plain": { schema: z.string() } },
          description: "msm_* metrics in Prometheus text format",
        },
        ...readErrors,
      },
    }),
    streams: createRoute({
      method: "get",
      path: "/api/v1/streams",
      tags: ["streams"],
      summary: "Live streams with per-track counters and per-hop receiver statistics",
      ...read,
      responses: { 200: json(streamListSchema, "Live streams"), ...readErrors },
    }),
    stream: createRoute({
      method: "get",
      path: "/api/v1/streams/{path}",
      tags: ["streams"],
      summary: "One live stream (its path may hold `/`)",
      ...read,
      request: { params: streamPathParamSchema },
      responses: {
        200: json(streamSchema, "The stream"),
        404: error("No active stream at this path"),
        ...readErrors,
      },
    }),
    sessions: createRoute({
      method: "get",
      path: "/api/v1/sessions",
      tags: ["sessions"],
      summary: "RTSP reader and publisher sessions",
      ...read,
      responses: { 200: json(sessionListSchema, "Live sessions"), ...readErrors },
    }),
    kickSession: createRoute({
      method: "delete",
      path: "/api/v1/sessions/{id}",
      tags: ["sessions"],
      summary: "Ends a session; a TCP reader's connection is closed",
      ...mutation,
      request: { params: sessionIdParamSchema },
      responses: {
        204: { description: "Ended" },
        404: error("No session with this id"),
        ...AUTH_ERRORS,
      },
    }),
    peers: createRoute({
      method: "get",
      path: "/api/v1/peers",
      tags: ["mesh"],
      summary: "Relays as discovery and the mesh see them (this one included)",
      ...read,
      responses: { 200: json(peerListSchema, "Peers"), ...readErrors },
    }),
    tree: createRoute({
      method: "get",
      path: "/api/v1/tree/{path}",
      tags: ["mesh"],
      summary: "This relay's parent and children in the distribution tree of a path",
      ...read,
      request: { params: streamPathParamSchema },
      responses: {
        200: json(treeSchema, "This relay's place in the tree"),
        404: error("This relay has no part in the tree of this path"),
        ...readErrors,
      },
    }),
    config: createRoute({
      method: "get",
      path: "/api/v1/config",
      tags: ["config"],
      summary: "The effective configuration, secrets redacted",
      description:
        "Camera paths are the current ones (they change at run time). The admin token, the mesh key " +
        "and user passwords show as `***`; camera URLs show `rtsp://user:***@host/...`.",
      ...read,
      responses: {
        200: json(configViewSchema, "Configuration without secrets"),
        404: error("The relay was started without a configuration to show"),
        ...readErrors,
      },
    }),
    addPath: createRoute({
      method: "post",
      path: "/api/v1/paths",
      tags: ["config"],
      summary: "Pulls a camera as a new path from now on (not saved: add it to the config to keep it)",
      ...mutation,
      request: {
        body: { content: { "application/json": { schema: addPathSchema } }, required: true },
      },
      responses: {
        201: json(pathSchema, "Added"),
        400: error("Malformed JSON, or a field breaks the config rules (`field: problem`)"),
        409: error("The path exists (a camera, the demo or a live publisher): DELETE it first"),
        413: error("Body too large"),
        415: error("The body is not application/json"),
        ...AUTH_ERRORS,
      },
    }),
    removePath: createRoute({
      method: "delete",
      path: "/api/v1/paths/{name}",
      tags: ["config"],
      summary: "Stops pulling a camera path; its stream and readers end",
      ...mutation,
      request: { params: pathNameParamSchema },
      responses: {
        204: { description: "Removed" },
        400: error("Not a valid path name"),
        404: error("No camera is configured at this path"),
        ...AUTH_ERRORS,
      },
    }),
    openapi: createRoute({
      method: "get",
      path: "/api/openapi.json",
      tags: ["health"],
      summary: "This document (OpenAPI 3.1)",
      security: [],
      responses: {
        200: json(z.looseObject({ openapi: z.string() }), "The OpenAPI document"),
      },
    }),
  };
}

/**
 * Hono routing path for a route whose last parameter may span segments (`/streams/{path}` with `path` =
 * `lobby/door`): `{path}` becomes `{path{.+}}`, which `@hono/zod-openapi` turns into Hono's `:path{.+}`.
 * @param path an OpenAPI path ending in a parameter
 * @returns the path to route with (the document keeps the plain one)
 * @example widePath("/api/v1/tree/{path}") // "/api/v1/tree/{path{.+}}"
 */
export function widePath(path: string): string {
  return path.replace(/\{([A-Za-z0-9_]+)\}$/, "{$1{.+}}");
}
