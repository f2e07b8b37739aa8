/**
 * A sliding-window rate: bytes added per packet into a small ring of time buckets, read as bits per second
 * over the last few seconds. {@link RateMeter.add} runs once per packet and allocates nothing.
 *
 * ```ts
 * const meter = new RateMeter({ windowSeconds: 5 });
 * meter.add(packet.length, performance.now() / 1000); // per packet
 * meter.bitsPerSecond(performance.now() / 1000); // at scrape time
 * ```
 * @module
 */

/** Options of {@link RateMeter}. */
export interface RateMeterOptions {
  /** Span the rate is averaged over, in seconds. @default 5 */
  windowSeconds?: number;
  /** Width of one bucket, in seconds; the window moves in these steps. @default 0.5 */
  bucketSeconds?: number;
}

/** Bytes per time bucket over a sliding window. Time is injected (seconds, any monotonic clock). */
export class RateMeter {
  /** Averaging span in seconds. */
  readonly windowSeconds: number;
  readonly #bucketSeconds: number;
  readonly #bytes: Float64Array;
  /** Absolute index (time / bucket width) of the newest bucket, -1 before the first sample. */
  #current = -1;
  /** Time of the first sample: a young meter averages over its age, not over the whole window. */
  #firstAt = 0;
  #total = 0;

  /**
   * @param options window and bucket width
   * @throws RangeError when the window is not a positive multiple of the bucket width
   */
  constructor(options: RateMeterOptions = {}) {
    const window = options.windowSeconds ?? 5;
    const bucket = options.bucketSeconds ?? 0.5;
    const n = Math.round(window / bucket);
    if (!(bucket > 0) || !(n >= 1) || Math.abs(n * bucket - window) > 1e-9) {
      throw new RangeError(`rate window ${window} s must be a positive multiple of the bucket ${bucket} s`);
    }
    this.windowSeconds = window;
    this.#bucketSeconds = bucket;
    // One bucket more than the window holds: the newest one is partly filled.
    this.#bytes = new Float64Array(n + 1);
  }

  /** Bytes added since creation. */
  get totalBytes(): number {
    return this.#total;
  }

  /**
   * Accounts `bytes` at `nowSeconds`. Samples older than the window (a clock stepping back) are ignored.
   * No allocation.
   */
  add(bytes: number, nowSeconds: number): void {
    const b = Math.floor(nowSeconds / this.#bucketSeconds);
    if (this.#current < 0) {
      this.#current = b;
      this.#firstAt = nowSeconds;
    } else if (b > this.#current) {
      this.#advance(b);
    } else if (b <= this.#current - this.#bytes.length) {
      return;
    }
    const n = this.#bytes.length;
    const i = ((b % n) + n) % n;
    this.#bytes[i] = this.#bytes[i]! + bytes;
    this.#total += bytes;
  }

  /**
   * Average rate over the last {@link windowSeconds} (or since the first sample, when younger), in bits per
   * second; 0 before 0.1 s of history. Forgets buckets that fell out of the window.
   */
  bitsPerSecond(nowSeconds: number): number {
    if (this.#current < 0) return 0;
    const b = Math.floor(nowSeconds / this.#bucketSeconds);
    if (b > this.#current) this.#advance(b);
    const n = this.#bytes.length;
    const windowStart = (this.#current - (n - 1)) * this.#bucketSeconds;
    const span = nowSeconds - Math.max(windowStart, this.#firstAt);
    if (span < 0.1) return 0;
    let sum = 0;
    for (let i = 0; i < n; i++) sum += this.#bytes[i]!;
    return (sum * 8) / span;
  }

  /** Empties the buckets of the steps between the newest bucket and `b`, and makes `b` the newest. */
  #advance(b: number): void {
    const n = this.#bytes.length;
    const steps = Math.min(n, b - this.#current);
    for (let k = 1; k <= steps; k++) this.#bytes[(((this.#current + k) % n) + n) % n] = 0;
    this.#current = b;
  }
}
