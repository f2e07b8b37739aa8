/**
 * Sans-I/O request rate limiting: a token bucket, and a set of buckets keyed by client address. Time is always
 * passed in (milliseconds, any monotonic-enough clock); nothing here reads a clock or sets a timer.
 * @module
 */

/** Slack for floating-point rounding in token arithmetic. */
const EPSILON = 1e-9;

/** Options of {@linkcode TokenBucket}. */
export interface TokenBucketOptions {
  /** Tokens added per second: the sustained rate. Must be positive. */
  ratePerSecond: number;
  /** Bucket size: how many requests may come at once after a quiet spell. @default 2 × ratePerSecond */
  burst?: number;
}

/**
 * A token bucket: `burst` tokens, refilled at `ratePerSecond`, one taken per request. It starts full.
 *
 * A clock that steps back is treated as standing still (no refill, no debt).
 *
 * @example
 * ```ts
 * const bucket = new TokenBucket({ ratePerSecond: 50 }, 0); // burst 100
 * bucket.take(0); // 0: granted
 * ```
 */
export class TokenBucket {
  /** Tokens per second. */
  readonly rate: number;
  /** Bucket size. */
  readonly burst: number;
  #tokens: number;
  #at: number;

  /**
   * @param options rate and burst
   * @param nowMs creation time
   * @throws RangeError when the rate is not positive or the burst is below 1
   */
  constructor(options: TokenBucketOptions, nowMs: number) {
    const rate = options.ratePerSecond;
    const burst = options.burst ?? 2 * rate;
    if (!(rate > 0) || !Number.isFinite(rate)) {
      throw new RangeError(`ratePerSecond must be a positive number, got ${rate}`);
    }
    if (!(burst >= 1) || !Number.isFinite(burst)) {
      throw new RangeError(`burst must be at least 1, got ${burst}`);
    }
    this.rate = rate;
    this.burst = burst;
    this.#tokens = burst;
    this.#at = nowMs;
  }

  /**
   * Tokens available at `nowMs` (fractional).
   * @param nowMs the time
   * @returns tokens in the bucket
   */
  tokens(nowMs: number): number {
    this.#refill(nowMs);
    return this.#tokens;
  }

  /**
   * Takes one token when there is one.
   * @param nowMs the time of the request
   * @returns 0 when granted, else how many milliseconds until a token is available (at least 1)
   */
  take(nowMs: number): number {
    this.#refill(nowMs);
    // Up to a rounding error: a client that waits the announced delay finds its token.
    if (this.#tokens >= 1 - EPSILON) {
      this.#tokens = Math.max(0, this.#tokens - 1);
      return 0;
    }
    return Math.max(1, Math.ceil(((1 - this.#tokens) * 1000) / this.rate - EPSILON));
  }

  /**
   * How long until the bucket holds a whole token, without taking one: 0 when it does now.
   * @param nowMs the time
   */
  waitMs(nowMs: number): number {
    this.#refill(nowMs);
    if (this.#tokens >= 1 - EPSILON) return 0;
    return Math.max(1, Math.ceil(((1 - this.#tokens) * 1000) / this.rate - EPSILON));
  }

  /**
   * Takes `cost` tokens whatever the bucket holds (a request already answered): a client whose answers cost more
   * than the rate gives goes into debt, down to `-burst`, and waits it off.
   * @param nowMs the time of the request
   * @param cost tokens (fractions allowed)
   */
  charge(nowMs: number, cost: number): void {
    this.#refill(nowMs);
    this.#tokens = Math.max(-this.burst, this.#tokens - cost);
  }

  /**
   * True when the bucket is full: forgetting it and starting a new one later changes nothing.
   * @param nowMs the time
   * @returns whether the bucket is full
   */
  full(nowMs: number): boolean {
    return this.tokens(nowMs) >= this.burst;
  }

  #refill(nowMs: number): void {
    if (!(nowMs > this.#at)) return;
    this.#tokens = Math.min(this.burst, this.#tokens + ((nowMs - this.#at) * this.rate) / 1000);
    this.#at = nowMs;
  }
}

/** Options of {@linkcode RateLimiter}. */
export interface RateLimiterOptions extends TokenBucketOptions {
  /**
   * Most keys tracked at once. A new key beyond it is let through untracked (after dropping the full buckets):
   * failing open keeps legitimate clients served when a distributed flood fills the table. @default 100000
   */
  maxKeys?: number;
}

/** Do not scan the table for full buckets more than once per this many ms when it is at capacity. */
const PRUNE_BACKOFF_MS = 1000;

/**
 * One {@linkcode TokenBucket} per key (a client address), created on first use. Full buckets are forgotten by
 * {@linkcode RateLimiter.prune}, so the table holds only the keys seen in the last `burst / rate` seconds.
 *
 * @example
 * ```ts
 * const limiter = new RateLimiter({ ratePerSecond: 50 });
 * const waitMs = limiter.take("192.0.2.7", Date.now()); // 0: go on; else answer 503 with Retry-After
 * ```
 */
export class RateLimiter {
  readonly #options: TokenBucketOptions;
  readonly #maxKeys: number;
  readonly #buckets = new Map<string, TokenBucket>();
  #prunedAt = -Infinity;

  /**
   * @param options rate, burst and the table bound
   * @throws RangeError on a rate or burst {@linkcode TokenBucket} refuses
   */
  constructor(options: RateLimiterOptions) {
    const { maxKeys = 100_000, ...bucket } = options;
    new TokenBucket(bucket, 0); // validates
    this.#options = bucket;
    this.#maxKeys = maxKeys;
  }

  /** Keys tracked. */
  get size(): number {
    return this.#buckets.size;
  }

  /**
   * Takes one token from `key`'s bucket.
   * @param key client address
   * @param nowMs the time of the request
   * @returns 0 when granted, else milliseconds until `key` may try again
   */
  take(key: string, nowMs: number): number {
    let bucket = this.#buckets.get(key);
    if (!bucket) {
      if (this.#buckets.size >= this.#maxKeys && nowMs - this.#prunedAt >= PRUNE_BACKOFF_MS) {
        this.prune(nowMs);
      }
      if (this.#buckets.size >= this.#maxKeys) return 0;
      bucket = new TokenBucket(this.#options, nowMs);
      this.#buckets.set(key, bucket);
    }
    return bucket.take(nowMs);
  }

  /**
   * How long `key` must wait before a request is let in, without taking anything: 0 when it may go on.
   * @param key client address
   * @param nowMs the time of the request
   */
  waitMs(key: string, nowMs: number): number {
    return this.#buckets.get(key)?.waitMs(nowMs) ?? 0;
  }

  /**
   * Charges `key` for what its request turned out to be (see {@linkcode TokenBucket.charge}).
   * @param key client address
   * @param nowMs the time of the request
   * @param cost tokens
   */
  charge(key: string, nowMs: number, cost: number): void {
    if (cost <= 0) return;
    let bucket = this.#buckets.get(key);
    if (!bucket) {
      if (this.#buckets.size >= this.#maxKeys && nowMs - this.#prunedAt >= PRUNE_BACKOFF_MS) {
        this.prune(nowMs);
      }
      if (this.#buckets.size >= this.#maxKeys) return;
      bucket = new TokenBucket(this.#options, nowMs);
      this.#buckets.set(key, bucket);
    }
    bucket.charge(nowMs, cost);
  }

  /**
   * Forgets the buckets that are full at `nowMs` (call it periodically).
   * @param nowMs the time
   */
  prune(nowMs: number): void {
    this.#prunedAt = nowMs;
    for (const [key, bucket] of this.#buckets) if (bucket.full(nowMs)) this.#buckets.delete(key);
  }
}
