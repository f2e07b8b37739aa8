/**
 * Datagrams the kernel dropped at UDP sockets (a full receive buffer: the reading process did not keep up), per
 * local port, from /proc/net/udp and /proc/net/udp6 of this network namespace. Tests use it to tell packets a
 * busy machine lost at a socket from packets the relay failed to forward.
 * @module
 */

/** Sum of the `drops` column of the UDP sockets bound to any of `ports` (0 where /proc is not there). */
export function udpDrops(ports: Iterable<number>): number {
  const wanted = new Set(ports);
  let drops = 0;
  for (const file of ["/proc/net/udp", "/proc/net/udp6"]) {
    let text: string;
    try {
      text = Deno.readTextFileSync(file);
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const cols = line.trim().split(/\s+/);
      const local = cols[1];
      if (!local || cols.length < 13) continue;
      const port = parseInt(local.slice(local.lastIndexOf(":") + 1), 16);
      if (wanted.has(port)) drops += Number(cols[cols.length - 1]) || 0;
    }
  }
  return drops;
}
