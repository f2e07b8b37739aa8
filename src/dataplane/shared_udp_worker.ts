/**
 * The shared fast UDP plane's Worker: receives on every RTP socket the main thread opened (epoll, then recvmmsg),
 * forwards what its route allows straight to the route's UDP readers with sendmmsg (cut-through, see
 * {@link ./route.ts}), and posts what it received, all sockets together, as transferred buffers; sends the main
 * thread's batches with sendmmsg.
 * The worker blocks in epoll_wait() itself, like a C relay (no hand-off to another thread per wake-up); the main
 * thread wakes it through an eventfd in the epoll set after each message it posts, and the worker then yields to
 * its event loop until it has handled every posted message. Sockets are nonblocking; recv and send use
 * MSG_DONTWAIT.
 * Bounded whatever the load: a loop iteration costs the same for 10 sockets or 10,000 and allocates nothing when
 * nothing arrives; datagrams are received whole up to the UDP maximum, and one the kernel still cuts is dropped
 * and counted, never passed on as whole; when the main thread lags more than {@linkcode MAX_BACKLOG_BYTES} behind
 * what was posted to it, the worker stops reading (the kernel's socket buffers then drop, as on the portable
 * plane) instead of queueing without end.
 * Linux only; needs `--allow-ffi`.
 * @module
 */
import {
  align4,
  DIGEST_RECORD,
  MAX_BACKLOG_BYTES,
  type PlaneReply,
  type PostedCommand,
  PSTAT,
  PSTAT_COUNT,
  PSTAT_HANDLED_BYTES_I32,
  PSTAT_MESSAGES_I32,
  RECV_DIGEST,
  RECV_FLAGS,
  RECV_FORWARDED,
  RECV_HEADER,
  RECV_ID,
  RECV_IP,
  RECV_OPENED,
  RECV_PORT,
  SEND_HEADER,
  SEND_PAYLOAD_AT,
} from "./_shared_protocol.ts";
import {
  EINTR,
  IOVEC_SIZE,
  MMSGHDR_LEN,
  MMSGHDR_SIZE,
  MSG_DONTWAIT,
  MSG_TRUNC,
  MSGHDR_FLAGS,
  MSGHDR_IOV,
  MSGHDR_IOVLEN,
  MSGHDR_NAME,
  MSGHDR_NAMELEN,
  SOCKADDR_IN_SIZE,
  writePointer,
} from "./_libc.ts";
import { EPOLL_SYMBOLS, EpollSet } from "./_epoll.ts";
import { type CopyBytes, DigestWriter } from "./_digest_writer.ts";
import {
  BACKLOG_WAIT_MS,
  BATCH,
  DIGEST_HOLD_MS,
  DIGEST_HOLD_PACKETS,
  DIGEST_ONLY_HOLD_MS,
  HOLD_MS,
  HOLD_PACKETS,
  newSocket,
  OFF_RECV_HDR,
  OFF_RECV_IOV,
  OFF_RECV_NAME,
  OFF_SEND_HDR,
  OFF_SEND_IOV,
  OFF_SLOTS,
  OFF_STAGE,
  POLL_TIMEOUT_MS,
  ROUNDS_PER_SOCKET,
  SEND_BATCH,
  SLOT,
  SLOT_STRIDE,
  type Socket,
  STAGE_BYTES,
  TOTAL_BYTES,
  WAKE_TAG,
} from "./_worker_layout.ts";
import { MESH_DEST_SIZE, MeshCopies } from "./mesh_route.ts";
import { MeshOpenKeys } from "./mesh_open.ts";
import { SendRing } from "./send_ring.ts";
import { MeshIngressTable } from "./mesh_ingress.ts";

const SYMBOLS = {
  ...EPOLL_SYMBOLS,
  read: { parameters: ["i32", "pointer", "usize"], result: "isize" },
  recvmmsg: { parameters: ["i32", "pointer", "u32", "i32", "pointer"], result: "i32" },
  sendmmsg: { parameters: ["i32", "pointer", "u32", "i32"], result: "i32" },
  __errno_location: { parameters: [], result: "pointer" },
  memcpy: { parameters: ["usize", "usize", "usize"], result: "void" },
} as const satisfies Deno.ForeignLibraryInterface;

const scope = globalThis as unknown as {
  postMessage(message: PlaneReply, transfer?: Transferable[]): void;
  onmessage: ((event: MessageEvent<PostedCommand>) => void) | null;
};

const libc = Deno.dlopen("libc.so.6", SYMBOLS);
const s = libc.symbols;
const errnoView = new Deno.UnsafePointerView(s.__errno_location()!);
const errno = (): number => errnoView.getInt32();
/** memcpy with addresses as numbers: Deno's FFI takes a number for a usize (its type says bigint). */
const copyBytes = s.memcpy as unknown as CopyBytes;
const epoll = new EpollSet(s, errno);
const mem = new ArrayBuffer(TOTAL_BYTES);
const view = new DataView(mem);
const bytes = new Uint8Array(mem);
const base = BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(mem)));
/** Address of `mem` as a number (user-space addresses fit in 53 bits): pointer fields are written without BigInts. */
const baseAddress = Number(base);
/** The receive headers, and each send header position sendmmsg may start from (made once). */
const recvHdrPtr = Deno.UnsafePointer.create(base + BigInt(OFF_RECV_HDR));
const sendHdrPtrs = Array.from(
  { length: SEND_BATCH },
  (_, k) => Deno.UnsafePointer.create(base + BigInt(OFF_SEND_HDR + k * MMSGHDR_SIZE)),
);
/** Address of the bytes of `data` as a number. */
function addressOf(data: ArrayBuffer | Uint8Array): number {
  return Number(Deno.UnsafePointer.value(Deno.UnsafePointer.of(data)));
}

for (let i = 0; i < BATCH; i++) {
  const iov = OFF_RECV_IOV + i * IOVEC_SIZE;
  view.setBigUint64(iov, base + BigInt(OFF_SLOTS + i * SLOT_STRIDE), true);
  view.setBigUint64(iov + 8, BigInt(SLOT), true);
  const hdr = OFF_RECV_HDR + i * MMSGHDR_SIZE;
  view.setBigUint64(hdr + MSGHDR_NAME, base + BigInt(OFF_RECV_NAME + i * SOCKADDR_IN_SIZE), true);
  view.setUint32(hdr + MSGHDR_NAMELEN, SOCKADDR_IN_SIZE, true);
  view.setBigUint64(hdr + MSGHDR_IOV, base + BigInt(iov), true);
  view.setBigUint64(hdr + MSGHDR_IOVLEN, 1n, true);
}
for (let i = 0; i < SEND_BATCH; i++) {
  const shdr = OFF_SEND_HDR + i * MMSGHDR_SIZE;
  view.setUint32(shdr + MSGHDR_NAMELEN, SOCKADDR_IN_SIZE, true);
  view.setBigUint64(shdr + MSGHDR_IOV, base + BigInt(OFF_SEND_IOV + i * IOVEC_SIZE), true);
  view.setBigUint64(shdr + MSGHDR_IOVLEN, 1n, true);
  view.setBigUint64(OFF_SEND_IOV + i * IOVEC_SIZE + 8, 0n, true);
}

/** Open sockets by fd. */
const sockets = new Map<number, Socket>();
/** Slots of the current batch the worker forwards itself, and their lengths. */
const forwardSlots = new Int32Array(BATCH);
/** A pointer to each receive slot (made once), for sealing a copy straight from it. */
const recvSlotPtrs = Array.from(
  { length: BATCH },
  (_, i) => Deno.UnsafePointer.create(base + BigInt(OFF_SLOTS + i * SLOT_STRIDE))!,
);
/** Pointers to byte 32 of each receive slot: the payload of a sealed mesh datagram. */
const recvBodyPtrs = Array.from(
  { length: BATCH },
  (_, i) => Deno.UnsafePointer.create(base + BigInt(OFF_SLOTS + i * SLOT_STRIDE + 32))!,
);
/** The subscriptions of this relay's mesh port the worker forwards to a track's readers itself. */
const meshIngress = new MeshIngressTable();
/** The keys of the mesh senders the main thread lets this worker open. */
const meshOpenKeys = new MeshOpenKeys();
/** The copies to mesh children, built and sealed here. */
const meshCopies = new MeshCopies((fd, hdrs, n) => {
  const from = sockets.get(fd)?.sendFd ?? fd;
  for (;;) {
    stats[PSTAT.sendCalls]!++;
    const sent = s.sendmmsg(from, hdrs, n, MSG_DONTWAIT);
    if (sent >= 0) {
      stats[PSTAT.sent]! += sent; // the plane's "sent" is every datagram it sent, its mesh copies too
      return sent;
    }
    if (errno() !== EINTR) {
      stats[PSTAT.sendErrors]!++;
      return sent;
    }
  }
}, copyBytes);
const forwardLengths = new Int32Array(BATCH);
let stats: Float64Array = new Float64Array(PSTAT_COUNT);
/** The shared Int32 counters (see {@link ./_shared_protocol.ts}). */
let counters: Int32Array = new Int32Array(16);
/** Messages this worker handled, modulo 2^32 like the shared count of messages posted. */
let handled = 0;
/** Bytes of receive batches posted to the main thread, modulo 2^32 like the count it keeps of those handled. */
let postedBytes = 0;
let wakeFd = -1;
const wakeBuf = new BigUint64Array(1);
const wakePtr = Deno.UnsafePointer.of(wakeBuf);
let stopped = false;
let running = false;

const stageView = new DataView(mem, OFF_STAGE, STAGE_BYTES);
let stageUsed = 0;
let staged = 0;
let stagedSince = 0;
/**
 * The hold of what is staged now: the ring-less digests' until a digest whose bytes wait in a ring is staged (the
 * ring must be handled before it wraps, a child's NACK answered from it), the datagrams' once one's bytes are.
 */
let holdPackets = DIGEST_HOLD_PACKETS;
let holdMs = DIGEST_ONLY_HOLD_MS;

/** Posts the staged records. */
function postStaged(): void {
  if (staged === 0) return;
  const buf = mem.slice(OFF_STAGE, OFF_STAGE + stageUsed);
  postedBytes = (postedBytes + stageUsed) | 0;
  const count = staged;
  stageUsed = 0;
  staged = 0;
  holdPackets = DIGEST_HOLD_PACKETS;
  holdMs = DIGEST_ONLY_HOLD_MS;
  scope.postMessage({ type: "recv", buf, count }, [buf]);
}

/** True when the main thread has not handled {@linkcode MAX_BACKLOG_BYTES} of what was posted to it. */
function backlogFull(): boolean {
  return ((postedBytes - Atomics.load(counters, PSTAT_HANDLED_BYTES_I32)) | 0) >= MAX_BACKLOG_BYTES;
}

/**
 * Receives the datagrams queued on a socket (up to a bound): forwards what the route allows, and stages every
 * whole datagram for the main thread, posted at once when the route is `prompt`, else within `HOLD_MS`
 * (`DIGEST_HOLD_MS` for digests of packets kept in a ring, `DIGEST_ONLY_HOLD_MS` for the others).
 */
function drain(sock: Socket): void {
  const route = sock.route;
  const cutThrough = (sock.dests !== 0 && route.spec.dests.length > 0) || sock.meshDests !== 0;
  // Whether the main thread needs what this drain stages at once: a prompt route's records, except a parent
  // relay's frames this worker already sent on (those wait for the hold like digests, in batches).
  let promptly = false;
  for (let round = 0; round < ROUNDS_PER_SOCKET; round++) {
    const n = s.recvmmsg(sock.fd, recvHdrPtr, BATCH, MSG_DONTWAIT, null);
    if (n <= 0) break; // EAGAIN (drained), or an ICMP error surfaced
    // The kernel wrote the address length of the n it filled: reset theirs for the next call (the rest kept it).
    for (let i = 0; i < n; i++) {
      view.setUint32(OFF_RECV_HDR + i * MMSGHDR_SIZE + MSGHDR_NAMELEN, SOCKADDR_IN_SIZE, true);
    }
    let forwardCount = 0;
    let arrivalMs = -1;
    for (let i = 0; i < n; i++) {
      const hdr = OFF_RECV_HDR + i * MMSGHDR_SIZE;
      if ((view.getUint32(hdr + MSGHDR_FLAGS, true) & MSG_TRUNC) !== 0) {
        stats[PSTAT.truncated]!++; // cannot happen with 64 KiB slots; if it did, a cut datagram is dropped
        continue;
      }
      const len = view.getUint32(hdr + MMSGHDR_LEN, true);
      const name = OFF_RECV_NAME + i * SOCKADDR_IN_SIZE;
      const port = view.getUint16(name + 2, false);
      const ip = view.getUint32(name + 4, false);
      const at = OFF_SLOTS + i * SLOT_STRIDE;
      const forwarded = cutThrough && route.forwards(bytes, at, len, ip, port);
      // Every reader is served here: the main thread gets the numbers, the bytes wait in the ring.
      const digests = forwarded && !route.prompt ? sock.digests : null;
      const position = digests ? digests.reserve(len) : -1;
      const need = position >= 0 ? DIGEST_RECORD : RECV_HEADER + align4(len);
      if (stageUsed + need > STAGE_BYTES) postStaged();
      if (staged === 0) stagedSince = performance.now();
      const off = stageUsed;
      stageView.setUint32(off, len, true);
      stageView.setUint32(off + RECV_ID, sock.id, true);
      stageView.setUint32(off + RECV_IP, ip, false);
      stageView.setUint16(off + RECV_PORT, port, true);
      if (position >= 0) {
        if (arrivalMs < 0) arrivalMs = performance.timeOrigin + performance.now();
        digests!.write(position, bytes, at, baseAddress + at, len, stageView, off, arrivalMs);
        stageView.setUint16(off + RECV_FLAGS, RECV_FORWARDED | RECV_DIGEST, true);
        stats[PSTAT.digestRecords]!++;
        if (digests!.ring !== null && holdMs > DIGEST_HOLD_MS) holdMs = DIGEST_HOLD_MS;
      } else {
        // Opened in place in the receive slot, then staged: one copy of the datagram, in clear.
        const opened = sock.meshOpen && meshOpenKeys.open(bytes, at, len, recvBodyPtrs[i]!);
        bytes.copyWithin(OFF_STAGE + off + RECV_HEADER, at, at + len);
        // A parent relay's frame, authentic (opened here, or an open mesh's): on to the track's readers.
        const relayed = sock.meshPort !== null && (opened || !sock.meshPort.sealed) &&
          forwardIngress(OFF_STAGE + off + RECV_HEADER, len, sock.meshPort.sealed, i, ip, port);
        stageView.setUint16(
          off + RECV_FLAGS,
          (forwarded || relayed ? RECV_FORWARDED : 0) | (opened ? RECV_OPENED : 0),
          true,
        );
        if (!relayed) promptly = true;
        stats[PSTAT.payloadRecords]!++;
        holdPackets = HOLD_PACKETS;
        holdMs = HOLD_MS;
      }
      if (forwarded) {
        route.rewrite(bytes, at); // the main thread got the original above
        forwardSlots[forwardCount] = i;
        forwardLengths[forwardCount++] = len;
      }
      stageUsed = off + need;
      staged++;
      route.posted++; // every record, forwarded or not; a route update posts the stage before it applies
    }
    if (forwardCount > 0) forward(sock, forwardCount);
    stats[PSTAT.received]! += n;
    stats[PSTAT.recvBatches]!++;
    if (n < BATCH) break;
  }
  if (staged > 0 && ((route.prompt && promptly) || staged >= holdPackets)) postStaged();
}

/**
 * Sends the RTP of the mesh frame of `length` bytes at `recordAt` (its staged copy, in clear) to the readers and
 * the mesh children of the track it is bound to, when its route and its binding let the worker (see mesh_ingress.ts); the payload goes
 * to receive slot `slot` (free once staged), is renumbered there and sent from there.
 * @returns whether it was forwarded
 */
function forwardIngress(
  recordAt: number,
  length: number,
  sealed: boolean,
  slot: number,
  ip: number,
  port: number,
): boolean {
  const binding = meshIngress.match(bytes, recordAt, length, sealed);
  if (binding === null) return false;
  const target = sockets.get(binding.targetFd);
  if (target === undefined || (target.dests === 0 && target.meshDests === 0)) return false;
  const route = target.route;
  const at = meshIngress.payloadAt;
  const len = meshIngress.payloadLength;
  if (!route.forwards(bytes, at, len, ip, port)) return false;
  const seq = (bytes[at + 2]! << 8) | bytes[at + 3]!;
  const ssrc =
    ((bytes[at + 8]! << 24) | (bytes[at + 9]! << 16) | (bytes[at + 10]! << 8) | bytes[at + 11]!) >>> 0;
  if (!MeshIngressTable.take(binding, seq, ssrc, route.spec, sendFromRing)) return false;
  const slotAt = OFF_SLOTS + slot * SLOT_STRIDE;
  bytes.copyWithin(slotAt, at, at + len);
  // This relay's mesh children get the packet in the numbering it came in (the mesh's), its readers in theirs.
  const mesh = route.spec.mesh;
  if (target.meshDests !== 0 && mesh && sockets.has(mesh.fd)) {
    meshCopies.add(mesh.fd, baseAddress + slotAt, recvSlotPtrs[slot]!, len, mesh.dests, target.meshDests);
    meshCopies.flush();
    stats[PSTAT.cutThrough]! += mesh.dests.length / MESH_DEST_SIZE;
  }
  route.rewrite(bytes, slotAt);
  const destCount = route.spec.dests.length >> 4;
  let k = 0;
  setSendIov(0, baseAddress + slotAt, len);
  for (let d = 0; d < destCount; d++) {
    pointSendHeader(k, target.dests + d * 16, 0);
    if (++k === SEND_BATCH) {
      sendPrepared(target.sendFd, k);
      k = 0;
    }
  }
  if (k > 0) sendPrepared(target.sendFd, k);
  stats[PSTAT.cutThrough]! += destCount;
  return true;
}

/** Points send header `k` at one datagram: `length` bytes at `data` to the sockaddr at `name`. */
function prepare(k: number, name: number, data: number, length: number): void {
  setSendIov(k, data, length);
  pointSendHeader(k, name, k);
}

/**
 * What each send header points at now (destination address, and which iovec), so that a header is written only
 * where it changes: the copies of a packet share one iovec, and a route's copies go to the same addresses in the
 * same header positions wake-up after wake-up, so in a steady state a copy writes nothing and a packet one iovec.
 */
const sendHeaderName = new Float64Array(SEND_BATCH).fill(-1);
const sendHeaderIov = Int32Array.from({ length: SEND_BATCH }, (_, k) => k);

/** Points send header `k` at the `sockaddr_in` at address `name` and at iovec `iov`. */
function pointSendHeader(k: number, name: number, iov: number): void {
  const hdr = OFF_SEND_HDR + k * MMSGHDR_SIZE;
  if (sendHeaderName[k] !== name) {
    writePointer(view, hdr + MSGHDR_NAME, name);
    sendHeaderName[k] = name;
  }
  if (sendHeaderIov[k] !== iov) {
    writePointer(view, hdr + MSGHDR_IOV, baseAddress + OFF_SEND_IOV + iov * IOVEC_SIZE);
    sendHeaderIov[k] = iov;
  }
}

/** Sets iovec `i` to the `length` bytes at address `data` (its length's high half is 0 from the start). */
function setSendIov(i: number, data: number, length: number): void {
  const iov = OFF_SEND_IOV + i * IOVEC_SIZE;
  writePointer(view, iov, data);
  view.setUint32(iov + 8, length, true);
}

/** Sends the first `count` forwarded slots of the current batch to every destination of the socket's route. */
function forward(sock: Socket, count: number): void {
  const destCount = sock.route.spec.dests.length >> 4;
  let k = 0;
  for (let p = 0; p < count; p++) {
    // Packet p's copies share iovec p (count <= BATCH < SEND_BATCH: a flush below leaves none in use but p's).
    setSendIov(p, baseAddress + OFF_SLOTS + forwardSlots[p]! * SLOT_STRIDE, forwardLengths[p]!);
    for (let d = 0; d < destCount; d++) {
      pointSendHeader(k, sock.dests + d * 16, p);
      if (++k === SEND_BATCH) {
        sendPrepared(sock.sendFd, k);
        k = 0;
      }
    }
  }
  if (k > 0) sendPrepared(sock.sendFd, k);
  stats[PSTAT.cutThrough]! += count * destCount;
  const mesh = sock.route.spec.mesh;
  if (sock.meshDests === 0 || !mesh || !sockets.has(mesh.fd)) return;
  for (let p = 0; p < count; p++) {
    const i = forwardSlots[p]!;
    const at = OFF_SLOTS + i * SLOT_STRIDE;
    meshCopies.add(
      mesh.fd,
      baseAddress + at,
      recvSlotPtrs[i]!,
      forwardLengths[p]!,
      mesh.dests,
      sock.meshDests,
    );
  }
  meshCopies.flush();
  stats[PSTAT.cutThrough]! += count * (mesh.dests.length / MESH_DEST_SIZE);
}

/** Sends the first `n` prepared send headers from the open socket `fd` (from its send twin); none if it closed. */
function sendFrom(fd: number, n: number): void {
  const sock = sockets.get(fd);
  if (sock !== undefined) sendPrepared(sock.sendFd, n);
}

/** Sends the first `n` prepared send headers on `fd`, skipping datagrams the kernel refuses. */
function sendPrepared(fd: number, n: number): void {
  let done = 0;
  while (done < n) {
    stats[PSTAT.sendCalls]!++;
    const sent = s.sendmmsg(fd, sendHdrPtrs[done]!, n - done, MSG_DONTWAIT);
    if (sent < 0) {
      if (errno() === EINTR) continue;
      stats[PSTAT.sendErrors]!++;
      done++; // skip the datagram the kernel refused (EAGAIN: socket buffer full; ECONNREFUSED; ...)
      continue;
    }
    stats[PSTAT.sent]! += sent;
    done += sent;
  }
}

/**
 * The batch being sent: held here so it stays reachable until its last sendmmsg (the kernel reads it by address;
 * a buffer only a dead local refers to may be collected).
 */
const sending: { buf: ArrayBuffer | null } = { buf: null };

/** Sends a batch the main thread posted as a message (the send ring was full). */
function sendBatch(buf: ArrayBuffer, count: number): void {
  sending.buf = buf;
  sendRecords(new DataView(buf), addressOf(buf), 0, count);
  sending.buf = null;
}

/**
 * Sends `count` records of a send batch that starts at `start` in `v` (whose bytes are at `address`): records
 * grouped into one sendmmsg per run of one socket (SEND_BATCH at most).
 */
function sendRecords(v: DataView, address: number, start: number, count: number): void {
  let off = 0; // from the batch's start, as the records' payload offsets are
  let runFd = -1;
  let k = 0;
  for (let i = 0; i < count; i++) {
    const fd = v.getUint32(start + off, true);
    const len = v.getUint32(start + off + 4, true);
    const payloadAt = v.getUint32(start + off + SEND_PAYLOAD_AT, true);
    if (fd !== runFd || k === SEND_BATCH) {
      if (k > 0) sendFrom(runFd, k);
      k = 0;
      runFd = fd;
    }
    prepare(k++, address + start + off + 8, address + start + payloadAt, len);
    // A record that repeats an earlier payload carries no payload bytes of its own.
    off += SEND_HEADER + (payloadAt === off + SEND_HEADER ? align4(len) : 0);
  }
  if (k > 0) sendFrom(runFd, k);
}

/** The main thread's ring of send batches (from `init` on), a view of it and its address. */
let sendRing: SendRing | null = null;
let sendRingView: DataView = new DataView(new ArrayBuffer(0));
let sendRingAddress = 0;
const sendChunk = (at: number, _length: number, records: number): void => {
  sendRecords(sendRingView, sendRingAddress, at, records);
};

/**
 * Sends every batch the main thread wrote to the ring so far, unless it posted a message before some of them.
 * @returns false when a message must be handled first (its batches come after it)
 */
function sendFromRing(): boolean {
  if (sendRing === null) return Atomics.load(counters, PSTAT_MESSAGES_I32) === handled;
  const until = sendRing.writePosition;
  // Loaded after `until`: a message posted before the last batch loaded is seen here.
  if (Atomics.load(counters, PSTAT_MESSAGES_I32) !== handled) return false;
  sendRing.drain(until, sendChunk);
  return true;
}

/** Closes every socket and its send twin (the plane stops). */
function closeAllSockets(): void {
  for (const sock of sockets.values()) {
    if (sock.sendFd !== sock.fd) s.close(sock.sendFd);
    s.close(sock.fd);
  }
  sockets.clear();
}

/** Stops receiving on a socket and closes it (the worker is never inside epoll_wait() here). */
function closeSocket(sock: Socket): void {
  sockets.delete(sock.fd);
  try {
    epoll.remove(sock.fd);
  } finally {
    if (sock.sendFd !== sock.fd) s.close(sock.sendFd);
    s.close(sock.fd);
  }
}

/**
 * A yield to the event loop through a message to itself. Not `setTimeout(0)`: the worker's loop runs inside
 * timer callbacks, so its timers are nested and the clamp of nested timers (HTML, which Deno follows) makes each
 * such yield last 2 to 4 ms, the time every batch the main thread posts (sends to its readers, a mesh member's
 * local readers) waited; a message event is not clamped (tens of microseconds).
 */
const yieldChannel = new MessageChannel();
let yielded: (() => void) | null = null;
yieldChannel.port2.onmessage = () => {
  const resume = yielded;
  yielded = null;
  resume?.();
};
function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => {
    yielded = resolve;
    yieldChannel.port1.postMessage(null);
  });
}

/** Yields this many times at most for one wake-up before sleeping 1 ms between tries (bounds the spin). */
const YIELDS_BEFORE_SLEEP = 64;

/**
 * Lets the event loop deliver the messages the main thread posted (it counts each before it wakes us). Only
 * commands come this way (sockets, routes, keys): send batches come through the ring.
 */
async function handlePostedMessages(): Promise<void> {
  for (let tries = 0; !stopped && Atomics.load(counters, PSTAT_MESSAGES_I32) !== handled; tries++) {
    if (tries < YIELDS_BEFORE_SLEEP) await yieldToEventLoop();
    else await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

async function run(): Promise<void> {
  while (!stopped) {
    if (backlogFull()) {
      // The main thread is behind: leave datagrams in the kernel, keep handling its messages (sends, closes).
      stats[PSTAT.backlogPauses]!++;
      postStaged(); // what is held already (a stage at most) need not wait for the catch-up
      while (!stopped && !sendFromRing()) await handlePostedMessages();
      await new Promise((resolve) => setTimeout(resolve, BACKLOG_WAIT_MS));
      continue;
    }
    const ready = epoll.wait(staged > 0 ? holdMs : POLL_TIMEOUT_MS);
    for (let i = 0; i < ready; i++) {
      if (epoll.tag(i) === WAKE_TAG && epoll.fd(i) === wakeFd) s.read(wakeFd, wakePtr, 8n);
    }
    while (!stopped && !sendFromRing()) await handlePostedMessages();
    for (let i = 0; i < ready; i++) {
      // Sockets not drained now stay readable: the next wait reports them again.
      if (backlogFull()) break;
      const sock = sockets.get(epoll.fd(i));
      // Closed while its messages were handled, and perhaps its fd number already reused: the tag tells.
      if (sock !== undefined && sock.id === epoll.tag(i)) drain(sock);
    }
    if (staged > 0 && performance.now() - stagedSince >= holdMs) postStaged();
  }
  postStaged();
  closeAllSockets();
  epoll.close();
  meshCopies.close();
  meshOpenKeys.close();
  yieldChannel.port1.close();
  yieldChannel.port2.close();
  running = false;
  scope.postMessage({ type: "stopped" });
}

scope.onmessage = (event: MessageEvent<PostedCommand>): void => {
  const cmd = event.data;
  handled = (handled + 1) | 0;
  try {
    sendRing?.drain(cmd.ringAt, sendChunk); // the batches written before this message leave before it applies
    switch (cmd.type) {
      case "init":
        stats = new Float64Array(cmd.shared, 0, PSTAT_COUNT);
        counters = new Int32Array(cmd.shared);
        handled = (cmd.messagesStart + 1) | 0;
        wakeFd = cmd.wakeFd;
        epoll.add(wakeFd, WAKE_TAG);
        sendRing = new SendRing(cmd.sendRing);
        sendRingView = new DataView(cmd.sendRing);
        sendRingAddress = addressOf(sendRing.bytes);
        break;
      case "open": {
        const sock = newSocket(cmd.fd, cmd.id, cmd.sendFd);
        sockets.set(cmd.fd, sock); // first, so that its close still closes it if epoll refuses it
        epoll.add(cmd.fd, cmd.id);
        // Started from a task of its own: the loop blocks in epoll_wait() between its yields.
        if (!running && !stopped) {
          running = true;
          setTimeout(() => void run(), 0);
        }
        break;
      }
      case "close": {
        postStaged(); // records of the socket leave before it is gone
        const sock = sockets.get(cmd.fd);
        if (sock) closeSocket(sock);
        meshIngress.unbindTarget(cmd.fd); // its number may be reused by a socket no binding is meant for
        break;
      }
      case "send":
        sendBatch(cmd.buf, cmd.count);
        break;
      case "route": {
        const sock = sockets.get(cmd.fd);
        if (!sock) break;
        postStaged(); // the main thread must have handled every packet before the route widens
        const applied = sock.route.apply(cmd.spec, cmd.processed, cmd.force);
        if (applied) {
          sock.dests = cmd.spec.dests.length > 0 ? addressOf(cmd.spec.dests) : 0;
          const mesh = cmd.spec.mesh;
          sock.meshDests = mesh && mesh.dests.length > 0 ? addressOf(mesh.dests) : 0;
          const ring = cmd.spec.ring ?? null;
          sock.digests = ring || cmd.spec.digests
            ? new DigestWriter(ring, cmd.spec.codec ?? null, copyBytes, addressOf)
            : null;
        }
        scope.postMessage({ type: "route-ack", fd: cmd.fd, id: cmd.id, applied });
        break;
      }
      case "mesh-open": {
        const sock = sockets.get(cmd.fd);
        if (sock) sock.meshOpen = true;
        meshOpenKeys.setIncarnation(cmd.incarnation);
        break;
      }
      case "mesh-port": {
        const sock = sockets.get(cmd.fd);
        if (sock) sock.meshPort = { sealed: cmd.sealed };
        break;
      }
      case "mesh-ingress":
        meshIngress.bind(cmd.streamId, cmd.track, cmd.targetFd, cmd.delivered);
        break;
      case "mesh-open-key":
        meshOpenKeys.add(cmd.spec);
        break;
      case "mesh-sealer":
        meshCopies.setSealer(cmd.spec);
        break;
      case "stop":
        stopped = true;
        if (!running) {
          closeAllSockets();
          epoll.close();
          meshCopies.close();
          meshOpenKeys.close();
          yieldChannel.port1.close();
          yieldChannel.port2.close();
          scope.postMessage({ type: "stopped" });
        }
        break;
    }
  } catch (err) {
    scope.postMessage({ type: "error", message: (err as Error).message });
  }
};
