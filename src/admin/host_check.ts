/**
 * The admin API's defence against DNS rebinding. A web page on `evil.example` whose DNS name is re-pointed at
 * the relay's address is, to the browser, same-origin with the relay: it could read `/api/v1/sessions` and the
 * rest of the open reads. What gives it away is the `Host` header, which still names `evil.example`. So the admin
 * API answers only to Host values that cannot be an outsider's DNS name: IP literals (how peers, Kubernetes
 * probes and most people reach it), `localhost` and `*.localhost` (RFC 6761: never resolved by DNS), and the
 * names this relay was configured with.
 * @module
 */
import type { Context, MiddlewareHandler } from "hono";

/** Status of a refused Host: 421 Misdirected Request, "this server does not answer for that name". */
export const MISDIRECTED = 421;

const IPV4 = /^(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const IPV6_BRACKETED = /^\[[0-9A-Fa-f:.]+\]$/;
const NAME = /^[A-Za-z0-9_.-]+$/;

/** What a Host header names. */
export type HostKind = { kind: "ip" } | { kind: "name"; name: string } | { kind: "malformed" };

/**
 * Reads a Host header (`name`, `name:port`, `1.2.3.4:port`, `[v6]:port`).
 * @param host the header's value
 * @returns an IP literal, a DNS name (lower case, without a final dot), or malformed
 * @example hostKind("Relay.Example.:8080") // { kind: "name", name: "relay.example" }
 * @example hostKind("[::1]:8080") // { kind: "ip" }
 */
export function hostKind(host: string): HostKind {
  const m = /^(\[[^\]]*\]|[^:]*)(?::(\d{1,5}))?$/.exec(host.trim());
  if (!m) return { kind: "malformed" };
  const name = m[1]!;
  if (IPV6_BRACKETED.test(name) && name.includes(":")) return { kind: "ip" };
  if (IPV4.test(name)) return { kind: "ip" };
  if (name === "" || !NAME.test(name)) return { kind: "malformed" };
  return { kind: "name", name: name.toLowerCase().replace(/\.$/, "") };
}

/**
 * Whether the admin API answers to a Host header.
 * @param host the header's value
 * @param names the DNS names configured for this relay, lower case without a final dot
 * @returns true for IP literals, `localhost`, `*.localhost` and the configured names (any port)
 * @example hostAllowed("evil.example", new Set()) // false
 */
export function hostAllowed(host: string, names: ReadonlySet<string>): boolean {
  const h = hostKind(host);
  if (h.kind !== "name") return h.kind === "ip";
  return h.name === "localhost" || h.name.endsWith(".localhost") || names.has(h.name);
}

/** Options of {@linkcode adminHostCheck}. */
export interface AdminHostCheckOptions {
  /** DNS names the API answers to besides IP literals and localhost (any case, a final dot ignored). */
  names: Iterable<string>;
  /** Told about each refused request. */
  onRefused?: (c: Context, detail: string) => void;
}

/**
 * Middleware that refuses a request whose `Host` is a DNS name this relay was not configured for, with 421
 * Misdirected Request and a JSON error saying how to reach it. A request without a Host header (HTTP/1.0, a
 * program, `app.request()` in tests) is judged by its URL's host.
 * @param options the configured names
 * @returns the Hono middleware
 * @example app.use("*", adminHostCheck({ names: config.adminHosts }))
 */
export function adminHostCheck(options: AdminHostCheckOptions): MiddlewareHandler {
  const names = new Set([...options.names].map((n) => n.toLowerCase().replace(/\.$/, "")));
  return async function adminHostCheckMiddleware(c, next) {
    const host = c.req.header("Host") ?? new URL(c.req.url).host;
    if (hostAllowed(host, names)) return await next();
    const shown = JSON.stringify(host.length > 100 ? `${host.slice(0, 100)}...` : host);
    const detail =
      `Host ${shown} is not a name of this relay: use its IP address or localhost, or start it ` +
      `with --admin-host NAME`;
    options.onRefused?.(c, detail);
    return c.json({ error: detail }, MISDIRECTED);
  };
}
