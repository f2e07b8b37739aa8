/**
 * Which addresses a WHEP answer offers the browser as host candidates. The relay is an ICE-lite agent: it never
 * checks a path itself, the browser tries each candidate, so a candidate the browser cannot reach costs nothing
 * but a failed check. Sans-I/O.
 * @module
 */

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/** True for a dotted IPv4 address. */
export function isIpv4(text: string): boolean {
  const m = IPV4.exec(text);
  return m !== null && m.slice(1).every((b) => Number(b) <= 255);
}

/**
 * The candidates' addresses: the relay's `--listen` address when it names one; else the address the browser
 * used to reach the admin port (the request's `Host`, when it is an IPv4 address); else every IPv4 address of
 * the node's interfaces (a host-network pod's are the node's).
 * @param listen `--listen`
 * @param hostHeader the offer's `Host` header, if any
 * @param interfaces the node's IPv4 interface addresses
 */
export function candidateAddresses(
  listen: string,
  hostHeader: string | undefined,
  interfaces: readonly string[],
): string[] {
  if (isIpv4(listen) && listen !== "0.0.0.0") return [listen];
  const host = hostHeader?.replace(/:\d+$/, "") ?? "";
  if (isIpv4(host) && host !== "0.0.0.0") return [host];
  const out = [...new Set(interfaces.filter((a) => isIpv4(a) && a !== "0.0.0.0"))];
  return out.length > 0 ? out : ["127.0.0.1"];
}
