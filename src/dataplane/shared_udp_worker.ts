/**
 * The shared fast UDP plane's Worker: receives on every RTP socket the main thread opened (poll, then recvmmsg),
 * forwards what its route allows straight to the route's UDP readers with sendmmsg (cut-through, see
 * {@link ./route.ts}), and posts each recvmmsg batch as one transferred buffer; sends the main thread's batches
 * with sendmmsg.
 * The worker blocks in poll() itself, like a C relay (no hand-off to another thread per wake-up); the main thread
 * wakes it through an eventfd in the poll set after each message it posts, and the worker then yields to its
 * event loop until it has handled every posted message. Sockets are nonblocking; recv and send use MSG_DONTWAIT.
 * Linux only; needs `--allow-ffi`.
 * @module
 */
import {
  align4,
  type PlaneCommand,
  type PlaneReply,
  PSTAT,
  PSTAT_COUNT,
  PSTAT_MESSAGES_I32,
  RECV_FLAGS,
  RECV_FORWARDED,
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
import { Route, routeDestCount } from "./route.ts";

const SYMBOLS = {
  poll: { parameters: ["pointer", "u64", "i32"], result: "i32" },
  read: { parameters: ["i32", "pointer", "usize"], result: "isize" },
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
/** Address of `mem` as a number (user-space addresses fit in 53 bits): pointer fields are written without BigInts. */
const baseAddress = Number(base);
/** The receive headers, and each send header position sendmmsg may start from (made once). */
const recvHdrPtr = Deno.UnsafePointer.create(base + BigInt(OFF_RECV_HDR));
const sendHdrPtrs = Array.from(
  { length: BATCH },
  (_, k) => Deno.UnsafePointer.create(base + BigInt(OFF_SEND_HDR + k * MMSGHDR_SIZE)),
);
/** Address of the bytes of `data` as a number. */
function addressOf(data: ArrayBuffer | Uint8Array): number {
  return Number(Deno.UnsafePointer.value(Deno.UnsafePointer.of(data)));
}
/** Writes a 64-bit pointer field of `view` from a number, allocating nothing. */
function setPointer(at: number, address: number): void {
  const low = address % 0x1_0000_0000;
  view.setUint32(at, low, true);
  view.setUint32(at + 4, (address - low) / 0x1_0000_0000, true);
}
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

/** Address of each route's destination sockaddrs (16 bytes each), taken when the route changes. */
const destAddresses = new Map<number, number>();

const fds = new Set<number>();
const routes = new Map<number, Route>();
/** Slots of the current batch the worker forwards itself, and their lengths. */
const forwardSlots: number[] = [];
const forwardLengths: number[] = [];
const toClose: number[] = [];
let stats: Float64Array = new Float64Array(PSTAT_COUNT);
/** Messages the main thread posted (shared counter), and how many this worker handled. */
let posted: Int32Array = new Int32Array(1);
let handled = 0;
let wakeFd = -1;
const wakeBuf = new BigUint64Array(1);
const wakePtr = Deno.UnsafePointer.of(wakeBuf);
let stopped = false;
let polling = false;

/** Received records of one socket waiting to be posted to the main thread. */
interface Pending {
  bytes: Uint8Array;
  view: DataView;
  used: number;
  count: number;
}
const POST_BUFFER_BYTES = 256 * 1024;
/** Most packets held back before posting (when no reader needs the main thread promptly). */
const HOLD_PACKETS = 64;
/** Longest a held packet waits before it is posted, in milliseconds. */
const HOLD_MS = 1;
const pending = new Map<number, Pending>();
let pendingPackets = 0;
let pendingSince = 0;

function pendingOf(fd: number, need: number): Pending {
  let p = pending.get(fd);
  if (p && p.used + need > p.bytes.length) {
    post(fd, p);
    if (p.bytes.length < need) p = undefined;
  }
  if (!p) {
    const bytes = new Uint8Array(Math.max(POST_BUFFER_BYTES, need));
    p = { bytes, view: new DataView(bytes.buffer), used: 0, count: 0 };
    pending.set(fd, p);
  }
  return p;
}

/** Posts the held records of `fd` (a copy of the used bytes; the buffer is reused). */
function post(fd: number, p: Pending): void {
  const count = p.count;
  if (count === 0) return;
  const buf = p.bytes.buffer.slice(0, p.used) as ArrayBuffer;
  const route = routes.get(fd);
  if (route) route.posted += count; // every record, forwarded or not
  pendingPackets -= count;
  p.used = 0;
  p.count = 0;
  scope.postMessage({ type: "recv", fd, buf, count }, [buf]);
}

/** Posts everything held. */
function postAll(): void {
  for (const [fd, p] of pending) post(fd, p);
  pendingPackets = 0;
}

/**
 * Receives every datagram queued on `fd` (up to a bound): forwards what the route allows, and queues every
 * datagram for the main thread, posted at once when the route is `prompt`, else within {@linkcode HOLD_MS}.
 */
function drain(fd: number): void {
  const route = routes.get(fd);
  for (let round = 0; round < ROUNDS_PER_SOCKET; round++) {
    for (let i = 0; i < BATCH; i++) {
      view.setUint32(OFF_RECV_HDR + i * MMSGHDR_SIZE + MSGHDR_NAMELEN, SOCKADDR_IN_SIZE, true);
    }
    const n = s.recvmmsg(fd, recvHdrPtr, BATCH, MSG_DONTWAIT, null);
    if (n <= 0) break; // EAGAIN (drained), or an ICMP error surfaced
    let size = 0;
    for (let i = 0; i < n; i++) {
      size += RECV_HEADER +
        align4(Math.min(view.getUint32(OFF_RECV_HDR + i * MMSGHDR_SIZE + MMSGHDR_LEN, true), SLOT));
    }
    const p = pendingOf(fd, size);
    if (pendingPackets === 0) pendingSince = performance.now();
    const out = p.bytes;
    const outView = p.view;
    const cutThrough = route !== undefined && route.spec.dests.length > 0;
    forwardSlots.length = 0;
    forwardLengths.length = 0;
    let off = p.used;
    for (let i = 0; i < n; i++) {
      const hdr = OFF_RECV_HDR + i * MMSGHDR_SIZE;
      const truncated = (view.getUint32(hdr + MSGHDR_FLAGS, true) & MSG_TRUNC) !== 0;
      if (truncated) stats[PSTAT.truncated]!++;
      const len = Math.min(view.getUint32(hdr + MMSGHDR_LEN, true), SLOT);
      const name = OFF_RECV_NAME + i * SOCKADDR_IN_SIZE;
      const port = view.getUint16(name + 2, false);
      const ip = view.getUint32(name + 4, false);
      const at = OFF_SLOTS + i * SLOT;
      outView.setUint32(off, len, true);
      outView.setUint32(off + 4, ip, false);
      outView.setUint16(off + 8, port, true);
      outView.setUint16(off + RECV_FLAGS, 0, true);
      const slot = bytes.subarray(at, at + len);
      out.set(slot, off + RECV_HEADER);
      if (cutThrough && !truncated && route.forwards(slot, ip, port)) {
        route.rewrite(slot); // the main thread got the original above
        outView.setUint16(off + RECV_FLAGS, RECV_FORWARDED, true);
        forwardSlots.push(i);
        forwardLengths.push(len);
      }
      off += RECV_HEADER + align4(len);
    }
    p.used = off;
    p.count += n;
    pendingPackets += n;
    if (forwardSlots.length > 0) forward(fd, route!);
    stats[PSTAT.received]! += n;
    stats[PSTAT.recvBatches]!++;
    if (n < BATCH) break;
  }
  const p = pending.get(fd);
  if (p && p.count > 0 && (route === undefined || route.prompt)) post(fd, p);
  if (pendingPackets >= HOLD_PACKETS) postAll();
}

/** Points send header `k` at one datagram: `length` bytes at `data` to the sockaddr at `name`. */
function prepare(k: number, name: number, data: number, length: number): void {
  const hdr = OFF_SEND_HDR + k * MMSGHDR_SIZE;
  setPointer(hdr + MSGHDR_NAME, name);
  const iov = OFF_SEND_IOV + k * IOVEC_SIZE;
  setPointer(iov, data);
  view.setUint32(iov + 8, length, true);
  view.setUint32(iov + 12, 0, true);
}

/** Sends the forwarded slots of the current batch to every destination of `route`, BATCH per sendmmsg. */
function forward(fd: number, route: Route): void {
  const dests = destAddresses.get(fd);
  const destCount = routeDestCount(route.spec);
  if (dests === undefined) return;
  let k = 0;
  for (let p = 0; p < forwardSlots.length; p++) {
    const slot = baseAddress + OFF_SLOTS + forwardSlots[p]! * SLOT;
    const len = forwardLengths[p]!;
    for (let d = 0; d < destCount; d++) {
      prepare(k, dests + d * 16, slot, len);
      if (++k === BATCH) {
        sendPrepared(fd, k);
        k = 0;
      }
    }
  }
  if (k > 0) sendPrepared(fd, k);
  stats[PSTAT.cutThrough]! += forwardSlots.length * destCount;
}

/** Sends the first `n` prepared send headers on `fd`, skipping datagrams the kernel refuses. */
function sendPrepared(fd: number, n: number): void {
  let done = 0;
  while (done < n) {
    stats[PSTAT.sendCalls]!++;
    const sent = s.sendmmsg(fd, sendHdrPtrs[done]!, n - done, MSG_DONTWAIT);
    if (sent < 0) {
      if (errnoView.getInt32() === EINTR) continue;
      stats[PSTAT.sendErrors]!++;
      done++; // skip the datagram the kernel refused (EAGAIN: socket buffer full; ECONNREFUSED; ...)
      continue;
    }
    stats[PSTAT.sent]! += sent;
    done += sent;
  }
}

/** Sends the main thread's batch: records grouped into one sendmmsg per run of one socket (BATCH at most). */
function sendBatch(buf: ArrayBuffer, count: number): void {
  const v = new DataView(buf);
  const bufAddress = addressOf(buf);
  let off = 0;
  let runFd = -1;
  let k = 0;
  const flush = () => {
    if (k > 0 && fds.has(runFd)) sendPrepared(runFd, k);
    k = 0;
  };
  for (let i = 0; i < count; i++) {
    const fd = v.getUint32(off, true);
    const len = v.getUint32(off + 4, true);
    const payloadAt = v.getUint32(off + SEND_PAYLOAD_AT, true);
    if (fd !== runFd || k === BATCH) {
      flush();
      runFd = fd;
    }
    prepare(k++, bufAddress + off + 8, bufAddress + payloadAt, len);
    // A record that repeats an earlier payload carries no payload bytes of its own.
    off += SEND_HEADER + (payloadAt === off + SEND_HEADER ? align4(len) : 0);
  }
  flush();
}

function closePending(): void {
  for (const fd of toClose.splice(0)) s.close(fd);
}

/** Lets the event loop deliver the messages the main thread posted (it wrote the eventfd for each). */
async function handlePostedMessages(): Promise<void> {
  while (!stopped && Atomics.load(posted, PSTAT_MESSAGES_I32) !== handled) {
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
}

async function pollLoop(): Promise<void> {
  while (!stopped) {
    closePending();
    const list = [...fds].slice(0, MAX_FDS - 1);
    pollView.setInt32(0, wakeFd, true);
    pollView.setInt16(4, POLLIN, true);
    pollView.setInt16(6, 0, true);
    for (let i = 0; i < list.length; i++) {
      pollView.setInt32((i + 1) * 8, list[i]!, true);
      pollView.setInt16((i + 1) * 8 + 4, POLLIN, true);
      pollView.setInt16((i + 1) * 8 + 6, 0, true);
    }
    const ready = s.poll(pollPtr, BigInt(list.length + 1), pendingPackets > 0 ? HOLD_MS : POLL_TIMEOUT_MS);
    if (pollView.getInt16(6, true) !== 0) s.read(wakeFd, wakePtr, 8n);
    if (Atomics.load(posted, PSTAT_MESSAGES_I32) !== handled) await handlePostedMessages();
    if (ready > 0) {
      for (let i = 0; i < list.length; i++) {
        if (pollView.getInt16((i + 1) * 8 + 6, true) !== 0 && fds.has(list[i]!)) drain(list[i]!);
      }
    }
    if (pendingPackets > 0 && performance.now() - pendingSince >= HOLD_MS) postAll();
  }
  postAll();
  for (const fd of fds) s.close(fd);
  fds.clear();
  closePending();
  polling = false;
  scope.postMessage({ type: "stopped" });
}

scope.onmessage = (event: MessageEvent<PlaneCommand>): void => {
  const cmd = event.data;
  handled++;
  try {
    switch (cmd.type) {
      case "init":
        stats = new Float64Array(cmd.shared, 0, PSTAT_COUNT);
        posted = new Int32Array(cmd.shared);
        wakeFd = cmd.wakeFd;
        break;
      case "open":
        fds.add(cmd.fd);
        routes.set(cmd.fd, new Route()); // counts every packet posted from now on
        // Started from a task of its own: the loop blocks in poll() between its yields.
        if (!polling) {
          polling = true;
          setTimeout(() => void pollLoop(), 0);
        }
        break;
      case "close":
        // poll() may hold the socket right now: close after it returns.
        postAll();
        pending.delete(cmd.fd);
        routes.delete(cmd.fd);
        destAddresses.delete(cmd.fd);
        if (fds.delete(cmd.fd)) toClose.push(cmd.fd);
        if (!polling) closePending();
        break;
      case "send":
        sendBatch(cmd.buf, cmd.count);
        break;
      case "route": {
        const route = routes.get(cmd.fd);
        if (!route) break;
        postAll(); // the main thread must have handled every packet before the route widens
        const applied = route.apply(cmd.spec, cmd.processed, cmd.force);
        if (applied) destAddresses.set(cmd.fd, addressOf(cmd.spec.dests));
        scope.postMessage({ type: "route-ack", fd: cmd.fd, id: cmd.id, applied });
        break;
      }
      case "stop":
        stopped = true;
        if (!polling) scope.postMessage({ type: "stopped" });
        break;
    }
  } catch (err) {
    scope.postMessage({ type: "error", message: (err as Error).message });
  }
};
