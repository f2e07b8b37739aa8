/**
 * The relay-wide memory budget: one bound on the bytes held on behalf of clients across every stream and
 * connection, the GOP caches and the TCP readers' write queues. Each of those already has a bound of its own
 * (4 MiB per track, 2 MiB per reader), but tracks, paths and readers are many: without a shared bound an outsider
 * who opens enough of them (three publishers with a hundred tracks, three hundred readers that never read) holds
 * more than the pod's memory limit.
 *
 * What cannot get bytes is told so and gives way: a GOP cache stops caching until the next keyframe, a TCP reader's
 * frame is dropped (counted like its own bound), and new sessions are refused (503) while the budget is nearly
 * used up. Sans-I/O: plain counters.
 * @module
 */

/** Share of the budget in use beyond which new sessions are refused. */
export const ADMIT_BELOW = 0.9;

/** What holds bytes of the budget (the `what` label of its metrics). */
export type BudgetUser = "gop_cache" | "reader_queue";

/** One shared bound on bytes held for clients. */
export class MemoryBudget {
  /** The bound in bytes; 0 means none. */
  readonly limit: number;
  #used = 0;
  readonly #usedBy: Record<BudgetUser, number> = { gop_cache: 0, reader_queue: 0 };
  /** Reservations refused, per user. */
  readonly refusals: Record<BudgetUser, number> = { gop_cache: 0, reader_queue: 0 };

  /** @param limit bytes; 0 disables the bound (everything is granted, still counted) */
  constructor(limit: number) {
    this.limit = limit;
  }

  /** Bytes held now. */
  get used(): number {
    return this.#used;
  }

  /** Bytes held now by one kind of user. */
  usedBy(what: BudgetUser): number {
    return this.#usedBy[what];
  }

  /** True while the budget has room for new sessions (below {@linkcode ADMIT_BELOW} of it). */
  get admitting(): boolean {
    return this.limit === 0 || this.#used < this.limit * ADMIT_BELOW;
  }

  /**
   * Takes `bytes` for `what` if they fit.
   * @returns false (counted) when they do not: the caller must not hold them
   */
  reserve(what: BudgetUser, bytes: number): boolean {
    if (this.limit > 0 && this.#used + bytes > this.limit) {
      this.refusals[what]++;
      return false;
    }
    this.#used += bytes;
    this.#usedBy[what] += bytes;
    return true;
  }

  /** Takes `bytes` whether they fit or not (what must not be dropped, such as an RTSP answer). */
  force(what: BudgetUser, bytes: number): void {
    this.#used += bytes;
    this.#usedBy[what] += bytes;
  }

  /** Gives back `bytes` taken for `what`. */
  release(what: BudgetUser, bytes: number): void {
    this.#used -= bytes;
    this.#usedBy[what] -= bytes;
  }

  /** A view bound to one user, for parts that only hold one kind of bytes. */
  for(what: BudgetUser): ByteBudget {
    return {
      reserve: (bytes) => this.reserve(what, bytes),
      force: (bytes) => this.force(what, bytes),
      release: (bytes) => this.release(what, bytes),
    };
  }
}

/** A share of a {@linkcode MemoryBudget} for one kind of user (what GOP caches and writers are given). */
export interface ByteBudget {
  /** @returns false when the bytes do not fit (the caller must not hold them) */
  reserve(bytes: number): boolean;
  /** Takes bytes whatever the bound. */
  force(bytes: number): void;
  release(bytes: number): void;
}
