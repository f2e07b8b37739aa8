/**
 * Whether the kernel gave the fast plane the socket buffers it asks for. The plane asks 8 MiB a direction per
 * socket (SO_RCVBUFFORCE, which needs CAP_NET_ADMIN, then SO_RCVBUF, which the kernel caps at
 * `net.core.rmem_max`, 208 KiB on a stock kernel). A relay without the capability (the DaemonSet runs as a
 * non-root user) on a stock kernel gets about 5 % of it: at 25k packets/s a receive buffer of 1,200-byte
 * datagrams then holds a few milliseconds, and any pause of the Worker longer than that loses packets.
 * Sans-I/O: the plane measures, this decides what to say.
 * @module
 */

/** What the kernel granted (as getsockopt reports it: twice the value set, its accounting space), in bytes. */
export interface SocketBuffers {
  receive: number;
  send: number;
}

/**
 * A warning for the operator when a direction got less than half of `asked` (getsockopt's figure is the doubled
 * one, so a full grant reads 2 x `asked`), or null.
 */
export function socketBufferWarning(granted: SocketBuffers, asked: number): string | null {
  const short: string[] = [];
  if (granted.receive < asked) short.push(`receive ${kib(granted.receive / 2)} (net.core.rmem_max)`);
  if (granted.send < asked) short.push(`send ${kib(granted.send / 2)} (net.core.wmem_max)`);
  if (short.length === 0) return null;
  return `UDP socket buffers are smaller than the ${kib(asked)} the fast plane asks: ${short.join(", ")}; ` +
    `high-rate streams lose packets whenever the relay pauses longer than they fill. Raise the limits on the node ` +
    `(sysctl -w net.core.rmem_max=${asked} net.core.wmem_max=${asked}) or grant CAP_NET_ADMIN`;
}

function kib(bytes: number): string {
  return bytes >= 1024 * 1024
    ? `${(bytes / (1024 * 1024)).toFixed(0)} MiB`
    : `${Math.round(bytes / 1024)} KiB`;
}
