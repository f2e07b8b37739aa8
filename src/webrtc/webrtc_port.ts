/**
 * The relay's one UDP port for WebRTC viewers (`--webrtc-port`): every WHEP session's ICE, DTLS and SRTP share it
 * (one firewall rule, one socket however many viewers). A datagram goes to the session whose username fragment a
 * STUN request names, otherwise to the session that selected its source address; anything else is dropped and
 * counted. The thin shell around {@linkcode WhepSession}s: it owns the socket and a clock, they own the protocol.
 * @module
 */
import { isStun, stunUsername } from "./stun.ts";
import type { WhepSession } from "./whep_session.ts";
import { monotonicMs } from "../clock.ts";
import { contained } from "../contain.ts";

/** The shared WebRTC UDP port. */
export class WebrtcPort {
  readonly port: number;
  /** Datagrams no session took. */
  unknown = 0;
  readonly #conn: Deno.DatagramConn;
  readonly #byUfrag = new Map<string, WhepSession>();
  readonly #byAddress = new Map<string, WhepSession>();
  readonly #remoteOf = new Map<WhepSession, string>();
  readonly #tick: ReturnType<typeof setInterval>;
  #closed = false;

  private constructor(conn: Deno.DatagramConn) {
    this.#conn = conn;
    this.port = (conn.addr as Deno.NetAddr).port;
    this.#tick = setInterval(() => {
      const now = monotonicMs();
      for (const s of this.#byUfrag.values()) contained("webrtc tick", () => s.tick(now));
    }, 1000);
    void this.#receive();
  }

  /** Binds `hostname`:`port` (0: any free port). @throws Deno's error when the port is taken */
  static open(hostname: string, port: number): WebrtcPort {
    return new WebrtcPort(Deno.listenDatagram({ transport: "udp", hostname, port }));
  }

  /** Sessions on the port. */
  get size(): number {
    return this.#byUfrag.size;
  }

  add(session: WhepSession): void {
    this.#byUfrag.set(session.localUfrag, session);
  }

  remove(session: WhepSession): void {
    if (this.#byUfrag.get(session.localUfrag) === session) this.#byUfrag.delete(session.localUfrag);
    const remote = this.#remoteOf.get(session);
    if (remote !== undefined && this.#byAddress.get(remote) === session) this.#byAddress.delete(remote);
    this.#remoteOf.delete(session);
  }

  /** Sends a datagram; a failed send is the same as a lost one (the browser's NACK or the next packet). */
  send(bytes: Uint8Array, hostname: string, port: number): void {
    if (this.#closed) return;
    this.#conn.send(bytes, { transport: "udp", hostname, port }).catch(() => {});
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#tick);
    this.#conn.close();
  }

  async #receive(): Promise<void> {
    const buffer = new Uint8Array(65536);
    while (!this.#closed) {
      let got: [Uint8Array, Deno.Addr];
      try {
        got = await this.#conn.receive(buffer);
      } catch {
        if (this.#closed) return;
        continue; // an ICMP error of an earlier send, surfaced here
      }
      const [bytes, addr] = got;
      const from = addr as Deno.NetAddr;
      contained("webrtc datagram", () => this.#dispatch(bytes, from.hostname, from.port));
    }
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
