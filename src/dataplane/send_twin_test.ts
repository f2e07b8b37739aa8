import { deepStrictEqual as assertEquals, ok as assert, throws as assertThrows } from "node:assert/strict";
import { FastUdpPlane } from "./shared_udp.ts";
import { bindFree } from "../../tests/support/plane_sockets.ts";

const linux = Deno.build.os === "linux";

async function until(what: string, cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** UDP sockets of this process's network namespace bound on 127.0.0.1:`port` (/proc/net/udp). */
function boundOn(port: number): number {
  const local = `0100007F:${port.toString(16).toUpperCase().padStart(4, "0")}`;
  return Deno.readTextFileSync("/proc/net/udp").split("\n").filter((l) => l.trim().split(/\s+/)[1] === local)
    .length;
}

function canBind(port: number): boolean {
  try {
    Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port }).close();
    return true;
  } catch {
    return false;
  }
}

Deno.test({
  name:
    "a plane socket sends from a twin on its own port, which never takes a datagram, and holds the port alone",
  ignore: !linux,
  async fn() {
    const plane = new FastUdpPlane();
    const senders = Array.from(
      { length: 50 },
      () => Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 }),
    );
    const reader = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
    let received = 0;
    let fd = -1;
    try {
      let port: number;
      ({ fd, port } = bindFree(plane, () => received++));
      // The socket and its send twin.
      assertEquals(boundOn(port), 2);
      // Neither another socket nor another plane gets the port (a twin must not make it shareable).
      assertThrows(
        () => Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port }),
        Deno.errors.AddrInUse,
      );
      assertThrows(() => plane.bind("127.0.0.1", port, () => {}), Deno.errors.AddrInUse);
      // Every datagram reaches the socket the worker reads, from every source port (the kernel would spread a
      // reuseport group's datagrams by their addresses were it not for the group's program).
      const to: Deno.NetAddr = { transport: "udp", hostname: "127.0.0.1", port };
      for (const s of senders) {
        await s.send(new Uint8Array([1, 2, 3]), to);
        await s.send(new Uint8Array([4, 5, 6]), to);
      }
      await until("200 datagrams", () => received === senders.length * 2);
      // What the plane sends leaves from the socket's own port.
      assert(plane.send(fd, new Uint8Array([9, 9, 9, 9]), reader.addr as Deno.NetAddr));
      plane.flush();
      const [data, from] = await reader.receive();
      assertEquals([...data], [9, 9, 9, 9]);
      assertEquals((from as Deno.NetAddr).port, port);
      assertEquals(plane.stats().sendErrors, 0);
      // Closed, the socket and its twin free the port.
      plane.closeSocket(fd);
      fd = -1;
      await until("the port freed", () => canBind(port));
      assertEquals(boundOn(port), 0);
      assertEquals(received, senders.length * 2);
    } finally {
      if (fd >= 0) plane.closeSocket(fd);
      for (const s of senders) s.close();
      reader.close();
      await plane.close();
    }
  },
});
