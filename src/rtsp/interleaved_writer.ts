/**
 * A bounded, coalescing writer for one RTSP TCP connection: responses and `$` frames share the stream.
 * A slow reader fills its own queue and loses its own packets (counted); it never grows memory without bound
 * and never stalls anyone else.
 * @module
 */
/** A sink of `$` frames (the relay's TCP egresses write through it). */
export interface FrameQueue {
  /**
   * Queues a frame; droppable frames are refused over the bound. `hold` says more of the same unit follows (a
   * video packet without the marker bit): the frame may wait for it, at most {@linkcode HOLD_MS}, so a whole
   * video frame leaves in one write.
   * @returns false when dropped
   */
  enqueueFrame(channel: number, payload: Uint8Array, droppable: boolean, hold?: boolean): boolean;
}

/**
 * Longest a held frame waits for the rest of its video frame, in milliseconds. Cameras send a frame's packets
 * back to back, so the wait is normally far shorter; a decoder cannot use a frame before its last packet anyway.
 */
export const HOLD_MS = 1;

/** The first scratch buffer of a writer, in bytes: a video frame of a few packets fits. */
export const SCRATCH_FIRST_BYTES = 16 * 1024;
/** Writes in a row using a quarter of the scratch buffer or less before it is halved. */
export const SCRATCH_SHRINK_AFTER = 64;

/** Writers holding frames, flushed together by one timer. */
const held = new Set<InterleavedWriter>();
let holdTimer: ReturnType<typeof setTimeout> | undefined;
function flushHeld(): void {
  holdTimer = undefined;
  for (const w of held) w.flushHeld();
  held.clear();
}

/**
 * A shared bound the writer's queued bytes are taken from as well (the relay's memory budget, see
 * src/relay/memory_budget.ts): a frame that does not fit is dropped like one over the writer's own bound.
 */
export interface QueueBudget {
  /** @returns false when `bytes` do not fit */
  reserve(bytes: number): boolean;
  /** Takes `bytes` whatever the bound (answers, which must not be dropped). */
  force(bytes: number): void;
  release(bytes: number): void;
}

/** The write side of a connection (a `Deno.Conn` fits). */
export interface ByteWriter {
  write(p: Uint8Array): Promise<number>;
}

/** Options of {@linkcode InterleavedWriter}. */
export interface InterleavedWriterOptions {
  /** Queue bound in bytes for droppable frames (a reader's: `--reader-queue-bytes`). */
  maxQueuedBytes: number;
  /** Largest single write after coalescing. @default 64 KiB */
  maxWriteBytes?: number;
  /** Called once when a write fails (the connection is gone). */
  onError?: (err: unknown) => void;
  /** Shared bound the queued bytes also count against. @default none */
  budget?: QueueBudget;
  /** Monotonic clock in ms (for {@linkcode InterleavedWriter.droppingSince}). @default performance.now */
  now?: () => number;
}

/** Queues whole messages and frames and writes them in order, coalescing small ones into one write. */
export class InterleavedWriter implements FrameQueue {
  readonly #out: ByteWriter;
  readonly #maxQueued: number;
  readonly #maxWrite: number;
  readonly #onError: (err: unknown) => void;
  readonly #budget: QueueBudget | null;
  readonly #now: () => number;
  /** Since when every droppable frame has been dropped (the reader does not read), or null. */
  #droppingSince: number | null = null;
  /** Messages as bytes; a frame as its header (channel << 16 | length) followed by its payload, not copied. */
  #queue: Array<Uint8Array | number> = [];
  #head = 0;
  #queuedBytes = 0;
  /** A drain is scheduled or running. */
  #writing = false;
  /** Frames wait for the end of their video frame (or the hold timer). */
  #holding = false;
  #closed = false;
  #idle: Array<() => void> = [];
  /** Coalescing buffer, made at the first coalesced write: an idle connection holds none. */
  #scratch: Uint8Array | null = null;
  /** Size of the next scratch buffer made (see {@linkcode InterleavedWriter.#resizeScratch}). */
  #scratchSize: number;
  /** Writes in a row that used a quarter of the scratch buffer or less. */
  #smallWrites = 0;

  /** Frames dropped because the queue was full. */
  dropped = 0;
  /** Bytes written to the connection. */
  bytesWritten = 0;

  /**
   * @param out the connection
   * @param options bounds and error callback
   */
  constructor(out: ByteWriter, options: InterleavedWriterOptions) {
    this.#out = out;
    this.#maxQueued = options.maxQueuedBytes;
    this.#maxWrite = options.maxWriteBytes ?? 64 * 1024;
    this.#scratchSize = Math.min(SCRATCH_FIRST_BYTES, this.#maxWrite);
    this.#onError = options.onError ?? (() => {});
    this.#budget = options.budget ?? null;
    this.#now = options.now ?? (() => performance.now());
  }

  /** Bytes waiting to be written. */
  get queuedBytes(): number {
    return this.#queuedBytes;
  }

  /**
   * Since when (ms on the writer's clock) every droppable frame offered has been dropped, or null while frames are
   * taken: a reader that stopped reading long ago can be let go.
   */
  get droppingSince(): number | null {
    return this.#droppingSince;
  }

  #add(bytes: number): void {
    this.#queuedBytes += bytes;
  }

  #sub(bytes: number): void {
    this.#queuedBytes -= bytes;
    this.#budget?.release(bytes);
  }

  /**
   * Queues bytes that must not be dropped (an RTSP response) and, when nothing is being written, starts writing
   * them now rather than at the end of the task: an answer must not wait behind the rest of the event loop's turn
   * (the packets of other connections). Frames queued after it in the same task still leave together.
   */
  enqueueMessage(bytes: Uint8Array): void {
    if (this.#closed || bytes.length === 0) return;
    this.#queue.push(bytes);
    this.#budget?.force(bytes.length);
    this.#add(bytes.length);
    this.#holding = false;
    if (this.#writing) return;
    this.#writing = true;
    void this.#drain();
  }

  /**
   * Queues a frame without copying it: the payload is referenced until written, so the caller must not modify it
   * afterwards (the relay's packets are immutable once forwarded; RTCP reports are built per send).
   * @inheritdoc
   */
  enqueueFrame(channel: number, payload: Uint8Array, droppable: boolean, hold = false): boolean {
    if (this.#closed) return false;
    const size = payload.length + 4;
    if (payload.length > 0xffff) {
      // Cannot be framed (the length field has 16 bits): dropped and counted, never thrown at a fan-out loop.
      this.dropped++;
      return false;
    }
    if (droppable) {
      if (this.#queuedBytes + size > this.#maxQueued || (this.#budget && !this.#budget.reserve(size))) {
        this.dropped++;
        this.#droppingSince ??= this.#now();
        return false;
      }
      this.#droppingSince = null;
    } else {
      this.#budget?.force(size);
    }
    this.#queue.push(((channel & 0xff) << 16) | payload.length, payload);
    this.#add(size);
    if (hold) this.#hold();
    else this.#schedule();
    return true;
  }

  /** Resolves when everything queued so far is written (or the writer closed). */
  flushed(): Promise<void> {
    if (this.#queuedBytes === 0 || this.#closed) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  /** Stops writing and drops the queue. */
  close(): void {
    this.#closed = true;
    this.#queue = [];
    this.#head = 0;
    this.#sub(this.#queuedBytes);
    this.#scratch = null;
    for (const r of this.#idle.splice(0)) r();
  }

  /** Writes what is held, if anything (the hold timer's call). */
  flushHeld(): void {
    if (this.#holding) this.#schedule();
  }

  #hold(): void {
    if (this.#writing || this.#holding) return;
    this.#holding = true;
    held.add(this);
    holdTimer ??= setTimeout(flushHeld, HOLD_MS);
  }

  /**
   * Starts a drain at the end of the current task rather than now: everything queued by the same burst of work
   * (all the packets of one read from a camera, a reader's GOP burst) leaves in one write.
   */
  #schedule(): void {
    this.#holding = false;
    if (this.#writing) return;
    this.#writing = true;
    queueMicrotask(this.#drainNow);
  }

  readonly #drainNow = (): void => void this.#drain();

  async #drain(): Promise<void> {
    try {
      while (!this.#closed && this.#head < this.#queue.length) {
        const chunk = this.#take();
        let off = 0;
        while (off < chunk.length) off += await this.#out.write(chunk.subarray(off));
        this.bytesWritten += chunk.length;
      }
    } catch (err) {
      if (!this.#closed) {
        this.close();
        this.#onError(err);
      }
    } finally {
      this.#writing = false;
      if (this.#head >= this.#queue.length) {
        this.#queue = [];
        this.#head = 0;
        for (const r of this.#idle.splice(0)) r();
      }
    }
  }

  /**
   * Takes the next write: one large message as is, or messages and frames coalesced into the scratch buffer (each
   * frame's header written there, its payload copied once).
   */
  #take(): Uint8Array {
    const first = this.#queue[this.#head]!;
    if (
      typeof first !== "number" && (first.length >= this.#maxWrite || this.#head + 1 === this.#queue.length)
    ) {
      this.#head++;
      this.#sub(first.length);
      return first;
    }
    // Writes are awaited one at a time, so the scratch buffer is free again here.
    const scratch = this.#scratch ??= new Uint8Array(this.#scratchSize);
    let n = 0;
    let full = false;
    while (this.#head < this.#queue.length) {
      const item = this.#queue[this.#head]!;
      if (typeof item === "number") {
        const length = item & 0xffff;
        if (n + 4 + length > scratch.length) {
          full = true;
          if (n > 0) break;
          // A frame larger than the scratch buffer: its header alone, then its payload as a large item.
          this.#head++;
          this.#sub(4);
          return Uint8Array.of(0x24, item >>> 16, length >> 8, length & 0xff);
        }
        const payload = this.#queue[this.#head + 1] as Uint8Array;
        scratch[n] = 0x24;
        scratch[n + 1] = item >>> 16;
        scratch[n + 2] = length >> 8;
        scratch[n + 3] = length & 0xff;
        scratch.set(payload, n + 4);
        n += 4 + length;
        this.#head += 2;
        this.#sub(4 + length);
        continue;
      }
      if (n + item.length > scratch.length) {
        full = true;
        if (n > 0) break;
        this.#head++; // a message larger than the scratch buffer: as is
        this.#sub(item.length);
        return item;
      }
      scratch.set(item, n);
      n += item.length;
      this.#head++;
      this.#sub(item.length);
    }
    if (this.#head > 1024) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
    this.#resizeScratch(full, n);
    return scratch.subarray(0, n);
  }

  /**
   * Sizes the scratch buffer to the writes: doubled (up to the largest write) when one filled it, halved (down to
   * {@linkcode SCRATCH_FIRST_BYTES}) after {@linkcode SCRATCH_SHRINK_AFTER} writes in a row that used a quarter of it
   * or less. A reader's connection holds what its frames need, not the largest write: a GOP burst grows it, the
   * live stream that follows shrinks it back. The buffer being written is left to the write (a new one is made).
   */
  #resizeScratch(full: boolean, used: number): void {
    const size = this.#scratchSize;
    if (full) {
      this.#smallWrites = 0;
      if (size >= this.#maxWrite) return;
      this.#scratchSize = Math.min(this.#maxWrite, size * 2);
      this.#scratch = null;
    } else if (used <= size / 4 && size > SCRATCH_FIRST_BYTES) {
      if (++this.#smallWrites < SCRATCH_SHRINK_AFTER) return;
      this.#smallWrites = 0;
      this.#scratchSize = Math.max(SCRATCH_FIRST_BYTES, size / 2);
      this.#scratch = null;
    } else this.#smallWrites = 0;
  }
}
