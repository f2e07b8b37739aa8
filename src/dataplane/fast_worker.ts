/**
 * The fast path's Worker: owns one UDP socket and forwards every datagram to every programmed destination with
 * libc recvmmsg/sendmmsg, called synchronously (the worker blocks in recvmmsg, at most SO_RCVTIMEO = 50 ms).
 * All mmsghdr/iovec/sockaddr_in arrays and packet slots live in one preallocated ArrayBuffer: no allocation per
 * packet. Commands arrive as messages; the main thread rings a doorbell (an Int32 in a SharedArrayBuffer) so the
 * loop yields to the event loop between batches only when a command waits. Counters go to that buffer.
 * @module
 */
import {
  CTRL_BYTES,
  CTRL_PENDING,
  type FastCommand,
  type FastReply,
  STAT_BATCHES,
  STAT_COUNT,
  STAT_DESTINATIONS,
  STAT_RECEIVED,
  STAT_RECEIVED_BYTES,
  STAT_SEND_ERRORS,
  STAT_SENT,
  STAT_TRUNCATED,
} from "./_fast_protocol.ts";
import {
  AF_INET,
  EADDRINUSE,
  EINTR,
  IOVEC_SIZE,
  type Libc,
  MMSGHDR_LEN,
  MMSGHDR_SIZE,
  MSG_TRUNC,
  MSG_WAITFORONE,
  MSGHDR_FLAGS,
  MSGHDR_IOV,
  MSGHDR_IOVLEN,
  MSGHDR_NAME,
  MSGHDR_NAMELEN,
  openLibc,
  SO_RCVBUF,
  SO_RCVBUFFORCE,
  SO_RCVTIMEO,
  SO_SNDBUF,
  SO_SNDBUFFORCE,
  SOCK_CLOEXEC,
  SOCK_DGRAM,
  SOCKADDR_IN_SIZE,
  SOL_SOCKET,
  writeSockaddrIn,
} from "./_libc.ts";

/** Datagrams per recvmmsg. */
const BATCH = 64;
/** Bytes per packet slot; longer datagrams are truncated (and counted). */
const SLOT = 2048;
/** Most destinations one forwarder can have. */
const MAX_DESTINATIONS = 64;
/** Socket buffer size asked for (SO_*BUFFORCE when privileged, else capped by net.core.*mem_max). */
const SOCKET_BUFFER_BYTES = 8 * 1024 * 1024;
/** Longest block in recvmmsg, so commands and stop are applied promptly. */
const RECV_TIMEOUT_US = 50_000;

const scope = globalThis as unknown as {
  postMessage(message: FastReply): void;
  onmessage: ((event: MessageEvent<FastCommand>) => void) | null;
  close(): void;
};

// Layout of the one buffer.
const OFF_SLOTS = 0;
const OFF_RECV_HDR = OFF_SLOTS + BATCH * SLOT;
const OFF_RECV_IOV = OFF_RECV_HDR + BATCH * MMSGHDR_SIZE;
const OFF_SEND_IOV = OFF_RECV_IOV + BATCH * IOVEC_SIZE;
const OFF_DESTS = OFF_SEND_IOV + BATCH * IOVEC_SIZE;
const OFF_SEND_HDR = OFF_DESTS + MAX_DESTINATIONS * SOCKADDR_IN_SIZE;
const OFF_SCRATCH = OFF_SEND_HDR + BATCH * MAX_DESTINATIONS * MMSGHDR_SIZE;
const TOTAL_BYTES = OFF_SCRATCH + 64;

class Loop {
  readonly #libc: Libc;
  readonly #mem = new ArrayBuffer(TOTAL_BYTES);
  readonly #view = new DataView(this.#mem);
  readonly #u32 = new Uint32Array(this.#mem);
  readonly #base: bigint;
  readonly #recvHdr: Deno.PointerValue;
  readonly #errno: Deno.UnsafePointerView;
  readonly #ctrl: Int32Array;
  readonly #stats: Float64Array;
  readonly #fd: number;
  readonly port: number;
  #dests: { hostname: string; port: number }[] = [];
  #sendHdrs: Deno.PointerValue[] = [];
  #stopped = false;
  // Counters, mirrored to the shared buffer after each batch.
  #received = 0;
  #receivedBytes = 0;
  #sent = 0;
  #sendErrors = 0;
  #batches = 0;
  #truncated = 0;

  constructor(libc: Libc, shared: SharedArrayBuffer, hostname: string, port: number) {
    this.#libc = libc;
    this.#ctrl = new Int32Array(shared, 0, CTRL_BYTES / 4);
    this.#stats = new Float64Array(shared, CTRL_BYTES, STAT_COUNT);
    this.#base = BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(this.#mem)));
    this.#recvHdr = this.#ptr(OFF_RECV_HDR);
    this.#errno = new Deno.UnsafePointerView(libc.symbols.__errno_location()!);
    const v = this.#view;
    for (let i = 0; i < BATCH; i++) {
      const iov = OFF_RECV_IOV + i * IOVEC_SIZE;
      v.setBigUint64(iov, this.#base + BigInt(OFF_SLOTS + i * SLOT), true);
      v.setBigUint64(iov + 8, BigInt(SLOT), true);
      const hdr = OFF_RECV_HDR + i * MMSGHDR_SIZE;
      v.setBigUint64(hdr + MSGHDR_IOV, this.#base + BigInt(iov), true);
      v.setBigUint64(hdr + MSGHDR_IOVLEN, 1n, true);
      const siov = OFF_SEND_IOV + i * IOVEC_SIZE;
      v.setBigUint64(siov, this.#base + BigInt(OFF_SLOTS + i * SLOT), true);
    }

    const s = libc.symbols;
    const fd = s.socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw this.#error("socket");
    this.#fd = fd;
    try {
      this.#setInt(SO_RCVBUFFORCE, SOCKET_BUFFER_BYTES) || this.#setInt(SO_RCVBUF, SOCKET_BUFFER_BYTES);
      this.#setInt(SO_SNDBUFFORCE, SOCKET_BUFFER_BYTES) || this.#setInt(SO_SNDBUF, SOCKET_BUFFER_BYTES);
      v.setBigInt64(OFF_SCRATCH, 0n, true); // struct timeval
      v.setBigInt64(OFF_SCRATCH + 8, BigInt(RECV_TIMEOUT_US), true);
      if (s.setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, this.#ptr(OFF_SCRATCH), 16) !== 0) {
        throw this.#error("setsockopt(SO_RCVTIMEO)");
      }
      writeSockaddrIn(v, OFF_SCRATCH, hostname, port);
      if (s.bind(fd, this.#ptr(OFF_SCRATCH), SOCKADDR_IN_SIZE) !== 0) {
        throw this.#error(`bind ${hostname}:${port}`);
      }
      v.setUint32(OFF_SCRATCH + 16, SOCKADDR_IN_SIZE, true);
      if (s.getsockname(fd, this.#ptr(OFF_SCRATCH), this.#ptr(OFF_SCRATCH + 16)) !== 0) {
        throw this.#error("getsockname");
      }
      this.port = v.getUint16(OFF_SCRATCH + 2, false);
    } catch (err) {
      s.close(fd);
      throw err;
    }
    this.#rebuildSendTable();
  }

  #ptr(offset: number): Deno.PointerValue {
    return Deno.UnsafePointer.create(this.#base + BigInt(offset));
  }

  #error(action: string): Error {
    const errno = this.#errno.getInt32();
    const err = new Error(`Cannot ${action} on the fast path: errno ${errno}`);
    if (errno === EADDRINUSE) err.name = "AddrInUse";
    return err;
  }

  #setInt(option: number, value: number): boolean {
    this.#view.setInt32(OFF_SCRATCH, value, true);
    return this.#libc.symbols.setsockopt(this.#fd, SOL_SOCKET, option, this.#ptr(OFF_SCRATCH), 4) === 0;
  }

  /** Fills the send mmsghdr table: message i*n+d is slot i to destination d. Called between batches. */
  #rebuildSendTable(): void {
    const v = this.#view;
    const n = this.#dests.length;
    for (let d = 0; d < n; d++) {
      writeSockaddrIn(v, OFF_DESTS + d * SOCKADDR_IN_SIZE, this.#dests[d]!.hostname, this.#dests[d]!.port);
    }
    for (let i = 0; i < BATCH; i++) {
      for (let d = 0; d < n; d++) {
        const hdr = OFF_SEND_HDR + (i * n + d) * MMSGHDR_SIZE;
        v.setBigUint64(hdr + MSGHDR_NAME, this.#base + BigInt(OFF_DESTS + d * SOCKADDR_IN_SIZE), true);
        v.setUint32(hdr + MSGHDR_NAMELEN, SOCKADDR_IN_SIZE, true);
        v.setBigUint64(hdr + MSGHDR_IOV, this.#base + BigInt(OFF_SEND_IOV + i * IOVEC_SIZE), true);
        v.setBigUint64(hdr + MSGHDR_IOVLEN, 1n, true);
      }
    }
    // Pointers to every possible starting message, so partial sends allocate nothing either.
    const total = BATCH * n;
    this.#sendHdrs = [];
    for (let k = 0; k < total; k++) this.#sendHdrs.push(this.#ptr(OFF_SEND_HDR + k * MMSGHDR_SIZE));
    this.#stats[STAT_DESTINATIONS] = n;
  }

  apply(cmd: FastCommand): FastReply {
    if (cmd.type === "add" || cmd.type === "remove") {
      const key = `${cmd.hostname}:${cmd.port}`;
      const has = this.#dests.some((d) => `${d.hostname}:${d.port}` === key);
      if (cmd.type === "add" && !has) {
        if (this.#dests.length >= MAX_DESTINATIONS) {
          return {
            type: "error",
            id: cmd.id,
            message: `Cannot add "${key}": ${MAX_DESTINATIONS} destinations`,
          };
        }
        try {
          writeSockaddrIn(new DataView(new ArrayBuffer(16)), 0, cmd.hostname, cmd.port);
        } catch (err) {
          return { type: "error", id: cmd.id, message: (err as Error).message };
        }
        this.#dests = [...this.#dests, { hostname: cmd.hostname, port: cmd.port }];
        this.#rebuildSendTable();
      } else if (cmd.type === "remove" && has) {
        this.#dests = this.#dests.filter((d) => `${d.hostname}:${d.port}` !== key);
        this.#rebuildSendTable();
      }
    } else if (cmd.type === "stop") {
      this.#stopped = true;
    }
    return { type: "ack", id: cmd.id };
  }

  /** One recvmmsg (blocking up to the timeout) and the sendmmsg(s) of its copies. */
  #batch(): void {
    const s = this.#libc.symbols;
    const n = s.recvmmsg(this.#fd, this.#recvHdr, BATCH, MSG_WAITFORONE, null);
    if (n <= 0) {
      // EAGAIN: the 50 ms timeout; EINTR; or a transient ICMP error: nothing to forward either way.
      return;
    }
    this.#batches++;
    this.#received += n;
    const u32 = this.#u32;
    for (let i = 0; i < n; i++) {
      const hdr = (OFF_RECV_HDR + i * MMSGHDR_SIZE) >> 2;
      const len = u32[hdr + (MMSGHDR_LEN >> 2)]!;
      if (u32[hdr + (MSGHDR_FLAGS >> 2)]! & MSG_TRUNC) this.#truncated++;
      this.#receivedBytes += len;
      u32[(OFF_SEND_IOV + i * IOVEC_SIZE + 8) >> 2] = len;
    }
    const total = n * this.#dests.length;
    let off = 0;
    while (off < total) {
      const sent = s.sendmmsg(this.#fd, this.#sendHdrs[off]!, total - off, 0);
      if (sent < 0) {
        if (this.#errno.getInt32() === EINTR) continue;
        this.#sendErrors++;
        off++; // skip the datagram the kernel refused
        continue;
      }
      this.#sent += sent;
      off += sent;
    }
  }

  #publish(): void {
    const st = this.#stats;
    st[STAT_RECEIVED] = this.#received;
    st[STAT_RECEIVED_BYTES] = this.#receivedBytes;
    st[STAT_SENT] = this.#sent;
    st[STAT_SEND_ERRORS] = this.#sendErrors;
    st[STAT_BATCHES] = this.#batches;
    st[STAT_TRUNCATED] = this.#truncated;
  }

  /** Forwards until stopped; yields to the event loop only when the doorbell rings. */
  async run(): Promise<void> {
    const ctrl = this.#ctrl;
    while (!this.#stopped) {
      this.#batch();
      this.#publish();
      if (Atomics.load(ctrl, CTRL_PENDING) !== 0) {
        // Let queued messages in; a posted message may need a few turns to arrive.
        for (let t = 0; t < 50 && Atomics.load(ctrl, CTRL_PENDING) !== 0 && !this.#stopped; t++) {
          await new Promise((r) => setTimeout(r, 0));
        }
      }
    }
    this.#libc.symbols.close(this.#fd);
  }
}

let loop: Loop | null = null;
let running: Promise<void> | null = null;
let ctrl: Int32Array | null = null;

scope.onmessage = (event: MessageEvent<FastCommand>): void => {
  const cmd = event.data;
  if (cmd.type === "start") {
    try {
      ctrl = new Int32Array(cmd.shared, 0, CTRL_BYTES / 4);
      loop = new Loop(openLibc(), cmd.shared, cmd.hostname, cmd.port);
      scope.postMessage({ type: "ack", id: cmd.id, port: loop.port });
      running = loop.run();
    } catch (err) {
      const e = err as Error;
      scope.postMessage({ type: "error", id: cmd.id, message: e.message, code: e.name });
    }
    return;
  }
  if (ctrl) Atomics.sub(ctrl, CTRL_PENDING, 1);
  if (!loop) {
    scope.postMessage({
      type: "error",
      id: cmd.id,
      message: "Cannot apply a command: the forwarder is not started",
    });
    return;
  }
  const reply = loop.apply(cmd);
  if (cmd.type === "stop") {
    // Acknowledge once the loop has left recvmmsg and closed the socket, so the port is free.
    void running?.then(() => scope.postMessage(reply));
  } else {
    scope.postMessage(reply);
  }
};
