import { deepStrictEqual as assertEquals, ok as assert, throws as assertThrows } from "node:assert/strict";
import { FastUdpPlane } from "./shared_udp.ts";
import { bindFree } from "../../tests/support/plane_sockets.ts";
import {
  AF_INET,
  openLibc,
  SO_REUSEPORT,
  SOCK_DGRAM,
  SOCKADDR_IN_SIZE,
  SOL_SOCKET,
  writeSockaddrIn,
} from "./_libc.ts";

const linux = Deno.build.os === "linux";

async function until(what: string, cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** UDP sockets of this process's network namespace bound on 127.0.0.1:`port` (/proc/net/udp), or on 0.0.0.0. */
function boundOn(port: number, any = false): number {
  const local = `${any ? "00000000" : "0100007F"}:${port.toString(16).toUpperCase().padStart(4, "0")}`;
  return Deno.readTextFileSync("/proc/net/udp").split("\n").filter((l) => l.trim().split(/\s+/)[1] === local)
    .length;
}

/** Whether a socket that sets SO_REUSEPORT (as a process that wants to share a port would) binds 127.0.0.1:`port`. */
function canJoin(port: number): boolean {
  const libc = openLibc();
  const s = libc.symbols;
  const fd = s.socket(AF_INET, SOCK_DGRAM, 0);
  try {
    const one = new Int32Array([1]);
    s.setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, Deno.UnsafePointer.of(one), 4);
    const addr = new Uint8Array(SOCKADDR_IN_SIZE);
    writeSockaddrIn(new DataView(addr.buffer), 0, "127.0.0.1", port);
    return s.bind(fd, Deno.UnsafePointer.of(addr), SOCKADDR_IN_SIZE) === 0;
  } finally {
    s.close(fd);
    libc.close();
  }
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
      // Neither another socket, nor another plane, nor one that asks to share the port gets it.
      assertEquals(canJoin(port), false);
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

Deno.test({
  name: "a plane socket on the any address gets its send twin too, and every datagram",
  ignore: !linux,
  async fn() {
    const plane = new FastUdpPlane();
    const sender = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
    let received = 0;
    let fd = -1;
    try {
      let port: number;
      ({ fd, port } = bindFree(plane, () => received++, null, "0.0.0.0"));
      assertEquals(boundOn(port, true), 2);
      for (let i = 0; i < 20; i++) {
        await sender.send(new Uint8Array([i]), { transport: "udp", hostname: "127.0.0.1", port });
      }
      await until("20 datagrams", () => received === 20);
    } finally {
      if (fd >= 0) plane.closeSocket(fd);
      sender.close();
      await plane.close();
    }
  },
});

Deno.test({
  name: "a plane that stops frees the ports of its open sockets and their send twins",
  ignore: !linux,
  async fn() {
    const plane = new FastUdpPlane();
    let port = -1;
    try {
      ({ port } = bindFree(plane, () => {}));
      assertEquals(boundOn(port), 2);
    } finally {
      await plane.close();
    }
    await until("the port freed", () => canBind(port));
    assertEquals(boundOn(port), 0);
  },
});

Deno.test({
  name:
    "the plane reads back the socket buffers the kernel grants it (here all of them: the tests run as root)",
  ignore: !linux || Deno.uid() !== 0,
  async fn() {
    const plane = new FastUdpPlane();
    try {
      const granted = plane.socketBuffers();
      assert(granted.receive >= 8 * 1024 * 1024 && granted.send >= 8 * 1024 * 1024, JSON.stringify(granted));
      assertEquals(plane.socketBufferWarning(), null);
    } finally {
      await plane.close();
    }
  },
});
