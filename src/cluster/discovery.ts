/**
 * Peer discovery: who the other relays are, where to reach them and which zone they are in. Backends
 * (kubernetes list/watch, static `--peer` list, none) implement {@linkcode Discovery}; the mesh reads the view.
 * @module
 */

/** One relay as discovery sees it. */
export interface Peer {
  /** Node name: the relay's identity in the mesh (unique per relay). */
  readonly node: string;
  /** Zone (`topology.kubernetes.io/zone` of its Node), or "" when unknown. */
  readonly zone: string;
  /** Address its ports listen on (pod IP = host IP under hostNetwork, or a 127.0.0.x address off-cluster). */
  readonly host: string;
  readonly rtspPort: number;
  readonly adminPort: number;
  readonly meshPort: number;
  /** False while the pod is not Ready (or being deleted); the mesh only attaches to ready peers. */
  readonly ready: boolean;
}

/** Where a Kubernetes Service's ready endpoints run (EndpointSlices). */
export interface ServiceEndpoint {
  /** Endpoint address (pod IP). */
  readonly address: string;
  /** Node the endpoint's pod runs on, when the slice says. */
  readonly nodeName: string | undefined;
  /** Port number of the slice's port named like the URL's port, or of its only port. */
  readonly ports: ReadonlyArray<{ name: string | undefined; port: number }>;
}

/** A discovery backend. */
export interface Discovery {
  readonly kind: "kubernetes" | "static" | "none";
  /** Starts watching. Resolves once the first complete view is in (synced), or rejects on a fatal setup error. */
  start(): Promise<void>;
  /** True once a complete view has been received (and stays true while a relist is running). */
  readonly synced: boolean;
  /** The current view, self included when the backend sees it, sorted by node name. */
  peers(): readonly Peer[];
  /** Calls `listener` after every change of the view. @returns a function that removes the listener */
  onChange(listener: (peers: readonly Peer[]) => void): () => void;
  /**
   * Ready endpoints of Service `name` in `namespace` (kubernetes only; others return null). Used to find the node
   * a camera pod runs on, to pick the root of its stream.
   */
  serviceEndpoints(namespace: string, name: string): readonly ServiceEndpoint[] | null;
  /** Stops watching and releases connections and timers. */
  stop(): Promise<void>;
}
