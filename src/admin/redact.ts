/**
 * Redaction of secrets before the admin API shows configuration: the admin token, the mesh key, RTSP user
 * passwords and the credentials inside camera URLs never leave the relay.
 * @module
 */
import type { RelayConfig } from "../config/schema.ts";

/** What a secret is replaced with. */
export const REDACTED = "***";

/** Query parameters whose values are taken for credentials (`?token=`, `?password=`, `?api_key=`...). */
const SECRET_PARAM = /pass|pwd|token|secret|key|auth|sig|credential/i;

/**
 * Hides the credentials of a URL: the password of its user info (`rtsp://user:pass@host` becomes
 * `rtsp://user:***@host`) and the values of query parameters named like secrets. The rest is kept as written.
 * @param url a camera URL
 * @returns the URL without secrets
 * @example redactUrl("rtsp://admin:hunter2@10.0.0.9/live?token=abc") // "rtsp://admin:***@10.0.0.9/live?token=***"
 */
export function redactUrl(url: string): string {
  const scheme = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//.exec(url);
  if (!scheme) return url;
  const start = scheme[0].length;
  let end = url.length;
  for (let i = start; i < url.length; i++) {
    if ("/?#".includes(url.charAt(i))) {
      end = i;
      break;
    }
  }
  let out = url.slice(0, start);
  const authority = url.slice(start, end);
  const at = authority.lastIndexOf("@");
  if (at >= 0) {
    const userinfo = authority.slice(0, at);
    const colon = userinfo.indexOf(":");
    out += (colon >= 0 ? `${userinfo.slice(0, colon)}:${REDACTED}` : userinfo) + authority.slice(at);
  } else {
    out += authority;
  }
  const rest = url.slice(end);
  const q = rest.indexOf("?");
  if (q < 0) return out + rest;
  const hash = rest.indexOf("#", q);
  const query = rest.slice(q + 1, hash < 0 ? rest.length : hash);
  const params = query.split("&").map((p) => {
    const eq = p.indexOf("=");
    return eq > 0 && SECRET_PARAM.test(p.slice(0, eq)) ? `${p.slice(0, eq)}=${REDACTED}` : p;
  });
  return out + rest.slice(0, q + 1) + params.join("&") + (hash < 0 ? "" : rest.slice(hash));
}

/** The configuration as the admin API shows it: secrets replaced by {@linkcode REDACTED}. */
export type RedactedConfig = Omit<RelayConfig, "adminToken" | "meshKey" | "users"> & {
  adminToken?: typeof REDACTED;
  meshKey?: typeof REDACTED;
  users: Array<Omit<RelayConfig["users"][number], "password"> & { password: typeof REDACTED }>;
};

/**
 * The effective configuration without secrets: the admin token, the mesh key and user passwords become `***`
 * (so a reader sees that they are set), camera URLs lose their passwords ({@linkcode redactUrl}).
 * @param config the validated configuration
 * @param paths the camera paths now configured (they change at run time), default `config.paths`
 * @returns a fresh object safe to show
 * @example redactConfig(config, Object.fromEntries(hub.pulls()))
 */
export function redactConfig(
  config: RelayConfig,
  paths: Readonly<Record<string, string>> = config.paths,
): RedactedConfig {
  const { adminToken, meshKey, users, ...rest } = config;
  return {
    ...rest,
    paths: Object.fromEntries(Object.entries(paths).map(([name, url]) => [name, redactUrl(url)])),
    peers: rest.peers.map((p) => ({ ...p })),
    udpPortRange: [rest.udpPortRange[0], rest.udpPortRange[1]],
    users: users.map((u) => ({ ...u, password: REDACTED })),
    ...(adminToken !== undefined ? { adminToken: REDACTED } : {}),
    ...(meshKey !== undefined ? { meshKey: REDACTED } : {}),
  };
}
