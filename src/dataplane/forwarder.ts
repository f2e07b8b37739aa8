/**
 * A plain UDP forwarder's contract: receive on one port, send every datagram to every destination. The data-plane
 * bench runs {@linkcode PortableForwarder} (a `Deno.listenDatagram` loop, portable_udp.ts) as the baseline of
 * what a Deno program does without the relay's fast plane; the relay itself forwards through its tracks and
 * `UdpPortPair` (src/relay), on the fast plane (shared_udp.ts) where it can.
 * @module
 */

/** A UDP destination. */
export interface Destination {
  hostname: string;
  port: number;
}

/** Counters of a forwarder since it started. */
export interface ForwarderStats {
  /** Datagrams received on the ingress port. */
  received: number;
  /** Bytes of those datagrams. */
  receivedBytes: number;
  /** Copies handed to the kernel (one per datagram per destination). */
  sent: number;
  /** Copies the kernel refused. */
  sendErrors: number;
  /** Receive wake-ups (one per datagram). */
  batches: number;
  /** Destinations currently programmed. */
  destinations: number;
}

/** A running forwarder. */
export interface Forwarder extends AsyncDisposable {
  /** The bound ingress port. */
  readonly port: number;
  /** Adds a destination (idempotent); resolves once the data plane applies it. */
  addDestination(destination: Destination): Promise<void>;
  /** Removes a destination (no-op when absent); resolves once the data plane applies it. */
  removeDestination(destination: Destination): Promise<void>;
  /** Current counters, read without a round trip. */
  stats(): ForwarderStats;
  /** Stops forwarding and releases the port; resolves once the port is free. */
  close(): Promise<void>;
}

/** Where a forwarder listens and sends. */
export interface ForwarderOptions {
  /** Bind address. @default "127.0.0.1" */
  hostname?: string;
  /** Ingress port, 0 for any free one. @default 0 */
  port?: number;
  /** Initial destinations. @default [] */
  destinations?: readonly Destination[];
}

/** Key of a destination in a forwarding table. */
export function destinationKey(d: Destination): string {
  return `${d.hostname}:${d.port}`;
}
