/**
 * The fast plane's send batches, main thread -> worker, through shared memory instead of messages.
 *
 * A message to a Worker is delivered only when the Worker's event loop runs; the plane's Worker spends its time
 * blocked in epoll_wait() and must yield to its event loop to take one, which on this runtime took 1 to 2 ms
 * (tens of yields) per wake-up: every packet the main thread sends (a mesh member's copies to its readers, a
 * joining reader's GOP burst, RTCP) waited that long. A batch written here is sent as soon as the worker wakes,
 * within the same turn of its loop, and is never copied into a new buffer.
 *
 * One writer (the main thread), one reader (the worker). Chunks, 8-byte aligned: `u32 length, u32 records, batch`
 * (the batch as `_shared_protocol.ts` lays out a send batch). Positions are byte counts modulo 2^32; the data size
 * is a power of two, and a chunk never straddles the end (a `u32 SKIP` marks the rest of the data as unused and the
 * chunk goes at the start). The writer publishes its position after the chunk is written; the reader publishes its
 * own after the chunk is sent, so the writer never overwrites what is unsent: a batch that does not fit is refused
 * and the caller sends it another way (the plane posts it as a message, ordered by
 * {@linkcode SendRing.writePosition}; see shared_udp_worker.ts).
 * @module
 */

/** Bytes before the data: the writer's position (Int32 0) and the reader's (Int32 16), on lines of their own. */
export const SEND_RING_HEADER = 128;
const READ = 16;
const CHUNK_HEADER = 8;
const SKIP = 0xffff_ffff;
/**
 * Data bytes of the plane's ring: two of the main thread's largest flushes (its outbox holds 256 KiB). Every page
 * of the ring becomes resident as the writer goes round, so its size is memory the relay holds for good (2 MiB
 * before); a flush that finds it full goes as a message, in order.
 */
export const SEND_RING_BYTES = 512 * 1024;
const MIN_BYTES = 4096;

/** Visits one chunk: `records` send records from `at` in {@linkcode SendRing.bytes}, `length` bytes. */
export type SendChunkVisitor = (at: number, length: number, records: number) => void;

/** A single-producer, single-consumer ring of send batches over a SharedArrayBuffer. */
export class SendRing {
  /** The shared memory: {@linkcode SEND_RING_HEADER} bytes, then the data. */
  readonly buffer: SharedArrayBuffer;
  /** The whole buffer, bytes. */
  readonly bytes: Uint8Array;
  /** Bytes of data (a power of two). */
  readonly size: number;
  readonly #ctl: Int32Array;
  readonly #view: DataView;
  readonly #mask: number;

  /**
   * @param source the data size of a new ring (rounded up to a power of two, at least 4 KiB), or the buffer of an
   *   existing one (the worker's side)
   * @throws RangeError for a buffer that is no ring
   */
  constructor(source: number | SharedArrayBuffer = SEND_RING_BYTES) {
    if (typeof source === "number") {
      let size = MIN_BYTES;
      while (size < source) size *= 2;
      this.buffer = new SharedArrayBuffer(SEND_RING_HEADER + size);
    } else {
      const size = source.byteLength - SEND_RING_HEADER;
      if (size < MIN_BYTES || (size & (size - 1)) !== 0) {
        throw new RangeError(`A buffer of ${source.byteLength} bytes is no send ring`);
      }
      this.buffer = source;
    }
    this.size = this.buffer.byteLength - SEND_RING_HEADER;
    this.#mask = this.size - 1;
    this.bytes = new Uint8Array(this.buffer);
    this.#view = new DataView(this.buffer);
    this.#ctl = new Int32Array(this.buffer, 0, READ + 1);
  }

  /** Writer side: the position after the last chunk written (what a message posted now comes after). */
  get writePosition(): number {
    return Atomics.load(this.#ctl, 0) >>> 0;
  }

  /** Bytes written and not yet sent (skipped ends included). */
  get pending(): number {
    return (Atomics.load(this.#ctl, 0) - Atomics.load(this.#ctl, READ)) >>> 0;
  }

  /**
   * Writer side: copies a batch of `records` send records into the ring and publishes it.
   * @returns false when the ring has no room for it now (nothing written)
   */
  tryWrite(batch: Uint8Array, records: number): boolean {
    const need = CHUNK_HEADER + ((batch.byteLength + 7) & ~7);
    if (need > this.size) return false;
    let position = Atomics.load(this.#ctl, 0) >>> 0;
    const offset = position & this.#mask;
    const skip = offset + need > this.size ? this.size - offset : 0;
    const read = Atomics.load(this.#ctl, READ) >>> 0;
    if (((position - read) >>> 0) + skip + need > this.size) return false;
    if (skip > 0) {
      this.#view.setUint32(SEND_RING_HEADER + offset, SKIP, true);
      position = (position + skip) >>> 0;
    }
    const at = SEND_RING_HEADER + (position & this.#mask);
    this.#view.setUint32(at, batch.byteLength, true);
    this.#view.setUint32(at + 4, records, true);
    this.bytes.set(batch, at + CHUNK_HEADER);
    Atomics.store(this.#ctl, 0, (position + need) | 0);
    return true;
  }

  /**
   * Reader side: visits every chunk from the reader's position up to `until` (a {@linkcode writePosition} the
   * reader loaded; it must not pass a position it has not seen published), releasing each after its visit.
   * @returns the chunks visited
   */
  drain(until: number, visit: SendChunkVisitor): number {
    let read = Atomics.load(this.#ctl, READ) >>> 0;
    let chunks = 0;
    while (read !== until >>> 0) {
      const offset = read & this.#mask;
      if (
        this.size - offset < CHUNK_HEADER || this.#view.getUint32(SEND_RING_HEADER + offset, true) === SKIP
      ) {
        read = (read + this.size - offset) >>> 0;
        continue;
      }
      const at = SEND_RING_HEADER + offset;
      const length = this.#view.getUint32(at, true);
      visit(at + CHUNK_HEADER, length, this.#view.getUint32(at + 4, true));
      read = (read + CHUNK_HEADER + ((length + 7) & ~7)) >>> 0;
      Atomics.store(this.#ctl, READ, read | 0);
      chunks++;
    }
    Atomics.store(this.#ctl, READ, read | 0);
    return chunks;
  }
}
