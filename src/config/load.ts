/**
 * Builds the configuration from flags, `MSM_*` environment variables and an optional YAML/JSON file
 * (file < env < flags), and validates it with zod.
 * @module
 */
import { parseArgs } from "node:util";
import YAML from "yaml";
import type { z } from "zod";
import { configSchema, type RelayConfig } from "./schema.ts";
import { parseUsersFile, splitUser } from "./users_file.ts";
import { redactUrls } from "../rtsp/url.ts";

/** Thrown for an invalid configuration; the message names the field and the problem. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

/** Flags of the CLI contract, as node:util parseArgs options. */
const FLAG_OPTIONS = {
  "rtsp-port": { type: "string" },
  "admin-port": { type: "string" },
  "mesh-port": { type: "string" },
  listen: { type: "string" },
  path: { type: "string", multiple: true },
  publish: { type: "boolean" },
  demo: { type: "boolean" },
  node: { type: "string" },
  zone: { type: "string" },
  discovery: { type: "string" },
  peer: { type: "string", multiple: true },
  fanout: { type: "string" },
  config: { type: "string" },
  user: { type: "string", multiple: true },
  "rtsp-auth": { type: "string" },
  "rtsp-allow": { type: "string", multiple: true },
  "admin-token": { type: "string" },
  "admin-token-file": { type: "string" },
  "admin-auth-reads": { type: "boolean" },
  "admin-host": { type: "string", multiple: true },
  "users-file": { type: "string" },
  "mesh-key": { type: "string" },
  "mesh-key-file": { type: "string" },
  "mesh-encrypt": { type: "boolean" },
  "udp-port-range": { type: "string" },
  "pull-transport": { type: "string" },
  "pull-auth": { type: "string" },
  "camera-wait": { type: "string" },
  "data-plane": { type: "string" },
  linger: { type: "string" },
  "reader-queue-bytes": { type: "string" },
  "gop-cache": { type: "boolean" },
  "gop-cache-bytes": { type: "string" },
  "memory-budget-bytes": { type: "string" },
  "session-timeout": { type: "string" },
  "rtsp-max-connections": { type: "string" },
  "rtsp-max-connections-per-ip": { type: "string" },
  "rtsp-max-sessions-per-ip": { type: "string" },
  "rtsp-request-rate": { type: "string" },
  "rtsp-max-header-bytes": { type: "string" },
  "rtsp-max-body-bytes": { type: "string" },
  "rtsp-request-timeout": { type: "string" },
  "rtsp-idle-timeout": { type: "string" },
  "max-readers-per-path": { type: "string" },
  "max-tracks-per-stream": { type: "string" },
  "log-level": { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

type FlagName = keyof typeof FLAG_OPTIONS;

/** Usage text printed by `--help`. */
export const USAGE = `msm-relay: RTSP relay and replication mesh

  --rtsp-port N            RTSP listen port (8554)
  --admin-port N           admin HTTP port (8080)
  --mesh-port N            mesh UDP port (7000)
  --listen ADDR            bind address (0.0.0.0)
  --path NAME=URL          pull a camera as NAME (repeatable)
  --no-publish             refuse ANNOUNCE/RECORD on unconfigured paths
  --no-demo                disable the built-in demo path
  --node NAME --zone ZONE  this relay's node and zone
  --discovery static|kubernetes|none
  --peer NODE=HOST:ADMINPORT:MESHPORT[@ZONE]  (repeatable)
  --fanout K               children per relay in the tree (4)
  --config FILE            YAML or JSON config file (flags override it)
  --user NAME:PASSWORD:RIGHTS[:PATHGLOB]      RIGHTS read|publish|read+publish (repeatable)
  --users-file F                              RTSP users, one NAME:PASSWORD:RIGHTS[:PATHGLOB] per line;
                                              re-read while running (a mounted Secret)
  --rtsp-auth digest|basic|digest,basic       schemes offered to RTSP clients (digest)
  --rtsp-allow CIDR|ADDRESS                   only these clients may use RTSP (repeatable)
  --admin-token T | --admin-token-file F      bearer token of the admin API (mutations need it); at least
                                              16 characters
  --admin-auth-reads       require the admin token for reads too (/api/v1/*, /metrics)
  --admin-host NAME        a DNS name the admin API answers to besides IP addresses and localhost
                           (repeatable); other names get 421 (DNS rebinding)
  --mesh-key K | --mesh-key-file F            cluster key: authenticates peers, seals mesh packets; a file
                                              may hold 2 keys during rotation (first sends), re-read live
  --no-mesh-encrypt        authenticate mesh packets without encrypting them
  --udp-port-range A-B     RTP/RTCP server ports (10000-19999)
  --pull-transport auto|udp|tcp                (auto)
  --pull-auth digest|basic|digest,basic        schemes camera credentials may be sent with (digest;
                                               Basic sends the password in clear)
  --camera-wait SECONDS    a reader waits this long for a camera that is down, then 503 (5; 0: at once)
  --data-plane auto|portable|fast              (auto: fast where Linux and --allow-ffi allow it)
  --linger SECONDS         keep a camera session after the last reader (5)
  --reader-queue-bytes N   per TCP reader queue bound (2097152)
  --no-gop-cache           do not replay the last GOP to new readers
  --gop-cache-bytes N      GOP cache bound per video track (4194304)
  --memory-budget-bytes N  bytes held for all GOP caches and TCP reader queues together; past 90 %
                           new sessions get 503 (536870912; 0: none)
  --session-timeout S      RTSP session timeout advertised (60)
  --rtsp-max-connections N                    open RTSP connections; more get 503 (1024)
  --rtsp-max-connections-per-ip N             connections per client address; more get 503 (128; 0: none)
  --rtsp-max-sessions-per-ip N                sessions per client address; more get 503 (100; 0: none)
  --rtsp-request-rate N                       requests/s per client, burst 2N; more get 503 (50; 0: none)
  --rtsp-max-header-bytes N                   largest request head; larger gets 431 (8192)
  --rtsp-max-body-bytes N                     largest request body; larger gets 413 (65536)
  --rtsp-request-timeout S                    time to send a whole request; then 408 and close (10)
  --rtsp-idle-timeout S                       silence allowed to a connection without a session (60)
  --max-readers-per-path N                    readers playing one path; more get 453 (0: none)
  --max-tracks-per-stream N                   media sections a stream may have; ANNOUNCE with more: 400 (16)
  --log-level debug|info|warn|error
Every flag can also be given as MSM_<NAME> (e.g. MSM_RTSP_PORT=8554).`;

/** Sources the loader reads, injectable for tests. */
export interface LoadSources {
  /** Command-line arguments (without the program name). */
  args: string[];
  /** Environment lookup. */
  env: (name: string) => string | undefined;
  /** File reader for `--config` and `*-file` flags. */
  readTextFile: (path: string) => string;
}

/** Result of loading: either a config or a request for help. */
export type LoadResult = { kind: "config"; config: RelayConfig } | { kind: "help" };

function envName(flag: string): string {
  return "MSM_" + flag.toUpperCase().replaceAll("-", "_");
}

function toNumber(field: string, value: string): number {
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n)) {
    throw new ConfigError(`Invalid ${field}: "${value}" is not a number`);
  }
  return n;
}

function toBoolean(field: string, value: string): boolean {
  if (/^(1|true|yes|on)$/i.test(value)) return true;
  if (/^(0|false|no|off)$/i.test(value)) return false;
  throw new ConfigError(`Invalid ${field}: "${value}" is not a boolean`);
}

/** Parses `NAME=URL` path flags into a record. */
function parsePathFlags(values: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of values) {
    const eq = v.indexOf("=");
    if (eq <= 0) throw new ConfigError(`Invalid path: "${redactUrls(v)}" is not NAME=URL`);
    out[v.slice(0, eq)] = v.slice(eq + 1);
  }
  return out;
}

/** Parses `NODE=HOST:ADMINPORT:MESHPORT[@ZONE]`. */
export function parsePeerFlag(v: string): Record<string, unknown> {
  const m = /^([^=]+)=(\[[^\]]+\]|[^:@]+):(\d+):(\d+)(?:@(.+))?$/.exec(v);
  if (!m) throw new ConfigError(`Invalid peer: "${v}" is not NODE=HOST:ADMINPORT:MESHPORT[@ZONE]`);
  const peer: Record<string, unknown> = {
    node: m[1],
    host: m[2]!.replace(/^\[|\]$/g, ""),
    adminPort: Number(m[3]),
    meshPort: Number(m[4]),
  };
  if (m[5]) peer.zone = m[5];
  return peer;
}

function parseRange(field: string, v: string): [number, number] {
  const m = /^(\d+)-(\d+)$/.exec(v.trim());
  if (!m) throw new ConfigError(`Invalid ${field}: "${v}" is not FIRST-LAST`);
  return [Number(m[1]), Number(m[2])];
}

/** Reads `--config FILE` (YAML or JSON; YAML is a superset of JSON). */
function readConfigFile(path: string, read: (p: string) => string): Record<string, unknown> {
  let text: string;
  try {
    text = read(path);
  } catch (err) {
    throw new ConfigError(`Cannot read config file "${path}": ${(err as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = YAML.parse(text);
  } catch (err) {
    // Only the first line: the parser goes on to quote the offending source line, which may hold a secret.
    const why = (err as Error).message.split("\n")[0];
    throw new ConfigError(`Config file "${path}" is not valid YAML/JSON: ${why}`);
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== "object" || Array.isArray(doc)) {
    throw new ConfigError(`Config file "${path}" must hold a mapping of fields`);
  }
  const raw = { ...(doc as Record<string, unknown>) };
  // The file may spell ranges as "A-B" like the flag does.
  if (typeof raw.udpPortRange === "string") raw.udpPortRange = parseRange("udpPortRange", raw.udpPortRange);
  return raw;
}

/** Formats a zod error as "field: problem" lines. */
export function formatZodError(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.length ? i.path.join(".") : "(root)"}: ${i.message}`).join("; ");
}

/**
 * Loads and validates the configuration.
 * @param sources where flags, environment and files come from
 * @returns the config, or `{kind: "help"}` when `--help` was asked
 * @throws ConfigError naming the field and the problem
 * @example loadConfig({ args: Deno.args, env: Deno.env.get, readTextFile: Deno.readTextFileSync })
 */
export function loadConfig(sources: LoadSources): LoadResult {
  let parsed;
  try {
    // `deno task start -- --flag` passes the separator through.
    const args = sources.args[0] === "--" ? sources.args.slice(1) : sources.args;
    parsed = parseArgs({ args, options: FLAG_OPTIONS, allowNegative: true, strict: true });
  } catch (err) {
    throw new ConfigError(`Invalid command line: ${(err as Error).message}`);
  }
  const positionals = parsed.positionals as string[];
  if (positionals.length) {
    throw new ConfigError(`Invalid command line: unexpected argument "${positionals[0]}"`);
  }
  const flags = parsed.values as Partial<Record<FlagName, string | string[] | boolean>>;
  if (flags.help) return { kind: "help" };

  /** A flag's value, else its MSM_ environment variable. */
  const get = (name: FlagName): string | string[] | boolean | undefined => {
    const f = flags[name];
    if (f !== undefined) return f;
    const e = sources.env(envName(name));
    if (e === undefined || e === "") return undefined;
    const opt = FLAG_OPTIONS[name] as { type: string; multiple?: boolean };
    if (opt.type === "boolean") return toBoolean(envName(name), e);
    return opt.multiple ? e.split(/\s+/).filter(Boolean) : e; // URLs and passwords may hold commas
  };
  const str = (name: FlagName) => get(name) as string | undefined;
  const list = (name: FlagName) => get(name) as string[] | undefined;

  const configPath = str("config");
  const raw: Record<string, unknown> = configPath ? readConfigFile(configPath, sources.readTextFile) : {};

  const num = (name: FlagName, field: string) => {
    const v = str(name);
    if (v !== undefined) raw[field] = toNumber(`--${name}`, v);
  };
  num("rtsp-port", "rtspPort");
  num("admin-port", "adminPort");
  num("mesh-port", "meshPort");
  num("fanout", "fanout");
  num("linger", "lingerSeconds");
  num("camera-wait", "cameraWaitSeconds");
  num("reader-queue-bytes", "readerQueueBytes");
  num("gop-cache-bytes", "gopCacheBytes");
  num("memory-budget-bytes", "memoryBudgetBytes");
  num("session-timeout", "sessionTimeoutSeconds");
  num("rtsp-max-connections", "rtspMaxConnections");
  num("rtsp-max-connections-per-ip", "rtspMaxConnectionsPerIp");
  num("rtsp-max-sessions-per-ip", "rtspMaxSessionsPerIp");
  num("rtsp-request-rate", "rtspRequestRate");
  num("rtsp-max-header-bytes", "rtspMaxHeaderBytes");
  num("rtsp-max-body-bytes", "rtspMaxBodyBytes");
  num("rtsp-request-timeout", "rtspRequestTimeoutSeconds");
  num("rtsp-idle-timeout", "rtspIdleTimeoutSeconds");
  num("max-readers-per-path", "maxReadersPerPath");
  num("max-tracks-per-stream", "maxTracksPerStream");
  for (
    const [flag, field] of [
      ["listen", "listen"],
      ["node", "node"],
      ["zone", "zone"],
      [
        "discovery",
        "discovery",
      ],
      ["pull-transport", "pullTransport"],
      ["data-plane", "dataPlane"],
      ["log-level", "logLevel"],
    ] as const
  ) {
    const v = str(flag);
    if (v !== undefined) raw[field] = v;
  }
  const publish = get("publish");
  if (publish !== undefined) raw.publish = publish;
  const gopCache = get("gop-cache");
  if (gopCache !== undefined) raw.gopCache = gopCache;
  const demo = get("demo");
  if (demo !== undefined) raw.demo = demo;
  const authReads = get("admin-auth-reads");
  if (authReads !== undefined) raw.adminAuthReads = authReads;
  const paths = list("path");
  if (paths) raw.paths = { ...(raw.paths as Record<string, string> ?? {}), ...parsePathFlags(paths) };
  const peers = list("peer");
  if (peers) raw.peers = peers.map(parsePeerFlag);
  const users = list("user");
  if (users) {
    raw.users = users.map((u) => {
      const fields = splitUser(u);
      if (typeof fields === "string") throw new ConfigError(`Invalid user: ${fields}`);
      return fields;
    });
  }
  const usersFile = str("users-file");
  if (usersFile !== undefined) {
    let text: string;
    try {
      text = sources.readTextFile(usersFile);
    } catch (err) {
      throw new ConfigError(`Cannot read --users-file "${usersFile}": ${(err as Error).message}`);
    }
    const fileUsers = parseUsersFile(text);
    if (typeof fileUsers === "string") {
      throw new ConfigError(`Invalid --users-file "${usersFile}": ${fileUsers}`);
    }
    raw.usersFile = usersFile;
  }
  const rtspAuth = str("rtsp-auth");
  if (rtspAuth !== undefined) raw.rtspAuth = rtspAuth.split(",").map((s) => s.trim()).filter(Boolean);
  const pullAuth = str("pull-auth");
  if (pullAuth !== undefined) raw.pullAuth = pullAuth.split(",").map((s) => s.trim()).filter(Boolean);
  const adminHosts = list("admin-host");
  if (adminHosts) raw.adminHosts = adminHosts;
  const rtspAllow = list("rtsp-allow");
  if (rtspAllow) raw.rtspAllow = rtspAllow;
  const range = str("udp-port-range");
  if (range) raw.udpPortRange = parseRange("--udp-port-range", range);

  const secret = (flag: FlagName, fileFlag: FlagName, field: string) => {
    const v = str(flag);
    if (v !== undefined) raw[field] = v;
    const file = str(fileFlag);
    if (file !== undefined) {
      try {
        raw[field] = sources.readTextFile(file).trim();
      } catch (err) {
        throw new ConfigError(`Cannot read --${fileFlag} "${file}": ${(err as Error).message}`);
      }
    }
  };
  secret("admin-token", "admin-token-file", "adminToken");
  secret("mesh-key", "mesh-key-file", "meshKey");
  const meshKeyFile = str("mesh-key-file");
  if (meshKeyFile !== undefined) raw.meshKeyFile = meshKeyFile;
  const meshEncrypt = get("mesh-encrypt");
  if (meshEncrypt !== undefined) raw.meshEncrypt = meshEncrypt;

  if (raw.node === undefined) {
    const node = sources.env("NODE_NAME");
    if (node) raw.node = node;
  }

  const result = configSchema.safeParse(raw);
  if (!result.success) throw new ConfigError(`Invalid configuration: ${formatZodError(result.error)}`);
  const config = result.data;
  if (config.udpPortRange[0] % 2 !== 0) {
    throw new ConfigError(
      `Invalid configuration: udpPortRange must start on an even port, got ${config.udpPortRange[0]}`,
    );
  }
  if (config.adminAuthReads && config.adminToken === undefined) {
    throw new ConfigError(
      "Invalid configuration: adminAuthReads needs an admin token (--admin-token, MSM_ADMIN_TOKEN or --admin-token-file)",
    );
  }
  return { kind: "config", config };
}
