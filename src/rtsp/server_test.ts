/**
 * Tests of the RTSP TCP shell on loopback with a recording handler: responses in request order, frames routed
 * to the connection, the reply-before-media hook, framing errors answered and closed, slowloris closed with 408,
 * and a slow but steady sender left alone.
 * @module
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { response, type RtspRequest } from "./message.ts";
import { type RtspConnection, type RtspHandler, RtspServer } from "./server.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

class RecordingHandler implements RtspHandler {
  readonly requests: string[] = [];
  readonly frames: Array<[number, number]> = [];
  readonly sent: string[] = [];
  readonly errors: number[] = [];
  closed = 0;
  async handle(req: RtspRequest, conn: RtspConnection) {
    conn.onFrame = (ch, payload) => this.frames.push([ch, payload.length]);
    this.requests.push(req.method);
    if (req.method === "SLOW") await new Promise((r) => setTimeout(r, 50));
    return response(200, { CSeq: req.headers.get("CSeq") ?? "0" });
  }
  responseSent(req: RtspRequest) {
    this.sent.push(req.method);
  }
  protocolError(_c: RtspConnection, err: { status: number }) {
    this.errors.push(err.status);
  }
  connectionClosed() {
    this.closed++;
  }
}

async function withServer(
  fn: (port: number, handler: RecordingHandler) => Promise<void>,
  headTimeoutMs = 10_000,
): Promise<void> {
  const handler = new RecordingHandler();
  const server = new RtspServer({ hostname: "127.0.0.1", port: 0, handler, headTimeoutMs });
  server.listen();
  try {
    await fn(server.port, handler);
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
