/**
 * The shared fast UDP plane's Worker: receives on every RTP socket the main thread opened (poll, then recvmmsg)
 * and posts each recvmmsg batch as one transferred buffer; sends the main thread's batches with sendmmsg.
 * poll() is a nonblocking FFI call (another thread), so this worker's event loop stays free for send batches
 * while it waits. Sockets are nonblocking; recv and send use MSG_DONTWAIT. Linux only; needs `--allow-ffi`.
 * @module
 */
import {
  align4,
  type PlaneCommand,
  type PlaneReply,
  PSTAT_COUNT,
  PSTAT_RECEIVED,
  PSTAT_RECV_BATCHES,
  PSTAT_SEND_CALLS,
  PSTAT_SEND_ERRORS,
  PSTAT_SENT,
  PSTAT_TRUNCATED,
  RECV_HEADER,
  SEND_HEADER,
  SEND_PAYLOAD_AT,
} from "./_shared_protocol.ts";
import {
  EINTR,
  IOVEC_SIZE,
  MMSGHDR_LEN,
  MMSGHDR_SIZE,
  MSG_TRUNC,
  MSGHDR_FLAGS,
  MSGHDR_IOV,
  MSGHDR_IOVLEN,
  MSGHDR_NAME,
  MSGHDR_NAMELEN,
  SOCKADDR_IN_SIZE,
} from "./_libc.ts";

const SYMBOLS = {
  poll: { parameters: ["pointer", "u64", "i32"], result: "i32", nonblocking: true },
  recvmmsg: { parameters: ["i32", "pointer", "u32", "i32", "pointer"], result: "i32" },
  sendmmsg: { parameters: ["i32", "pointer", "u32", "i32"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  __errno_location: { parameters: [], result: "pointer" },
} as const satisfies Deno.ForeignLibraryInterface;

const MSG_DONTWAIT = 0x40;
const POLLIN = 1;
/** Datagrams per recvmmsg / sendmmsg. */
const BATCH = 64;
/** Bytes per receive slot; longer datagrams are truncated (and counted). */
const SLOT = 4096;
/** Most sockets polled. */
const MAX_FDS = 1024;
/** Longest poll, so socket closes and stop are applied promptly. */
const POLL_TIMEOUT_MS = 50;
/** recvmmsg batches per readable socket per poll round (fairness between sockets). */
const ROUNDS_PER_SOCKET = 8;

const OFF_SLOTS = 0;
const OFF_RECV_HDR = OFF_SLOTS + BATCH * SLOT;
const OFF_RECV_IOV = OFF_RECV_HDR + BATCH * MMSGHDR_SIZE;
const OFF_RECV_NAME = OFF_RECV_IOV + BATCH * IOVEC_SIZE;
const OFF_SEND_HDR = OFF_RECV_NAME + BATCH * SOCKADDR_IN_SIZE;
const OFF_SEND_IOV = OFF_SEND_HDR + BATCH * MMSGHDR_SIZE;
const TOTAL_BYTES = OFF_SEND_IOV + BATCH * IOVEC_SIZE;

const scope = globalThis as unknown as {
  postMessage(message: PlaneReply, transfer?: Transferable[]): void;
  onmessage: ((event: MessageEvent<PlaneCommand>) => void) | null;
};

const libc = Deno.dlopen("libc.so.6", SYMBOLS);
const s = libc.symbols;
const errnoView = new Deno.UnsafePointerView(s.__errno_location()!);
const mem = new ArrayBuffer(TOTAL_BYTES);
const view = new DataView(mem);
const bytes = new Uint8Array(mem);
const base = BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(mem)));
const ptr = (b: bigint, offset: number): Deno.PointerValue => Deno.UnsafePointer.create(b + BigInt(offset));
const pollMem = new ArrayBuffer(MAX_FDS * 8);
const pollView = new DataView(pollMem);
const pollPtr = Deno.UnsafePointer.of(pollMem);

for (let i = 0; i < BATCH; i++) {
  const iov = OFF_RECV_IOV + i * IOVEC_SIZE;
  view.setBigUint64(iov, base + BigInt(OFF_SLOTS + i * SLOT), true);
  view.setBigUint64(iov + 8, BigInt(SLOT), true);
  const hdr = OFF_RECV_HDR + i * MMSGHDR_SIZE;
  view.setBigUint64(hdr + MSGHDR_NAME, base + BigInt(OFF_RECV_NAME + i * SOCKADDR_IN_SIZE), true);
  view.setBigUint64(hdr + MSGHDR_IOV, base + BigInt(iov), true);
  view.setBigUint64(hdr + MSGHDR_IOVLEN, 1n, true);
  const shdr = OFF_SEND_HDR + i * MMSGHDR_SIZE;
  view.setUint32(shdr + MSGHDR_NAMELEN, SOCKADDR_IN_SIZE, true);
  view.setBigUint64(shdr + MSGHDR_IOV, base + BigInt(OFF_SEND_IOV + i * IOVEC_SIZE), true);
  view.setBigUint64(shdr + MSGHDR_IOVLEN, 1n, true);
}

const fds = new Set<number>();
const toClose: number[] = [];
let stats: Float64Array = new Float64Array(PSTAT_COUNT);
let stopped = false;
let polling = false;

/** Receives every datagram queued on `fd` (up to a bound) and posts one buffer per recvmmsg batch. */
function drain(fd: number): void {
  for (let round = 0; round < ROUNDS_PER_SOCKET; round++) {
    for (let i = 0; i < BATCH; i++) {
      view.setUint32(OFF_RECV_HDR + i * MMSGHDR_SIZE + MSGHDR_NAMELEN, SOCKADDR_IN_SIZE, true);
    }
    const n = s.recvmmsg(fd, ptr(base, OFF_RECV_HDR), BATCH, MSG_DONTWAIT, null);
    if (n <= 0) return; // EAGAIN (drained), or an ICMP error surfaced: nothing to post
    let size = 0;
    for (let i = 0; i < n; i++) {
      size += RECV_HEADER +
        align4(Math.min(view.getUint32(OFF_RECV_HDR + i * MMSGHDR_SIZE + MMSGHDR_LEN, true), SLOT));
    }
    const out = new ArrayBuffer(size);
    const outView = new DataView(out);
    const outBytes = new Uint8Array(out);
    let off = 0;
    for (let i = 0; i < n; i++) {
      const hdr = OFF_RECV_HDR + i * MMSGHDR_SIZE;
      if (view.getUint32(hdr + MSGHDR_FLAGS, true) & MSG_TRUNC) stats[PSTAT_TRUNCATED]!++;
      const len = Math.min(view.getUint32(hdr + MMSGHDR_LEN, true), SLOT);
      const name = OFF_RECV_NAME + i * SOCKADDR_IN_SIZE;
      outView.setUint32(off, len, true);
      outBytes.set(bytes.subarray(name + 4, name + 8), off + 4);
      outView.setUint16(off + 8, view.getUint16(name + 2, false), true);
      outBytes.set(bytes.subarray(OFF_SLOTS + i * SLOT, OFF_SLOTS + i * SLOT + len), off + RECV_HEADER);
      off += RECV_HEADER + align4(len);
    }
    stats[PSTAT_RECEIVED]! += n;
    stats[PSTAT_RECV_BATCHES]!++;
    scope.postMessage({ type: "recv", fd, buf: out, count: n }, [out]);
    if (n < BATCH) return;
  }
}

/** Sends `count` datagrams of `run` (offsets of records in `buf`) on `fd`, BATCH per sendmmsg. */
function sendRun(
  fd: number,
  bufBase: bigint,
  offsets: number[],
  lengths: number[],
  payloads: number[],
): void {
  let i = 0;
  while (i < offsets.length) {
    const n = Math.min(BATCH, offsets.length - i);
    for (let k = 0; k < n; k++) {
      const rec = offsets[i + k]!;
      const hdr = OFF_SEND_HDR + k * MMSGHDR_SIZE;
      view.setBigUint64(hdr + MSGHDR_NAME, bufBase + BigInt(rec + 8), true);
      const iov = OFF_SEND_IOV + k * IOVEC_SIZE;
      view.setBigUint64(iov, bufBase + BigInt(payloads[i + k]!), true);
      view.setBigUint64(iov + 8, BigInt(lengths[i + k]!), true);
    }
    let done = 0;
    while (done < n) {
      stats[PSTAT_SEND_CALLS]!++;
      const sent = s.sendmmsg(fd, ptr(base, OFF_SEND_HDR + done * MMSGHDR_SIZE), n - done, MSG_DONTWAIT);
      if (sent < 0) {
        if (errnoView.getInt32() === EINTR) continue;
        stats[PSTAT_SEND_ERRORS]!++;
        done++; // skip the datagram the kernel refused (EAGAIN: socket buffer full; ECONNREFUSED; ...)
        continue;
      }
      stats[PSTAT_SENT]! += sent;
      done += sent;
    }
    i += n;
  }
}

function sendBatch(buf: ArrayBuffer, count: number): void {
  const v = new DataView(buf);
  const bufBase = BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(buf)));
  let off = 0;
  let runFd = -1;
  let offsets: number[] = [];
  let lengths: number[] = [];
  let payloads: number[] = [];
  for (let i = 0; i < count; i++) {
    const fd = v.getUint32(off, true);
    const len = v.getUint32(off + 4, true);
    const payloadAt = v.getUint32(off + SEND_PAYLOAD_AT, true);
    if (fd !== runFd) {
      if (offsets.length > 0 && fds.has(runFd)) sendRun(runFd, bufBase, offsets, lengths, payloads);
      runFd = fd;
      offsets = [];
      lengths = [];
      payloads = [];
    }
    offsets.push(off);
    lengths.push(len);
    payloads.push(payloadAt);
    // A record that repeats an earlier payload carries no payload bytes of its own.
    off += SEND_HEADER + (payloadAt === off + SEND_HEADER ? align4(len) : 0);
  }
  if (offsets.length > 0 && fds.has(runFd)) sendRun(runFd, bufBase, offsets, lengths, payloads);
}

function closePending(): void {
  for (const fd of toClose.splice(0)) s.close(fd);
}

async function pollLoop(): Promise<void> {
  polling = true;
  while (!stopped) {
    closePending();
    const list = [...fds].slice(0, MAX_FDS);
    for (let i = 0; i < list.length; i++) {
      pollView.setInt32(i * 8, list[i]!, true);
      pollView.setInt16(i * 8 + 4, POLLIN, true);
      pollView.setInt16(i * 8 + 6, 0, true);
    }
    const ready = await s.poll(pollPtr, BigInt(list.length), POLL_TIMEOUT_MS);
    if (ready <= 0) continue;
    for (let i = 0; i < list.length; i++) {
      if (pollView.getInt16(i * 8 + 6, true) !== 0 && fds.has(list[i]!)) drain(list[i]!);
    }
  }
  for (const fd of fds) s.close(fd);
  fds.clear();
  closePending();
  polling = false;
  scope.postMessage({ type: "stopped" });
}

scope.onmessage = (event: MessageEvent<PlaneCommand>): void => {
  const cmd = event.data;
  try {
    switch (cmd.type) {
      case "init":
        stats = new Float64Array(cmd.shared, 0, PSTAT_COUNT);
        break;
      case "open":
        fds.add(cmd.fd);
        if (!polling) void pollLoop();
        break;
      case "close":
        // poll() may hold the socket right now: close after it returns.
        if (fds.delete(cmd.fd)) toClose.push(cmd.fd);
        if (!polling) closePending();
        break;
      case "send":
        sendBatch(cmd.buf, cmd.count);
        break;
      case "stop":
        stopped = true;
        if (!polling) scope.postMessage({ type: "stopped" });
        break;
    }
  } catch (err) {
    scope.postMessage({ type: "error", message: (err as Error).message });
  }
};
