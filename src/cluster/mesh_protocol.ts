/**
 * The peer protocol's control messages (HTTP JSON under `/mesh/v1` on the admin port), as zod schemas shared by
 * both ends. Media and heartbeats go over the mesh UDP port (see mesh_frame.ts).
 *
 * - `GET  /mesh/v1/roots/{path}`: 200 `{node}` when the path enters the mesh at this relay, else 404. A relay
 *   asks every peer to find where a publisher pushes a path it does not know.
 * - `POST /mesh/v1/join` (to the root): a relay with readers (or one asking to stay) reports itself; the root
 *   plans the tree and answers the parent to subscribe to, the SDP and the root's output SSRCs. Children repeat
 *   it every second as a lease and to learn re-assignments; `suspects` names parents they lost.
 * - `POST /mesh/v1/renew` (to the root): a member renews all its joins to that root in one call per lease,
 *   listing each path with its readers and the epoch it joined under; the root answers per path the parent, depth
 *   and epoch, or an error that makes the member join that path again. A path's first join stays `join` (its
 *   answer carries the SDP), so the root's control load grows with its members, not members x paths.
 * - `POST /mesh/v1/leave` (to the root): the relay no longer wants the stream.
 * - `POST /mesh/v1/subscribe` (to the parent): send me the stream, framed with the stream id I chose. With a mesh
 *   key both ends say their incarnation (packets are sealed for it) and their sealer's salt (the receiver expects
 *   it, see `MeshOpener.announce`).
 * - `POST /mesh/v1/unsubscribe` (to the parent).
 * - `POST /mesh/v1/rejoin` (to a child, from its draining parent): renew your join now, you are being moved.
 * - `GET  /mesh/v1/paths`: the camera paths the relay is configured with (URL fingerprints): the root of a camera
 *   is chosen only among relays configured with it.
 * @module
 */
import { z } from "zod";
import { INCARNATION_PATTERN } from "./mesh_incarnation.ts";

const node = z.string().min(1).max(253);
/** A stream path: RTSP paths are at most 256 bytes (src/rtsp/limits.ts), so no longer one crosses the mesh. */
const path = z.string().min(1).max(256);
const port = z.number().int().min(1).max(65535);

/** A relay's address as carried in messages. */
export const peerRefSchema = z.object({
  node,
  host: z.string().min(1).max(253),
  adminPort: port,
  meshPort: port,
});
export type PeerRef = z.infer<typeof peerRefSchema>;

/** A relay process's incarnation (mesh_incarnation.ts). */
const incarnation = z.string().regex(INCARNATION_PATTERN);
/** A sealer's salt: 32 hex characters. */
const salt = z.string().regex(/^[0-9a-f]{32}$/);
/** A root's numbering epoch: `node/incarnation/stream id`. */
const epochSchema = z.string().min(1).max(300);

/** A relay speaking of itself: its address and the incarnation of its process. */
export const selfRefSchema = peerRefSchema.extend({ incarnation });
export type SelfRef = z.infer<typeof selfRefSchema>;

/** What a member measures on the hop into it (its first track, since its numbering began), for the root's view. */
export const hopFiguresSchema = z.object({
  /** Share of the packets that never arrived, 0..1. */
  lost: z.number().min(0).max(1),
  /** RFC 3550 interarrival jitter, ms. */
  jitterMs: z.number().min(0).max(1e6),
});
export type HopFigures = z.infer<typeof hopFiguresSchema>;

export const joinRequestSchema = z.object({
  path,
  from: selfRefSchema,
  /** RTSP readers of the path at the sender. */
  readers: z.number().int().min(0),
  /** Parents the sender lost (missed heartbeats or refused subscriptions). */
  suspects: z.array(node).max(64).default([]),
  /** The sender's mesh port hears nothing: keep it out of plans (a leaf fed by the root) until it hears again. */
  deaf: z.boolean().default(false),
  /**
   * The sender pulls the camera itself as the standby root, aligned with this root's numbering: the plan may top a
   * tree with it (only then; dual_planner.ts).
   */
  standby: z.boolean().default(false),
  /** The hop into the sender as it measures it (the root's tree view shows it). */
  hop: hopFiguresSchema.optional(),
});
export type JoinRequest = z.infer<typeof joinRequestSchema>;

export const joinResponseSchema = z.object({
  root: node,
  parent: peerRefSchema,
  sdp: z.string().min(1).max(64 * 1024),
  /** One per track: at most 64 (the bound of --max-tracks-per-stream). */
  outputSsrcs: z.array(z.number().int().min(0).max(0xffffffff)).max(64),
  /** The sender's depth in the tree (1 = child of the root). */
  depth: z.number().int().min(1),
  /**
   * The numbering epoch of the root's stream (`node/incarnation/stream`): it changes when another relay, or another
   * run of the root, starts the stream with a numbering of its own.
   */
  epoch: epochSchema,
  /** With dual-path protection: both parents, `parent` first; the child subscribes to each. */
  parents: z.array(peerRefSchema).min(2).max(2).optional(),
});
export type JoinResponse = z.infer<typeof joinResponseSchema>;

/** Paths renewed in one call at most (the request body is bounded too: the batcher splits long lists). */
export const MAX_RENEW_PATHS = 2000;

/** One path of a {@linkcode renewRequestSchema}. */
export const renewItemSchema = z.object({
  path,
  /** RTSP readers of the path at the sender. */
  readers: z.number().int().min(0),
  /** The epoch the sender joined under: another epoch at the root answers 409 (join again). */
  epoch: epochSchema,
  /** As in a join: the sender is the standby root, aligned. */
  standby: z.boolean().optional(),
  /** As in a join: the hop into the sender. */
  hop: hopFiguresSchema.optional(),
});
export type RenewItem = z.infer<typeof renewItemSchema>;

export const renewRequestSchema = z.object({
  from: selfRefSchema,
  /** The sender's mesh port hears nothing (as in a join). */
  deaf: z.boolean().default(false),
  paths: z.array(renewItemSchema).min(1).max(MAX_RENEW_PATHS).refine(
    (items) => new Set(items.map((i) => i.path)).size === items.length,
    "each path at most once",
  ),
});
export type RenewRequest = z.infer<typeof renewRequestSchema>;

/** The root's answer for one renewed path: the member's place, or why it must join again. */
export const renewResultSchema = z.union([
  z.object({
    parent: peerRefSchema,
    depth: z.number().int().min(1),
    epoch: epochSchema,
    parents: z.array(peerRefSchema).min(2).max(2).optional(),
  }),
  z.object({ status: z.number().int().min(400).max(599), error: z.string().max(1000) }),
]);
export type RenewResult = z.infer<typeof renewResultSchema>;

export const renewResponseSchema = z.object({
  paths: z.record(path, renewResultSchema).refine(
    (p) => Object.keys(p).length <= MAX_RENEW_PATHS,
    `at most ${MAX_RENEW_PATHS} paths`,
  ),
});
export type RenewResponse = z.infer<typeof renewResponseSchema>;

export const leaveRequestSchema = z.object({ path, node });

export const subscribeRequestSchema = z.object({
  path,
  from: selfRefSchema,
  /** The child's sealer salt (with a mesh key): its heartbeats open at the parent without the new-salt budget. */
  salt: salt.optional(),
  /** Id the child gives this subscription: the parent puts it in every frame, the child routes by it. */
  streamId: z.number().int().min(1).max(0xffffffff),
  /** Replay the GOP cache first (a fresh join); false when re-parenting mid-stream. */
  burst: z.boolean().default(false),
  /** The root's epoch the child joined under: a parent in another epoch refuses (409) and the child re-joins. */
  epoch: epochSchema,
});
export type SubscribeRequest = z.infer<typeof subscribeRequestSchema>;

export const subscribeResponseSchema = z.object({
  tracks: z.number().int().min(1),
  /** The parent's incarnation: the child seals its heartbeats for it. */
  incarnation,
  /** The parent's sealer salt (with a mesh key). */
  salt: salt.optional(),
  /** The salt of the parent's data-plane Worker's sealer, which seals a root's copies on the fast plane. */
  planeSalt: salt.optional(),
});
export type SubscribeResponse = z.infer<typeof subscribeResponseSchema>;

export const unsubscribeRequestSchema = z.object({ path, node });

/**
 * `GET /mesh/v1/paths`: the camera paths a relay is configured with, each with its URL's fingerprint (see
 * path_config.ts: never the URL). At most 10,000 paths.
 */
export const pathsResponseSchema = z.object({
  paths: z.record(path, z.string().regex(/^[0-9a-f]{16}$/)).refine(
    (p) => Object.keys(p).length <= 10_000,
    "at most 10000 paths",
  ),
});
