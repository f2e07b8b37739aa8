/**
 * The relay's one UDP port for WebRTC viewers (`--webrtc-port`): every WHEP session's ICE, DTLS and SRTP share it
 * (one firewall rule, one socket however many viewers). A datagram goes to the session whose username fragment a
 * STUN request names, otherwise to the session that selected its source address; anything else is dropped and
 * counted. The thin shell around {@linkcode WhepSession}s: it owns the socket and a clock, they own the protocol.
 *
 * On the fast data plane the socket is the plane's: its Worker receives with recvmmsg and sends every viewer's
 * SRTP with sendmmsg, where a `Deno.DatagramConn.send` from this thread costs a promise and an op per packet;
 * elsewhere it is Deno's.
 * @module
 */
import { isStun, stunUsername } from "./stun.ts";
import type { WhepSession } from "./whep_session.ts";
import { monotonicMs } from "../clock.ts";
import { contained } from "../contain.ts";
import { fastPlaneUnavailable, type FastUdpPlane } from "../dataplane/shared_udp.ts";

/** What the port needs of the fast data plane (the relay's `FastUdpPlane`). */
export type DatagramPlane = Pick<FastUdpPlane, "bind" | "send" | "closeSocket" | "localPort">;

/** Hands a received datagram to the port (the bytes are valid only during the call). */
type Deliver = (bytes: Uint8Array, hostname: string, port: number) => void;

/** The socket under the port. */
interface PortSocket {
  readonly port: number;
  send(bytes: Uint8Array, to: Deno.NetAddr): void;
  close(): void;
}

/** Deno's socket: a promise per datagram received and per datagram sent. */
class DenoPortSocket implements PortSocket {
  readonly port: number;
  readonly #conn: Deno.DatagramConn;
  #closed = false;

  constructor(hostname: string, port: number, deliver: Deliver) {
    this.#conn = Deno.listenDatagram({ transport: "udp", hostname, port });
    this.port = (this.#conn.addr as Deno.NetAddr).port;
    void this.#receive(deliver);
  }

  send(bytes: Uint8Array, to: Deno.NetAddr): void {
    if (!this.#closed) this.#conn.send(bytes, to).catch(() => {});
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#conn.close();
  }

  async #receive(deliver: Deliver): Promise<void> {
    const buffer = new Uint8Array(65536);
    while (!this.#closed) {
      let got: [Uint8Array, Deno.Addr];
      try {
        got = await this.#conn.receive(buffer);
      } catch {
        if (this.#closed) return;
        continue; // an ICMP error of an earlier send, surfaced here
      }
      const from = got[1] as Deno.NetAddr;
      deliver(got[0], from.hostname, from.port);
    }
  }
}

/** The fast plane's socket: its Worker receives and sends in batches; a send is copied into the plane's outbox. */
class PlanePortSocket implements PortSocket {
  readonly port: number;
  readonly #plane: DatagramPlane;
  readonly #fd: number;
  #closed = false;

  constructor(plane: DatagramPlane, hostname: string, port: number, deliver: Deliver) {
    this.#plane = plane;
    this.#fd = plane.bind(hostname, port, (packet, from) => deliver(packet, from.hostname, from.port));
    this.port = port !== 0 ? port : plane.localPort(this.#fd);
  }

  send(bytes: Uint8Array, to: Deno.NetAddr): void {
    if (!this.#closed) this.#plane.send(this.#fd, bytes, to);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#plane.closeSocket(this.#fd);
  }
}

/** The shared WebRTC UDP port. */
export class WebrtcPort {
  readonly port: number;
  /** Whether the fast plane's Worker holds the socket. */
  readonly onPlane: boolean;
  /** Datagrams no session took. */
  unknown = 0;
  readonly #socket: PortSocket;
  readonly #byUfrag = new Map<string, WhepSession>();
  readonly #byAddress = new Map<string, WhepSession>();
  readonly #remoteOf = new Map<WhepSession, string>();
  /** The sessions' timer (consent, keepalives), running only while there are sessions: an idle relay sleeps. */
  #tick: ReturnType<typeof setInterval> | undefined;

  private constructor(open: (deliver: Deliver) => PortSocket, onPlane: boolean) {
    this.#socket = open((bytes, hostname, port) =>
      contained("webrtc datagram", () => this.#dispatch(bytes, hostname, port))
    );
    this.port = this.#socket.port;
    this.onPlane = onPlane;
  }

  /**
   * Binds `hostname`:`port` (0: any free port), on the fast plane when there is one and it can bind `hostname`.
   * @throws Deno's error when the port is taken
   */
  static open(hostname: string, port: number, plane: DatagramPlane | null = null): WebrtcPort {
    if (plane && fastPlaneUnavailable(hostname) === null) {
      return new WebrtcPort((deliver) => new PlanePortSocket(plane, hostname, port, deliver), true);
    }
    return new WebrtcPort((deliver) => new DenoPortSocket(hostname, port, deliver), false);
  }

  /** Sessions on the port. */
  get size(): number {
    return this.#byUfrag.size;
  }

  add(session: WhepSession): void {
    this.#byUfrag.set(session.localUfrag, session);
    this.#tick ??= setInterval(() => {
      const now = monotonicMs();
      for (const s of this.#byUfrag.values()) contained("webrtc tick", () => s.tick(now));
    }, 1000);
  }

  remove(session: WhepSession): void {
    if (this.#byUfrag.get(session.localUfrag) === session) this.#byUfrag.delete(session.localUfrag);
    const remote = this.#remoteOf.get(session);
    if (remote !== undefined && this.#byAddress.get(remote) === session) this.#byAddress.delete(remote);
    this.#remoteOf.delete(session);
    if (this.#byUfrag.size === 0) {
      clearInterval(this.#tick);
      this.#tick = undefined;
    }
  }

  /** Sends a datagram; a failed send is the same as a lost one (the browser's NACK or the next packet). */
  send(bytes: Uint8Array, to: Deno.NetAddr): void {
    this.#socket.send(bytes, to);
  }

  close(): void {
    clearInterval(this.#tick);
    this.#socket.close();
  }

  #dispatch(bytes: Uint8Array, hostname: string, port: number): void {
    const key = `${hostname}:${port}`;
    let session: WhepSession | undefined;
    if (isStun(bytes)) {
      const username = stunUsername(bytes);
      session = username ? this.#byUfrag.get(username.split(":")[0]!) : undefined;
    } else {
      session = this.#byAddress.get(key);
    }
    if (!session) {
      this.unknown++;
      return;
    }
    // The buffer is reused for the next datagram: what the session keeps past this call it copies.
    session.receive(bytes, hostname, port, monotonicMs());
    const remote = session.remote;
    const before = this.#remoteOf.get(session);
    if (remote !== null && remote !== before) {
      if (before !== undefined && this.#byAddress.get(before) === session) this.#byAddress.delete(before);
      this.#byAddress.set(remote, session);
      this.#remoteOf.set(session, remote);
    }
  }
}
