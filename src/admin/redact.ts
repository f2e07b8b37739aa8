/**
 * Redaction of secrets before the admin API shows configuration: the admin token, the mesh key, RTSP user
 * passwords and the credentials inside camera URLs never leave the relay. URLs are redacted by the one function
 * every folder uses, `redactUrl` of src/rtsp/url.ts (re-exported here).
 * @module
 */
import type { RelayConfig } from "../config/schema.ts";
import { REDACTED, redactUrl } from "../rtsp/url.ts";

export { REDACTED, redactUrl, redactUrls } from "../rtsp/url.ts";

/** The configuration as the admin API shows it: secrets replaced by {@linkcode REDACTED}. */
export type RedactedConfig = Omit<RelayConfig, "adminToken" | "meshKey" | "users"> & {
  adminToken?: typeof REDACTED;
  meshKey?: typeof REDACTED;
  users: Array<Omit<RelayConfig["users"][number], "password"> & { password: typeof REDACTED }>;
};

/**
 * The effective configuration without secrets: the admin token, the mesh key and user passwords become `***`
 * (so a reader sees that they are set), camera URLs lose their passwords and secret query values ({@linkcode redactUrl}).
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
