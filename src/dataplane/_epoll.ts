/**
 * A thin shell over one Linux epoll instance, for the fast plane's worker: level-triggered EPOLLIN registrations,
 * each carrying a caller's 32-bit tag beside its fd, and a ready list read in place. A wait costs the same whatever
 * the number of registered sockets, and allocates nothing.
 * @module
 */
import {
  EBADF,
  EINTR,
  ENOENT,
  EPOLL_CLOEXEC,
  EPOLL_CTL_ADD,
  EPOLL_CTL_DEL,
  EPOLL_EVENT_DATA,
  EPOLL_EVENT_SIZE,
  EPOLLIN,
} from "./_libc.ts";

/** The libc symbols an {@linkcode EpollSet} calls. */
export const EPOLL_SYMBOLS = {
  epoll_create1: { parameters: ["i32"], result: "i32" },
  epoll_ctl: { parameters: ["i32", "i32", "i32", "pointer"], result: "i32" },
  epoll_wait: { parameters: ["i32", "pointer", "i32", "i32"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
} as const satisfies Deno.ForeignLibraryInterface;

/** Any loaded library with at least {@linkcode EPOLL_SYMBOLS}. */
export type EpollSymbols = Deno.DynamicLibrary<typeof EPOLL_SYMBOLS>["symbols"];

/** Ready events read per wait, by default. */
export const EPOLL_DEFAULT_CAPACITY = 256;

/**
 * The fds to wait on. Events are level-triggered: a socket left readable is reported again by the next wait, and
 * the kernel rotates its ready list, so sockets beyond one wait's capacity get their turn in the next.
 *
 * The tag tells apart two registrations of one fd number: an event read before the fd was removed and its number
 * reused by a new socket still carries the old tag, so the caller can drop it (see {@linkcode EpollSet.tag}).
 */
export class EpollSet {
  readonly #s: EpollSymbols;
  readonly #errno: () => number;
  readonly #epfd: number;
  readonly #events: DataView;
  readonly #eventsPtr: Deno.PointerValue;
  readonly #ctl = new DataView(new ArrayBuffer(16));
  readonly #ctlPtr: Deno.PointerValue;
  /** Most events one wait reports. */
  readonly capacity: number;

  /**
   * @param symbols a loaded libc with {@linkcode EPOLL_SYMBOLS}
   * @param errno reads the calling thread's errno
   * @param capacity most events one wait reports
   * @default capacity {@linkcode EPOLL_DEFAULT_CAPACITY}
   * @throws Error when epoll_create1 fails
   */
  constructor(symbols: EpollSymbols, errno: () => number, capacity: number = EPOLL_DEFAULT_CAPACITY) {
    this.#s = symbols;
    this.#errno = errno;
    this.capacity = capacity;
    const events = new ArrayBuffer(capacity * EPOLL_EVENT_SIZE);
    this.#events = new DataView(events);
    this.#eventsPtr = Deno.UnsafePointer.of(events);
    this.#ctlPtr = Deno.UnsafePointer.of(this.#ctl);
    this.#epfd = symbols.epoll_create1(EPOLL_CLOEXEC);
    if (this.#epfd < 0) throw new Error(`Cannot create an epoll instance: errno ${errno()}`);
  }

  /**
   * Starts waiting for `fd` to be readable.
   * @param tag reported with each of its events (32 bits)
   * @throws Error when the kernel refuses (EEXIST, ENOMEM, ENOSPC: `max_user_watches` reached)
   */
  add(fd: number, tag: number): void {
    this.#ctl.setUint32(0, EPOLLIN, true);
    this.#ctl.setUint32(EPOLL_EVENT_DATA, fd, true);
    this.#ctl.setUint32(EPOLL_EVENT_DATA + 4, tag >>> 0, true);
    if (this.#s.epoll_ctl(this.#epfd, EPOLL_CTL_ADD, fd, this.#ctlPtr) !== 0) {
      throw new Error(`Cannot watch socket ${fd} with epoll: errno ${this.#errno()}`);
    }
  }

  /** Stops waiting for `fd`; call it before closing `fd`. An fd not registered (or closed) is ignored. */
  remove(fd: number): void {
    if (this.#s.epoll_ctl(this.#epfd, EPOLL_CTL_DEL, fd, this.#ctlPtr) !== 0) {
      const errno = this.#errno();
      if (errno !== ENOENT && errno !== EBADF) {
        throw new Error(`Cannot stop watching socket ${fd}: errno ${errno}`);
      }
    }
  }

  /**
   * Blocks until a registered fd is readable or `timeoutMs` passes.
   * @returns the number of ready events (0 on timeout or when a signal interrupted the wait), read with
   *   {@linkcode fd} and {@linkcode tag} until the next wait
   */
  wait(timeoutMs: number): number {
    const n = this.#s.epoll_wait(this.#epfd, this.#eventsPtr, this.capacity, timeoutMs);
    if (n >= 0) return n;
    const errno = this.#errno();
    if (errno === EINTR) return 0;
    throw new Error(`epoll_wait failed: errno ${errno}`);
  }

  /** The fd of ready event `i` of the last wait. */
  fd(i: number): number {
    return this.#events.getInt32(i * EPOLL_EVENT_SIZE + EPOLL_EVENT_DATA, true);
  }

  /** The tag the fd of ready event `i` was registered with. */
  tag(i: number): number {
    return this.#events.getUint32(i * EPOLL_EVENT_SIZE + EPOLL_EVENT_DATA + 4, true);
  }

  /** Closes the epoll instance (the registered fds stay open). */
  close(): void {
    this.#s.close(this.#epfd);
  }
}
