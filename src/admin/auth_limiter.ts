/**
 * Limit on wrong admin tokens per client: after {@linkcode AuthLimiterOptions.maxFailures} wrong bearer tokens
 * within one window (opened by the first of them), the client is refused with 429 until the window ends, even
 * with the right token, so guessing costs a window per few tries. The table of clients is bounded.
 *
 * Sans-I/O: the time is passed in.
 * @module
 */

/** Options of {@linkcode AuthLimiter}. */
export interface AuthLimiterOptions {
  /** Wrong tokens a client may send per window; the one that reaches it locks the client out. @default 10 */
  maxFailures?: number;
  /** Length of the window, opened by a client's first wrong token, in ms. @default 60000 */
  windowMs?: number;
  /**
   * Clients tracked at once. A new client beyond it evicts the oldest window: memory stays bounded, and a
   * client that floods the table from many addresses has at most `maxFailures` tries per address anyway.
   * @default 4096
   */
  maxClients?: number;
}

interface Window {
  /** When the client's first wrong token of this window came (ms). */
  since: number;
  failures: number;
}

/**
 * The key of a client address: IPv4 addresses as they are (an IPv4-mapped IPv6 address as its IPv4 form), IPv6
 * addresses by their /64 prefix, since one host usually holds a whole /64 and could rotate through it.
 * @param address the client's address, as the socket gives it
 * @returns the key the limiter counts under
 * @example clientKey("2001:db8:1:2:aaaa::7") // "2001:db8:1:2::/64"
 * @example clientKey("::ffff:192.0.2.7") // "192.0.2.7"
 */
export function clientKey(address: string): string {
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address);
  if (mapped) return mapped[1]!;
  if (!address.includes(":")) return address;
  const bare = address.replace(/^\[|\]$/g, "").replace(/%.*$/, "");
  const halves = bare.split("::");
  const head = (halves[0] ?? "").split(":").filter(Boolean);
  const tail = halves.length > 1 ? (halves[1] ?? "").split(":").filter(Boolean) : [];
  const groups = halves.length > 1
    ? [...head, ...Array<string>(Math.max(0, 8 - head.length - tail.length)).fill("0"), ...tail]
    : head;
  const prefix = groups.slice(0, 4).map((g) => (parseInt(g, 16) || 0).toString(16));
  while (prefix.length < 4) prefix.push("0");
  return `${prefix.join(":")}::/64`;
}

/**
 * Counts wrong admin tokens per client and says who must wait.
 * @example
 * ```ts
 * const limiter = new AuthLimiter();
 * const wait = limiter.blockedFor("192.0.2.7", now); // 0: may try
 * if (wait === 0 && !tokenIsRight) limiter.fail("192.0.2.7", now);
 * ```
 */
export class AuthLimiter {
  readonly #max: number;
  readonly #windowMs: number;
  readonly #maxClients: number;
  /** In order of window start (a new window re-inserts its client), so the first entry is the oldest. */
  readonly #windows = new Map<string, Window>();

  /** @param options tries per window, window length and table bound */
  constructor(options: AuthLimiterOptions = {}) {
    this.#max = options.maxFailures ?? 10;
    this.#windowMs = options.windowMs ?? 60_000;
    this.#maxClients = options.maxClients ?? 4096;
  }

  /** Clients tracked. */
  get size(): number {
    return this.#windows.size;
  }

  /** Wrong tokens a client may send per window. */
  get maxFailures(): number {
    return this.#max;
  }

  /**
   * How long a client must still wait before its token is looked at.
   * @param client the client's key ({@linkcode clientKey})
   * @param nowMs the time
   * @returns ms until the client's window ends when it is locked out, else 0
   */
  blockedFor(client: string, nowMs: number): number {
    const w = this.#current(client, nowMs);
    return w && w.failures >= this.#max ? w.since + this.#windowMs - nowMs : 0;
  }

  /**
   * Records one wrong token.
   * @param client the client's key
   * @param nowMs the time
   * @returns true when this failure locks the client out (the `maxFailures`-th of its window)
   */
  fail(client: string, nowMs: number): boolean {
    let w = this.#current(client, nowMs);
    if (!w) {
      if (this.#windows.size >= this.#maxClients) this.#evictOne();
      w = { since: nowMs, failures: 0 };
      this.#windows.set(client, w);
    }
    w.failures++;
    return w.failures === this.#max;
  }

  /** The client's window if it is still open; an ended one is forgotten. */
  #current(client: string, nowMs: number): Window | undefined {
    const w = this.#windows.get(client);
    if (w && nowMs - w.since >= this.#windowMs) {
      this.#windows.delete(client);
      return undefined;
    }
    return w;
  }

  /** Makes room: the oldest window goes (windows are in order of start, so an ended one first). */
  #evictOne(): void {
    const oldest = this.#windows.keys().next();
    if (!oldest.done) this.#windows.delete(oldest.value);
  }
}
