import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { writeRtpHeader } from "../rtp/packet.ts";
import { FastUdpPlane } from "./shared_udp.ts";
import { MAX_BACKLOG_BYTES } from "./_shared_protocol.ts";
import { writeSockaddrIn } from "./_libc.ts";
import { ipv4Number } from "../address.ts";
import { bindFree } from "../../tests/support/plane_sockets.ts";

const linux = Deno.build.os === "linux";
const SSRC = 0x5eed;

async function until(what: string, cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** RTP packet `i` of the test's publisher. */
function rtp(i: number): Uint8Array {
  const p = new Uint8Array(100);
  writeRtpHeader(p, 0, { marker: false, payloadType: 96, sequence: i, timestamp: i * 10, ssrc: SSRC });
  new DataView(p.buffer).setUint32(12, i);
  return p;
}

/** Reads one datagram within `ms`, or null. */
async function receive(sock: Deno.DatagramConn, ms: number): Promise<Uint8Array | null> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<null>((r) => timer = setTimeout(() => r(null), ms));
  try {
    const got = await Promise.race([sock.receive(), timeout]);
    return got === null ? null : got[0];
  } finally {
    clearTimeout(timer);
  }
}

Deno.test({
  name: "FastUdpPlane keeps receiving, sending and forwarding when its 32-bit message count wraps",
  ignore: !linux,
  async fn() {
    const START = 2 ** 31 - 12; // the count wraps after a dozen messages
    const ROUNDS = 30;
    const plane = new FastUdpPlane({ messagesStart: START });
    const publisher = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
    const reader = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
    const readerAddr = reader.addr as Deno.NetAddr;
    const got: Array<{ index: number; forwarded: boolean }> = [];
    let fd = -1;
    try {
      let port: number;
      ({ fd, port } = bindFree(plane, (p, _from, forwarded) => {
        got.push({ index: new DataView(p.buffer, p.byteOffset).getUint32(12), forwarded });
      }));
      const to: Deno.NetAddr = { transport: "udp", hostname: "127.0.0.1", port };
      // The worker forwards the publisher's RTP to the reader itself (cut-through), rewritten to outSsrc.
      const dests = new Uint8Array(16);
      writeSockaddrIn(new DataView(dests.buffer), 0, "127.0.0.1", readerAddr.port);
      let applied = false;
      plane.setRoute(fd, {
        src: { ip: ipv4Number("127.0.0.1")!, port: (publisher.addr as Deno.NetAddr).port },
        map: { ssrc: SSRC, seqDelta: 0, tsDelta: 0, outSsrc: 0xabc },
        dests,
        prompt: true,
      }, () => applied = true);
      await until("the route to apply", () => applied);

      for (let i = 0; i < ROUNDS; i++) {
        // Two messages to the worker per round (a socket's open and close), so the count crosses 2^31 mid-test.
        plane.closeSocket(plane.bind("127.0.0.1", 0, () => {}));
        plane.send(fd, new Uint8Array([0xee, i]), readerAddr);
        plane.flush();
        await publisher.send(rtp(i), to);
        await until(`packet ${i} at the handler (${got.length} handled so far)`, () => got.length === i + 1);
        // The reader gets the main thread's datagram and the worker's forwarded copy, in either order.
        const seen: string[] = [];
        for (let k = 0; k < 2; k++) {
          const d = await receive(reader, 10_000);
          if (d === null) throw new Error(`round ${i}: the reader got ${seen.join(", ") || "nothing"}`);
          seen.push(
            d.length === 2
              ? `sent ${d[1]}`
              : `forwarded ${new DataView(d.buffer, d.byteOffset).getUint32(12)}`,
          );
        }
        assertEquals(seen.sort(), [`forwarded ${i}`, `sent ${i}`]);
      }
      assertEquals(got.map((g) => g.index), [...Array(ROUNDS).keys()]);
      assert(got.every((g) => g.forwarded), "the worker forwarded every packet itself");
      const stats = plane.stats();
      assertEquals([stats.received, stats.cutThrough], [ROUNDS, ROUNDS]);
    } finally {
      publisher.close();
      reader.close();
      if (fd >= 0) plane.closeSocket(fd);
      await plane.close();
    }
  },
});

Deno.test({
  name:
    "FastUdpPlane stops reading while the main thread lags, instead of queueing a flood for it without bound",
  ignore: !linux,
  async fn() {
    const SIZE = 1200;
    // The main thread stays blocked until the flood is over (the flooder's wrapper creates `floodDone`), at most
    // this long: on a busy machine a flood of a fixed length sends less, so it lasts long enough to overflow anyway.
    const BLOCK_LIMIT_MS = 30_000;
    const FLOOD_SECONDS = 6;
    const floodDone = await Deno.makeTempFile({ prefix: "msm-flood-done-" });
    await Deno.remove(floodDone);
    // What may reach a main thread that stopped handling: the worker's backlog bound, one staging buffer and one
    // socket's drain (8 x 64 datagrams) past it, and what the socket's kernel buffer holds (the 8 MiB asked for,
    // doubled by the kernel, each datagram accounted at more than its size).
    const bound = Math.ceil((MAX_BACKLOG_BYTES + 256 * 1024) / (16 + SIZE)) + 8 * 64 +
      Math.ceil((16 << 20) / SIZE);
    const plane = new FastUdpPlane();
    let handled = 0;
    let blocked = false;
    let fd = -1;
    let port = 0;
    try {
      ({ fd, port } = bindFree(plane, () => {
        handled++;
        if (blocked) return;
        // The main thread stops handling for a while, as an overloaded one would.
        blocked = true;
        const until = performance.now() + BLOCK_LIMIT_MS;
        while (performance.now() < until && !exists(floodDone)) {
          const next = performance.now() + 10;
          while (performance.now() < next) { /* busy */ }
        }
      }));
      const floodArgs = [
        "run",
        "--allow-ffi",
        "--allow-read",
        new URL("../../tests/support/udp_flood.ts", import.meta.url).pathname,
        "127.0.0.1",
        String(port),
        String(port + 5000),
        String(FLOOD_SECONDS), // all within the block
        String(SIZE),
        "1",
      ];
      const flooder = new Deno.Command("sh", {
        args: ["-c", '"$0" "$@"; status=$?; : > "$FLOOD_DONE"; exit $status', Deno.execPath(), ...floodArgs],
        env: { FLOOD_DONE: floodDone },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const out = await flooder;
      const report = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
      const sent = Number(report.match(/sent (\d+)/)?.[1] ?? 0);
      // Every packet the worker took off the socket reaches the handler once the main thread is back.
      let last = -1;
      while (handled !== last) {
        last = handled;
        await new Promise((r) => setTimeout(r, 300));
      }
      const stats = plane.stats();
      console.log(
        `flood of ${sent} packets: ${stats.received} received by the worker, ${handled} handled, ` +
          `${stats.backlogPauses} backlog pauses (bound ${bound})`,
      );
      assert(sent > 2 * bound, `the flood (${sent} packets) is too small to tell: ${report}`);
      assert(handled <= bound, `${handled} packets were queued for the blocked main thread`);
      assertEquals(handled, stats.received, "nothing received is lost between the worker and the handler");
      assert(stats.backlogPauses > 0, "the worker paused");
    } finally {
      if (fd >= 0) plane.closeSocket(fd);
      await plane.close();
      await Deno.remove(floodDone).catch(() => {});
    }
  },
});

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

Deno.test({
  name:
    "FastUdpPlane: datagrams still in flight for a closed socket never reach a new socket with its fd number",
  ignore: !linux,
  async fn() {
    // In a process of its own: the scenario needs the lowest free fd number not to go to another test module.
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--unstable-net", "tests/support/fd_reuse_scenario.ts"],
      cwd: new URL("../../", import.meta.url),
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    assert(out.success && text.includes("fd reuse scenario: held"), text);
  },
});

Deno.test({
  name:
    "FastUdpPlane sends in order what went through the send ring and what went as messages, after the socket's open and before its close",
  ignore: !linux,
  async fn() {
    const ROUNDS = 40;
    // A ring of 4 KiB: a batch of one 5,000-byte datagram goes as a message, the small ones through the ring.
    const plane = new FastUdpPlane({ sendRingBytes: 4096 });
    const reader = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
    const to = reader.addr as Deno.NetAddr;
    const datagram = (round: number, k: number, size: number): Uint8Array => {
      const d = new Uint8Array(size);
      d[0] = round;
      d[1] = k;
      return d;
    };
    try {
      for (let round = 0; round < ROUNDS; round++) {
        const { fd } = bindFree(plane, () => {});
        // Right after the socket's open (a message): through the ring.
        plane.send(fd, datagram(round, 0, 40), to);
        plane.flush();
        plane.send(fd, datagram(round, 1, 5000), to);
        plane.flush();
        plane.send(fd, datagram(round, 2, 40), to);
        plane.send(fd, datagram(round, 3, 40), to);
        // Right before its close (a message): what was queued leaves first.
        plane.closeSocket(fd);
        const got: string[] = [];
        for (let k = 0; k < 4; k++) {
          const d = await receive(reader, 10_000);
          if (d === null) throw new Error(`round ${round}: got only ${got.join(", ") || "nothing"}`);
          got.push(`${d[0]}.${d[1]}`);
        }
        assertEquals(got, [0, 1, 2, 3].map((k) => `${round}.${k}`));
      }
      // The worker counts a batch once its sendmmsg returned, which may be after the reader got it (loopback
      // delivers within the call): on a busy machine the count can trail the last datagrams for a moment.
      await until("the worker's count of what it sent", () => plane.stats().sent >= ROUNDS * 4);
      const stats = plane.stats();
      assert(stats.sendRingFull >= ROUNDS, `${stats.sendRingFull} batches went as messages`);
      assertEquals(stats.sent, ROUNDS * 4);
    } finally {
      reader.close();
      await plane.close();
    }
  },
});

Deno.test({
  name:
    "FastUdpPlane.afterFlush() runs at once with nothing queued, else right after the queued sends are handed over",
  ignore: !linux,
  async fn() {
    const plane = new FastUdpPlane();
    const sock = bindFree(plane, () => {});
    try {
      const ran: string[] = [];
      plane.afterFlush(ran, () => ran.push("at once"));
      assertEquals(ran, ["at once"]);
      plane.send(sock.fd, rtp(1), { transport: "udp", hostname: "127.0.0.1", port: 9 });
      const key = {};
      plane.afterFlush(key, () => ran.push("first"));
      plane.afterFlush(key, () => ran.push("replaced"));
      assertEquals(ran, ["at once"], "not before the flush");
      const sentBefore = plane.stats().flushes;
      plane.flush();
      assertEquals([ran, plane.stats().flushes], [["at once", "replaced"], sentBefore + 1]);
    } finally {
      plane.closeSocket(sock.fd);
      await plane.close();
    }
  },
});
