/**
 * Sends datagrams on a socket so that two of them to one destination leave in the order they were given.
 *
 * Deno (2.9) completes a `DatagramConn.send` at once while the socket is known writable; otherwise (a socket just
 * bound whose readiness the runtime has not seen yet, or one whose send buffer was full a moment ago) the sends
 * wait for readiness and are then handed to the kernel in reverse order: 40 unawaited sends to one address arrive
 * 39, 38, ..., 0. A relay sends many datagrams in one turn to one destination whenever it bursts (a GOP cache to a
 * new reader or child), and a decoder given its keyframe backwards cannot use it. So each destination is a lane:
 * its next datagram is handed to the runtime only once the previous one was sent; datagrams to other destinations
 * do not wait for it.
 * @module
 */

/** The socket side: what `Deno.DatagramConn.send` does. */
export type SendDatagram = (data: Uint8Array, to: Deno.NetAddr) => Promise<unknown>;

/** Datagrams waiting behind the one in flight, per destination, at most: beyond it they are dropped (counted). */
export const MAX_LANE_QUEUE = 4096;

interface Lane {
  readonly key: string;
  readonly queue: Array<{ data: Uint8Array; to: Deno.NetAddr }>;
}

/** In-order sends per destination over one socket. */
export class OrderedSender {
  readonly #send: SendDatagram;
  readonly #onError: () => void;
  /** Destinations with a datagram in flight (idle ones are forgotten, so this holds only the busy ones). */
  readonly #lanes = new Map<string, Lane>();

  /**
   * @param send the socket's send
   * @param onError called once per datagram that failed or was dropped because its lane was full
   */
  constructor(send: SendDatagram, onError: () => void) {
    this.#send = send;
    this.#onError = onError;
  }

  /** Destinations with a datagram in flight now. */
  get busyLanes(): number {
    return this.#lanes.size;
  }

  /**
   * Sends `data` to `to` after every datagram given before for the same destination; never throws. The buffer
   * must stay unchanged until it is sent.
   */
  send(data: Uint8Array, to: Deno.NetAddr): void {
    const key = `${to.hostname}|${to.port}`;
    const lane = this.#lanes.get(key);
    if (lane) {
      if (lane.queue.length >= MAX_LANE_QUEUE) return this.#onError();
      lane.queue.push({ data, to });
      return;
    }
    const fresh: Lane = { key, queue: [] };
    this.#lanes.set(key, fresh);
    this.#start(fresh, data, to);
  }

  #start(lane: Lane, data: Uint8Array, to: Deno.NetAddr): void {
    let sent: Promise<unknown>;
    try {
      sent = this.#send(data, to);
    } catch {
      // A closed socket throws at once.
      this.#onError();
      return this.#next(lane);
    }
    sent.then(() => this.#next(lane), () => {
      this.#onError();
      this.#next(lane);
    });
  }

  #next(lane: Lane): void {
    const next = lane.queue.shift();
    if (next) this.#start(lane, next.data, next.to);
    else this.#lanes.delete(lane.key);
  }
}
