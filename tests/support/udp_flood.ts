/**
 * A UDP flooder for attack tests: RTP packets as fast as sendmmsg goes, from a given local port, for a while.
 * Run it as its own process (it blocks its thread):
 * `deno run --allow-ffi tests/support/udp_flood.ts HOST PORT FROM_PORT SECONDS SIZE SSRC [RATE]`; it prints
 * `sent N errors E errno X` when done. Loopback only.
 * @module
 */
import {
  AF_INET,
  IOVEC_SIZE,
  LIBC_SYMBOLS,
  MMSGHDR_SIZE,
  MSGHDR_IOV,
  MSGHDR_IOVLEN,
  MSGHDR_NAME,
  MSGHDR_NAMELEN,
  SOCK_CLOEXEC,
  SOCK_DGRAM,
  SOCKADDR_IN_SIZE,
  writeSockaddrIn,
} from "../../src/dataplane/_libc.ts";
import { writeRtpHeader } from "../../src/rtp/packet.ts";

/** Datagrams per sendmmsg. */
const BATCH = 64;

/** What a flood did. */
export interface FloodResult {
  /** Datagrams sent. */
  sent: number;
  /** Failed sendmmsg calls, and the errno of the last one. */
  errors: number;
  lastErrno: number;
}

/** Sends RTP of `size` bytes from `fromPort` to `host:port` for `seconds`, `rate` packets/s (0: all it can). */
export function flood(
  host: string,
  port: number,
  fromPort: number,
  seconds: number,
  size: number,
  ssrc: number,
  rate = 0,
): FloodResult {
  if (!/^127\./.test(host)) throw new Error(`Refusing to flood "${host}": loopback only`);
  const lib = Deno.dlopen("libc.so.6", LIBC_SYMBOLS);
  const s = lib.symbols;
  const fd = s.socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  const local = new Uint8Array(new ArrayBuffer(SOCKADDR_IN_SIZE));
  writeSockaddrIn(new DataView(local.buffer), 0, "127.0.0.1", fromPort);
  if (fd < 0 || s.bind(fd, Deno.UnsafePointer.of(local), SOCKADDR_IN_SIZE) !== 0) {
    throw new Error(`Cannot bind the flooder to 127.0.0.1:${fromPort}`);
  }
  // Everything the kernel reads lives in ONE buffer, which the send loop keeps alive through `payloads`: a buffer
  // only referenced while the headers are built could be collected while its address is still in use.
  const OFF_DEST = 0;
  const OFF_IOV = OFF_DEST + SOCKADDR_IN_SIZE;
  const OFF_HDR = OFF_IOV + BATCH * IOVEC_SIZE;
  const OFF_PAYLOAD = OFF_HDR + BATCH * MMSGHDR_SIZE;
  const mem = new ArrayBuffer(OFF_PAYLOAD + BATCH * size);
  const v = new DataView(mem);
  const base = BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(mem)));
  writeSockaddrIn(v, OFF_DEST, host, port);
  const payloads = new Uint8Array(mem, OFF_PAYLOAD);
  for (let i = 0; i < BATCH; i++) {
    const iov = OFF_IOV + i * IOVEC_SIZE;
    v.setBigUint64(iov, base + BigInt(OFF_PAYLOAD + i * size), true);
    v.setBigUint64(iov + 8, BigInt(size), true);
    const hdr = OFF_HDR + i * MMSGHDR_SIZE;
    v.setBigUint64(hdr + MSGHDR_NAME, base + BigInt(OFF_DEST), true);
    v.setUint32(hdr + MSGHDR_NAMELEN, SOCKADDR_IN_SIZE, true);
    v.setBigUint64(hdr + MSGHDR_IOV, base + BigInt(iov), true);
    v.setBigUint64(hdr + MSGHDR_IOVLEN, 1n, true);
    payloads[i * size + 12] = 0x41; // a non-IDR slice
  }
  const hdrPtr = Deno.UnsafePointer.create(base + BigInt(OFF_HDR));
  const result: FloodResult = { sent: 0, errors: 0, lastErrno: 0 };
  let seq = 0;
  const start = performance.now();
  const end = start + seconds * 1000;
  const nap = new Int32Array(new SharedArrayBuffer(4));
  while (performance.now() < end) {
    if (rate > 0) {
      const due = start + (seq / rate) * 1000; // when the next batch is due
      const now = performance.now();
      if (due > now) Atomics.wait(nap, 0, 0, due - now);
    }
    for (let i = 0; i < BATCH; i++) {
      writeRtpHeader(payloads.subarray(i * size), 0, {
        marker: false,
        payloadType: 96,
        sequence: seq & 0xffff,
        timestamp: seq * 10,
        ssrc,
      });
      seq++;
    }
    const n = s.sendmmsg(fd, hdrPtr, BATCH, 0);
    if (n > 0) result.sent += n;
    else {
      result.errors++;
      result.lastErrno = new Deno.UnsafePointerView(s.__errno_location()!).getInt32();
    }
  }
  s.close(fd);
  lib.close();
  return result;
}

if (import.meta.main) {
  const [host, port, fromPort, seconds, size, ssrc, rate] = Deno.args;
  const r = flood(
    host!,
    Number(port),
    Number(fromPort),
    Number(seconds),
    Number(size),
    Number(ssrc),
    Number(rate ?? 0),
  );
  console.log(`sent ${r.sent} errors ${r.errors} errno ${r.lastErrno}`);
}
