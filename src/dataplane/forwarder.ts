/**
 * The UDP forwarding data plane behind one interface: receive on one port, send every datagram to every
 * destination. Two implementations: the Linux fast path ({@linkcode FastForwarder}: libc recvmmsg/sendmmsg
 * through `Deno.dlopen`, in its own Worker) and the portable path ({@linkcode PortableForwarder}:
 * `Deno.listenDatagram`). {@linkcode createForwarder} picks one.
 * @module
 */

/** A UDP destination. The fast path takes IPv4 literals only (`"127.0.0.1"`, not host names). */
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
  /** Receive wake-ups (one per recvmmsg batch on the fast path, one per datagram on the portable path). */
  batches: number;
  /** Destinations currently programmed. */
  destinations: number;
}

/** Which implementation runs. */
export type ForwarderKind = "fast" | "portable";

/** A running forwarder. Commands are plain data, so they work across a Worker boundary. */
export interface Forwarder extends AsyncDisposable {
  readonly kind: ForwarderKind;
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

/** Options of {@linkcode createForwarder}. */
export interface ForwarderOptions {
  /** Bind address. @default "127.0.0.1" */
  hostname?: string;
  /** Ingress port, 0 for any free one. @default 0 */
  port?: number;
  /** Initial destinations. @default [] */
  destinations?: readonly Destination[];
  /**
   * `"fast"` requires the fast path (throws when unavailable), `"portable"` never uses it, `"auto"` uses it on
   * Linux when libc loads (FFI permission granted) and falls back to portable otherwise.
   * @default "auto"
   */
  prefer?: "fast" | "portable" | "auto";
}

/** Key of a destination in a forwarding table. */
export function destinationKey(d: Destination): string {
  return `${d.hostname}:${d.port}`;
}

/**
 * Starts a forwarder.
 * @param options where to listen, where to send and which implementation to prefer
 * @returns the running forwarder
 * @example
 * ```ts
 * await using fwd = await createForwarder({ port: 5004, destinations: [{ hostname: "127.0.0.1", port: 6000 }] });
 * console.log(fwd.kind, fwd.stats().received);
 * ```
 */
export async function createForwarder(options: ForwarderOptions = {}): Promise<Forwarder> {
  const prefer = options.prefer ?? "auto";
  if (prefer !== "portable") {
    const { FastForwarder, fastPathAvailable } = await import("./fast_udp.ts");
    if (prefer === "fast") return await FastForwarder.start(options);
    if (fastPathAvailable()) {
      try {
        return await FastForwarder.start(options);
      } catch (err) {
        // Address errors are the caller's, not the fast path's: don't hide them behind a fallback.
        if (err instanceof Deno.errors.AddrInUse) throw err;
      }
    }
  }
  const { PortableForwarder } = await import("./portable_udp.ts");
  return PortableForwarder.start(options);
}
