/**
 * A scenario of the fast plane run in a process of its own by src/dataplane/shared_udp_test.ts: datagrams still in
 * flight for a closed socket never reach a new socket that got its fd number. It needs the process's fd numbers to
 * itself (the kernel gives the lowest free one): other test modules running in the same process would take the
 * freed number first. Exits 0 when the scenario held; throws otherwise.
 * @module
 */
import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { writeRtpHeader } from "../../src/rtp/packet.ts";
import { FastUdpPlane } from "../../src/dataplane/shared_udp.ts";
import { bindFree } from "./plane_sockets.ts";

async function until(what: string, cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

function rtp(i: number): Uint8Array {
  const p = new Uint8Array(100);
  writeRtpHeader(p, 0, { marker: false, payloadType: 96, sequence: i, timestamp: i * 10, ssrc: 0x5eed });
  new DataView(p.buffer).setUint32(12, i);
  return p;
}

/** The scenario; throws when a datagram of the old socket reached the new one's handler. */
export async function fdReuseScenario(): Promise<void> {
  const PACKETS = 20;
  const plane = new FastUdpPlane();
  const client = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const fcntl = Deno.dlopen("libc.so.6", { fcntl: { parameters: ["i32", "i32", "i32"], result: "i32" } });
  const F_GETFD = 1;
  let toOld = 0;
  let toNew = 0;
  const old = bindFree(plane, () => toOld++);
  let next: { fd: number; port: number } | null = null;
  try {
    for (let i = 0; i < PACKETS; i++) {
      await client.send(rtp(i), { transport: "udp", hostname: "127.0.0.1", port: old.port });
    }
    // Without yielding: the worker takes the datagrams and posts them, which this thread cannot handle yet.
    const deadline = performance.now() + 10_000;
    while (plane.stats().received < PACKETS && performance.now() < deadline) { /* wait for the worker */ }
    assertEquals(plane.stats().received, PACKETS, "the worker received the datagrams");
    plane.closeSocket(old.fd);
    // Still without yielding: the worker closes the fd, then this thread binds, and gets that number again.
    while (fcntl.symbols.fcntl(old.fd, F_GETFD, 0) >= 0 && performance.now() < deadline) { /* wait */ }
    // The kernel gives the lowest free number: bind until a socket gets the old one (lower ones may be free).
    // A plane socket is a pair of fds (its send twin first): when the old number went to a twin, that socket is
    // closed again and one number taken by a file, so that the next pair's reader falls on it.
    const others: number[] = [];
    const shims: Deno.FsFile[] = [];
    while (others.length < 64 && shims.length < 8) {
      next = bindFree(plane, () => toNew++);
      if (next.fd === old.fd) break;
      if (next.fd > old.fd && fcntl.symbols.fcntl(old.fd, F_GETFD, 0) >= 0) {
        plane.closeSocket(next.fd);
        next = null;
        while (fcntl.symbols.fcntl(old.fd, F_GETFD, 0) >= 0 && performance.now() < deadline) { /* wait */ }
        shims.push(Deno.openSync("/dev/null"));
        continue;
      }
      others.push(next.fd);
    }
    for (const fd of others) plane.closeSocket(fd);
    for (const f of shims) f.close();
    assertEquals(next?.fd, old.fd, "a new socket got the closed socket's fd number");
    if (!next) throw new Error("unreachable");
    // The new socket's own traffic arrives; the old socket's records, handled now, are dropped.
    await client.send(rtp(PACKETS), { transport: "udp", hostname: "127.0.0.1", port: next.port });
    // The old socket's records were posted before its close, so they are handled before this one.
    await until("the new socket's datagram", () => toNew >= 1);
    assertEquals([toOld, toNew], [0, 1], "nothing of the old socket reached a handler after its close");
  } finally {
    client.close();
    fcntl.close();
    if (next) plane.closeSocket(next.fd);
    await plane.close();
  }
}

if (import.meta.main) {
  await fdReuseScenario();
  console.log("fd reuse scenario: held");
}
