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

/** Idle lanes kept for reuse at most (beyond it the idle ones are forgotten: destinations come and go). */
const MAX_IDLE_LANES = 1024;

/**
 * One destination. Lanes are kept and reused, with their callbacks made once, so that the steady state (one
 * datagram per destination per turn) allocates nothing per datagram beyond the runtime's own promise.
 */
class Lane {
  busy = false;
  /** Waiting datagrams (their destination is the lane's). */
  readonly queue: Uint8Array[] = [];
  readonly onSent: () => void;
  readonly onFailed: () => void;

  constructor(readonly to: Deno.NetAddr, sender: OrderedSender, onError: () => void) {
    this.onSent = () => sender.next(this);
    this.onFailed = () => {
      onError();
      sender.next(this);
    };
  }
}

/** In-order sends per destination over one socket. */
export class OrderedSender {
  readonly #send: SendDatagram;
  readonly #onError: () => void;
  /** Lanes by port, then host (no key string built per datagram). */
  readonly #lanes = new Map<number, Map<string, Lane>>();
  #laneCount = 0;
  #busy = 0;

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
    return this.#busy;
  }

  /**
   * Sends `data` to `to` after every datagram given before for the same destination; never throws. The buffer
   * must stay unchanged until it is sent.
   */
  send(data: Uint8Array, to: Deno.NetAddr): void {
    let byHost = this.#lanes.get(to.port);
    let lane = byHost?.get(to.hostname);
    if (!lane) {
      if (this.#laneCount >= MAX_IDLE_LANES) this.#forgetIdle();
      lane = new Lane({ transport: "udp", hostname: to.hostname, port: to.port }, this, this.#onError);
      if (!byHost) this.#lanes.set(to.port, byHost = new Map());
      byHost.set(to.hostname, lane);
      this.#laneCount++;
    }
    if (lane.busy) {
      if (lane.queue.length >= MAX_LANE_QUEUE) return this.#onError();
      lane.queue.push(data);
      return;
    }
    lane.busy = true;
    this.#busy++;
    this.#start(lane, data);
  }

  /** The datagram in flight on `lane` was sent (or failed): the next one goes. Called by the lane. */
  next(lane: Lane): void {
    const data = lane.queue.shift();
    if (data) return this.#start(lane, data);
    lane.busy = false;
    this.#busy--;
  }

  #start(lane: Lane, data: Uint8Array): void {
    let sent: Promise<unknown>;
    try {
      sent = this.#send(data, lane.to);
    } catch {
      // A closed socket throws at once.
      return lane.onFailed();
    }
    sent.then(lane.onSent, lane.onFailed);
  }

  #forgetIdle(): void {
    for (const [port, byHost] of this.#lanes) {
      for (const [host, lane] of byHost) {
        if (lane.busy) continue;
        byHost.delete(host);
        this.#laneCount--;
      }
      if (byHost.size === 0) this.#lanes.delete(port);
    }
  }
}
