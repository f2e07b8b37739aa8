/**
 * Portable forwarder: one `Deno.listenDatagram` socket, one receive loop, one non-awaited send per
 * destination per datagram. Runs on every OS Deno supports: the baseline of the data-plane bench.
 * @module
 */
import {
  type Destination,
  destinationKey,
  type Forwarder,
  type ForwarderOptions,
  type ForwarderStats,
} from "./forwarder.ts";

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
