/**
 * libc bindings and struct layouts of the Linux fast path (LP64: x86_64 and aarch64 share them). libc is opened
 * ({@linkcode openLibc}, needs `--allow-ffi`) only inside the fast path's Worker; the struct layouts are written on
 * both sides. Private to src/dataplane (the underscore): other folders use `route.ts` and `shared_udp.ts`.
 * @module
 */
import { ipv4Number } from "../address.ts";

/** Symbols of libc the fast path calls, all synchronous on the calling thread. */
export const LIBC_SYMBOLS = {
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  bind: { parameters: ["i32", "pointer", "u32"], result: "i32" },
  getsockname: { parameters: ["i32", "pointer", "pointer"], result: "i32" },
  setsockopt: { parameters: ["i32", "i32", "i32", "pointer", "u32"], result: "i32" },
  getsockopt: { parameters: ["i32", "i32", "i32", "pointer", "pointer"], result: "i32" },
  recvmmsg: { parameters: ["i32", "pointer", "u32", "i32", "pointer"], result: "i32" },
  sendmmsg: { parameters: ["i32", "pointer", "u32", "i32"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  sendto: { parameters: ["i32", "pointer", "usize", "i32", "pointer", "u32"], result: "isize" },
  recv: { parameters: ["i32", "pointer", "usize", "i32"], result: "isize" },
  eventfd: { parameters: ["u32", "i32"], result: "i32" },
  write: { parameters: ["i32", "pointer", "usize"], result: "isize" },
  __errno_location: { parameters: [], result: "pointer" },
} as const satisfies Deno.ForeignLibraryInterface;

/** The loaded library. */
export type Libc = Deno.DynamicLibrary<typeof LIBC_SYMBOLS>;

/** Opens libc. @throws when FFI is not permitted or libc is not found */
export function openLibc(): Libc {
  return Deno.dlopen("libc.so.6", LIBC_SYMBOLS);
}

/**
 * Opens glibc with `symbols` where the process may: Linux, `--allow-ffi` granted (never prompted for), the
 * library found. For the relay's optional uses of libc (heap_trim.ts, startup_code.ts), which do nothing without.
 * @returns the library, or null
 */
export function openLibcWherePermitted<S extends Deno.ForeignLibraryInterface>(
  symbols: S,
): Deno.DynamicLibrary<S> | null {
  if (Deno.build.os !== "linux") return null;
  try {
    if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") return null;
    return Deno.dlopen("libc.so.6", symbols);
  } catch {
    return null;
  }
}

export const AF_INET = 2;
export const SOCK_DGRAM = 2;
export const SOCK_CLOEXEC = 0x80000;
export const SOL_SOCKET = 1;
export const SO_REUSEADDR = 2;
export const SO_SNDBUF = 7;
export const SO_RCVBUF = 8;
export const SO_RCVTIMEO = 20;
export const SO_SNDBUFFORCE = 32;
export const SO_RCVBUFFORCE = 33;
export const SO_REUSEPORT = 15;
export const MSG_TRUNC = 0x20;
export const MSG_DONTWAIT = 0x40;
export const MSG_WAITFORONE = 0x10000;
export const EFD_CLOEXEC = 0x80000;
export const EFD_NONBLOCK = 0x800;
export const EINTR = 4;
export const EAGAIN = 11;
export const EADDRINUSE = 98;
export const ENOENT = 2;
export const EBADF = 9;
export const EPOLL_CLOEXEC = 0x80000;
export const EPOLL_CTL_ADD = 1;
export const EPOLL_CTL_DEL = 2;
export const EPOLLIN = 1;
/**
 * `struct epoll_event`: `u32 events` then `u64 data`. Packed on x86_64 (12 bytes, data at 4), naturally aligned
 * elsewhere (aarch64: 16 bytes, data at 8).
 */
export const EPOLL_EVENT_SIZE = Deno.build.arch === "x86_64" ? 12 : 16;
/** Offset of `data` in a `struct epoll_event`. */
export const EPOLL_EVENT_DATA = Deno.build.arch === "x86_64" ? 4 : 8;
/** The largest UDP payload over IPv4 (65,535 minus the IPv4 and UDP headers). */
export const UDP_MAX_PAYLOAD = 65_507;

/** `struct mmsghdr`: msghdr (56 bytes) then `unsigned msg_len`, padded to 64. */
export const MMSGHDR_SIZE = 64;
export const MSGHDR_NAME = 0;
export const MSGHDR_NAMELEN = 8;
export const MSGHDR_IOV = 16;
export const MSGHDR_IOVLEN = 24;
export const MSGHDR_FLAGS = 48;
export const MMSGHDR_LEN = 56;
/** `struct iovec`: base pointer, length. */
export const IOVEC_SIZE = 16;
/** `struct sockaddr_in`. */
export const SOCKADDR_IN_SIZE = 16;

/**
 * Writes a 64-bit pointer field (little-endian) at `at` of `view` from an address as a number (user-space
 * addresses fit in 53 bits), allocating nothing (no BigInt).
 */
export function writePointer(view: DataView, at: number, address: number): void {
  const low = address % 0x1_0000_0000;
  view.setUint32(at, low, true);
  view.setUint32(at + 4, (address - low) / 0x1_0000_0000, true);
}

/**
 * Writes a `sockaddr_in` at `offset` of `view`.
 * @throws Error when `host` is not an IPv4 literal
 */
export function writeSockaddrIn(view: DataView, offset: number, host: string, port: number): void {
  const ip = ipv4Number(host);
  if (ip === null) {
    throw new Error(`Cannot use "${host}" on the fast path: only IPv4 literal addresses are supported`);
  }
  view.setUint16(offset, AF_INET, true);
  view.setUint16(offset + 2, port, false);
  view.setUint32(offset + 4, ip, false);
  view.setBigUint64(offset + 8, 0n, true);
}
