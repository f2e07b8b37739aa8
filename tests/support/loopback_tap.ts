/**
 * A passive tap on the loopback interface: what an outsider who can read the wire between two relays sees. It
 * opens a Linux packet socket (`AF_PACKET`, `SOCK_DGRAM`, bound to `lo`) through libc FFI and keeps the IPv4 UDP
 * datagrams, and the TCP payloads, sent to one address and port; the relays are not touched (nothing is
 * forwarded, nothing delayed). Needs root (CAP_NET_RAW) and `--allow-ffi`.
 *
 * Each packet crossing `lo` is seen twice (going out and coming in); only the incoming copy is kept.
 * @module
 */

const AF_PACKET = 17;
const SOCK_DGRAM = 2;
/** htons(ETH_P_ALL) */
const ETH_P_ALL_BE = 0x0300;
const SOL_SOCKET = 1;
const SO_RCVTIMEO = 20;
const SO_RCVBUF = 8;
/** sockaddr_ll.sll_pkttype of a packet received by this host (not the outgoing copy). */
const PACKET_HOST = 0;

const SYMBOLS = {
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  bind: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  setsockopt: { parameters: ["i32", "i32", "i32", "buffer", "u32"], result: "i32" },
  recvfrom: {
    parameters: ["i32", "buffer", "usize", "i32", "buffer", "buffer"],
    result: "isize",
    nonblocking: true,
  },
  close: { parameters: ["i32"], result: "i32" },
} as const;

/** One captured packet. */
export interface TappedPacket {
  /** Source address and port. */
  from: { hostname: string; port: number };
  /** The UDP payload, or the TCP segment's payload. */
  payload: Uint8Array;
  /** The TCP sequence number of the payload's first byte (TCP only). */
  seq?: number;
}

/** What to keep. */
export interface TapFilter {
  protocol: "udp" | "tcp";
  /** Destination address. */
  hostname: string;
  /** Destination port. */
  port: number;
  /** Only packets from this address. @default any */
  fromHostname?: string;
}

/** A running tap. */
export interface LoopbackTap extends AsyncDisposable {
  /** Packets kept so far (non-empty payloads only). */
  readonly packets: TappedPacket[];
  /** Resolves once `count` packets are kept, or rejects after `timeoutMs`. */
  waitFor(count: number, timeoutMs: number): Promise<void>;
  /** Stops capturing. */
  close(): Promise<void>;
}

/** Starts capturing the packets `filter` selects. @throws when the packet socket cannot be opened */
export function tapLoopback(filter: TapFilter): LoopbackTap {
  const lib = Deno.dlopen("libc.so.6", SYMBOLS);
  const fd = lib.symbols.socket(AF_PACKET, SOCK_DGRAM, ETH_P_ALL_BE);
  if (fd < 0) {
    lib.close();
    throw new Error("socket(AF_PACKET) failed: the tap needs root (CAP_NET_RAW)");
  }
  const ll = new Uint8Array(20);
  const llView = new DataView(ll.buffer);
  llView.setUint16(0, AF_PACKET, true);
  llView.setUint16(2, ETH_P_ALL_BE, true);
  llView.setInt32(4, Number(Deno.readTextFileSync("/sys/class/net/lo/ifindex").trim()), true);
  if (lib.symbols.bind(fd, ll, ll.length) !== 0) {
    lib.symbols.close(fd);
    lib.close();
    throw new Error("bind(AF_PACKET, lo) failed");
  }
  // Wake up every 100 ms to notice close(); a large buffer, as other tests share the loopback.
  lib.symbols.setsockopt(
    fd,
    SOL_SOCKET,
    SO_RCVTIMEO,
    new Uint8Array(new BigInt64Array([0n, 100_000n]).buffer),
    16,
  );
  lib.symbols.setsockopt(fd, SOL_SOCKET, SO_RCVBUF, new Uint8Array(new Int32Array([8 << 20]).buffer), 4);
  const proto = filter.protocol === "udp" ? 17 : 6;
  const packets: TappedPacket[] = [];
  const waiters: Array<() => void> = [];
  let closed = false;
  const loop = (async () => {
    const buf = new Uint8Array(65536);
    const view = new DataView(buf.buffer);
    const from = new Uint8Array(20);
    const fromLen = new Uint32Array(1);
    while (!closed) {
      fromLen[0] = from.length;
      const n = Number(
        await lib.symbols.recvfrom(fd, buf, BigInt(buf.length), 0, from, new Uint8Array(fromLen.buffer)),
      );
      if (n <= 0 || from[10] !== PACKET_HOST || (buf[0]! >> 4) !== 4 || buf[9] !== proto) continue;
      const ihl = (buf[0]! & 0x0f) * 4;
      const total = Math.min(n, view.getUint16(2));
      const src = buf.subarray(12, 16).join(".");
      const dst = buf.subarray(16, 20).join(".");
      const dport = view.getUint16(ihl + 2);
      if (dst !== filter.hostname || dport !== filter.port) continue;
      if (filter.fromHostname !== undefined && src !== filter.fromHostname) continue;
      const sport = view.getUint16(ihl);
      let payload: Uint8Array;
      let seq: number | undefined;
      if (proto === 17) {
        payload = buf.slice(ihl + 8, total);
      } else {
        seq = view.getUint32(ihl + 4);
        payload = buf.slice(ihl + (buf[ihl + 12]! >> 4) * 4, total);
      }
      if (payload.length === 0) continue;
      packets.push({ from: { hostname: src, port: sport }, payload, ...(seq !== undefined ? { seq } : {}) });
      for (const w of waiters.splice(0)) w();
    }
  })();
  const close = async () => {
    if (closed) return;
    closed = true;
    await loop.catch(() => {});
    lib.symbols.close(fd);
    lib.close();
  };
  return {
    packets,
    async waitFor(count, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      while (packets.length < count) {
        const left = deadline - Date.now();
        if (left <= 0) {
          throw new Error(`the tap saw ${packets.length} of ${count} packets in ${timeoutMs} ms`);
        }
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, Math.min(left, 200));
          waiters.push(() => {
            clearTimeout(timer);
            resolve();
          });
        });
      }
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

/**
 * The first complete HTTP request whose request line starts with `prefix` in the TCP payloads captured (head and
 * `Content-Length` body), as the bytes that crossed the wire. Connections are kept alive between requests, so a
 * request starts at any segment that begins with `prefix`.
 * @example firstHttpRequest(tap.packets, "POST /mesh/v1/join ")
 * @returns the request bytes, or null when none is complete yet
 */
export function firstHttpRequest(packets: readonly TappedPacket[], prefix: string): Uint8Array | null {
  const flows = new Map<string, Map<number, Uint8Array>>();
  for (const p of packets) {
    const key = `${p.from.hostname}:${p.from.port}`;
    const flow = flows.get(key) ?? new Map<number, Uint8Array>();
    flows.set(key, flow);
    flow.set(p.seq!, p.payload); // a retransmission replaces its first copy
  }
  const latin1 = new TextDecoder("latin1");
  for (const flow of flows.values()) {
    const ordered = [...flow.entries()].sort((a, b) => a[0] - b[0]);
    for (let i = 0; i < ordered.length; i++) {
      if (!latin1.decode(ordered[i]![1].subarray(0, prefix.length)).startsWith(prefix)) continue;
      // The contiguous bytes from this segment on.
      const parts: Uint8Array[] = [];
      let next = ordered[i]![0];
      for (const [seq, payload] of ordered.slice(i)) {
        if (seq !== next) break;
        parts.push(payload);
        next = (seq + payload.length) >>> 0;
      }
      const bytes = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
      let at = 0;
      for (const p of parts) {
        bytes.set(p, at);
        at += p.length;
      }
      const text = latin1.decode(bytes);
      const end = text.indexOf("\r\n\r\n");
      if (end < 0) continue;
      const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(text.slice(0, end))?.[1] ?? 0);
      if (bytes.length >= end + 4 + length) return bytes.slice(0, end + 4 + length);
    }
  }
  return null;
}
