/**
 * The relay's configuration: one zod schema shared by flags, environment and the config file.
 * @module
 */
import { z } from "zod";
import { ipv4Number } from "../address.ts";
import { parseMeshKeys } from "./mesh_key_syntax.ts";
import { rtspUrlProblem } from "../rtsp/url.ts";
import { RTSP_MAX_PATH_BYTES } from "../rtsp/limits.ts";

const port = z.number().int().min(1).max(65535);

/**
 * The NAME of a pulled camera (`--path NAME=URL`): segments of letters, digits and `_.~-`, joined by `/`; short
 * enough that its track URLs (`NAME/trackID=N`) stay within the RTSP path cap.
 */
export const pathNameSchema = z.string().max(RTSP_MAX_PATH_BYTES - 32).regex(
  /^[A-Za-z0-9_.~-]+(\/[A-Za-z0-9_.~-]+)*$/,
  "path names use letters, digits, '_', '.', '~', '-' and '/' between segments",
);

/** Longest camera URL accepted (`--path NAME=URL`, `POST /api/v1/paths`). */
export const MAX_CAMERA_URL_LENGTH = 2048;

/**
 * The URL of a pulled camera (`--path NAME=URL`): one the RTSP client can parse. Refused early, a URL whose
 * password holds an unescaped `/` cannot end up, half parsed, in logs and errors; the message never quotes it.
 */
export const cameraUrlSchema = z.string().max(MAX_CAMERA_URL_LENGTH).regex(
  /^rtsps?:\/\//,
  "camera URLs start with rtsp://",
).superRefine((url, ctx) => {
  if (!/^rtsps?:\/\//.test(url)) return; // said above
  const problem = rtspUrlProblem(url);
  if (problem) {
    ctx.addIssue({
      code: "custom",
      message: `invalid camera URL (${problem}); percent-encode '/', '?' and '#' in user names and passwords`,
    });
  }
});

/** Shortest admin token accepted: 16 random characters are beyond guessing, even without the try limit. */
export const ADMIN_TOKEN_MIN_LENGTH = 16;

/**
 * A DNS name the admin API answers to besides IP literals and `localhost` (`--admin-host`): letters, digits,
 * `-` and `_` in dot-separated labels, an optional final dot. Compared case-insensitively.
 */
export const adminHostSchema = z.string().max(253).regex(
  /^[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?(\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?$/,
  "admin hosts are DNS names (letters, digits, '-', '_' and dots; no port, no scheme)",
);

/** An IPv4 address, or an IPv4 CIDR with a prefix of 0..32 bits. */
function isIpv4OrCidr(v: string): boolean {
  const [address, bits, extra] = v.split("/");
  if (extra !== undefined || ipv4Number(address ?? "") === null) return false;
  return bits === undefined || (/^\d{1,2}$/.test(bits) && Number(bits) <= 32);
}

/** A user of the RTSP server (`NAME:PASSWORD:RIGHTS[:PATHGLOB]`). */
export const userSchema = z.object({
  name: z.string().min(1),
  password: z.string().min(1),
  rights: z.enum(["read", "publish", "read+publish"]),
  paths: z.string().min(1).default("*"),
});

/** A statically configured peer (`NODE=HOST:ADMINPORT:MESHPORT[@ZONE]`). */
export const peerSchema = z.object({
  node: z.string().min(1),
  host: z.string().min(1),
  adminPort: port,
  meshPort: port,
  zone: z.string().optional(),
});

/** The whole configuration after defaults. */
export const configSchema = z.object({
  rtspPort: port.default(8554),
  adminPort: port.default(8080),
  meshPort: port.default(7000),
  listen: z.string().min(1).default("0.0.0.0"),
  paths: z.record(pathNameSchema, cameraUrlSchema).default({}),
  publish: z.boolean().default(true),
  demo: z.boolean().default(true),
  node: z.string().min(1).optional(),
  zone: z.string().optional(),
  discovery: z.enum(["static", "kubernetes", "none"]).optional(),
  peers: z.array(peerSchema).default([]),
  fanout: z.number().int().min(1).max(64).default(4),
  users: z.array(userSchema).default([]),
  /** A file of more users (one `NAME:PASSWORD:RIGHTS[:PATHGLOB]` per line), followed while the relay runs. */
  usersFile: z.string().min(1).optional(),
  /** RTSP authentication schemes offered when users exist (Basic sends passwords in clear: off by default). */
  rtspAuth: z.array(z.enum(["digest", "basic"])).min(1).default(["digest"]),
  /** Client addresses allowed to use the RTSP server (IPv4 CIDRs or literal addresses); empty: everyone. */
  rtspAllow: z.array(
    z.string().refine(
      (v) => (v.includes(":") && /^[0-9a-fA-F:]+$/.test(v)) || isIpv4OrCidr(v),
      "expected an IPv4 address, an IPv4 CIDR (10.0.0.0/8) or an IPv6 address",
    ),
  ).default([]),
  adminToken: z.string().min(
    ADMIN_TOKEN_MIN_LENGTH,
    `the admin token must be at least ${ADMIN_TOKEN_MIN_LENGTH} characters (e.g. openssl rand -hex 24)`,
  ).optional(),
  /**
   * DNS names the admin API answers to (the Host header), besides IP literals and `localhost`: any other name is
   * refused (421), which stops DNS rebinding.
   */
  adminHosts: z.array(adminHostSchema).default([]),
  /** Also require the admin token for reads (`/api/v1/*` GETs and `/metrics`); needs `adminToken`. */
  adminAuthReads: z.boolean().default(false),
  /**
   * Cluster key(s) of the mesh, one per line: the first signs and seals, all are accepted (rotation). Without a
   * key the peer protocol and mesh packets are neither authenticated nor encrypted.
   */
  meshKey: z.string().min(1).superRefine((v, ctx) => {
    const keys = parseMeshKeys(v);
    if (typeof keys === "string") ctx.addIssue({ code: "custom", message: keys });
  }).optional(),
  /** The file the mesh key came from: re-read while running, so a rotated Secret takes effect without restart. */
  meshKeyFile: z.string().min(1).optional(),
  /** Encrypt mesh packets (else authenticate only); needs `meshKey`. */
  meshEncrypt: z.boolean().default(true),
  /** First and last UDP port of the RTP/RTCP server range (even/odd pairs). */
  udpPortRange: z.tuple([port, port]).default([10000, 19999]).refine(
    ([a, b]) => a < b && b - a >= 3,
    "udpPortRange must hold at least two even/odd pairs",
  ),
  /**
   * Seconds a reader's DESCRIBE waits for a configured camera that is not playing (the relay retries meanwhile);
   * then `503 Service Unavailable`. 0: answer 503 as soon as an attempt to reach the camera has failed.
   */
  cameraWaitSeconds: z.number().min(0).max(300).default(5),
  /** How the relay pulls cameras: `auto` tries UDP and falls back to TCP when no RTP arrives within 3 s. */
  pullTransport: z.enum(["auto", "udp", "tcp"]).default("auto"),
  /**
   * Schemes the relay may answer a camera's challenge with. Basic sends the camera's password in clear to whatever
   * answers on its address, so it is off by default: a camera offering only Basic then fails with an error.
   */
  pullAuth: z.array(z.enum(["digest", "basic"])).min(1).default(["digest"]),
  /**
   * UDP data plane of the tracks' RTP ports: `portable` (Deno sockets), `fast` (Linux only: one Worker owning the
   * RTP sockets, recvmmsg/sendmmsg through FFI; needs `--allow-ffi`, else the relay falls back to portable with a
   * warning) or `auto` (fast where it can run, else portable).
   */
  dataPlane: z.enum(["auto", "portable", "fast"]).default("auto"),
  /** Seconds an upstream session stays open after its last reader left. */
  lingerSeconds: z.number().min(0).max(3600).default(5),
  /** Bytes a TCP reader may have queued before the relay drops its packets. */
  readerQueueBytes: z.number().int().min(16 * 1024).max(256 * 1024 * 1024).default(2 * 1024 * 1024),
  /**
   * Keep each H.264/H.265 track's packets since its last keyframe and send them to a new reader first, so it
   * decodes a picture at once instead of waiting up to a GOP.
   */
  gopCache: z.boolean().default(true),
  /**
   * Bytes the relay may hold for clients in all, GOP caches and TCP reader queues together (each also has its own
   * bound): beyond it GOP caches stop caching and readers' frames are dropped, and past 90 % of it new sessions get
   * 503. 0: no relay-wide bound. The default fits a 1 GiB pod limit.
   */
  memoryBudgetBytes: z.number().int().min(0).max(64 * 1024 * 1024 * 1024).default(512 * 1024 * 1024),
  /** Bound of one track's GOP cache in bytes; a larger GOP is not cached. */
  gopCacheBytes: z.number().int().min(64 * 1024).max(256 * 1024 * 1024).default(4 * 1024 * 1024),
  /** Session timeout advertised to RTSP clients, in seconds; enforced 10 s later. */
  sessionTimeoutSeconds: z.number().int().min(5).max(3600).default(60),
  /** Open RTSP connections; one more gets 503 to its first request and is closed. */
  rtspMaxConnections: z.number().int().min(1).max(1_000_000).default(1024),
  /** Open RTSP connections from one client address; one more gets 503 and is closed. 0: no limit. */
  rtspMaxConnectionsPerIp: z.number().int().min(0).max(1_000_000).default(128),
  /** RTSP sessions one client address may hold; a SETUP opening one more gets 503. 0: no limit. */
  rtspMaxSessionsPerIp: z.number().int().min(0).max(1_000_000).default(100),
  /** RTSP requests per second per client address (burst twice that); more get 503 with Retry-After. 0: no limit. */
  rtspRequestRate: z.number().int().min(0).max(1_000_000).default(50),
  /** Largest RTSP request head (start line and headers) in bytes; larger gets 431. */
  rtspMaxHeaderBytes: z.number().int().min(1024).max(1024 * 1024).default(8 * 1024),
  /** Largest RTSP request body (ANNOUNCE's SDP) in bytes; larger gets 413. */
  rtspMaxBodyBytes: z.number().int().min(1024).max(16 * 1024 * 1024).default(64 * 1024),
  /** Seconds a client may take to send a whole request (slowloris); then 408 and close. */
  rtspRequestTimeoutSeconds: z.number().min(1).max(3600).default(10),
  /** Seconds an RTSP connection holding no session may stay silent before it is closed. */
  rtspIdleTimeoutSeconds: z.number().min(1).max(86_400).default(60),
  /**
   * Tracks (SDP media sections) one stream may have: an ANNOUNCE with more gets 400, a camera or a mesh root
   * describing more is refused with an error. At most 64 (a TCP-interleaved session needs two channels a track).
   */
  maxTracksPerStream: z.number().int().min(1).max(64).default(16),
  /** Readers playing one path; a SETUP or PLAY of one more gets 453 Not Enough Bandwidth. 0: no limit. */
  maxReadersPerPath: z.number().int().min(0).max(1_000_000).default(0),
  logLevel: z.enum(["debug", "info", "warn", "error"]).default("info"),
});

/** The validated configuration. */
export type RelayConfig = z.infer<typeof configSchema>;
/** A statically configured peer. */
export type PeerConfig = z.infer<typeof peerSchema>;
/** An RTSP user. */
export type UserConfig = z.infer<typeof userSchema>;
