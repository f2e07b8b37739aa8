/**
 * The simulated network between relays: per-link one-way delay with seeded jitter, loss, partitions and hosts
 * that are down. It carries the two things relays say to each other:
 * - peer calls (the `/mesh/v1` protocol): a {@linkcode PeerTransport} per relay, delivered into the target relay's
 *   real Hono app with `app.request()` and the caller's address as `remoteAddr`, as Deno.serve would;
 * - mesh datagrams: a {@linkcode MeshPort} per relay, framed with the real mesh framing.
 *
 * What a caller sees follows what the kernel would do: a host whose relay process is gone (SIGKILL) refuses a
 * connection at once (one round trip); a host that is down or behind a partition answers nothing, and TCP
 * retransmits (the SYN after 1, 2, 4, ... s, other segments after 200 ms, doubling) until a path exists again or
 * the caller's timeout ends the call. Datagrams on one link keep their order (no reordering within a flow); jitter only spaces them.
 * @module
 */
import type { Hono } from "hono";
import type { MeshPort, OpenMeshPort, PeerTransport } from "../../../src/cluster/mesh_io.ts";
import type { PeerAnswer, PeerTarget } from "../../../src/cluster/mesh_http.ts";
import { decodeMeshPacket, encodeMeshPacket, type MeshPacketType } from "../../../src/cluster/mesh_frame.ts";
import { emptyRejectCounts } from "../../../src/cluster/mesh_seal.ts";
import type { MeshPacketHandler, MeshRejectHandler } from "../../../src/cluster/mesh_socket.ts";
import type { RtpRenumber } from "../../../src/rtp/packet.ts";
import { type SimOwner, type SimScheduler, WORLD } from "./scheduler.ts";

/** Delay and loss of the links between two hosts (both directions). */
export interface LinkQuality {
  /** One-way delay in ms. */
  delayMs: number;
  /** Up to this much more, uniform, per packet. */
  jitterMs: number;
  /** Probability that a datagram is lost; a call's segment is retransmitted after 200 ms instead. */
  loss: number;
}

/** Counters of what one host sent and received. */
export interface HostCounters {
  /** Peer calls received, per operation (`join`, `subscribe`, `paths`, ...). */
  callsIn: Map<string, number>;
  callsOut: number;
  /** Heartbeats received. */
  heartbeatsIn: number;
  heartbeatsOut: number;
  /** Media datagrams (RTP/RTCP) received and sent. */
  mediaIn: number;
  mediaOut: number;
}

/** A process listening on a host: its peer protocol app and its mesh port. */
interface Listener {
  owner: SimOwner;
  app: Hono | null;
  port: SimMeshPort | null;
}

/** Thrown to a caller whose connection was refused (no process listening on that host). */
export class ConnectionRefused extends Error {
  constructor(target: string) {
    super(`connection refused: ${target}`);
    this.name = "ConnectionRefused";
  }
}

/** Thrown to a caller whose call got no answer in time. */
export class CallTimedOut extends Error {
  constructor(target: string, ms: number) {
    super(`no answer from ${target} in ${ms} ms`);
    this.name = "CallTimedOut";
  }
}

const RETRANSMIT_MS = 200;

/** Hosts, links and the listeners on them. */
export class SimNetwork {
  readonly #sched: SimScheduler;
  readonly #random: () => number;
  readonly #defaultLink: (a: string, b: string) => LinkQuality;
  readonly #links = new Map<string, LinkQuality>();
  /** Host -> partition group; hosts in different groups cannot reach each other. */
  readonly #group = new Map<string, number>();
  readonly #down = new Set<string>();
  /** Loss on every link of a host. */
  readonly #hostLoss = new Map<string, number>();
  readonly #listeners = new Map<string, Listener>();
  /** Last delivery time per directed link (from, to), so datagrams of a flow keep their order. */
  readonly #lastDelivery = new Map<string, Map<string, number>>();
  readonly counters = new Map<string, HostCounters>();
  #ephemeral = 40000;

  /**
   * @param scheduler the simulated time
   * @param random seeded uniform [0, 1)
   * @param defaultLink the quality of the link between two hosts unless set otherwise
   */
  constructor(
    scheduler: SimScheduler,
    random: () => number,
    defaultLink: (a: string, b: string) => LinkQuality,
  ) {
    this.#sched = scheduler;
    this.#random = random;
    this.#defaultLink = defaultLink;
  }

  /** Counters of `host`. */
  countersOf(host: string): HostCounters {
    let c = this.counters.get(host);
    if (!c) {
      c = { callsIn: new Map(), callsOut: 0, heartbeatsIn: 0, heartbeatsOut: 0, mediaIn: 0, mediaOut: 0 };
      this.counters.set(host, c);
    }
    return c;
  }

  /** Sets the quality of the link between `a` and `b` (null: back to the default). */
  setLink(a: string, b: string, quality: LinkQuality | null): void {
    if (quality) this.#links.set(linkKey(a, b), quality);
    else this.#links.delete(linkKey(a, b));
  }

  /** Makes every link of `host` lose `loss` of its packets (0: back to normal). */
  setHostLoss(host: string, loss: number): void {
    if (loss > 0) this.#hostLoss.set(host, loss);
    else this.#hostLoss.delete(host);
  }

  /** Splits the hosts: `side` on one side, everyone else on the other. */
  partition(side: Iterable<string>): void {
    this.#group.clear();
    for (const host of side) this.#group.set(host, 1);
  }

  /** Ends every partition. */
  heal(): void {
    this.#group.clear();
  }

  /** Takes a host off the network (a node that died: nothing answers, calls time out) or puts it back. */
  setHostDown(host: string, down: boolean): void {
    if (down) this.#down.add(host);
    else this.#down.delete(host);
  }

  /** True when a packet from `a` can reach `b` now. */
  reachable(a: string, b: string): boolean {
    if (this.#down.has(a) || this.#down.has(b)) return false;
    return (this.#group.get(a) ?? 0) === (this.#group.get(b) ?? 0);
  }

  /** Serves `app` (the relay's `/mesh/v1` mounted) and a mesh port for `owner` on `host`. */
  listen(host: string, owner: SimOwner, app: Hono): void {
    const existing = this.#listeners.get(host);
    this.#listeners.set(host, { owner, app, port: existing?.owner === owner ? existing.port : null });
  }

  /** Removes what `owner` listens with on `host` (its process died). */
  unlisten(host: string, owner: SimOwner): void {
    if (this.#listeners.get(host)?.owner === owner) this.#listeners.delete(host);
  }

  /** The peer transport of the process `owner` on `host`. */
  transportFor(host: string, owner: SimOwner): PeerTransport {
    return {
      request: (target, method, path, body, timeoutMs) =>
        this.#request(host, owner, target, method, path, body, timeoutMs),
    };
  }

  /** The mesh-port opener of the process `owner` on `host`. */
  openPortFor(host: string, owner: SimOwner): OpenMeshPort {
    return (_bindHost, port, security) => {
      if (security) throw new Error("the simulation carries open-mesh packets only (no sealing)");
      const meshPort = new SimMeshPort(this, host, port || 7000, owner);
      const listener = this.#listeners.get(host);
      if (listener?.owner === owner) listener.port = meshPort;
      else this.#listeners.set(host, { owner, app: null, port: meshPort });
      return meshPort;
    };
  }

  /** The quality of the link between `a` and `b` now. */
  #quality(a: string, b: string): LinkQuality {
    return (this.#links.size > 0 ? this.#links.get(linkKey(a, b)) : undefined) ?? this.#defaultLink(a, b);
  }

  /** One-way delay of a packet from `a` to `b` sent now, keeping the order of the flow. */
  #deliveryDelay(a: string, b: string, ordered: boolean): number {
    const q = this.#quality(a, b);
    const now = this.#sched.now();
    let at = now + q.delayMs + this.#random() * q.jitterMs;
    if (ordered) {
      let flows = this.#lastDelivery.get(a);
      if (!flows) this.#lastDelivery.set(a, flows = new Map());
      at = Math.max(at, flows.get(b) ?? 0);
      flows.set(b, at);
    }
    return at - now;
  }

  #lost(a: string, b: string): boolean {
    const q = this.#quality(a, b);
    const loss = this.#hostLoss.size === 0
      ? q.loss
      : Math.max(q.loss, this.#hostLoss.get(a) ?? 0, this.#hostLoss.get(b) ?? 0);
    return loss > 0 && this.#random() < loss;
  }

  /** A TCP segment's delay: lost segments are retransmitted (a few times at most). */
  #segmentDelay(a: string, b: string): number {
    let extra = 0;
    for (let i = 0; i < 3 && this.#lost(a, b); i++) extra += RETRANSMIT_MS << i;
    return this.#deliveryDelay(a, b, false) + extra;
  }

  #request(
    from: string,
    owner: SimOwner,
    target: PeerTarget,
    method: "GET" | "POST",
    path: string,
    body: unknown,
    timeoutMs: number,
  ): Promise<PeerAnswer> {
    const url = new URL(target.origin);
    const host = url.hostname;
    const what = `${target.node} (${host}) ${method} ${path}`;
    this.countersOf(from).callsOut++;
    return new Promise<PeerAnswer>((resolve, reject) => {
      let settled = false;
      const settle = (fn: () => void) => {
        if (settled || !owner.alive) return;
        settled = true;
        this.#sched.clear(timer);
        fn();
      };
      const timer = this.#sched.at(
        timeoutMs,
        () => settle(() => reject(new CallTimedOut(what, timeoutMs))),
        owner,
      );
      // The SYN (and the request) go when a path exists, retried as TCP does (1, 2, 4, ... s) while none does.
      /** The kernel's RST on its way back to the caller. */
      const reset = () =>
        this.#reliably(
          host,
          from,
          200,
          () => settled,
          () => settle(() => reject(new ConnectionRefused(what))),
        );
      this.#reliably(from, host, 1000, () => settled, () => {
        const listener = this.#listeners.get(host);
        if (!listener?.app || !listener.owner.alive) {
          // The host is up, nothing listens: RST comes straight back.
          reset();
          return;
        }
        const op = path.replace(/^\/mesh\/v1\//, "").split("/")[0] ?? path;
        const callsIn = this.countersOf(host).callsIn;
        callsIn.set(op, (callsIn.get(op) ?? 0) + 1);
        const serving = listener.owner;
        const init: RequestInit = { method };
        if (body !== undefined) {
          init.body = JSON.stringify(body);
          init.headers = { "content-type": "application/json" };
        }
        const remoteAddr = { transport: "tcp", hostname: from, port: this.#ephemeral++ };
        if (this.#ephemeral > 60000) this.#ephemeral = 40000;
        void (async () => {
          let answer: PeerAnswer;
          try {
            const res = await listener.app!.request(`http://${host}:${url.port || 80}${path}`, init, {
              remoteAddr,
            });
            answer = { status: res.status, text: await res.text() };
          } catch (err) {
            answer = { status: 500, text: String(err) };
          }
          if (!serving.alive) {
            // Killed while answering: the kernel resets the connection.
            reset();
            return;
          }
          this.#reliably(host, from, 200, () => settled, () => settle(() => resolve(answer)));
        })();
      });
    });
  }

  /**
   * Delivers one TCP transmission from `a` to `b`: sent now if a path exists, else retransmitted after `rtoMs`,
   * doubling, until `done()` (the caller gave up); a segment a partition swallows on the way is retransmitted too.
   */
  #reliably(a: string, b: string, rtoMs: number, done: () => boolean, deliver: () => void): void {
    const attempt = (rto: number) => {
      if (done()) return;
      if (!this.reachable(a, b)) return void this.#sched.at(rto, () => attempt(rto * 2), WORLD);
      this.#sched.at(this.#segmentDelay(a, b), () => {
        if (done()) return;
        if (!this.reachable(a, b)) return void this.#sched.at(rto, () => attempt(rto * 2), WORLD);
        deliver();
      }, WORLD);
    };
    attempt(rtoMs);
  }

  /** Sends one mesh datagram from `from` (its port `fromPort`) to `to`. */
  sendDatagram(
    from: string,
    fromPort: number,
    to: Deno.NetAddr,
    datagram: Uint8Array,
    heartbeat: boolean,
  ): void {
    const sent = this.countersOf(from);
    if (heartbeat) sent.heartbeatsOut++;
    else sent.mediaOut++;
    const host = to.hostname;
    if (!this.reachable(from, host) || this.#lost(from, host)) return;
    this.#sched.at(this.#deliveryDelay(from, host, true), () => {
      if (!this.reachable(from, host)) return;
      const listener = this.#listeners.get(host);
      const port = listener?.port;
      if (!port || !listener.owner.alive || port.port !== to.port || port.closed) return;
      const got = this.countersOf(host);
      if (heartbeat) got.heartbeatsIn++;
      else got.mediaIn++;
      port.deliver(datagram, { transport: "udp", hostname: from, port: fromPort });
    }, WORLD);
  }
}

/** A relay's mesh port on the simulated network. */
export class SimMeshPort implements MeshPort {
  readonly rejected = emptyRejectCounts();
  onPacket: MeshPacketHandler = () => {};
  onReject: MeshRejectHandler = () => {};
  closed = false;

  /**
   * @param net the network
   * @param host the relay's address
   * @param port the bound port
   * @param owner the relay process
   */
  constructor(
    readonly net: SimNetwork,
    readonly host: string,
    readonly port: number,
    readonly owner: SimOwner,
  ) {}

  send(
    to: Deno.NetAddr,
    _incarnation: Uint8Array,
    type: MeshPacketType,
    streamId: number,
    track: number,
    payload: Uint8Array,
    renumber: RtpRenumber | null = null,
  ): void {
    if (this.closed || !this.owner.alive) return;
    let datagram: Uint8Array;
    try {
      datagram = encodeMeshPacket(type, streamId, track, payload, renumber);
    } catch {
      return;
    }
    this.net.sendDatagram(this.host, this.port, to, datagram, type === "heartbeat");
  }

  /** A datagram arrives from `from`. */
  deliver(datagram: Uint8Array, from: Deno.NetAddr): void {
    const packet = decodeMeshPacket(datagram);
    if (typeof packet === "string") {
      this.rejected.malformed++;
      this.onReject({ reason: "malformed", message: packet }, from);
      return;
    }
    this.onPacket(packet, from);
  }

  close(): void {
    this.closed = true;
  }
}

function linkKey(a: string, b: string): string {
  return a < b ? `${a}|${b}` : `${b}|${a}`;
}
