/**
 * Datagrams the kernel dropped at UDP sockets, by local port, from `/proc/net/udp` (its last column): where a
 * bench's loss happened, at the relay's ingress socket or at the sink's, which the sink's count alone cannot say.
 * Counts are per socket and live as long as it: read them before and after a trial whose sockets stay open.
 * @module
 */

/** Drops summed over the sockets bound to each local port (any address). */
export function parseUdpDrops(table: string): Map<number, number> {
  const drops = new Map<number, number>();
  for (const line of table.split("\n").slice(1)) {
    const cols = line.trim().split(/\s+/);
    if (cols.length < 13) continue;
    const port = parseInt(cols[1]!.split(":")[1] ?? "", 16);
    const dropped = Number(cols[cols.length - 1]);
    if (!Number.isFinite(port) || !Number.isFinite(dropped)) continue;
    drops.set(port, (drops.get(port) ?? 0) + dropped);
  }
  return drops;
}

/** The drops now, by local port (empty where /proc/net/udp cannot be read). */
export function readUdpDrops(): Map<number, number> {
  try {
    return parseUdpDrops(Deno.readTextFileSync("/proc/net/udp"));
  } catch {
    return new Map();
  }
}

/** What the drops of `ports` grew by from `before` to `after`, summed. */
export function dropsGrowth(
  before: Map<number, number>,
  after: Map<number, number>,
  ports: number[],
): number {
  let sum = 0;
  for (const port of ports) sum += (after.get(port) ?? 0) - (before.get(port) ?? 0);
  return sum;
}
