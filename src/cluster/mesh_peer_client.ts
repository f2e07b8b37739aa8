/**
 * The calling side of the peer protocol as the mesh uses it: calls to other relays' `/mesh/v1` through a
 * {@linkcode PeerTransport} (HTTP, signed when there are keys), always to the addresses discovery gives (or, with
 * a key, to a key holder), with the answers checked against the protocol's schemas. A peer that does not answer is
 * reported unreachable; one that answers is reported heard.
 * @module
 */
import { hostForUrl } from "../address.ts";
import type { Logger } from "../log.ts";
import type { Peer } from "./discovery.ts";
import { UnsignedAnswerError } from "./mesh_http.ts";
import type { PeerTransport } from "./mesh_io.ts";
import {
  type JoinRequest,
  type JoinResponse,
  joinResponseSchema,
  pathsResponseSchema,
  type PeerRef,
  type RenewRequest,
  renewResponseSchema,
  type RenewResult,
  type SubscribeRequest,
  type SubscribeResponse,
  subscribeResponseSchema,
} from "./mesh_protocol.ts";
import type { PathFingerprints } from "./path_config.ts";
import type { PeerTrust } from "./peer_trust.ts";

/** An error a peer answered (or a call refused before it left), with the status to act on. */
export class PeerError extends Error {
  /**
   * @param status the HTTP status (403 for a relay this one may not call, 502 for an answer that is not JSON)
   * @param message what failed, naming the peer and the operation
   */
  constructor(readonly status: number, message: string) {
    super(message);
    this.name = "PeerError";
  }
}

/** Options of {@linkcode MeshPeerClient}. */
export interface MeshPeerClientOptions {
  transport: PeerTransport;
  trust: PeerTrust;
  logger: Logger;
  /** A peer did not answer, or not as one of ours (an unsigned answer): keep it out until it speaks. */
  onUnreachable(node: string): void;
  /** A peer answered a call with success. */
  onHeard(node: string): void;
}

/** Calls to other relays. */
export class MeshPeerClient {
  readonly #opts: MeshPeerClientOptions;

  /** @param options transport, trust, logger and the detector's hooks */
  constructor(options: MeshPeerClientOptions) {
    this.#opts = options;
  }

  /** Asks `root` for a place in the tree of `body.path` (the first join of a path, or after a failure). */
  async join(root: PeerRef, body: JoinRequest, timeoutMs: number): Promise<JoinResponse> {
    return joinResponseSchema.parse(await this.call(root, "join", body, timeoutMs));
  }

  /** Renews joins to `root`, one call for all the paths listed: the root's answer per path. */
  async renew(root: PeerRef, body: RenewRequest, timeoutMs = 2000): Promise<Record<string, RenewResult>> {
    return renewResponseSchema.parse(await this.call(root, "renew", body, timeoutMs)).paths;
  }

  /** Asks `parent` to send the stream of `body.path` framed with `body.streamId`. */
  async subscribe(parent: PeerRef, body: SubscribeRequest): Promise<SubscribeResponse> {
    return subscribeResponseSchema.parse(await this.call(parent, "subscribe", body));
  }

  /**
   * The camera paths `node` says it is configured with.
   * @returns "refused" for an answer that is not its paths (it refuses this relay, speaks another protocol, or is
   *   not signed with the mesh key: configured with nothing, for now); null when it did not answer at all (a peer
   *   starting: ask again soon)
   */
  async paths(node: string): Promise<PathFingerprints | "refused" | null> {
    const peer = this.#opts.trust.knownPeer(node);
    if (!peer) return null;
    try {
      const res = await this.#opts.transport.request(
        { node, origin: originOf(peer) },
        "GET",
        "/mesh/v1/paths",
        undefined,
        2000,
      );
      const parsed = res.status === 200 ? pathsResponseSchema.safeParse(safeJson(res.text)) : null;
      if (parsed?.success) return parsed.data.paths;
      this.#opts.logger.debug("peer paths refused", {
        peer: node,
        status: res.status,
        answer: res.text.slice(0, 200),
      });
      return "refused";
    } catch (err) {
      this.#opts.logger.debug("peer paths not fetched", { peer: node, error: String(err) });
      return err instanceof UnsignedAnswerError ? "refused" : null;
    }
  }

  /** True when `path` enters the mesh at `peer` (a publisher there); false for no, or no answer. */
  /** The root's view of `path`'s tree (its plan, members and their hops), or null when it gives none. */
  async rootTree(root: PeerRef, path: string): Promise<Record<string, unknown> | null> {
    const peer = this.#opts.trust.knownPeer(root.node);
    if (!peer) return null;
    try {
      const res = await this.#opts.transport.request(
        { node: root.node, origin: originOf(peer) },
        "GET",
        `/mesh/v1/tree/${encodePath(path)}`,
        undefined,
        1000,
      );
      const body = res.status === 200 ? safeJson(res.text) : null;
      return body && typeof body === "object" ? body as Record<string, unknown> : null;
    } catch {
      return null;
    }
  }

  async servesRoot(peer: Peer, path: string): Promise<boolean> {
    try {
      const res = await this.#opts.transport.request(
        { node: peer.node, origin: originOf(peer) },
        "GET",
        `/mesh/v1/roots/${encodePath(path)}`,
        undefined,
        1000,
      );
      return res.status === 200;
    } catch {
      return false;
    }
  }

  /**
   * POSTs `body` to `to`'s `/mesh/v1/{op}`.
   * @returns the answer's JSON
   * @throws {PeerError} for a relay this one may not call or an error status; the transport's error for no answer
   */
  async call(to: PeerRef, op: string, body: unknown, timeoutMs = 2000): Promise<unknown> {
    const peer = this.#opts.trust.trustedRef(to);
    if (!peer) {
      throw new PeerError(
        403,
        `${to.node} ${op}: not a relay discovery knows (without a mesh key, only those)`,
      );
    }
    let res: { status: number; text: string };
    try {
      res = await this.#opts.transport.request(
        { node: peer.node, origin: originOf(peer) },
        "POST",
        `/mesh/v1/${op}`,
        body,
        timeoutMs,
      );
    } catch (err) {
      // Unreachable (refused, timed out) or not one of ours (an unsigned answer).
      this.#opts.onUnreachable(peer.node);
      throw err;
    }
    const json = safeJson(res.text) as { error?: string } | null | undefined;
    if (json === undefined) throw new PeerError(502, `${peer.node} ${op}: the answer is not JSON`);
    if (res.status < 200 || res.status > 299) {
      throw new PeerError(res.status, `${peer.node} ${op}: ${res.status} ${json?.error ?? res.text}`);
    }
    this.#opts.onHeard(peer.node);
    return json;
  }
}

/** `http://host:port` of a relay's admin port. */
export function originOf(p: Pick<Peer, "host" | "adminPort">): string {
  return `http://${hostForUrl(p.host)}:${p.adminPort}`;
}

/** A path as a URL path, each segment percent-encoded. */
export function encodePath(path: string): string {
  return path.split("/").map(encodeURIComponent).join("/");
}

/** The JSON of `text`: null for an empty text, undefined when it is not JSON. */
function safeJson(text: string): unknown {
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
