import assert from "node:assert/strict";
import { RtspProtocolError } from "./errors.ts";
import { RTSP_MAX_HEAD_BYTES, RTSP_MAX_HEADER_COUNT } from "./limits.ts";
import type { RtspEvent } from "./message.ts";
import { RtspParser, type RtspParserOptions } from "./parser.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

function bytes(...parts: Array<string | number[] | Uint8Array>): Uint8Array {
  const chunks = parts.map((p) => typeof p === "string" ? enc.encode(p) : Uint8Array.from(p));
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}

function frame(channel: number, payload: Uint8Array): Uint8Array {
  return bytes([0x24, channel, payload.length >> 8, payload.length & 0xff], payload);
}

/** A plain, comparable snapshot of an event (frame payloads are copied since they are views). */
type Snapshot =
  | { kind: "request"; method: string; url: string; headers: Array<[string, string]>; body: string }
  | { kind: "response"; status: number; reason: string; headers: Array<[string, string]>; body: string }
  | { kind: "frame"; channel: number; payload: number[] };

function snapshot(ev: RtspEvent): Snapshot {
  switch (ev.kind) {
    case "request":
      return {
        kind: ev.kind,
        method: ev.method,
        url: ev.url,
        headers: [...ev.headers.entries()],
        body: dec.decode(ev.body),
      };
    case "response":
      return {
        kind: ev.kind,
        status: ev.status,
        reason: ev.reason,
        headers: [...ev.headers.entries()],
        body: dec.decode(ev.body),
      };
    case "frame":
      return { kind: ev.kind, channel: ev.channel, payload: [...ev.payload] };
  }
}

/** Feeds `chunks` one by one, draining after each push. */
function parseChunks(chunks: Uint8Array[], options?: RtspParserOptions): Snapshot[] {
  const parser = new RtspParser(options);
  const out: Snapshot[] = [];
  for (const chunk of chunks) {
    parser.push(chunk);
    for (let ev = parser.next(); ev !== null; ev = parser.next()) out.push(snapshot(ev));
  }
  assert.equal(parser.buffered, 0);
  return out;
}

function errorOf(fn: () => unknown): RtspProtocolError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof RtspProtocolError, `expected RtspProtocolError, got ${e}`);
    return e;
  }
  assert.fail("expected a throw");
}

/** Pushes `data` whole and drains until the parser throws. */
function failure(data: Uint8Array | string, options?: RtspParserOptions): RtspProtocolError {
  const parser = new RtspParser(options);
  parser.push(typeof data === "string" ? enc.encode(data) : data);
  return errorOf(() => {
    while (parser.next() !== null) { /* drain */ }
  });
}

const sdpBody = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=x\r\nt=0 0\r\nm=video 0 RTP/AVP 96\r\n";
const bigPayload = Uint8Array.from({ length: 300 }, (_, i) => (i * 7) & 0xff);
const trickyPayload = enc.encode("$\x00\x00\r\n\r\nRTSP/1.0 200 OK\r\n\r\n");

const corpus = bytes(
  "\r\n",
  frame(0, Uint8Array.of(1, 2, 3, 4, 5)),
  "OPTIONS rtsp://cam.local/live RTSP/1.0\r\nCSeq: 1\r\nUser-Agent: test agent/1.0\r\n\r\n",
  `ANNOUNCE rtsp://relay/cam1 RTSP/1.0\r\nCSeq: 2\r\nContent-Type: application/sdp\r\nContent-Length: ${sdpBody.length}\r\n\r\n${sdpBody}`,
  frame(1, new Uint8Array(0)),
  "RTSP/1.0 200 OK\r\nCSeq: 3\r\nContent-Length: 5\r\n\r\nhello",
  frame(2, bigPayload),
  "\r\n\r\n",
  "RTSP/1.0 454 Session Not Found\r\nCSeq:4\r\n\r\n",
  "RTSP/1.0 200\r\nCSeq: 5\r\n\r\n",
  "GET_PARAMETER rtsp://h/x RTSP/1.0\nCSeq:   9  \nX-Empty:\nContent-Length: 4\n\nabcd",
  frame(255, trickyPayload),
  "TEARDOWN rtsp://h/x RTSP/1.0\r\nCSeq: 10\r\nSession: 12345678\r\n\r\n",
  frame(3, Uint8Array.of(0x80, 0x60)),
);

const expected: Snapshot[] = [
  { kind: "frame", channel: 0, payload: [1, 2, 3, 4, 5] },
  {
    kind: "request",
    method: "OPTIONS",
    url: "rtsp://cam.local/live",
    headers: [["CSeq", "1"], ["User-Agent", "test agent/1.0"]],
    body: "",
  },
  {
    kind: "request",
    method: "ANNOUNCE",
    url: "rtsp://relay/cam1",
    headers: [["CSeq", "2"], ["Content-Type", "application/sdp"], ["Content-Length", String(sdpBody.length)]],
    body: sdpBody,
  },
  { kind: "frame", channel: 1, payload: [] },
  {
    kind: "response",
    status: 200,
    reason: "OK",
    headers: [["CSeq", "3"], ["Content-Length", "5"]],
    body: "hello",
  },
  { kind: "frame", channel: 2, payload: [...bigPayload] },
  { kind: "response", status: 454, reason: "Session Not Found", headers: [["CSeq", "4"]], body: "" },
  { kind: "response", status: 200, reason: "", headers: [["CSeq", "5"]], body: "" },
  {
    kind: "request",
    method: "GET_PARAMETER",
    url: "rtsp://h/x",
    headers: [["CSeq", "9"], ["X-Empty", ""], ["Content-Length", "4"]],
    body: "abcd",
  },
  { kind: "frame", channel: 255, payload: [...trickyPayload] },
  {
    kind: "request",
    method: "TEARDOWN",
    url: "rtsp://h/x",
    headers: [["CSeq", "10"], ["Session", "12345678"]],
    body: "",
  },
  { kind: "frame", channel: 3, payload: [0x80, 0x60] },
];

Deno.test("RtspParser parses a mixed corpus pushed at once", () => {
  assert.deepEqual(parseChunks([corpus]), expected);
});

Deno.test("RtspParser yields identical events when the corpus is split at every byte boundary", () => {
  for (let cut = 0; cut <= corpus.length; cut++) {
    const got = parseChunks([corpus.subarray(0, cut), corpus.subarray(cut)]);
    assert.deepEqual(got, expected, `split at ${cut}`);
  }
});

Deno.test("RtspParser yields identical events when the corpus is pushed byte by byte", () => {
  const chunks = Array.from({ length: corpus.length }, (_, i) => corpus.subarray(i, i + 1));
  assert.deepEqual(parseChunks(chunks), expected);
});

Deno.test("RtspParser yields identical events for pseudo-random chunkings", () => {
  let seed = 12345;
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return seed % n;
  };
  for (let round = 0; round < 200; round++) {
    const chunks: Uint8Array[] = [];
    for (let i = 0; i < corpus.length;) {
      const n = 1 + rand(64);
      chunks.push(corpus.slice(i, i + n));
      i += n;
    }
    assert.deepEqual(parseChunks(chunks), expected, `round ${round}`);
  }
});

Deno.test("RtspParser parses an interleaved frame split at every byte boundary", () => {
  const f = frame(7, bigPayload);
  for (let cut = 0; cut <= f.length; cut++) {
    const got = parseChunks([f.subarray(0, cut), f.subarray(cut)]);
    assert.deepEqual(got, [{ kind: "frame", channel: 7, payload: [...bigPayload] }], `split at ${cut}`);
  }
});

Deno.test("RtspParser returns frame payloads as views and bodies as copies", () => {
  const parser = new RtspParser();
  parser.push(bytes(frame(0, Uint8Array.of(9, 9, 9)), "RTSP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nabc"));
  const f = parser.next();
  assert.ok(f?.kind === "frame");
  assert.ok(f.payload.buffer.byteLength > f.payload.length, "payload is a view into a larger buffer");
  const r = parser.next();
  assert.ok(r?.kind === "response");
  assert.equal(r.body.buffer.byteLength, 3, "body owns its buffer");
  parser.push(bytes("x".repeat(10_000)));
  assert.equal(dec.decode(r.body), "abc");
});

Deno.test("RtspParser parses many pipelined frames while compacting and growing its buffer", () => {
  const parser = new RtspParser();
  let seen = 0;
  const payload = new Uint8Array(1400).fill(0xab);
  for (let i = 0; i < 2000; i++) {
    // Pushes one and a half frames at a time so a partial frame is always carried over.
    parser.push(bytes(frame(i & 1, payload), frame(i & 1, payload).subarray(0, 700)));
    parser.push(frame(i & 1, payload).subarray(700));
    for (let ev = parser.next(); ev !== null; ev = parser.next()) {
      assert.ok(ev.kind === "frame" && ev.payload.length === 1400 && ev.payload[1399] === 0xab);
      seen++;
    }
  }
  assert.equal(seen, 4000);
  assert.equal(parser.buffered, 0);
});

Deno.test("RtspParser skips stray CRLF and bare LF between messages", () => {
  const got = parseChunks([
    bytes(
      "\r\n\n\r\n",
      "OPTIONS * RTSP/1.0\nCSeq: 1\n\n",
      "\n\r\n",
      "OPTIONS * RTSP/1.0\r\nCSeq: 2\r\n\r\n\r\n",
    ),
  ]);
  assert.deepEqual(got.map((e) => e.kind === "request" && e.headers), [[["CSeq", "1"]], [["CSeq", "2"]]]);
});

Deno.test("RtspParser accepts a head of exactly maxHeadBytes and a body of exactly maxBodyBytes", () => {
  const head = "OPTIONS * RTSP/1.0\r\nContent-Length: 10\r\nX: ";
  const text = head + "a".repeat(100 - head.length - 4) + "\r\n\r\n0123456789";
  const got = parseChunks([enc.encode(text)], { maxHeadBytes: 100, maxBodyBytes: 10 });
  assert.equal(got.length, 1);
});

Deno.test("RtspParser answers 431 to an oversize head as soon as the buffer exceeds the limit", () => {
  const parser = new RtspParser();
  parser.push(enc.encode("OPTIONS * RTSP/1.0\r\nX-Pad: "));
  const chunk = enc.encode("a".repeat(1000));
  let pushed = 0;
  while (parser.buffered < RTSP_MAX_HEAD_BYTES) {
    assert.equal(parser.next(), null);
    parser.push(chunk);
    pushed += chunk.length;
  }
  assert.ok(pushed < 100_000);
  assert.equal(errorOf(() => parser.next()).status, 431);
});

Deno.test("RtspParser answers 431 to 100 KB without a line break", () => {
  assert.equal(failure("A".repeat(100_000)).status, 431);
});

Deno.test("RtspParser answers 431 to a head whose terminator lies past the limit", () => {
  const text = "OPTIONS * RTSP/1.0\r\nX: " + "a".repeat(80) + "\r\n\r\n";
  assert.equal(failure(text, { maxHeadBytes: 100 }).status, 431);
});

Deno.test("RtspParser answers 431 to more than RTSP_MAX_HEADER_COUNT headers", () => {
  const lines = Array.from({ length: RTSP_MAX_HEADER_COUNT + 1 }, (_, i) => `X-${i}: ${i}\r\n`).join("");
  assert.equal(failure(`OPTIONS * RTSP/1.0\r\n${lines}\r\n`).status, 431);
  const ok = Array.from({ length: RTSP_MAX_HEADER_COUNT }, (_, i) => `X-${i}: ${i}\r\n`).join("");
  assert.equal(parseChunks([enc.encode(`OPTIONS * RTSP/1.0\r\n${ok}\r\n`)]).length, 1);
});

Deno.test("RtspParser answers 413 to a Content-Length over maxBodyBytes before the body arrives", () => {
  assert.equal(failure("ANNOUNCE rtsp://h/x RTSP/1.0\r\nContent-Length: 70000\r\n\r\n").status, 413);
  assert.equal(
    failure("ANNOUNCE rtsp://h/x RTSP/1.0\r\nContent-Length: 99999999999999999999\r\n\r\n").status,
    413,
  );
  assert.equal(failure("RTSP/1.0 200 OK\r\nContent-Length: 11\r\n\r\n", { maxBodyBytes: 10 }).status, 413);
});

const badInputs: Array<[string, string | Uint8Array, number]> = [
  ["TLS ClientHello", Uint8Array.of(0x16, 0x03, 0x01, 0x02, 0x00), 400],
  ["lowercase garbage", "hello world\r\n\r\n", 400],
  ["double space in request line", "OPTIONS  * RTSP/1.0\r\n\r\n", 400],
  ["missing version", "OPTIONS *\r\n\r\n", 400],
  ["lowercase method", "options * RTSP/1.0\r\n\r\n", 400],
  ["space in Request-URI", "DESCRIBE rtsp://h/a b RTSP/1.0\r\n\r\n", 400],
  ["status code of two digits", "RTSP/1.0 20 OK\r\n\r\n", 400],
  ["malformed status line", "RTSP/1.0x 200 OK\r\n\r\n", 400],
  ["header without colon", "OPTIONS * RTSP/1.0\r\nCSeq 1\r\n\r\n", 400],
  ["empty header name", "OPTIONS * RTSP/1.0\r\n: 1\r\n\r\n", 400],
  ["space before colon", "OPTIONS * RTSP/1.0\r\nCSeq : 1\r\n\r\n", 400],
  ["obsolete line folding", "OPTIONS * RTSP/1.0\r\nX-A: 1\r\n  continued\r\n\r\n", 400],
  ["NUL in header value", "OPTIONS * RTSP/1.0\r\nX-A: a\x00b\r\n\r\n", 400],
  ["bare CR in header line", "OPTIONS * RTSP/1.0\r\nX-A: a\rb\r\n\r\n", 400],
  ["negative Content-Length", "OPTIONS * RTSP/1.0\r\nContent-Length: -5\r\n\r\n", 400],
  ["non-numeric Content-Length", "OPTIONS * RTSP/1.0\r\nContent-Length: abc\r\n\r\n", 400],
  ["Content-Length with a space inside", "OPTIONS * RTSP/1.0\r\nContent-Length: 1 2\r\n\r\n", 400],
  [
    "conflicting Content-Length",
    "OPTIONS * RTSP/1.0\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
    400,
  ],
  ["request of RTSP/2.0", "OPTIONS * RTSP/2.0\r\n\r\n", 505],
  ["request of HTTP/1.1", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 505],
  ["response of RTSP/2.0", "RTSP/2.0 200 OK\r\n\r\n", 505],
];

for (const [name, input, status] of badInputs) {
  Deno.test(`RtspParser answers ${status} to ${name}`, () => {
    assert.equal(failure(input).status, status);
  });
}

Deno.test("RtspParser refuses a garbage start line before the head is complete", () => {
  const parser = new RtspParser();
  parser.push(enc.encode("OPTIONS * RTSP/1.0"));
  assert.equal(parser.next(), null);
  parser.push(enc.encode("x\r\nCSeq: 1\r\n"));
  assert.equal(errorOf(() => parser.next()).status, 400);
});

Deno.test("RtspParser stays poisoned after an error and rethrows the same error", () => {
  const parser = new RtspParser();
  parser.push(enc.encode("garbage\r\n\r\n"));
  const first = errorOf(() => parser.next());
  assert.equal(first.status, 400);
  assert.ok(parser.poisoned);
  parser.push(enc.encode("OPTIONS * RTSP/1.0\r\nCSeq: 1\r\n\r\n"));
  assert.equal(errorOf(() => parser.next()), first);
  assert.equal(errorOf(() => parser.next()), first);
});

Deno.test("RtspParser trims optional whitespace around header values and keeps repeated headers", () => {
  const [ev] = parseChunks([
    enc.encode(
      'RTSP/1.0 401 Unauthorized\r\nWWW-Authenticate:\t Digest realm="r" \t\r\nWWW-Authenticate: Basic realm="r"\r\n\r\n',
    ),
  ]);
  assert.deepEqual(ev, {
    kind: "response",
    status: 401,
    reason: "Unauthorized",
    headers: [["WWW-Authenticate", 'Digest realm="r"'], ["WWW-Authenticate", 'Basic realm="r"']],
    body: "",
  });
});

Deno.test("RtspParser constructor rejects non-positive limits", () => {
  assert.throws(() => new RtspParser({ maxHeadBytes: 0 }), RangeError);
  assert.throws(() => new RtspParser({ maxBodyBytes: -1 }), RangeError);
  assert.throws(() => new RtspParser({ maxHeadBytes: 1.5 }), RangeError);
});
