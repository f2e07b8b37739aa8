/**
 * JSON bodies only. A web page can send a cross-origin POST without asking first (no CORS preflight) only with
 * the "simple" content types: `text/plain`, `application/x-www-form-urlencoded`, `multipart/form-data`. A body
 * sent as `text/plain` still parses as JSON, so without this check any page a person with access to the admin
 * port opens could call the peer protocol (`POST /mesh/v1/join`) or the admin API. Requiring
 * `Content-Type: application/json` forces the preflight, which the admin API never grants.
 * @module
 */
import type { Context, MiddlewareHandler } from "hono";

/** Methods whose requests carry a body the handlers read. */
const BODY_METHODS = new Set(["POST", "PUT", "PATCH"]);

/**
 * Whether a Content-Type is JSON: `application/json`, any case, with optional parameters (`; charset=utf-8`).
 * @param value the header's value
 * @returns true for `application/json`
 * @example isJsonContentType("Application/JSON; charset=utf-8") // true
 * @example isJsonContentType("text/plain") // false
 */
export function isJsonContentType(value: string | undefined | null): boolean {
  if (!value) return false;
  return value.split(";", 1)[0]!.trim().toLowerCase() === "application/json";
}

/**
 * Whether a request has a body: a POST, PUT or PATCH (even empty), or any request that announces one
 * (`Content-Length` above 0, `Transfer-Encoding`).
 */
function hasBody(c: Context): boolean {
  if (BODY_METHODS.has(c.req.method)) return true;
  const length = c.req.header("Content-Length");
  return (length !== undefined && length.trim() !== "0") || c.req.header("Transfer-Encoding") !== undefined;
}

/** Options of {@linkcode jsonBodiesOnly}. */
export interface JsonBodiesOnlyOptions {
  /** Told about each refused request. */
  onRefused?: (c: Context, detail: string) => void;
}

/**
 * Middleware that answers 415 Unsupported Media Type, before any handler reads it, to a request with a body
 * whose Content-Type is not `application/json`.
 * @param options where refusals are reported
 * @returns the Hono middleware
 * @example app.use("/api/v1/*", jsonBodiesOnly())
 */
export function jsonBodiesOnly(options: JsonBodiesOnlyOptions = {}): MiddlewareHandler {
  return async function jsonBodiesOnlyMiddleware(c, next) {
    if (!hasBody(c)) return await next();
    const type = c.req.header("Content-Type");
    if (isJsonContentType(type)) return await next();
    const shown = type === undefined ? "none" : JSON.stringify(type.slice(0, 100));
    const detail = `Request bodies must be JSON: send Content-Type: application/json (got ${shown})`;
    options.onRefused?.(c, detail);
    return c.json({ error: detail }, 415);
  };
}
