import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { EPOLL_SYMBOLS, EpollSet } from "./_epoll.ts";
import {
  AF_INET,
  LIBC_SYMBOLS,
  SOCK_CLOEXEC,
  SOCK_DGRAM,
  SOCKADDR_IN_SIZE,
  writeSockaddrIn,
} from "./_libc.ts";

const linux = Deno.build.os === "linux";
const MSG_DONTWAIT = 0x40;

/** libc with sockets and epoll, and helpers for UDP sockets on 127.0.0.1 the test owns by fd. */
function testLibc() {
  const lib = Deno.dlopen("libc.so.6", {
    ...LIBC_SYMBOLS,
    ...EPOLL_SYMBOLS,
    recv: { parameters: ["i32", "pointer", "usize", "i32"], result: "isize" },
    dup2: { parameters: ["i32", "i32"], result: "i32" },
  });
  const s = lib.symbols;
  const errno = () => new Deno.UnsafePointerView(s.__errno_location()!).getInt32();
  const open = (): { fd: number; port: number } => {
    const fd = s.socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    assert(fd >= 0, `socket: errno ${errno()}`);
    const addr = new Uint8Array(SOCKADDR_IN_SIZE);
    writeSockaddrIn(new DataView(addr.buffer), 0, "127.0.0.1", 0);
    assertEquals(s.bind(fd, Deno.UnsafePointer.of(addr), SOCKADDR_IN_SIZE), 0, `bind: errno ${errno()}`);
    const len = new Uint32Array([SOCKADDR_IN_SIZE]);
    assertEquals(s.getsockname(fd, Deno.UnsafePointer.of(addr), Deno.UnsafePointer.of(len)), 0);
    return { fd, port: new DataView(addr.buffer).getUint16(2, false) };
  };
  return { lib, s, errno, open };
}

function readyList(set: EpollSet, n: number): Array<[number, number]> {
  return Array.from({ length: n }, (_, i) => [set.fd(i), set.tag(i)] as [number, number]);
}

Deno.test({
  name: "EpollSet reports only the ready socket of 3,000, with its tag",
  ignore: !linux,
  async fn() {
    const { lib, s, errno, open } = testLibc();
    const set = new EpollSet(s, errno);
    const socks = Array.from({ length: 3000 }, open);
    const client = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
    // 3,000 ephemeral ports: on a busy machine other tests' datagrams to ports they no longer hold may land on a
    // few of them. Those are read and set aside; ours carries a token no other test sends.
    const token = crypto.getRandomValues(new Uint8Array(16));
    const buf = new Uint8Array(2048);
    /** Reads what `fd` holds; true when one of the datagrams is ours. */
    const drainHasToken = (fd: number): boolean => {
      let ours = false;
      for (;;) {
        const n = Number(s.recv(fd, Deno.UnsafePointer.of(buf), BigInt(buf.length), MSG_DONTWAIT));
        if (n < 0) return ours;
        ours ||= n === token.length && token.every((b, i) => buf[i] === b);
      }
    };
    try {
      socks.forEach((k, i) => set.add(k.fd, 1000 + i));
      let rounds = 0;
      for (let n = set.wait(0); n > 0; n = set.wait(0)) {
        assert(++rounds <= 100, `sockets stay ready after being read: ${JSON.stringify(readyList(set, n))}`);
        for (const [fd] of readyList(set, n)) assert(!drainHasToken(fd), "nothing of ours is readable yet");
      }
      const last = socks.at(-1)!;
      await client.send(token, { transport: "udp", hostname: "127.0.0.1", port: last.port });
      const n = set.wait(5000);
      const ready = readyList(set, n);
      assert(
        ready.some(([fd, tag]) => fd === last.fd && tag === 1000 + socks.length - 1),
        `the last socket is reported with its tag: ${JSON.stringify(ready)}`,
      );
      for (const [fd, tag] of ready) {
        const ours = drainHasToken(fd);
        assertEquals(
          ours,
          fd === last.fd,
          `fd ${fd} (tag ${tag}) holds our datagram only if it is the last one`,
        );
        assertEquals(tag, 1000 + socks.findIndex((k) => k.fd === fd), "each fd comes with its own tag");
      }
    } finally {
      client.close();
      for (const k of socks) s.close(k.fd);
      set.close();
      lib.close();
    }
  },
});

Deno.test({
  name: "EpollSet: ready sockets beyond one wait's capacity are reported by the next waits",
  ignore: !linux,
  async fn() {
    const { lib, s, errno, open } = testLibc();
    const set = new EpollSet(s, errno, 4);
    const socks = Array.from({ length: 10 }, open);
    const client = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
    try {
      socks.forEach((k, i) => set.add(k.fd, i + 1));
      for (const k of socks) {
        await client.send(new Uint8Array(10), { transport: "udp", hostname: "127.0.0.1", port: k.port });
      }
      // Nothing is read: every socket stays readable (level-triggered), yet each wait reports others first.
      const seen = new Set<number>();
      for (let w = 0; w < 3; w++) {
        const n = set.wait(5000);
        assert(n > 0 && n <= 4, `wait ${w}: ${n} events`);
        for (const [, tag] of readyList(set, n)) seen.add(tag);
      }
      assertEquals([...seen].sort((a, b) => a - b), [...Array(10).keys()].map((i) => i + 1));
    } finally {
      client.close();
      for (const k of socks) s.close(k.fd);
      set.close();
      lib.close();
    }
  },
});

Deno.test({
  name: "EpollSet: an event read before its fd was removed and the number reused keeps the old tag",
  ignore: !linux,
  async fn() {
    const { lib, s, errno, open } = testLibc();
    const set = new EpollSet(s, errno);
    const client = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
    const first = open();
    let second: { fd: number; port: number } | null = null;
    try {
      set.add(first.fd, 1);
      await client.send(new Uint8Array(10), { transport: "udp", hostname: "127.0.0.1", port: first.port });
      assertEquals(set.wait(5000), 1);
      // As the worker may do between a wait and reading its events: close the socket, open another that gets
      // the same number. dup2() closes the old socket and puts the new one at its number in one step: with a
      // close() and a socket(), another test of the same process may take the number in between.
      set.remove(first.fd);
      const fresh = open();
      assertEquals(s.dup2(fresh.fd, first.fd), first.fd, `dup2: errno ${errno()}`);
      s.close(fresh.fd);
      second = { fd: first.fd, port: fresh.port };
      set.add(second.fd, 2);
      assertEquals(readyList(set, 1), [[first.fd, 1]], "the stale event names the old registration");
      assertEquals(set.wait(0), 0, "the new socket has nothing to read, the old one is gone");
      set.remove(second.fd);
      set.remove(second.fd); // removing twice is harmless
      set.add(second.fd, 3); // registered again after a removal
      await client.send(new Uint8Array(10), { transport: "udp", hostname: "127.0.0.1", port: second.port });
      assertEquals(set.wait(5000), 1);
      assertEquals(readyList(set, 1), [[second.fd, 3]]);
    } finally {
      client.close();
      s.close(second?.fd ?? first.fd);
      set.close();
      lib.close();
    }
  },
});
