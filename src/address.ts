/**
 * IP addresses as the relay meets them in configs, URLs and sockets: IPv4 literals, IPv4-mapped IPv6 clients, and
 * hosts that need brackets in a URL. One module for every folder (the relay, the mesh, the data plane, the config
 * and the admin API compare and format addresses the same way). Pure functions.
 * @module
 */

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/**
 * An IPv4 literal as an unsigned 32-bit number, or null when `host` is not one (each part 0..255, no leading
 * sign, four parts).
 * @example ipv4Number("10.0.0.1") // 167772161
 */
export function ipv4Number(host: string): number | null {
  const m = IPV4.exec(host);
  if (!m) return null;
  let n = 0;
  for (let i = 1; i <= 4; i++) {
    const b = Number(m[i]);
    if (b > 255) return null;
    n = n * 256 + b;
  }
  return n;
}

/**
 * An address as relays compare them: an IPv4-mapped IPv6 address (`::ffff:10.0.0.7`, as a dual-stack socket
 * reports an IPv4 peer) as its IPv4 form, lower case.
 * @example plainAddress("::FFFF:10.0.0.7") // "10.0.0.7"
 */
export function plainAddress(host: string): string {
  return host.replace(/^::ffff:(?=\d)/i, "").toLowerCase();
}

/**
 * A host as it goes in a URL's authority: an IPv6 literal in brackets, anything else as is.
 * @example hostForUrl("fe80::1") // "[fe80::1]"
 */
export function hostForUrl(host: string): string {
  return host.includes(":") && !host.startsWith("[") ? `[${host}]` : host;
}
