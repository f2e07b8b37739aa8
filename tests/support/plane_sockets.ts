/**
 * Sockets of a fast UDP plane for its tests: bound on a free even port (40000-49998), of 127.0.0.1 by default.
 * @module
 */
import type { FastUdpPlane, PlaneDigestHandler, PlaneHandler } from "../../src/dataplane/shared_udp.ts";

/**
 * Binds a socket of `plane` on a random free even port, trying again (20 times at most) where one is taken.
 * @returns its fd and port
 */
export function bindFree(
  plane: FastUdpPlane,
  handler: PlaneHandler,
  onDigest: PlaneDigestHandler | null = null,
  hostname = "127.0.0.1",
): { fd: number; port: number } {
  for (let attempt = 0;; attempt++) {
    const port = 40000 + 2 * Math.floor(Math.random() * 5000);
    try {
      return { fd: plane.bind(hostname, port, handler, onDigest), port };
    } catch (err) {
      if (!(err instanceof Deno.errors.AddrInUse) || attempt > 20) throw err;
    }
  }
}
