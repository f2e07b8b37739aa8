/**
 * An RTSP proxy that puts a {@link LossyForwarder} into the media path of UDP sessions: it passes requests and
 * responses between an RTSP client (the relay pulling a camera) and the server (the camera) untouched, except
 * the Transport header of SETUP, whose ports it rewrites so that the server sends RTP to the forwarder and the
 * client takes the forwarder's ports for the server's:
 *
 * ```
 * SETUP      client_port=A-B                  -> client_port=<forwarder in>
 * 200 OK     client_port=<in>;server_port=C-D -> client_port=A-B;server_port=<forwarder out>
 * ```
 * @module
 */
import type { LossyForwarder } from "./lossy_forwarder.ts";
import { closeQuietly } from "./processes.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** A running proxy. */
export interface RtspUdpProxy extends AsyncDisposable {
  /** TCP port of the proxy on 127.0.0.1. */
  readonly port: number;
  /** Forwarders created, one per SETUP, in order. */
  readonly forwarders: readonly LossyForwarder[];
  /** `rtsp://127.0.0.1:PORT/path`. */
  url(path: string): string;
  close(): Promise<void>;
}

/** Reads whole RTSP messages (head, body by Content-Length) and `$` frames off a connection. */
class MessageReader {
  #buf = new Uint8Array(0);
  readonly #conn: Deno.Conn;
  readonly #chunk = new Uint8Array(64 * 1024);

  constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }

  /** The next message as [head text, body] or a frame as raw bytes; null at EOF. */
  async next(): Promise<{ head: string; body: Uint8Array } | { frame: Uint8Array } | null> {
    while (true) {
      const b = this.#buf;
      if (b.length >= 4 && b[0] === 0x24) {
        const len = (b[2]! << 8) | b[3]!;
        if (b.length >= 4 + len) {
          this.#buf = b.slice(4 + len);
          return { frame: b.slice(0, 4 + len) };
        }
      } else if (b.length > 0) {
        const end = indexOfCrlfCrlf(b);
        if (end >= 0) {
          const head = dec.decode(b.subarray(0, end));
          const m = head.match(/\r\ncontent-length:\s*(\d+)/i);
          const bodyLen = m ? Number(m[1]) : 0;
          if (b.length >= end + 4 + bodyLen) {
            const body = b.slice(end + 4, end + 4 + bodyLen);
            this.#buf = b.slice(end + 4 + bodyLen);
            return { head, body };
          }
        }
      }
      const n = await this.#conn.read(this.#chunk);
      if (n === null) return null;
      const joined = new Uint8Array(this.#buf.length + n);
      joined.set(this.#buf);
      joined.set(this.#chunk.subarray(0, n), this.#buf.length);
      this.#buf = joined;
    }
  }
}

function indexOfCrlfCrlf(b: Uint8Array): number {
  for (let i = 0; i + 3 < b.length; i++) {
    if (b[i] === 13 && b[i + 1] === 10 && b[i + 2] === 13 && b[i + 3] === 10) return i;
  }
  return -1;
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let off = 0;
  while (off < bytes.length) off += await conn.write(bytes.subarray(off));
}

function header(head: string, name: string): string | undefined {
  const m = head.match(new RegExp(`\\r\\n${name}:[ \\t]*([^\\r\\n]*)`, "i"));
  return m?.[1];
}

function withHeader(head: string, name: string, value: string): string {
  return head.replace(new RegExp(`(\\r\\n${name}:)[ \\t]*[^\\r\\n]*`, "i"), `$1 ${value}`);
}

/**
 * Starts a proxy in front of the RTSP server at `upstream`. Each UDP SETUP gets the forwarder `makeForwarder`
 * returns (its index counts SETUPs from 0); TCP-interleaved SETUPs pass untouched.
 */
export function startRtspUdpProxy(
  upstream: { hostname: string; port: number },
  makeForwarder: (index: number) => LossyForwarder,
): RtspUdpProxy {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  const forwarders: LossyForwarder[] = [];
  const conns = new Set<Deno.Conn>();
  const tasks: Promise<void>[] = [];

  const serve = async (client: Deno.Conn) => {
    const server = await Deno.connect({ hostname: upstream.hostname, port: upstream.port });
    conns.add(client);
    conns.add(server);
    /** CSeq of a SETUP -> its forwarder and the client's own ports. */
    const pending = new Map<string, { f: LossyForwarder; client: string }>();
    const up = (async () => {
      const reader = new MessageReader(client);
      for (let m = await reader.next(); m; m = await reader.next()) {
        if ("frame" in m) {
          await writeAll(server, m.frame);
          continue;
        }
        let head = m.head;
        const transport = header(head, "Transport");
        const ports = transport?.match(/client_port=(\d+)-(\d+)/);
        if (head.startsWith("SETUP ") && transport && ports) {
          const f = makeForwarder(forwarders.length);
          forwarders.push(f);
          f.forwardTo(Number(ports[1]), Number(ports[2]));
          const [a, b] = f.inPorts;
          head = withHeader(
            head,
            "Transport",
            transport.replace(/client_port=\d+-\d+/, `client_port=${a}-${b}`),
          );
          pending.set(header(head, "CSeq") ?? "", { f, client: `${ports[1]}-${ports[2]}` });
        }
        await writeAll(server, concat(enc.encode(head + "\r\n\r\n"), m.body));
      }
    })();
    const down = (async () => {
      const reader = new MessageReader(server);
      for (let m = await reader.next(); m; m = await reader.next()) {
        if ("frame" in m) {
          await writeAll(client, m.frame);
          continue;
        }
        let head = m.head;
        const setup = pending.get(header(head, "CSeq") ?? "");
        const transport = header(head, "Transport");
        if (setup && transport) {
          pending.delete(header(head, "CSeq") ?? "");
          const serverPorts = transport.match(/server_port=(\d+)-(\d+)/);
          if (serverPorts) setup.f.replyTo(Number(serverPorts[2]));
          const [c, d] = setup.f.outPorts;
          head = withHeader(
            head,
            "Transport",
            transport.replace(/client_port=\d+-\d+/, `client_port=${setup.client}`)
              .replace(/server_port=\d+-\d+/, `server_port=${c}-${d}`),
          );
        }
        await writeAll(client, concat(enc.encode(head + "\r\n\r\n"), m.body));
      }
    })();
    await Promise.race([up, down]).catch(() => {});
    for (const c of [client, server]) {
      try {
        c.close();
      } catch { /* closed */ }
      conns.delete(c);
    }
    await Promise.allSettled([up, down]);
  };

  const accept = (async () => {
    try {
      for await (const conn of listener) tasks.push(serve(conn).catch(() => {}));
    } catch { /* listener closed */ }
  })();

  const close = async () => {
    closeQuietly(listener, ...conns);
    await accept;
    await Promise.allSettled(tasks);
    await Promise.all(forwarders.map((f) => f.close()));
  };
  return {
    port,
    forwarders,
    url: (path) => `rtsp://127.0.0.1:${port}/${path.replace(/^\/+/, "")}`,
    close,
    [Symbol.asyncDispose]: close,
  };
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (b.length === 0) return a;
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
