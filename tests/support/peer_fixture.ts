/**
 * A relay as discovery lists it, for tests: ready, no zone, the default ports, with any field overridden.
 * @module
 */
import type { Peer } from "../../src/cluster/discovery.ts";

/** A ready peer `node` at `host` (RTSP 8554, admin 8080, mesh 7000, no zone), with `fields` overriding. */
export function testPeer(node: string, host: string, fields: Partial<Peer> = {}): Peer {
  return { node, host, zone: "", rtspPort: 8554, adminPort: 8080, meshPort: 7000, ready: true, ...fields };
}
