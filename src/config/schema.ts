/**
 * The relay's configuration: one zod schema shared by flags, environment and the config file. Each field that is
 * a flag declares it where it is defined (`.register(flagMeta, ...)`): its name, argument, default as users read
 * it and meaning; the flags, their `MSM_*` variables, `--help` and the README's table are derived from that.
 * @module
 */
import { z } from "zod";
import { parseMeshKeys } from "./mesh_key_syntax.ts";
import { flagMeta } from "./flag_meta.ts";
import { rtspLimitFields } from "./rtsp_limit_fields.ts";
import {
  ADMIN_TOKEN_MIN_LENGTH,
  adminHostSchema,
  cameraUrlSchema,
  clientAddressSchema,
  pathNameSchema,
  peerSchema,
  port,
  userSchema,
} from "./values.ts";

/** The whole configuration after defaults. Each field that is a flag declares it here (`flag_meta.ts`). */
export const configSchema = z.object({
  rtspPort: port.default(8554).register(flagMeta, {
    name: "rtsp-port",
    arg: "N",
    meaning: "RTSP listen port",
  }),
  adminPort: port.default(8080).register(flagMeta, {
    name: "admin-port",
    arg: "N",
    meaning: "admin HTTP port: health, metrics, the API and the dashboard, and the mesh's peer protocol",
  }),
  meshPort: port.default(7000).register(flagMeta, {
    name: "mesh-port",
    arg: "N",
    meaning: "mesh UDP port: media between relays",
  }),
  listen: z.string().min(1).default("0.0.0.0").register(flagMeta, {
    name: "listen",
    arg: "ADDR",
    meaning: "bind address of the RTSP, admin, RTP/RTCP and mesh sockets",
  }),
  paths: z.record(pathNameSchema, cameraUrlSchema).default({}).register(flagMeta, {
    name: "path",
    arg: "NAME=URL",
    repeats: true,
    meaning:
      "pull a camera and serve it as `NAME`; in a mesh, one relay configured with the path (its root) " +
      "pulls it and the others get it through the mesh",
  }),
  publish: z.boolean().default(true).register(flagMeta, {
    name: "publish",
    negated: true,
    default: "publishing on",
    meaning: "refuse ANNOUNCE/RECORD on paths that are not configured",
  }),
  demo: z.boolean().default(true).register(flagMeta, {
    name: "demo",
    negated: true,
    default: "demo on",
    meaning: "disable the built-in `demo` path",
  }),
  node: z.string().min(1).optional().register(flagMeta, {
    name: "node",
    arg: "NAME",
    default: "`$NODE_NAME`, else the hostname",
    meaning: "this relay's node name: its name in the mesh, shown by `/healthz`",
  }),
  zone: z.string().optional().register(flagMeta, {
    name: "zone",
    arg: "ZONE",
    meaning: "this relay's zone: the mesh tree sends at most one copy of a stream into each zone (with " +
      "`kubernetes` discovery, the Node's `topology.kubernetes.io/zone` label)",
  }),
  discovery: z.enum(["static", "kubernetes", "none"]).optional().register(flagMeta, {
    name: "discovery",
    arg: "static|kubernetes|none",
    default: "unset",
    meaning: "how peers are found: the `--peer` list, the relay pods of `$POD_NAMESPACE`, or none (a lone " +
      "relay); unset, `kubernetes` in a pod, else `static` when there are peers, else `none`",
  }),
  peers: z.array(peerSchema).default([]).register(flagMeta, {
    name: "peer",
    arg: "NODE=HOST:ADMINPORT:MESHPORT[@ZONE]",
    repeats: true,
    meaning:
      "another relay, for `static` discovery: its node name, address, admin and mesh ports and zone (its " +
      "RTSP port is taken to be this relay's)",
  }),
  fanout: z.number().int().min(1).max(64).default(4).register(flagMeta, {
    name: "fanout",
    arg: "K",
    meaning: "children per relay in the mesh tree, 1 to 64",
  }),
  users: z.array(userSchema).default([]).register(flagMeta, {
    name: "user",
    arg: "NAME:PASSWORD:RIGHTS[:PATHGLOB]",
    repeats: true,
    meaning:
      "RTSP users, with RIGHTS `read`, `publish` or `read+publish` on the paths PATHGLOB matches (`*` any " +
      "run, `?` one character; default `*`); with users, DESCRIBE/SETUP/PLAY/ANNOUNCE/RECORD need credentials " +
      "(401, or 403 without the right)",
  }),
  usersFile: z.string().min(1).optional().register(flagMeta, {
    name: "users-file",
    arg: "F",
    meaning:
      "more RTSP users, one `NAME:PASSWORD:RIGHTS[:PATHGLOB]` per line (`#` comments), e.g. a mounted " +
      "Secret: re-read every second, so passwords change without a restart; a file that lists no user is " +
      "refused (the users in use stay)",
  }),
  rtspAuth: z.array(z.enum(["digest", "basic"])).min(1).default(["digest"]).register(flagMeta, {
    name: "rtsp-auth",
    arg: "digest|basic|digest,basic",
    meaning:
      "schemes offered: Digest SHA-256 and MD5 (an answer names the realm and the request's URI; nonces " +
      "bound to the client address expire after 5 min; a qop=auth count is used once); Basic sends the " +
      "password in clear, so only on request",
  }),
  rtspAllow: z.array(clientAddressSchema).default([]).register(flagMeta, {
    name: "rtsp-allow",
    arg: "CIDR|ADDRESS",
    repeats: true,
    default: "everyone",
    meaning: "only these clients may use the RTSP server (403 before credentials)",
  }),
  adminToken: z.string().min(
    ADMIN_TOKEN_MIN_LENGTH,
    `the admin token must be at least ${ADMIN_TOKEN_MIN_LENGTH} characters (e.g. openssl rand -hex 24)`,
  ).optional().register(flagMeta, {
    name: "admin-token",
    arg: "T",
    meaning: "bearer token of the admin API, at least 16 characters (`openssl rand -hex 24`); without one, " +
      "admin changes are refused (403)",
  }),
  adminAuthReads: z.boolean().default(false).register(flagMeta, {
    name: "admin-auth-reads",
    default: "off",
    meaning: "require the admin token for `/api/v1/*` reads and `/metrics` too (needs a token)",
  }),
  adminHosts: z.array(adminHostSchema).default([]).register(flagMeta, {
    name: "admin-host",
    arg: "NAME",
    repeats: true,
    meaning:
      "a DNS name the admin API answers to besides IP addresses, `localhost`, the node name and static " +
      "peers' hosts; other names get 421 (DNS rebinding)",
  }),
  meshKey: z.string().min(1).superRefine((v, ctx) => {
    const keys = parseMeshKeys(v);
    if (typeof keys === "string") ctx.addIssue({ code: "custom", message: keys });
  }).optional().register(flagMeta, {
    name: "mesh-key",
    arg: "K",
    meaning:
      "cluster key: authenticates peer calls, seals mesh packets (see [Mesh security](#mesh-security)); " +
      "without one, peers are not authenticated and mesh packets travel in clear",
  }),
  meshKeyFile: z.string().min(1).optional().register(flagMeta, {
    name: "mesh-key-file",
    arg: "F",
    meaning:
      "read the mesh key(s) from a file, one per line (the first signs and seals, all are accepted), " +
      "re-read every second (rotation)",
  }),
  meshEncrypt: z.boolean().default(true).register(flagMeta, {
    name: "mesh-encrypt",
    negated: true,
    default: "encrypt",
    meaning: "authenticate mesh packets without encrypting them",
  }),
  maxViewers: z.number().int().min(0).max(100_000).default(64).register(flagMeta, {
    name: "max-viewers",
    arg: "N",
    meaning:
      "browser viewers (`/watch/{path}`) playing at once; one more gets `503`; `0`: watching in a browser is " +
      "off",
  }),
  webrtcPort: z.number().int().min(0).max(65535).default(8189).register(flagMeta, {
    name: "webrtc-port",
    arg: "N",
    meaning:
      "UDP port of the WebRTC viewers (`POST /whep/{path}`), shared by all of them, opened at the first offer; " +
      "`0`: any free port",
  }),
  protection: z.enum(["none", "dual"]).default("none").register(flagMeta, {
    name: "protection",
    arg: "none|dual",
    meaning:
      "`dual`: every member relay receives each stream rooted here from two parents whose paths from the " +
      "root share no relay but the root (in different zones where there are two or more) and merges them, so the " +
      "death of one relay other than the root costs its readers nothing; with a configured camera the standby " +
      "root (the relay that would be the root without it) pulls the camera too, so the root's death costs " +
      "nothing either; needs `--fanout` 2 or more. Set it on every relay configured with the camera (the root " +
      "plans, the standby pulls)",
  }),
  pathProtection: z.record(pathNameSchema, z.enum(["none", "dual"])).default({}).register(flagMeta, {
    name: "path-protection",
    arg: "NAME=none|dual",
    repeats: true,
    default: "`--protection` for every path",
    meaning: "the protection of one path rooted here, over `--protection`; in the config file " +
      "`pathProtection: { cam1: dual }`",
  }),
  meshNack: z.boolean().default(true).register(flagMeta, {
    name: "mesh-nack",
    negated: true,
    default: "on",
    meaning:
      "no per-hop retransmission: a mesh child does not ask its parent for the packets it missed (RTCP " +
      "generic NACK on the mesh port), and a parent answers none",
  }),
  meshNackBudgetMs: z.number().int().min(10).max(5000).default(200).register(flagMeta, {
    name: "mesh-nack-budget-ms",
    arg: "MS",
    default: "`200`",
    meaning:
      "how long a mesh child waits for a missing packet's repair before it gives the packet up; a repair " +
      "that comes later is dropped, not delivered out of order (parents keep packets 2.5 times as long, up to " +
      "1,024 or 2 MiB per track)",
  }),
  meshNackMaxRatio: z.number().min(0).max(1).default(0.25).register(flagMeta, {
    name: "mesh-nack-max-ratio",
    arg: "R",
    default: "`0.25`",
    meaning:
      "retransmissions a parent sends one child per packet of the stream, at most (plus a burst of 64): " +
      "a child asking for more is answered up to it, the rest counted as capped",
  }),
  udpPortRange: z.tuple([port, port]).default([10000, 19999]).refine(
    ([a, b]) => a < b && b - a >= 3,
    "udpPortRange must hold at least two even/odd pairs",
  ).register(flagMeta, {
    name: "udp-port-range",
    arg: "A-B",
    meaning: "server RTP/RTCP ports, as even/odd pairs; A must be even",
  }),
  pullTransport: z.enum(["auto", "udp", "tcp"]).default("auto").register(flagMeta, {
    name: "pull-transport",
    arg: "auto|udp|tcp",
    meaning: "how cameras are pulled: `auto` tries UDP and falls back to TCP when no RTP arrives within 3 s",
  }),
  pullAuth: z.array(z.enum(["digest", "basic"])).min(1).default(["digest"]).register(flagMeta, {
    name: "pull-auth",
    arg: "digest|basic|digest,basic",
    meaning:
      "schemes camera credentials may be sent with; a camera offering only Basic (password in clear) " +
      "fails with an error naming this flag unless `basic` is listed",
  }),
  cameraWaitSeconds: z.number().min(0).max(300).default(5).register(flagMeta, {
    name: "camera-wait",
    arg: "SECONDS",
    meaning:
      "a reader of a configured camera that is down waits this long (the relay retries meanwhile), then " +
      "gets `503`; `0` answers at once; unknown paths get `404`",
  }),
  dataPlane: z.enum(["auto", "portable", "fast"]).default("auto").register(flagMeta, {
    name: "data-plane",
    arg: "auto|portable|fast",
    meaning:
      "`fast` (Linux, needs `--allow-ffi`): one Worker owns the RTP and mesh ports, sends UDP readers' RTP " +
      "and a root's mesh copies itself (sealed there) with recvmmsg/sendmmsg; `auto` picks it when it can, else " +
      "`portable` (Deno sockets; a warning when `fast` was asked for)",
  }),
  planeDigests: z.boolean().default(true).register(flagMeta, {
    name: "plane-digests",
    negated: true,
    default: "digests on",
    meaning:
      "with `fast`: the Worker posts every packet to the main thread, instead of keeping the packets of a " +
      "track whose readers it all serves in a shared ring and posting only their numbers (digests)",
  }),
  lingerSeconds: z.number().min(0).max(3600).default(5).register(flagMeta, {
    name: "linger",
    arg: "SECONDS",
    meaning: "keep a camera session open this long after the last reader leaves",
  }),
  readerQueueBytes: z.number().int().min(16 * 1024).max(256 * 1024 * 1024).default(2 * 1024 * 1024).register(
    flagMeta,
    {
      name: "reader-queue-bytes",
      arg: "N",
      default: "`2097152` (2 MiB)",
      meaning: "send queue limit for each TCP reader; packets beyond it are dropped",
    },
  ),
  gopCache: z.boolean().default(true).register(flagMeta, {
    name: "gop-cache",
    negated: true,
    default: "cache on",
    meaning:
      "do not replay the last GOP to new readers (by default a new reader of an H.264/H.265 track gets " +
      "the packets since its last keyframe first, so it decodes a picture at once)",
  }),
  gopCacheBytes: z.number().int().min(64 * 1024).max(256 * 1024 * 1024).default(4 * 1024 * 1024).register(
    flagMeta,
    {
      name: "gop-cache-bytes",
      arg: "N",
      default: "`4194304` (4 MiB)",
      meaning: "size limit of the GOP cache of each H.264/H.265 track; a larger GOP is not cached",
    },
  ),
  memoryBudgetBytes: z.number().int().min(0).max(64 * 1024 * 1024 * 1024).default(512 * 1024 * 1024).register(
    flagMeta,
    {
      name: "memory-budget-bytes",
      arg: "N",
      default: "`536870912` (512 MiB)",
      meaning:
        "bytes the relay holds for clients in all, GOP caches and TCP reader queues together (each also " +
        "has its own bound): beyond it a GOP is not cached and a reader's frame is dropped, past 90 % new " +
        "sessions get `503`; `0`: no relay-wide bound. The default fits a 1 GiB pod limit",
    },
  ),
  ...rtspLimitFields,
  logLevel: z.enum(["debug", "info", "warn", "error"]).default("info").register(flagMeta, {
    name: "log-level",
    arg: "debug|info|warn|error",
    meaning: "JSON log lines on stderr",
  }),
});

/** The validated configuration. */
export type RelayConfig = z.infer<typeof configSchema>;

/**
 * The configuration every field of which has its default: what a component gets when nothing is configured.
 * Tests that build components take their values from it rather than retyping the numbers.
 * @returns a fresh object (callers may change it)
 * @example new StreamHub({ ..., maxTracks: configDefaults().maxTracksPerStream })
 */
export function configDefaults(): RelayConfig {
  return configSchema.parse({});
}
