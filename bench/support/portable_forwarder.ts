/**
 * The baseline of the data-plane bench: a plain UDP forwarder (one `Deno.listenDatagram` socket, one receive
 * loop, one non-awaited send per destination per datagram), what a Deno program does without the relay's fast
 * plane. Runs on every OS Deno supports. The relay itself forwards through its tracks and `UdpPortPair`
 * (src/relay), on the fast plane (src/dataplane/shared_udp.ts) where it can; this file is the bench's only.
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

/** Forwards with `Deno.listenDatagram`, on the calling thread. */
export class PortableForwarder implements Forwarder {
  readonly port: number;
  readonly #conn: Deno.DatagramConn;
  #destinations: Deno.NetAddr[] = [];
  #closed = false;
  #loop: Promise<void>;
  readonly #counters: ForwarderStats = {
    received: 0,
    receivedBytes: 0,
    sent: 0,
    sendErrors: 0,
    batches: 0,
    destinations: 0,
  };

  private constructor(conn: Deno.DatagramConn, destinations: readonly Destination[]) {
    this.#conn = conn;
    this.port = (conn.addr as Deno.NetAddr).port;
    for (const d of destinations) this.#add(d);
    this.#loop = this.#receive();
  }

  /**
   * Binds and starts forwarding.
   * @param options bind address, port and initial destinations
   * @returns the running forwarder
   */
  static start(options: ForwarderOptions = {}): PortableForwarder {
    const conn = Deno.listenDatagram({
      transport: "udp",
      hostname: options.hostname ?? "127.0.0.1",
      port: options.port ?? 0,
    });
    return new PortableForwarder(conn, options.destinations ?? []);
  }

  #add(d: Destination): void {
    const key = destinationKey(d);
    if (this.#destinations.some((a) => destinationKey(a) === key)) return;
    this.#destinations = [...this.#destinations, { transport: "udp", hostname: d.hostname, port: d.port }];
    this.#counters.destinations = this.#destinations.length;
  }

  /** @inheritdoc */
  addDestination(destination: Destination): Promise<void> {
    this.#add(destination);
    return Promise.resolve();
  }

  /** @inheritdoc */
  removeDestination(destination: Destination): Promise<void> {
    const key = destinationKey(destination);
    this.#destinations = this.#destinations.filter((a) => destinationKey(a) !== key);
    this.#counters.destinations = this.#destinations.length;
    return Promise.resolve();
  }

  /** @inheritdoc */
  stats(): ForwarderStats {
    return { ...this.#counters };
  }

  /** @inheritdoc */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#conn.close();
    } catch { /* already closed */ }
    await this.#loop;
  }

  /** @inheritdoc */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  readonly #countSendError = (): void => {
    this.#counters.sendErrors++;
  };

  async #receive(): Promise<void> {
    const c = this.#counters;
    while (!this.#closed) {
      let packet: Uint8Array;
      try {
        [packet] = await this.#conn.receive();
      } catch {
        if (this.#closed) return;
        // An ICMP error surfaced on receive: keep going.
        await new Promise((r) => setTimeout(r, 1));
        continue;
      }
      c.received++;
      c.receivedBytes += packet.length;
      c.batches++;
      const dests = this.#destinations;
      for (let i = 0; i < dests.length; i++) {
        this.#conn.send(packet, dests[i]!).catch(this.#countSendError);
      }
      c.sent += dests.length;
    }
  }
}
