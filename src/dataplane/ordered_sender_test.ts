/**
 * OrderedSender against real loopback sockets (a socket just bound: the runtime reverses what is sent before it
 * knows the socket writable) and against a scripted send (errors, full lanes, lanes forgotten when idle).
 * @module
 */
import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { MAX_LANE_QUEUE, OrderedSender } from "./ordered_sender.ts";

async function receiveAll(conn: Deno.DatagramConn, n: number): Promise<number[]> {
  const got: number[] = [];
  for (let i = 0; i < n; i++) got.push((await conn.receive())[0][0]!);
  return got;
}

Deno.test("OrderedSender: datagrams sent at once to one destination arrive in order; two destinations each in order", async () => {
  const tx = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const a = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const b = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  try {
    let errors = 0;
    const sender = new OrderedSender((d, to) => tx.send(d, to), () => errors++);
    for (let i = 0; i < 40; i++) {
      sender.send(new Uint8Array([i]), a.addr as Deno.NetAddr);
      sender.send(new Uint8Array([100 + i]), b.addr as Deno.NetAddr);
    }
    const inOrder = (base: number) => Array.from({ length: 40 }, (_, i) => base + i);
    assertEquals(await receiveAll(a, 40), inOrder(0));
    assertEquals(await receiveAll(b, 40), inOrder(100));
    assertEquals(errors, 0);
    assertEquals(sender.busyLanes, 0, "no lane left busy");
  } finally {
    tx.close();
    a.close();
    b.close();
  }
});

Deno.test("OrderedSender: a failed send counts and the lane goes on; a full lane drops and counts", async () => {
  const to: Deno.NetAddr = { transport: "udp", hostname: "127.0.0.1", port: 9 };
  const sent: number[] = [];
  const pending: Array<() => void> = [];
  let errors = 0;
  const sender = new OrderedSender((d) => {
    if (d[0] === 1) return Promise.reject(new Error("unreachable"));
    return new Promise<void>((resolve) => pending.push(() => (sent.push(d[0]!), resolve())));
  }, () => errors++);
  sender.send(new Uint8Array([0]), to);
  for (let i = 1; i <= MAX_LANE_QUEUE + 1; i++) sender.send(new Uint8Array([i % 256]), to);
  assertEquals(errors, 1, "one dropped past the lane's bound");
  // Release each send in turn: the rejected ones (value 1) count as errors and the lane carries on.
  while (pending.length > 0 || sender.busyLanes > 0) {
    pending.shift()?.();
    for (let k = 0; k < 4; k++) await Promise.resolve(); // the lane's then() runs and starts the next send
  }
  assertEquals(errors, 1 + Math.ceil(MAX_LANE_QUEUE / 256), "every datagram valued 1 failed");
  assertEquals(sent.slice(0, 3), [0, 2, 3]);
  assertEquals(sender.busyLanes, 0);
});

Deno.test("OrderedSender: more destinations than it keeps idle lanes for are all served, in order each", async () => {
  const sent: string[] = [];
  const sender = new OrderedSender((d, to) => {
    sent.push(`${to.port}:${d[0]}`);
    return Promise.resolve();
  }, () => {
    throw new Error("no send fails here");
  });
  for (let port = 1; port <= 1500; port++) {
    sender.send(new Uint8Array([0]), { transport: "udp", hostname: "127.0.0.1", port });
    sender.send(new Uint8Array([1]), { transport: "udp", hostname: "127.0.0.1", port });
    for (let k = 0; k < 4; k++) await Promise.resolve();
  }
  assertEquals(sent.length, 3000);
  assertEquals(sent.slice(0, 4), ["1:0", "1:1", "2:0", "2:1"]);
  assertEquals(sent.slice(-2), ["1500:0", "1500:1"]);
  assertEquals(sender.busyLanes, 0);
});
