/**
 * Tests of the RTSP TCP shell on loopback with a recording handler: responses in request order, frames routed
 * to the connection, the reply-before-media hook, framing errors answered and closed, slowloris closed with 408,
 * a slow but steady sender left alone, and the connection limits: too many connections answered 503, idle
 * connections without a session closed, head and body sizes as configured; those timeouts measured on the
 * monotonic clock, so wall-clock steps neither fire nor stall them.
 * @module
 */
import { deepStrictEqual as assertEquals, equal, match, ok, ok as assert } from "node:assert/strict";
import { response, type RtspRequest } from "./message.ts";
import type { RtspProtocolError } from "./errors.ts";
import {
  READ_BUFFER_FIRST,
  READ_BUFFER_MAX,
  type RtspConnection,
  type RtspConnectionLimit,
  type RtspHandler,
  RtspServer,
  type RtspServerOptions,
} from "./server.ts";
import { RTSP_MAX_BODY_BYTES, RTSP_MAX_HEAD_BYTES } from "./limits.ts";
import { shiftClocks } from "../../tests/support/shifted_clocks.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const BIG_BODY = new Uint8Array(64 * 1024).fill(0x41);

class RecordingHandler implements RtspHandler {
  readonly requests: string[] = [];
  readonly frames: Array<[number, number]> = [];
  readonly sent: string[] = [];
  readonly errors: number[] = [];
  readonly limits: Array<number | undefined> = [];
  readonly hits: Array<RtspConnectionLimit & { remote: string }> = [];
  /** Connection ids that hold a session (exempt from the idle timeout). */
  readonly holding = new Set<string>();
  closed = 0;
  async handle(req: RtspRequest, conn: RtspConnection) {
    conn.onFrame = (ch, payload) => this.frames.push([ch, payload.length]);
    this.requests.push(req.method);
    if (req.method === "SLOW") await new Promise((r) => setTimeout(r, 50));
    if (req.method === "HOLD") this.holding.add(conn.id);
    if (req.method === "BIG") return response(200, { CSeq: req.headers.get("CSeq") ?? "0" }, BIG_BODY);
    return response(200, { CSeq: req.headers.get("CSeq") ?? "0" });
  }
  responseSent(req: RtspRequest) {
    this.sent.push(req.method);
  }
  protocolError(_c: RtspConnection, err: RtspProtocolError) {
    this.errors.push(err.status);
    this.limits.push(err.limit);
  }
  limitHit(remote: Deno.NetAddr, hit: RtspConnectionLimit) {
    this.hits.push({ ...hit, remote: remote.hostname });
  }
  holdsSession(conn: RtspConnection) {
    return this.holding.has(conn.id);
  }
  connectionClosed() {
    this.closed++;
  }
}

/** Limits no test here meets unless it sets its own (the parser's hard limits for sizes). */
const LIMITS = {
  maxQueuedBytes: 1 << 21,
  maxConnections: 1024,
  maxConnectionsPerIp: 0,
  maxHeadBytes: RTSP_MAX_HEAD_BYTES,
  maxBodyBytes: RTSP_MAX_BODY_BYTES,
  idleTimeoutMs: 60_000,
};

async function withServer(
  fn: (port: number, handler: RecordingHandler, server: RtspServer) => Promise<void>,
  headTimeoutMs = 10_000,
  options: Partial<RtspServerOptions> = {},
): Promise<void> {
  const handler = new RecordingHandler();
  const server = new RtspServer({
    hostname: "127.0.0.1",
    port: 0,
    handler,
    headTimeoutMs,
    ...LIMITS,
    ...options,
  });
  server.listen();
  try {
    await fn(server.port, handler, server);
  } finally {
    server.close();
    await new Promise((r) => setTimeout(r, 20)); // let the connection loops see the close
  }
}

async function readAll(conn: Deno.TcpConn, until: (text: string) => boolean, ms = 3000): Promise<string> {
  let text = "";
  const buf = new Uint8Array(4096);
  const deadline = Date.now() + ms;
  while (!until(text) && Date.now() < deadline) {
    const n = await conn.read(buf);
    if (n === null) break;
    text += dec.decode(buf.subarray(0, n));
  }
  return text;
}

Deno.test("RtspServer answers pipelined requests in order, even when an earlier one is slow", async () => {
  await withServer(async (port, handler) => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    try {
      await conn.write(enc.encode(
        "SLOW * RTSP/1.0\r\nCSeq: 1\r\n\r\nOPTIONS * RTSP/1.0\r\nCSeq: 2\r\n\r\nOPTIONS * RTSP/1.0\r\nCSeq: 3\r\n\r\n",
      ));
      const text = await readAll(conn, (t) => (t.match(/RTSP\/1\.0 200/g) ?? []).length === 3);
      assertEquals([...text.matchAll(/CSeq: (\d+)/g)].map((m) => m[1]), ["1", "2", "3"]);
      assertEquals(handler.sent, ["SLOW", "OPTIONS", "OPTIONS"]);
    } finally {
      conn.close();
    }
  });
});

Deno.test("RtspServer reads a publisher's stream of frames whole while its read buffer grows", async () => {
  await withServer(async (port, handler) => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    try {
      await conn.write(enc.encode("OPTIONS * RTSP/1.0\r\nCSeq: 1\r\n\r\n"));
      await readAll(conn, (t) => t.includes("\r\n\r\n"));
      // 300 frames of 1,000 to 60,000 bytes in one go: reads fill the first small buffer, then larger ones.
      const sizes = Array.from({ length: 300 }, (_, i) => 1000 + ((i * 7919) % 59_000));
      const bytes = new Uint8Array(sizes.reduce((a, n) => a + 4 + n, 0));
      let off = 0;
      for (const [i, n] of sizes.entries()) {
        bytes.set([0x24, i % 4, n >> 8, n & 0xff], off);
        off += 4 + n;
      }
      ok(bytes.length > 100 * READ_BUFFER_MAX && READ_BUFFER_FIRST < READ_BUFFER_MAX); // the buffer grows to its max
      for (let at = 0; at < bytes.length;) at += await conn.write(bytes.subarray(at));
      for (let i = 0; i < 500 && handler.frames.length < sizes.length; i++) {
        await new Promise((r) => setTimeout(r, 10));
      }
      assertEquals(handler.frames, sizes.map((n, i) => [i % 4, n]));
    } finally {
      conn.close();
    }
  });
});

Deno.test("RtspServer hands $ frames between requests to the connection's frame listener", async () => {
  await withServer(async (port, handler) => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    try {
      await conn.write(enc.encode("OPTIONS * RTSP/1.0\r\nCSeq: 1\r\n\r\n"));
      await readAll(conn, (t) => t.includes("\r\n\r\n"));
      const frame = new Uint8Array([0x24, 2, 0, 3, 9, 9, 9]);
      const req = enc.encode("OPTIONS * RTSP/1.0\r\nCSeq: 2\r\n\r\n");
      const mixed = new Uint8Array(frame.length * 2 + req.length);
      mixed.set(frame);
      mixed.set(req, frame.length);
      mixed.set(frame, frame.length + req.length);
      await conn.write(mixed);
      await readAll(conn, (t) => t.includes("CSeq: 2"));
      for (let i = 0; i < 50 && handler.frames.length < 2; i++) await new Promise((r) => setTimeout(r, 10));
      assertEquals(handler.frames, [[2, 3], [2, 3]]);
    } finally {
      conn.close();
    }
  });
});

Deno.test("RtspServer answers a framing error with its status and closes", async () => {
  await withServer(async (port, handler) => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    try {
      await conn.write(enc.encode("OPTIONS * RTSP/1.0\r\nCSeq: 1\r\nContent-Length: -4\r\n\r\n"));
      const text = await readAll(conn, () => false);
      assert(/^RTSP\/1\.0 400 /.test(text), text);
      assertEquals(handler.errors, [400]);
      assertEquals(handler.closed, 1);
    } finally {
      conn.close();
    }
  });
});

Deno.test("RtspServer closes a connection stuck on an incomplete request with 408 (slowloris)", async () => {
  await withServer(async (port, handler) => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    try {
      await conn.write(enc.encode("OPTIONS * RTSP/1.0\r\nCSeq: 1\r\nX-Slow: "));
      const started = Date.now();
      const text = await readAll(conn, () => false, 3000);
      assert(/^RTSP\/1\.0 408 /.test(text), `got ${JSON.stringify(text)}`);
      assert(Date.now() - started >= 250, "closed before the head timeout");
      assertEquals(handler.errors, [408]);
    } finally {
      conn.close();
    }
  }, 300);
});

Deno.test("RtspServer leaves a slow but steady stream of complete frames alone", async () => {
  await withServer(async (port, handler) => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    try {
      await conn.write(enc.encode("OPTIONS * RTSP/1.0\r\nCSeq: 1\r\n\r\n"));
      await readAll(conn, (t) => t.includes("\r\n\r\n"));
      // Each write ends mid-frame, so the parser always holds a partial frame, but every write completes one.
      const frame = new Uint8Array(1004).fill(7);
      frame.set([0x24, 0, 0x03, 0xe8]);
      await conn.write(frame.subarray(0, 500));
      for (let i = 0; i < 10; i++) {
        await new Promise((r) => setTimeout(r, 60));
        const next = new Uint8Array(1004);
        next.set(frame.subarray(500));
        next.set(frame.subarray(0, 500), 504);
        await conn.write(next);
      }
      for (let i = 0; i < 50 && handler.frames.length < 10; i++) await new Promise((r) => setTimeout(r, 10));
      assertEquals(handler.errors, []);
      assertEquals(handler.frames.length, 10);
    } finally {
      conn.close();
    }
  }, 300);
});

/** Sends `text` on `conn` and reads until the response head (and `until`) is in. */
async function exchange(conn: Deno.TcpConn, text: string, until = (t: string) => t.includes("\r\n\r\n")) {
  await conn.write(enc.encode(text));
  return await readAll(conn, until);
}

Deno.test("RtspServer answers 503 to the first request of a connection beyond maxConnections; the others carry on", async () => {
  await withServer(
    async (port, handler, server) => {
      const a = await Deno.connect({ hostname: "127.0.0.1", port });
      const b = await Deno.connect({ hostname: "127.0.0.1", port });
      try {
        match(await exchange(a, "OPTIONS * RTSP/1.0\r\nCSeq: 1\r\n\r\n"), /^RTSP\/1\.0 200 /);
        match(await exchange(b, "OPTIONS * RTSP/1.0\r\nCSeq: 1\r\n\r\n"), /^RTSP\/1\.0 200 /);
        equal(server.connections, 2);
        // One beyond the limit that sends nothing is closed unanswered, within the head timeout.
        const c = await Deno.connect({ hostname: "127.0.0.1", port });
        try {
          equal(await readAll(c, () => false, 3000), "");
        } finally {
          c.close();
        }
        const d = await Deno.connect({ hostname: "127.0.0.1", port });
        try {
          const text = await exchange(d, "DESCRIBE rtsp://x/y RTSP/1.0\r\nCSeq: 7\r\n\r\n", () => false);
          match(text, /^RTSP\/1\.0 503 Service Unavailable\r\n/);
          match(text, /\r\nCSeq: 7\r\n/);
          match(text, /\r\nRetry-After: \d+\r\n/);
          match(text, /Too many connections \(limit 2\)/);
        } finally {
          d.close();
        }
        // The connections within the limit were not touched, and the refused ones never reached the handler.
        match(await exchange(a, "OPTIONS * RTSP/1.0\r\nCSeq: 2\r\n\r\n"), /^RTSP\/1\.0 200 .*CSeq: 2/s);
        assertEquals(handler.requests, ["OPTIONS", "OPTIONS", "OPTIONS"]);
        assertEquals(handler.hits.map((h) => [h.reason, h.status, h.limit, h.method, h.remote]), [
          ["max_connections", null, 2, undefined, "127.0.0.1"],
          ["max_connections", 503, 2, "DESCRIBE", "127.0.0.1"],
        ]);
        // A slot freed is a slot for the next client.
        b.close();
        for (let i = 0; i < 50 && server.connections > 1; i++) await new Promise((r) => setTimeout(r, 10));
        const e = await Deno.connect({ hostname: "127.0.0.1", port });
        try {
          match(await exchange(e, "OPTIONS * RTSP/1.0\r\nCSeq: 1\r\n\r\n"), /^RTSP\/1\.0 200 /);
        } finally {
          e.close();
        }
      } finally {
        a.close();
        try {
          b.close();
        } catch { /* closed above */ }
      }
    },
    500,
    { maxConnections: 2 },
  );
});

Deno.test("RtspServer closes a connection without a session that stays silent, not one holding a session", async () => {
  await withServer(
    async (port, handler) => {
      const idle = await Deno.connect({ hostname: "127.0.0.1", port });
      const holder = await Deno.connect({ hostname: "127.0.0.1", port });
      try {
        await exchange(idle, "OPTIONS * RTSP/1.0\r\nCSeq: 1\r\n\r\n");
        await exchange(holder, "HOLD * RTSP/1.0\r\nCSeq: 1\r\n\r\n");
        const started = Date.now();
        equal(await readAll(idle, () => false, 3000), "", "closed without an answer");
        const waited = Date.now() - started;
        ok(waited >= 250 && waited < 2500, `closed after ${waited} ms`);
        assertEquals(handler.hits.map((h) => [h.reason, h.status, h.limit]), [["idle_timeout", null, 300]]);
        // The holder, silent just as long, is still served.
        match(await exchange(holder, "OPTIONS * RTSP/1.0\r\nCSeq: 2\r\n\r\n"), /^RTSP\/1\.0 200 /);
      } finally {
        idle.close();
        holder.close();
      }
    },
    10_000,
    { idleTimeoutMs: 300 },
  );
});

Deno.test("RtspServer answers 408 to a new connection that sends no request within the head timeout", async () => {
  await withServer(async (port, handler) => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    try {
      const text = await readAll(conn, () => false, 3000);
      match(text, /^RTSP\/1\.0 408 /);
      assertEquals([handler.errors, handler.limits], [[408], [300]]);
    } finally {
      conn.close();
    }
  }, 300);
});

Deno.test("RtspServer takes its head and body bounds from its options (431, 413)", async () => {
  await withServer(
    async (port, handler) => {
      for (
        const [text, status] of [
          [`OPTIONS * RTSP/1.0\r\nCSeq: 1\r\nX-Pad: ${"a".repeat(1100)}\r\n\r\n`, 431],
          ["SET_PARAMETER * RTSP/1.0\r\nCSeq: 2\r\nContent-Length: 101\r\n\r\n", 413],
        ] as const
      ) {
        const conn = await Deno.connect({ hostname: "127.0.0.1", port });
        try {
          match(await exchange(conn, text, () => false), new RegExp(`^RTSP/1\\.0 ${status} `));
        } finally {
          conn.close();
        }
      }
      // Within the bounds: served.
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      try {
        const padded = `SET_PARAMETER * RTSP/1.0\r\nCSeq: 3\r\nX-Pad: ${
          "a".repeat(900)
        }\r\nContent-Length: 100\r\n\r\n`;
        match(await exchange(conn, padded + "b".repeat(100)), /^RTSP\/1\.0 200 /);
      } finally {
        conn.close();
      }
      assertEquals([handler.errors, handler.limits], [[431, 413], [1024, 100]]);
    },
    10_000,
    { maxHeadBytes: 1024, maxBodyBytes: 100 },
  );
});

/** Three connections in the states the sweep times: silent without a session, mid-request, and brand new. */
async function timedConnections(port: number) {
  const idle = await Deno.connect({ hostname: "127.0.0.1", port });
  const partial = await Deno.connect({ hostname: "127.0.0.1", port });
  const fresh = await Deno.connect({ hostname: "127.0.0.1", port });
  await exchange(idle, "OPTIONS * RTSP/1.0\r\nCSeq: 1\r\n\r\n");
  await partial.write(enc.encode("OPTIONS * RTSP/1.0\r\nCSeq: 1\r\nX-Slow: "));
  return {
    idle,
    partial,
    fresh,
    [Symbol.dispose]() {
      for (const c of [idle, partial, fresh]) {
        try {
          c.close();
        } catch { /* closed by the test */ }
      }
    },
  };
}

/** Waits until the sweep has closed the three connections of {@linkcode timedConnections}, and checks how. */
async function assertTimedOut(
  conns: Awaited<ReturnType<typeof timedConnections>>,
  handler: RecordingHandler,
) {
  match(await readAll(conns.partial, () => false, 3000), /^RTSP\/1\.0 408 /);
  match(await readAll(conns.fresh, () => false, 3000), /^RTSP\/1\.0 408 /);
  equal(await readAll(conns.idle, () => false, 3000), "", "closed without an answer");
  assertEquals(handler.errors, [408, 408]);
  assertEquals(handler.hits.map((h) => h.reason), ["idle_timeout"]);
}

Deno.test("RtspServer times its head and idle timeouts on the monotonic clock: wall-clock jumps neither fire nor stall them", async () => {
  using clocks = shiftClocks();
  await withServer(
    async (port, handler, server) => {
      using conns = await timedConnections(port);
      // NTP steps the wall clock an hour forward; a sweep (every second) passes: nothing is closed.
      clocks.wallMs += 3_600_000;
      await new Promise((r) => setTimeout(r, 1100));
      equal(server.connections, 3);
      assertEquals([handler.errors, handler.hits], [[], []]);
      // Then two hours back, and the timeouts pass on the monotonic clock: all three are closed all the same.
      clocks.wallMs -= 7_200_000;
      clocks.monotonicMs += 2500;
      await assertTimedOut(conns, handler);
    },
    2000,
    { idleTimeoutMs: 2000 },
  );
});

Deno.test("RtspServer times its head and idle timeouts on the injected clock, from a reading of 0", async () => {
  let now = 0; // a monotonic clock reads about 0 right after the process starts
  await withServer(
    async (port, handler, server) => {
      using conns = await timedConnections(port);
      await new Promise((r) => setTimeout(r, 300)); // sweeps pass, the clock stands still
      equal(server.connections, 3);
      assertEquals([handler.errors, handler.hits], [[], []]);
      now = 101;
      await assertTimedOut(conns, handler);
    },
    100,
    { idleTimeoutMs: 100, now: () => now },
  );
});

Deno.test("RtspServer stops reading a client that pipelines requests without reading the answers", async () => {
  await withServer(
    async (port, handler) => {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      try {
        const total = 2000;
        const requests = Array.from({ length: total }, (_, i) => `BIG * RTSP/1.0\r\nCSeq: ${i + 1}\r\n\r\n`);
        await conn.write(enc.encode(requests.join(""))); // about 60 KB: the kernel takes it at once
        await new Promise((r) => setTimeout(r, 500));
        const handled = handler.requests.length;
        // 64 KiB answers: what the kernel's buffers hold, the writer's bound and the read-ahead, not all 2000.
        ok(handled < total / 4, `${handled} of ${total} answered while the client read nothing`);
        let answers = 0;
        let pending = "";
        const buf = new Uint8Array(256 * 1024);
        // 2,000 answers of 64 KiB, decoded here: seconds of work for this process, many more on a loaded machine
        // (a parallel run at load 10 hit a 20 s bound).
        const deadline = Date.now() + 90_000;
        while (answers < total && Date.now() < deadline) {
          const n = await conn.read(buf);
          if (n === null) break;
          pending += dec.decode(buf.subarray(0, n)).replaceAll("A", "");
          answers += (pending.match(/RTSP\/1\.0 200/g) ?? []).length;
          pending = pending.slice(pending.lastIndexOf("RTSP/1.0 200") + 1);
        }
        equal(answers, total, "once the client reads, every request is answered");
        console.log(`pipelining without reading: ${handled} of ${total} answered before the client read`);
      } finally {
        conn.close();
      }
    },
    120_000,
    { maxQueuedBytes: 64 * 1024 },
  );
});

Deno.test("RtspServer answers 503 to one connection more than maxConnectionsPerIp from one address", async () => {
  await withServer(
    async (port, handler, server) => {
      const a = await Deno.connect({ hostname: "127.0.0.1", port });
      const b = await Deno.connect({ hostname: "127.0.0.1", port });
      try {
        match(await exchange(a, "OPTIONS * RTSP/1.0\r\nCSeq: 1\r\n\r\n"), /^RTSP\/1\.0 200 /);
        match(await exchange(b, "OPTIONS * RTSP/1.0\r\nCSeq: 1\r\n\r\n"), /^RTSP\/1\.0 200 /);
        const c = await Deno.connect({ hostname: "127.0.0.1", port });
        try {
          const text = await exchange(c, "OPTIONS * RTSP/1.0\r\nCSeq: 4\r\n\r\n", () => false);
          match(text, /^RTSP\/1\.0 503 .*CSeq: 4\r\n.*Too many connections from your address \(limit 2\)/s);
        } finally {
          c.close();
        }
        assertEquals(handler.hits.map((h) => [h.reason, h.status, h.limit]), [[
          "max_connections_per_ip",
          503,
          2,
        ]]);
        // The address's count follows its connections: one closed, one more may come.
        b.close();
        for (let i = 0; i < 50 && server.connections > 1; i++) await new Promise((r) => setTimeout(r, 10));
        const d = await Deno.connect({ hostname: "127.0.0.1", port });
        try {
          match(await exchange(d, "OPTIONS * RTSP/1.0\r\nCSeq: 1\r\n\r\n"), /^RTSP\/1\.0 200 /);
        } finally {
          d.close();
        }
      } finally {
        a.close();
      }
    },
    10_000,
    { maxConnections: 10, maxConnectionsPerIp: 2 },
  );
});

Deno.test("RtspServer queues an answer the handler returns as a value in the task that read the request", async () => {
  // Whether the answer was queued (responseSent follows at once), seen by a microtask the handler queued: an
  // `await` of the answer would let that microtask run first.
  let queued = 0;
  const seen: number[] = [];
  const handler: RtspHandler = {
    handle(req) {
      queueMicrotask(() => seen.push(queued));
      return response(200, { CSeq: req.headers.get("CSeq") ?? "0" });
    },
    responseSent() {
      queued++;
    },
    connectionClosed() {},
  };
  const server = new RtspServer({
    hostname: "127.0.0.1",
    port: 0,
    handler,
    headTimeoutMs: 10_000,
    ...LIMITS,
  });
  server.listen();
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
  try {
    match(await exchange(conn, "OPTIONS * RTSP/1.0\r\nCSeq: 1\r\n\r\n"), /^RTSP\/1\.0 200 /);
    match(await exchange(conn, "OPTIONS * RTSP/1.0\r\nCSeq: 2\r\n\r\n"), /^RTSP\/1\.0 200 /);
    assertEquals(seen, [1, 2], "the answer was not queued yet when the handler's microtask ran");
  } finally {
    conn.close();
    server.close();
    await new Promise((r) => setTimeout(r, 20));
  }
});
