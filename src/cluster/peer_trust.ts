/**
 * Whom the mesh believes, from discovery's view and whether there is a mesh key. With a key, signatures and
 * sealing prove a caller or a sender holds it; without, only the relays discovery knows may call, from the address
 * it gives for them, and media goes only to the mesh address discovery gives, never to one a request body names.
 * @module
 */
import { plainAddress } from "../address.ts";
import type { Discovery, Peer } from "./discovery.ts";
import type { PeerRef } from "./mesh_protocol.ts";

/** Options of {@linkcode PeerTrust}. */
export interface PeerTrustOptions {
  /** This relay's node name. */
  self: string;
  discovery: Pick<Discovery, "peers">;
  /** True when the mesh has keys (callers and senders authenticated). */
  keyed: () => boolean;
}

/** Discovery's view as the mesh trusts it. */
export class PeerTrust {
  readonly #opts: PeerTrustOptions;

  /** @param options this relay, discovery and whether there are keys */
  constructor(options: PeerTrustOptions) {
    this.#opts = options;
  }

  /** True when the mesh has keys. */
  get keyed(): boolean {
    return this.#opts.keyed();
  }

  /** The other relay discovery knows as `node`. */
  knownPeer(node: string): Peer | undefined {
    if (node === this.#opts.self) return undefined;
    return this.#opts.discovery.peers().find((p) => p.node === node);
  }

  /**
   * `ref` as this relay may act on it: the addresses discovery gives for a node it knows, whatever a request body or
   * an answer says; a node discovery does not know only with a mesh key (the caller proved it holds the key); else
   * null.
   */
  trustedRef<R extends PeerRef>(ref: R): R | null {
    if (ref.node === this.#opts.self) return ref;
    const known = this.knownPeer(ref.node);
    if (known) return { ...ref, host: known.host, adminPort: known.adminPort, meshPort: known.meshPort };
    return this.#opts.keyed() ? ref : null;
  }

  /** Without a mesh key, true only for a call from one of the relays discovery knows (its address). */
  knownCaller(from: string | null): boolean {
    if (this.#opts.keyed()) return true;
    return from !== null &&
      this.#opts.discovery.peers().some((p) =>
        p.node !== this.#opts.self && plainAddress(p.host) === plainAddress(from)
      );
  }

  /** Without a mesh key, true only when a call comes from the address discovery gives for `node`. */
  callerIs(from: string | null, node: string): boolean {
    if (this.#opts.keyed()) return true;
    const known = this.knownPeer(node);
    return known !== undefined && from !== null && plainAddress(known.host) === plainAddress(from);
  }

  /**
   * True when a datagram from `from` may be taken for one of relay `node`: with a mesh key, sealing proved it comes
   * from a key holder; without, it must come from the mesh address discovery gives for `node`.
   */
  fromPeer(from: Deno.NetAddr, node: string): boolean {
    if (this.#opts.keyed()) return true;
    const known = this.knownPeer(node);
    return known !== undefined && known.meshPort === from.port &&
      plainAddress(known.host) === plainAddress(from.hostname);
  }
}
