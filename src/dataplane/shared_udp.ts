/**
 * The relay's shared fast UDP plane (Linux, `--data-plane fast`): ONE Worker per relay owns the tracks' RTP
 * sockets. The main thread binds each socket synchronously with libc (so port allocation keeps its
 * `AddrInUse` semantics), hands the fd to the worker, and then:
 * - receives: the worker posts what it received, whole datagrams of all sockets together, as transferred buffers,
 *   dispatched here per socket; it reads on only while this thread keeps up;
 * - sends: {@linkcode FastUdpPlane.send} appends to an outbox flushed to the worker once per macrotask (or at
 *   {@linkcode OUTBOX_PACKETS}) through a ring in shared memory (send_ring.ts), which the worker sends with
 *   sendmmsg as soon as it wakes.
 * - cut-through: with {@linkcode FastUdpPlane.setRoute}, the worker sends a socket's RTP to its UDP readers itself
 *   as soon as it arrives (see {@link ./route.ts}); the packet still reaches the handler, flagged as forwarded.
 * Packets keep leaving from the socket's own port. Needs `--allow-ffi`.
 * @module
 */
import type { DeliveredCell } from "./mesh_ingress.ts";
import {
  align4,
  type PlaneCommand,
  type PlaneReply,
  type PostedCommand,
  PSTAT,
  PSTAT_COUNT,
  PSTAT_HANDLED_BYTES_I32,
  PSTAT_MESSAGES_I32,
  SEND_HEADER,
  SEND_PAYLOAD_AT,
} from "./_shared_protocol.ts";
import {
  AF_INET,
  EADDRINUSE,
  EFD_CLOEXEC,
  EFD_NONBLOCK,
  type Libc,
  MSG_DONTWAIT,
  openLibc,
  SO_RCVBUF,
  SO_RCVBUFFORCE,
  SO_REUSEPORT,
  SO_SNDBUF,
  SO_SNDBUFFORCE,
  SOCK_CLOEXEC,
  SOCK_DGRAM,
  SOCKADDR_IN_SIZE,
  SOL_SOCKET,
  writeSockaddrIn,
} from "./_libc.ts";
import { EMPTY_ROUTE, routeNarrows, type RouteSpec } from "./route.ts";
import { PacketRing } from "./packet_ring.ts";
import { SendRing } from "./send_ring.ts";
import { type SocketBuffers, socketBufferWarning } from "./socket_buffers.ts";
import {
  type PlaneDigestHandler,
  type PlaneHandler,
  type PlaneSocket,
  RecordDispatcher,
} from "./_recv_records.ts";

export type { PlaneDigestHandler, PlaneHandler } from "./_recv_records.ts";
import type { MeshSealSpec } from "./mesh_route.ts";
import type { MeshOpenKeySpec } from "./mesh_open.ts";
import { ipv4Number } from "../address.ts";

/** Packets in the outbox that trigger an immediate flush. */
export const OUTBOX_PACKETS = 64;
const SOCK_NONBLOCK = 0x800;
/**
 * Receive and send buffer asked per socket (SO_*BUFFORCE with CAP_NET_ADMIN, else capped by the node's sysctls):
 * the C reference's 8 MiB, about 280 ms of 1,200-byte datagrams at 25k/s, the longest pause of the Worker the
 * kernel absorbs. Kernel memory, used only while datagrams wait.
 */
const SOCKET_BUFFER_BYTES = 8 * 1024 * 1024;
const OUTBOX_BYTES = 256 * 1024;

/** The main thread's side of one socket's route. */
interface RouteSync {
  desired: RouteSpec;
  /** What the worker applies now (as far as acks have told). */
  acked: RouteSpec;
  /** The update in flight, if any. */
  sent: RouteSpec | null;
  sentId: number;
  dirty: boolean;
  onApplied: (spec: RouteSpec) => void;
}

/** Counters of the plane. */
export interface PlaneStats {
  received: number;
  sent: number;
  sendErrors: number;
  recvBatches: number;
  sendCalls: number;
  truncated: number;
  /** Datagrams the worker sent on its own (cut-through), included in `sent`. */
  cutThrough: number;
  /** Outbox flushes (batches handed to the worker). */
  flushes: number;
  /** Flushes posted as messages because the send ring was full (the worker lagged a ring of sends behind, `SEND_RING_BYTES`). */
  sendRingFull: number;
  /** Times the worker stopped reading because this thread lagged too far behind (see `MAX_BACKLOG_BYTES`). */
  backlogPauses: number;
  /** Receive records the worker posted with the datagram's bytes. */
  payloadRecords: number;
  /** Receive records the worker posted as digests (the bytes kept in the route's ring). */
  digestRecords: number;
}

/** Options of {@linkcode FastUdpPlane}. */
export interface FastUdpPlaneOptions {
  /**
   * For tests only: where the count of messages posted to the worker starts (a 32-bit counter that wraps).
   * @default 0
   */
  messagesStart?: number;
  /**
   * For tests only: data bytes of the send ring (a small one makes batches go as messages).
   * @default SEND_RING_BYTES
   */
  sendRingBytes?: number;
}

/** One Worker with every fast RTP socket of the relay. */
export class FastUdpPlane {
  readonly #libc: Libc;
  readonly #worker: Worker;
  readonly #stats: Float64Array;
  /** Open sockets by fd (the handle callers use). */
  readonly #sockets = new Map<number, PlaneSocket>();
  /** Open sockets by id (what receive records carry). */
  readonly #socketsById = new Map<number, PlaneSocket>();
  readonly #records = new RecordDispatcher(this.#socketsById);
  #lastSocketId = 0;
  readonly #routes = new Map<number, RouteSync>();
  #nextRouteId = 1;
  readonly #scratch = new ArrayBuffer(8);
  readonly #scratchView = new DataView(this.#scratch);
  readonly #destCache = new WeakMap<Deno.NetAddr, Uint8Array>();
  #outbox = new Uint8Array(OUTBOX_BYTES);
  #outView = new DataView(this.#outbox.buffer);
  #outUsed = 0;
  #outCount = 0;
  /** The packet whose payload the outbox holds last, so further destinations of it reuse that copy. */
  #lastPacket: Uint8Array | null = null;
  #lastFd = -1;
  #lastPayloadAt = 0;
  #flushTimer: ReturnType<typeof setTimeout> | undefined;
  /** What runs after the next flush, by key (see {@linkcode afterFlush}). */
  readonly #afterFlush = new Map<object, () => void>();
  #flushes = 0;
  /** Outbox flushes that went by message because the send ring was full. */
  #ringFull = 0;
  readonly #sendRing: SendRing;
  #closed: Promise<void> | null = null;
  /** The shared Int32 counters: messages posted to the worker, receive bytes handled here (both wrap). */
  readonly #counters: Int32Array;
  /** eventfd the worker waits on: written after each message so a worker blocked in epoll_wait() wakes up. */
  readonly #wakeFd: number;
  readonly #one = new BigUint64Array([1n]);

  /** @throws when FFI is not permitted or libc cannot load */
  constructor(options: FastUdpPlaneOptions = {}) {
    this.#libc = openLibc();
    const shared = new SharedArrayBuffer(PSTAT_COUNT * 8);
    this.#stats = new Float64Array(shared);
    this.#counters = new Int32Array(shared);
    this.#sendRing = new SendRing(options.sendRingBytes);
    const messagesStart = (options.messagesStart ?? 0) | 0;
    Atomics.store(this.#counters, PSTAT_MESSAGES_I32, messagesStart);
    this.#wakeFd = this.#libc.symbols.eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (this.#wakeFd < 0) {
      this.#libc.close();
      throw new Error(`Cannot create an eventfd: errno ${this.#errno()}`);
    }
    this.#worker = new Worker(new URL("./shared_udp_worker.ts", import.meta.url), { type: "module" });
    this.#worker.onmessage = (e: MessageEvent<PlaneReply>) => this.#onReply(e.data);
    this.#worker.onerror = (e: ErrorEvent) => {
      e.preventDefault();
      console.error(`fast UDP plane worker failed: ${e.message}`);
    };
    this.#post({
      type: "init",
      shared,
      wakeFd: this.#wakeFd,
      messagesStart,
      sendRing: this.#sendRing.buffer,
    });
  }

  #post(cmd: PlaneCommand, transfer: Transferable[] = []): void {
    const posted: PostedCommand = { ...cmd, ringAt: this.#sendRing.writePosition };
    this.#worker.postMessage(posted, transfer);
    Atomics.add(this.#counters, PSTAT_MESSAGES_I32, 1); // wraps at 2^31 like the worker's count
    this.#wake();
  }

  /** Wakes the worker from epoll_wait() (or makes its next wait return at once). */
  #wake(): void {
    this.#libc.symbols.write(this.#wakeFd, Deno.UnsafePointer.of(this.#one), 8n);
  }

  /**
   * Binds a nonblocking UDP socket and starts receiving on it in the worker.
   * @param hostname IPv4 literal
   * @param port port to bind
   * @param handler called per received datagram
   * @param onDigest called per digest record (only routes with a ring produce them)
   * @returns the socket's fd, the handle of {@linkcode send} and {@linkcode closeSocket}
   * @throws Deno.errors.AddrInUse when the port is taken
   */
  bind(
    hostname: string,
    port: number,
    handler: PlaneHandler,
    onDigest: PlaneDigestHandler | null = null,
  ): number {
    if (this.#closed) throw new Error("Cannot bind on the fast UDP plane: it is closed");
    const addr = new Uint8Array(SOCKADDR_IN_SIZE);
    writeSockaddrIn(new DataView(addr.buffer), 0, hostname, port);
    const first = this.#boundSocket(addr, false);
    if (first < 0) {
      const errno = -first;
      const message = `Cannot bind UDP ${hostname}:${port}: errno ${errno}`;
      throw errno === EADDRINUSE ? new Deno.errors.AddrInUse(message) : new Error(message);
    }
    const reader = port === 0 ? -1 : this.#joinReader(first, addr, hostname);
    // With a reader of its own, `first` only sends (see #joinReader); alone, it does both.
    const fd = reader >= 0 ? reader : first;
    const sendFd = reader >= 0 ? first : -1;
    const id = this.#lastSocketId = (this.#lastSocketId % 0xffff_ffff) + 1; // 1 .. 2^32 - 1 (0: the eventfd)
    const sock: PlaneSocket = { id, handler, onDigest, ring: null, digest: null, processed: 0 };
    this.#sockets.set(fd, sock);
    this.#socketsById.set(id, sock);
    this.#post({ type: "open", fd, id, sendFd });
    return fd;
  }

  /** The port socket `fd` of {@linkcode bind} is bound to (the one the kernel chose for port 0), or 0 when unknown. */
  localPort(fd: number): number {
    const addr = new Uint8Array(SOCKADDR_IN_SIZE);
    const length = new Uint32Array([SOCKADDR_IN_SIZE]);
    if (
      this.#libc.symbols.getsockname(fd, Deno.UnsafePointer.of(addr), Deno.UnsafePointer.of(length)) !== 0
    ) return 0;
    return (addr[2]! << 8) | addr[3]!;
  }

  /** A UDP socket with the plane's buffers bound to `addr` (SO_REUSEPORT set first with `shared`), or -errno. */
  #boundSocket(addr: Uint8Array, shared: boolean): number {
    const s = this.#libc.symbols;
    const fd = s.socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return -this.#errno();
    this.#setInt(fd, SO_RCVBUFFORCE, SOCKET_BUFFER_BYTES) || this.#setInt(fd, SO_RCVBUF, SOCKET_BUFFER_BYTES);
    this.#setInt(fd, SO_SNDBUFFORCE, SOCKET_BUFFER_BYTES) || this.#setInt(fd, SO_SNDBUF, SOCKET_BUFFER_BYTES);
    if (
      (shared && !this.#setInt(fd, SO_REUSEPORT, 1)) ||
      s.bind(fd, Deno.UnsafePointer.of(addr), SOCKADDR_IN_SIZE)
    ) {
      const errno = this.#errno();
      s.close(fd);
      return -errno;
    }
    return fd;
  }

  /**
   * A second socket on the port of `first` that takes every datagram for it, so that `first` only sends: -1 when
   * the kernel will not have it (then `first` does both). The worker waits for its receiving socket in epoll, and a
   * socket in an epoll set has a waiter on its queue, so the kernel ran epoll's wake-up for every datagram that
   * socket sent, once the datagram was freed (at once on loopback, at transmit completion on a NIC): the C
   * reference pays 3.5-7 % more with only an idle epoll watch on its socket (bench/README.md, section d).
   *
   * `first` was bound alone (a port anyone holds failed there, exactly as without the pair); the reader joins it
   * through SO_REUSEPORT, which is then cleared on both, so no other socket can join the port. Without it the
   * kernel gives a datagram to the first of the port's sockets in its table, the one bound last: the reader. A
   * probe datagram checks that before the pair is used.
   */
  #joinReader(first: number, addr: Uint8Array, hostname: string): number {
    const s = this.#libc.symbols;
    if (!this.#setInt(first, SO_REUSEPORT, 1)) return -1;
    const reader = this.#boundSocket(addr, true);
    this.#setInt(first, SO_REUSEPORT, 0);
    if (reader < 0) return -1;
    this.#setInt(reader, SO_REUSEPORT, 0);
    if (!this.#probeReaches(reader, first, addr, hostname)) {
      s.close(reader);
      return -1;
    }
    // What still reaches the sender (broadcast and multicast go to every socket of a port) stays small.
    this.#setInt(first, SO_RCVBUF, 0);
    return reader;
  }

  /** Whether a datagram sent to `addr` (127.0.0.1 for the any address) arrives at `reader` and not at `other`. */
  #probeReaches(reader: number, other: number, addr: Uint8Array, hostname: string): boolean {
    const s = this.#libc.symbols;
    const probe = s.socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (probe < 0) return false;
    try {
      const to = addr.slice();
      if (hostname === "0.0.0.0") {
        writeSockaddrIn(new DataView(to.buffer), 0, "127.0.0.1", (addr[2]! << 8) | addr[3]!);
      }
      const byte = new Uint8Array(1);
      const sent = s.sendto(
        probe,
        Deno.UnsafePointer.of(byte),
        1n,
        0,
        Deno.UnsafePointer.of(to),
        SOCKADDR_IN_SIZE,
      );
      if (Number(sent) !== 1) return false;
      // Loopback delivers within sendto(): the datagram is queued by now, if at all.
      const toReader = Number(s.recv(reader, Deno.UnsafePointer.of(byte), 1n, MSG_DONTWAIT)) === 1;
      const toOther = Number(s.recv(other, Deno.UnsafePointer.of(byte), 1n, MSG_DONTWAIT)) === 1;
      return toReader && !toOther;
    } finally {
      s.close(probe);
    }
  }

  #errno(): number {
    const p = this.#libc.symbols.__errno_location();
    return p ? new Deno.UnsafePointerView(p).getInt32() : -1;
  }

  /**
   * The socket buffers the kernel grants this process's plane sockets (as getsockopt reports them, doubled),
   * measured on a socket made as the plane makes its own.
   */
  socketBuffers(): SocketBuffers {
    const s = this.#libc.symbols;
    const fd = s.socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return { receive: 0, send: 0 };
    try {
      this.#setInt(fd, SO_RCVBUFFORCE, SOCKET_BUFFER_BYTES) ||
        this.#setInt(fd, SO_RCVBUF, SOCKET_BUFFER_BYTES);
      this.#setInt(fd, SO_SNDBUFFORCE, SOCKET_BUFFER_BYTES) ||
        this.#setInt(fd, SO_SNDBUF, SOCKET_BUFFER_BYTES);
      return { receive: this.#getInt(fd, SO_RCVBUF), send: this.#getInt(fd, SO_SNDBUF) };
    } finally {
      s.close(fd);
    }
  }

  /** A warning for the operator when the kernel grants less than the plane asks (see socket_buffers.ts), or null. */
  socketBufferWarning(): string | null {
    return socketBufferWarning(this.socketBuffers(), SOCKET_BUFFER_BYTES);
  }

  #getInt(fd: number, option: number): number {
    const length = new Uint32Array([4]);
    const ok = this.#libc.symbols.getsockopt(
      fd,
      SOL_SOCKET,
      option,
      Deno.UnsafePointer.of(this.#scratch),
      Deno.UnsafePointer.of(length),
    ) === 0;
    return ok ? this.#scratchView.getInt32(0, true) : 0;
  }

  #setInt(fd: number, option: number, value: number): boolean {
    this.#scratchView.setInt32(0, value, true);
    return this.#libc.symbols.setsockopt(fd, SOL_SOCKET, option, Deno.UnsafePointer.of(this.#scratch), 4) ===
      0;
  }

  /**
   * Gives the worker the sealer of its copies to mesh children (mesh_route.ts), or null for an open mesh; copies
   * sent after this use it.
   */
  setMeshSealer(spec: MeshSealSpec | null): void {
    if (this.#closed) return;
    this.flush();
    this.#post({ type: "mesh-sealer", spec });
  }

  /** Marks socket `fd` as the relay's mesh port, whose subscriptions {@linkcode setMeshIngress} may bind. */
  setMeshPort(fd: number, sealed: boolean): void {
    if (this.#closed || !this.#sockets.has(fd)) return;
    this.#post({ type: "mesh-port", fd, sealed });
  }

  /**
   * Lets the worker send the RTP of subscription `streamId`, track `track` (frames arriving on the mesh port) to
   * the readers of socket `targetFd`'s route itself (mesh_ingress.ts); `targetFd` -1 stops it. The frames still
   * reach the mesh port's handler, flagged as forwarded when the worker sent them on. With `delivered` the worker
   * forwards in order only, after the main thread's deliveries (see {@linkcode DeliveredCell}).
   */
  setMeshIngress(
    streamId: number,
    track: number,
    targetFd: number,
    delivered: DeliveredCell | null = null,
  ): void {
    if (this.#closed) return;
    this.#post({ type: "mesh-ingress", streamId, track, targetFd, delivered });
  }

  /**
   * Socket `fd` is the mesh port of the relay of `incarnation`: the worker opens the sealed datagrams of the
   * senders whose keys it is given ({@linkcode addMeshOpenKey}) and flags them `opened` (mesh_open.ts).
   */
  setMeshOpen(fd: number, incarnation: Uint8Array): void {
    if (this.#closed || !this.#sockets.has(fd)) return;
    this.#post({ type: "mesh-open", fd, incarnation: incarnation.slice() });
  }

  /** Hands the worker a sender's packet key (once the main thread authenticated a packet of that sender). */
  addMeshOpenKey(spec: MeshOpenKeySpec): void {
    if (this.#closed) return;
    this.#post({ type: "mesh-open-key", spec });
  }

  /** Stops receiving on `fd` and closes it (in the worker, after the sends already queued). */
  closeSocket(fd: number): void {
    const sock = this.#sockets.get(fd);
    if (!sock) return;
    this.#sockets.delete(fd);
    this.#socketsById.delete(sock.id);
    this.#routes.delete(fd);
    this.flush(); // the fd number may be reused once closed: nothing queued for it may follow
    this.#post({ type: "close", fd });
  }

  /**
   * Queues a datagram from socket `fd` to `to`; it leaves with the next flush.
   * @returns false when `to` is not an IPv4 literal or the plane is closed (nothing queued)
   */
  send(fd: number, packet: Uint8Array, to: Deno.NetAddr): boolean {
    if (this.#closed || !this.#sockets.has(fd)) return false;
    let dest = this.#destCache.get(to);
    if (!dest) {
      dest = new Uint8Array(SOCKADDR_IN_SIZE);
      try {
        writeSockaddrIn(new DataView(dest.buffer), 0, to.hostname, to.port);
      } catch {
        return false;
      }
      this.#destCache.set(to, dest);
    }
    // A track sends one packet to each of its readers in a row: the copies after the first reuse its payload.
    const repeat = packet === this.#lastPacket && fd === this.#lastFd;
    const need = SEND_HEADER + (repeat ? 0 : align4(packet.byteLength));
    if (this.#outUsed + need > this.#outbox.byteLength) {
      this.flush(); // the outbox is empty now and holds no payload to repeat
      const alone = SEND_HEADER + align4(packet.byteLength);
      if (alone > this.#outbox.byteLength) {
        this.#outbox = new Uint8Array(alone);
        this.#outView = new DataView(this.#outbox.buffer);
      }
      return this.send(fd, packet, to);
    }
    const off = this.#outUsed;
    this.#outView.setUint32(off, fd, true);
    this.#outView.setUint32(off + 4, packet.byteLength, true);
    this.#outbox.set(dest, off + 8);
    if (!repeat) {
      this.#outbox.set(packet, off + SEND_HEADER);
      this.#lastPacket = packet;
      this.#lastFd = fd;
      this.#lastPayloadAt = off + SEND_HEADER;
    }
    this.#outView.setUint32(off + SEND_PAYLOAD_AT, this.#lastPayloadAt, true);
    this.#outUsed += need;
    this.#outCount++;
    if (this.#outCount >= OUTBOX_PACKETS) this.flush();
    else this.#flushTimer ??= setTimeout(this.#onFlushTimer, 0);
    return true;
  }

  /**
   * Sets what the worker forwards itself for socket `fd` (cut-through). The worker takes over a destination or a
   * mapping only once this thread has handled every packet it posted, so `onApplied` tells when packets flagged
   * `forwarded` reached `spec`'s destinations; until then the handler keeps sending to them itself.
   * @param spec the route; its `dests` must be a buffer of its own (it is transferred by copy)
   * @param onApplied called, in order with the received packets, once the worker applies `spec`
   */
  setRoute(fd: number, spec: RouteSpec, onApplied: (spec: RouteSpec) => void): void {
    if (this.#closed || !this.#sockets.has(fd)) return;
    let r = this.#routes.get(fd);
    if (!r) {
      r = { desired: spec, acked: EMPTY_ROUTE, sent: null, sentId: 0, dirty: true, onApplied };
      this.#routes.set(fd, r);
    } else {
      r.desired = spec;
      r.dirty = true;
      r.onApplied = onApplied;
    }
    this.#sendRoute(fd, r);
  }

  #sendRoute(fd: number, r: RouteSync): void {
    if (r.sent !== null || !r.dirty) return;
    this.flush(); // what this thread sent for earlier packets leaves before the worker forwards later ones
    r.sent = r.desired;
    r.sentId = this.#nextRouteId++;
    r.dirty = false;
    this.#post({
      type: "route",
      fd,
      id: r.sentId,
      processed: this.#sockets.get(fd)?.processed ?? 0,
      force: routeNarrows(r.acked, r.desired),
      spec: r.desired,
    });
  }

  #onRouteAck(fd: number, id: number, applied: boolean): void {
    const r = this.#routes.get(fd);
    if (!r || r.sent === null || r.sentId !== id) return;
    const sent = r.sent;
    r.sent = null;
    if (applied) {
      r.acked = sent;
      const sock = this.#sockets.get(fd);
      // Digests posted from now on are of this route's ring.
      if (sock) {
        sock.ring = !sent.ring
          ? null
          : sock.ring?.buffer === sent.ring
          ? sock.ring
          : new PacketRing(sent.ring);
      }
      r.onApplied(sent);
    } else {
      // The worker had posted packets this thread had not handled yet; they have been handled by now.
      r.dirty = true;
    }
    this.#sendRoute(fd, r);
  }

  readonly #onFlushTimer = (): void => {
    this.#flushTimer = undefined;
    this.flush();
  };

  /**
   * Runs `fn` once what is queued now has been handed to the worker: at once when nothing is queued, else right
   * after the next flush (which comes within this macrotask's end). A later call with the same `key` replaces
   * the earlier one's `fn`.
   */
  afterFlush(key: object, fn: () => void): void {
    if (this.#outCount === 0) fn();
    else this.#afterFlush.set(key, fn);
  }

  /** Posts the outbox to the worker now. */
  flush(): void {
    if (this.#flushTimer !== undefined) {
      clearTimeout(this.#flushTimer);
      this.#flushTimer = undefined;
    }
    if (this.#outCount === 0) return this.#runAfterFlush();
    if (this.#sendRing.tryWrite(this.#outbox.subarray(0, this.#outUsed), this.#outCount)) {
      this.#wake();
    } else {
      // The worker is 2 MiB of sends behind: this batch goes as a message, which the worker takes in order.
      const buf = this.#outbox.buffer.slice(0, this.#outUsed) as ArrayBuffer;
      this.#post({ type: "send", buf, count: this.#outCount }, [buf]);
      this.#ringFull++;
    }
    this.#outUsed = 0;
    this.#outCount = 0;
    this.#lastPacket = null;
    this.#flushes++;
    this.#runAfterFlush();
  }

  #runAfterFlush(): void {
    if (this.#afterFlush.size === 0) return;
    const hooks = [...this.#afterFlush.values()];
    this.#afterFlush.clear();
    for (const fn of hooks) fn();
  }

  #onReply(reply: PlaneReply): void {
    if (reply.type === "recv") {
      this.#records.dispatch(reply.buf, reply.count);
      // The worker reads on only while this thread keeps up (see `MAX_BACKLOG_BYTES` in ./_shared_protocol.ts).
      Atomics.add(this.#counters, PSTAT_HANDLED_BYTES_I32, reply.buf.byteLength);
    } else if (reply.type === "route-ack") {
      this.#onRouteAck(reply.fd, reply.id, reply.applied);
    } else if (reply.type === "error") {
      console.error(`fast UDP plane: ${reply.message}`);
    }
  }

  /** Counters of the plane. */
  stats(): PlaneStats {
    const s = this.#stats;
    return {
      received: s[PSTAT.received]!,
      sent: s[PSTAT.sent]!,
      sendErrors: s[PSTAT.sendErrors]!,
      recvBatches: s[PSTAT.recvBatches]!,
      sendCalls: s[PSTAT.sendCalls]!,
      truncated: s[PSTAT.truncated]!,
      cutThrough: s[PSTAT.cutThrough]!,
      flushes: this.#flushes,
      sendRingFull: this.#ringFull,
      backlogPauses: s[PSTAT.backlogPauses]!,
      payloadRecords: s[PSTAT.payloadRecords]!,
      digestRecords: s[PSTAT.digestRecords]!,
    };
  }

  /** Flushes, closes every socket and stops the worker. */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      this.flush();
      this.#sockets.clear();
      this.#socketsById.clear();
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 1000);
        this.#worker.onmessage = (e: MessageEvent<PlaneReply>) => {
          if (e.data.type === "stopped") {
            clearTimeout(timer);
            resolve();
          }
        };
        this.#post({ type: "stop" });
      });
      this.#worker.terminate();
      this.#libc.symbols.close(this.#wakeFd);
      this.#libc.close();
    })();
    return this.#closed;
  }
}

/**
 * Whether `--data-plane fast` can run: Linux, FFI permitted and an IPv4 literal bind address.
 * @returns null when it can, else why not
 */
export function fastPlaneUnavailable(hostname: string): string | null {
  if (Deno.build.os !== "linux") return "the fast data plane needs Linux";
  try {
    if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") {
      return "the fast data plane needs --allow-ffi";
    }
  } catch {
    return "the fast data plane needs --allow-ffi";
  }
  if (ipv4Number(hostname) === null) return "the fast data plane needs an IPv4 literal --listen address";
  return null;
}
