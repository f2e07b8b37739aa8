/**
 * Linux fast path: a forwarder whose data plane runs in its own Worker ({@link ./fast_worker.ts}) calling libc
 * recvmmsg/sendmmsg through `Deno.dlopen`. The main thread only sends commands (add/remove destination, stop)
 * and reads counters from a SharedArrayBuffer.
 *
 * Permissions: the Worker inherits the process's permissions, so the process needs `--allow-ffi` (the relay's
 * `deno run` line and compiled binary would need it to use this path; without it `createForwarder()`
 * falls back to the portable path).
 * @module
 */
import {
  CTRL_BYTES,
  CTRL_PENDING,
  type FastCommand,
  type FastReply,
  SHARED_BYTES,
  STAT_BATCHES,
  STAT_COUNT,
  STAT_DESTINATIONS,
  STAT_RECEIVED,
  STAT_RECEIVED_BYTES,
  STAT_SEND_ERRORS,
  STAT_SENT,
} from "./_fast_protocol.ts";
import type { Destination, Forwarder, ForwarderOptions, ForwarderStats } from "./forwarder.ts";

/** How long the worker may take to load libc and bind. */
const START_TIMEOUT_MS = 10_000;
/** How long a command may take (the worker blocks at most 50 ms in recvmmsg). */
const COMMAND_TIMEOUT_MS = 5_000;

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/**
 * Whether the fast path can run here: Linux and FFI permission granted. (Whether libc loads is only known
 * once the Worker tries.)
 * @returns true when {@linkcode FastForwarder.start} is worth trying
 */
export function fastPathAvailable(): boolean {
  if (Deno.build.os !== "linux") return false;
  try {
    return Deno.permissions.querySync({ name: "ffi" }).state === "granted";
  } catch {
    return false;
  }
}

/** Forwards with libc recvmmsg/sendmmsg inside a dedicated Worker. */
export class FastForwarder implements Forwarder {
  readonly kind = "fast" as const;
  readonly port: number;
  readonly #worker: Worker;
  readonly #ctrl: Int32Array;
  readonly #stats: Float64Array;
  readonly #pending = new Map<number, { resolve: (r: FastReply) => void; reject: (e: Error) => void }>();
  #nextId = 1;
  #closed: Promise<void> | null = null;

  private constructor(worker: Worker, shared: SharedArrayBuffer, port: number) {
    this.#worker = worker;
    this.#ctrl = new Int32Array(shared, 0, CTRL_BYTES / 4);
    this.#stats = new Float64Array(shared, CTRL_BYTES, STAT_COUNT);
    this.port = port;
    worker.onmessage = (e: MessageEvent<FastReply>) => this.#onReply(e.data);
    worker.onerror = (e: ErrorEvent) => {
      e.preventDefault();
      this.#failAll(new Error(`Fast path worker failed: ${e.message}`));
    };
  }

  /**
   * Starts the worker, which loads libc, binds and starts forwarding.
   * @param options bind address (IPv4 literal), port and initial destinations
   * @returns the running forwarder
   * @throws Deno.errors.AddrInUse when the port is taken; Error when libc or the socket fail
   */
  static async start(options: ForwarderOptions = {}): Promise<FastForwarder> {
    const worker = new Worker(new URL("./fast_worker.ts", import.meta.url), { type: "module" });
    const shared = new SharedArrayBuffer(SHARED_BYTES);
    const reply = await new Promise<FastReply>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error("Cannot start the fast path: the worker did not answer")),
        START_TIMEOUT_MS,
      );
      worker.onmessage = (e: MessageEvent<FastReply>) => {
        clearTimeout(timer);
        resolve(e.data);
      };
      worker.onerror = (e: ErrorEvent) => {
        e.preventDefault();
        clearTimeout(timer);
        reject(new Error(`Cannot start the fast path: ${e.message}`));
      };
      const cmd: FastCommand = {
        type: "start",
        id: 0,
        hostname: options.hostname ?? "127.0.0.1",
        port: options.port ?? 0,
        shared,
      };
      worker.postMessage(cmd);
    }).catch((err) => {
      worker.terminate();
      throw err;
    });
    if (reply.type === "error") {
      worker.terminate();
      if (reply.code === "AddrInUse") throw new Deno.errors.AddrInUse(reply.message);
      throw new Error(reply.message);
    }
    const fwd = new FastForwarder(worker, shared, reply.port ?? 0);
    try {
      for (const d of options.destinations ?? []) await fwd.addDestination(d);
    } catch (err) {
      await fwd.close();
      throw err;
    }
    return fwd;
  }

  #onReply(reply: FastReply): void {
    const p = this.#pending.get(reply.id);
    if (!p) return;
    this.#pending.delete(reply.id);
    p.resolve(reply);
  }

  #failAll(err: Error): void {
    for (const p of this.#pending.values()) p.reject(err);
    this.#pending.clear();
  }

  async #command(cmd: DistributiveOmit<FastCommand, "id">): Promise<void> {
    const id = this.#nextId++;
    const reply = await new Promise<FastReply>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(
          new Error(`Cannot apply "${cmd.type}" on the fast path: no answer in ${COMMAND_TIMEOUT_MS} ms`),
        );
      }, COMMAND_TIMEOUT_MS);
      this.#pending.set(id, {
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.#worker.postMessage({ ...cmd, id } as FastCommand);
      Atomics.add(this.#ctrl, CTRL_PENDING, 1); // the doorbell: the worker yields between batches
    });
    if (reply.type === "error") throw new Error(reply.message);
  }

  /** @inheritdoc */
  addDestination(d: Destination): Promise<void> {
    return this.#command({ type: "add", hostname: d.hostname, port: d.port });
  }

  /** @inheritdoc */
  removeDestination(d: Destination): Promise<void> {
    return this.#command({ type: "remove", hostname: d.hostname, port: d.port });
  }

  /** @inheritdoc */
  stats(): ForwarderStats {
    const s = this.#stats;
    return {
      received: s[STAT_RECEIVED]!,
      receivedBytes: s[STAT_RECEIVED_BYTES]!,
      sent: s[STAT_SENT]!,
      sendErrors: s[STAT_SEND_ERRORS]!,
      batches: s[STAT_BATCHES]!,
      destinations: s[STAT_DESTINATIONS]!,
    };
  }

  /** @inheritdoc */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      try {
        await this.#command({ type: "stop" });
      } finally {
        this.#failAll(new Error("Fast path forwarder closed"));
        this.#worker.terminate();
      }
    })();
    return this.#closed;
  }

  /** @inheritdoc */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
