/**
 * Processes and ports of `bench/dataplane.ts`: free UDP ports, a child's stdout as lines, the C programs built.
 * @module
 */
import { fileURLToPath } from "node:url";

const C_DIR = fileURLToPath(new URL("../c/", import.meta.url));

/**
 * Two consecutive free UDP ports starting on an even one (an RTP/RTCP client_port pair), neither of them in
 * `avoid`: ports another process of the bench will bind later (free now, so the kernel may hand them out again).
 */
export function freeUdpPair(avoid: readonly number[] = []): number {
  for (let i = 0; i < 100; i++) {
    const [p] = freeUdpPorts(1) as [number];
    const even = p - (p % 2);
    if (avoid.includes(even) || avoid.includes(even + 1)) continue;
    try {
      const a = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: even });
      const b = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: even + 1 });
      a.close();
      b.close();
      return even;
    } catch { /* taken: try another */ }
  }
  throw new Error("No free UDP port pair");
}

/** `n` free UDP ports on 127.0.0.1 (free when asked). */
export function freeUdpPorts(n: number): number[] {
  const conns = Array.from(
    { length: n },
    () => Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 }),
  );
  const ports = conns.map((c) => (c.addr as Deno.NetAddr).port);
  for (const c of conns) c.close();
  return ports;
}

/** Reads lines from a child's stdout. */
export class Lines {
  readonly #reader: ReadableStreamDefaultReader<string>;
  #buf = "";
  constructor(stream: ReadableStream<Uint8Array>) {
    this.#reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  }
  /** Next line, or null at the end; rejects after `ms`. */
  async next(ms: number): Promise<string | null> {
    const deadline = Date.now() + ms;
    while (!this.#buf.includes("\n")) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`No output from a bench child in ${ms} ms`)),
          deadline - Date.now(),
        );
      });
      try {
        const { value, done } = await Promise.race([this.#reader.read(), timeout]);
        if (done) {
          const rest = this.#buf;
          this.#buf = "";
          return rest || null;
        }
        this.#buf += value;
      } finally {
        clearTimeout(timer);
      }
    }
    const i = this.#buf.indexOf("\n");
    const line = this.#buf.slice(0, i);
    this.#buf = this.#buf.slice(i + 1);
    return line;
  }
}

/** Builds bench/c/{NAME}.c (by default relay, blaster and sink) with gcc -O2 into `dir`. */
export async function compile(
  dir: string,
  names: readonly string[] = ["relay", "blaster", "sink"],
): Promise<void> {
  for (const name of names) {
    const out = await new Deno.Command("gcc", {
      args: ["-O2", "-Wall", "-o", `${dir}/${name}`, `${C_DIR}${name}.c`],
      stderr: "piped",
    }).output();
    if (!out.success) throw new Error(`Cannot compile "${name}.c": ${new TextDecoder().decode(out.stderr)}`);
  }
}
