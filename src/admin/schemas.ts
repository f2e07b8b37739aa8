/**
 * Zod schemas of every admin API request and response. The routes (src/admin/openapi.ts) validate requests with
 * them, the OpenAPI document is generated from them, and tests parse responses with them.
 * @module
 */
import { z } from "zod";
import { configSchema } from "../config/schema.ts";
import { cameraUrlSchema, pathNameSchema, userSchema } from "../config/values.ts";

const count = z.number().int().min(0);

/** Every error answer: `{error}` with a sentence saying what failed. */
export const errorSchema = z.object({
  error: z.string().meta({ example: 'No active stream at path "cam1"' }),
}).meta({ id: "Error" });

/** `GET /healthz`: the process is up. */
export const healthSchema = z.object({
  status: z.literal("ok"),
  node: z.string().meta({ description: "This relay's node name" }),
}).meta({ id: "Health" });

/** What readiness waits for. */
export const readinessChecksSchema = z.object({
  rtsp: z.boolean().meta({ description: "The RTSP server is listening" }),
  mesh: z.boolean().meta({ description: "The mesh UDP port is bound" }),
  discovery: z.boolean().meta({ description: "Peer discovery has its first complete view (synced)" }),
}).meta({ id: "ReadinessChecks" });

/** `GET /readyz`: 200 when ready, 503 otherwise. */
export const readinessSchema = z.object({
  ready: z.boolean(),
  checks: readinessChecksSchema.optional(),
}).meta({ id: "Readiness" });

/** Where a stream's media comes from. */
export const sourceKindSchema = z.enum(["pull", "publish", "demo", "mesh"]);
/** State of a stream's source. */
export const sourceStateSchema = z.enum(["idle", "connecting", "ready", "error"]);

/** Receiver statistics (RFC 3550) of one track on the hop into this relay. */
export const hopStatsSchema = z.object({
  hop: z.enum(["source", "mesh"]).meta({
    description: "`source`: camera or publisher into this relay; `mesh`: parent relay into this relay",
  }),
  valid: z.boolean().meta({ description: "The sender passed RFC 3550 probation" }),
  received: count.meta({ description: "Packets received (duplicates included)" }),
  expected: count.meta({ description: "Packets expected from the sequence numbers" }),
  lost: count.meta({ description: "Packets lost (expected - received, at least 0)" }),
  jitterSeconds: z.number().min(0).meta({ description: "Interarrival jitter (RFC 3550 A.8)" }),
  duplicates: count,
  reordered: count,
}).meta({ id: "HopStats" });

/** One track of a stream: packets in, per-sink packets out, drops and the hop's receiver statistics. */
export const trackSchema = z.object({
  index: count,
  type: z.string().optional().meta({ description: "SDP media type (video, audio...)" }),
  codec: z.string().optional().meta({ description: "SDP encoding name (H264, PCMU...)" }),
  clockRate: z.number().int(),
  packetsIn: count,
  bytesIn: count,
  packetsOut: count.meta({ description: "Packets sent to every sink (sum of `forwarded`)" }),
  forwarded: z.object({ udp: count, tcp: count, mesh: count }).optional().meta({
    description: "Packets sent per sink kind: UDP readers, TCP-interleaved readers, mesh children",
  }),
  dropped: z.record(z.string(), count).meta({ description: "Packets dropped per reason" }),
  readerReports: count.meta({ description: "RTCP receiver reports received from readers" }),
  lost: count.optional().meta({ description: "Same as `hop.lost`" }),
  jitterSeconds: z.number().min(0).optional().meta({ description: "Same as `hop.jitterSeconds`" }),
  gopCacheBytes: count.optional().meta({ description: "Bytes held by the GOP cache" }),
  hop: hopStatsSchema.optional(),
}).meta({ id: "Track" });

/** A stream: one path, its source, readers and tracks. */
export const streamSchema = z.object({
  path: z.string().meta({ example: "cam1" }),
  kind: sourceKindSchema,
  source: z.looseObject({
    state: sourceStateSchema,
    error: z.string().nullable(),
    sessions: count.meta({ description: "Upstream sessions opened so far (1 + reconnects)" }),
  }).meta({ description: "Source state plus facts of its kind (URL without credentials, parent...)" }),
  readers: count,
  tracks: z.array(trackSchema),
  packetsIn: count,
  packetsOut: count,
}).meta({ id: "Stream" });

/** `GET /api/v1/streams`. */
export const streamListSchema = z.object({ streams: z.array(streamSchema) }).meta({ id: "StreamList" });

/** An RTSP session (reader or publisher). */
export const sessionSchema = z.object({
  id: z.string(),
  role: z.enum(["reader", "publisher", "viewer"]).meta({
    description: "`viewer`: a browser watching through `/watch` (transport `websocket`) or WHEP (`webrtc`)",
  }),
  path: z.string(),
  remote: z.string().meta({ description: "Client address" }),
  state: z.enum(["init", "ready", "playing", "recording"]),
  transport: z.array(z.enum(["udp", "tcp", "websocket", "webrtc"])).meta({
    description: "Lower transport of each set-up track",
  }),
  queuedBytes: count.meta({ description: "Bytes waiting in the session's TCP connection queue" }),
  /** The reader's latest RTCP receiver report per track index. */
  reports: z.record(
    z.string(),
    z.object({
      fractionLost: z.number().min(0).max(1),
      cumulativeLost: z.number().int(),
      jitterSeconds: z.number().min(0),
      highestSeq: z.number().int().min(0),
      at: z.iso.datetime(),
    }).meta({ id: "ReaderReport" }),
  ).meta({
    description:
      "The reader's latest RTCP receiver report per track index (what it says it lost; a WebRTC viewer's " +
      "browser sends them too)",
  }),
  createdAt: z.iso.datetime(),
}).meta({ id: "Session" });

/** `GET /api/v1/sessions`. */
export const sessionListSchema = z.object({ sessions: z.array(sessionSchema) }).meta({ id: "SessionList" });

/** A relay as discovery and the mesh see it. */
export const peerSchema = z.looseObject({
  node: z.string(),
  zone: z.string(),
  host: z.string(),
  rtspPort: z.number().int(),
  adminPort: z.number().int(),
  meshPort: z.number().int(),
  ready: z.boolean().meta({ description: "Discovery says the relay is ready" }),
  self: z.boolean().meta({ description: "This relay" }),
  live: z.boolean().meta({ description: "Ready and not suspected of being dead" }),
  suspectedUntil: z.iso.datetime().nullable(),
}).meta({ id: "Peer" });

/** `GET /api/v1/peers`. */
export const peerListSchema = z.object({ peers: z.array(peerSchema) }).meta({ id: "PeerList" });

/** This relay's place in the distribution tree of one path. */
export const treeSchema = z.looseObject({
  path: z.string(),
  node: z.string().meta({ description: "This relay" }),
  role: z.enum(["root", "member"]),
  root: z.string().nullable(),
  parent: z.string().nullable(),
  parents: z.array(z.string()).max(2).meta({
    description: "The relays feeding this one: `parent` first, and a second with dual-path protection",
  }),
  children: z.array(z.string()),
  state: sourceStateSchema.nullable(),
  reparents: count.optional(),
  duplicates: count.optional(),
  repairs: z.object({
    missing: count.meta({ description: "Packets missing on the hop from the parent (the raw loss)" }),
    recovered: count.meta({
      description: "Missing packets repaired by the parent within the latency budget",
    }),
    unrecovered: count.meta({ description: "Missing packets given up: readers lose them" }),
    late: count.meta({ description: "Repairs that came after the budget (dropped)" }),
    requested: count.meta({ description: "Sequence numbers asked of the parent, every request" }),
  }).nullable().optional().meta({
    description: "Per-hop retransmission on the hop into a member (null: off)",
  }),
  plan: z.record(z.string(), z.string()).optional().meta({
    description: "At the root: every tree node but the root -> its parent",
  }),
  members: z.array(z.object({
    node: z.string(),
    readers: count,
    hop: z.object({
      lost: z.number().min(0).max(1).meta({
        description: "Share of packets that never arrived on the hop into it",
      }),
      jitterMs: z.number().min(0).meta({ description: "RFC 3550 interarrival jitter on that hop, ms" }),
    }).optional().meta({
      description: "The hop into the member as it measures it (its last join or renewal)",
    }),
  })).optional(),
  planParents: z.record(z.string(), z.array(z.string()).max(2)).optional().meta({
    description:
      "At the root, with dual-path protection: every tree node but the root -> its parents, first first",
  }),
  standby: z.object({
    node: z.string().nullable().meta({
      description: "The standby root (it pulls the camera too and tops the second colour's tree), or null",
    }),
    promoted: z.boolean().meta({
      description:
        "At the root: this relay was the standby and carries the dead root's numbering and epoch on",
    }),
    aligned: z.boolean().optional().meta({
      description: "At the standby: its own camera session is aligned with the root's numbering",
    }),
    matches: count.optional().meta({ description: "Payloads matched between the two camera sessions" }),
    delivered: count.optional().meta({ description: "Packets of the standby's session handed on" }),
    camera: sourceStateSchema.optional().meta({ description: "The standby's own camera session" }),
  }).optional().meta({ description: "With dual-path protection of a camera: the standby root" }),
  whole: z.looseObject({
    root: z.string(),
    plan: z.record(z.string(), z.string()).optional(),
    planParents: z.record(z.string(), z.array(z.string()).max(2)).optional(),
    members: z.array(z.looseObject({ node: z.string(), readers: count })).optional(),
  }).optional().meta({
    description:
      "At a member: the whole tree as its root plans it (plan, second parents, members with their hops)",
  }),
}).meta({ id: "Tree" });

type ConfigShape = typeof configSchema.shape;
/** The config fields as an answer has them: always present, so without their input defaults. */
const presentConfigShape = Object.fromEntries(
  Object.entries(configSchema.shape).map(([k, s]) => [k, s instanceof z.ZodDefault ? s.unwrap() : s]),
) as { [K in keyof ConfigShape]: ConfigShape[K] extends z.ZodDefault<infer I> ? I : ConfigShape[K] };

/** The configuration as `GET /api/v1/config` shows it: secrets are `***`, camera URLs lose their passwords. */
export const configViewSchema = z.object(presentConfigShape).extend({
  adminToken: z.literal("***").optional().meta({ description: "`***` when a token is set" }),
  meshKey: z.literal("***").optional().meta({ description: "`***` when a key is set" }),
  users: z.array(userSchema.extend({ password: z.literal("***"), paths: z.string().min(1) })),
}).meta({ id: "Config" });

/** A path name in a URL (`/api/v1/paths/{name}`), same rules as `--path NAME=URL`. */
export const pathNameParamSchema = z.object({
  name: pathNameSchema.meta({ param: { name: "name", in: "path" }, example: "lobby/door" }),
});

/** `POST /api/v1/paths`: pull a camera as `name` from now on. */
export const addPathSchema = z.object({
  name: pathNameSchema.meta({ example: "cam1" }),
  url: cameraUrlSchema.meta({ example: "rtsp://user:pass@192.0.2.10:554/stream1" }),
}).meta({ id: "AddPath" });

/** A configured camera path (its URL without the password). */
export const pathSchema = z.object({
  name: z.string(),
  url: z.string().meta({ description: "Camera URL, password replaced by `***`" }),
}).meta({ id: "Path" });

/** A stream or tree path in a URL (`/api/v1/streams/{path}`); may hold `/`. */
export const streamPathParamSchema = z.object({
  path: z.string().min(1).max(256).meta({ param: { name: "path", in: "path" }, example: "demo" }),
});

/** A session id in a URL. */
export const sessionIdParamSchema = z.object({
  id: z.string().min(1).max(128).meta({ param: { name: "id", in: "path" } }),
});
