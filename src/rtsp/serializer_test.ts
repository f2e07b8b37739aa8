import assert from "node:assert/strict";
import { request, response, RtspHeaders } from "./message.ts";
import { RtspParser } from "./parser.ts";
import {
  encodeInterleavedFrame,
  encodeInterleavedHeader,
  serializeMessage,
  serializeRequest,
  serializeResponse,
} from "./serializer.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

Deno.test("serializeRequest writes the request line, headers in order with CRLF and a blank line", () => {
  const req = request("OPTIONS", "rtsp://h/cam", new RtspHeaders([["CSeq", "1"], ["User-Agent", "msm"]]));
  assert.equal(
    dec.decode(serializeRequest(req)),
    "OPTIONS rtsp://h/cam RTSP/1.0\r\nCSeq: 1\r\nUser-Agent: msm\r\n\r\n",
  );
});

Deno.test("serializeResponse adds Content-Length for a body, overriding a given one", () => {
  const res = response(
    200,
    new RtspHeaders([["CSeq", "2"], ["Content-Length", "999"], ["Content-Type", "application/sdp"]]),
    enc.encode("v=0\r\n"),
  );
  assert.equal(
    dec.decode(serializeResponse(res)),
    "RTSP/1.0 200 OK\r\nCSeq: 2\r\nContent-Type: application/sdp\r\nContent-Length: 5\r\n\r\nv=0\r\n",
  );
});

Deno.test("serializeResponse drops a stale Content-Length when the body is empty", () => {
  const res = response(454, { CSeq: "3", "Content-Length": "12" });
  assert.equal(dec.decode(serializeResponse(res)), "RTSP/1.0 454 Session Not Found\r\nCSeq: 3\r\n\r\n");
});

Deno.test("serializeMessage output parses back to the same message", () => {
  const messages = [
    request(
      "ANNOUNCE",
      "rtsp://h/x",
      { CSeq: "4", "Content-Type": "application/sdp" },
      enc.encode("v=0\r\ns=é\r\n"),
    ),
    response(
      401,
      new RtspHeaders([["CSeq", "5"], ["WWW-Authenticate", 'Digest realm="a"'], [
        "WWW-Authenticate",
        "Basic",
      ]]),
    ),
    { ...response(200, { CSeq: "6" }), reason: "" },
  ];
  const parser = new RtspParser();
  for (const m of messages) parser.push(serializeMessage(m));
  for (const m of messages) {
    const ev = parser.next();
    assert.ok(ev && ev.kind === m.kind);
    const keep = (h: RtspHeaders) => [...h.entries()].filter(([k]) => k !== "Content-Length");
    assert.deepEqual(keep(ev.headers), keep(m.headers));
    assert.deepEqual(ev.body, m.body);
    if (ev.kind === "request" && m.kind === "request") {
      assert.deepEqual([ev.method, ev.url], [m.method, m.url]);
    }
    if (ev.kind === "response" && m.kind === "response") {
      assert.deepEqual([ev.status, ev.reason], [m.status, m.reason]);
    }
  }
  assert.equal(parser.next(), null);
});

const injections: Array<[string, () => Uint8Array]> = [
  ["CRLF in a header value", () => serializeRequest(request("OPTIONS", "*", { X: "a\r\nInjected: 1" }))],
  ["a colon in a header name", () => serializeRequest(request("OPTIONS", "*", { "X:Y": "a" }))],
  ["a space in the Request-URI", () => serializeRequest(request("OPTIONS", "rtsp://h/a b"))],
  ["an empty Request-URI", () => serializeRequest(request("OPTIONS", ""))],
  ["a lowercase method", () => serializeRequest(request("options", "*"))],
  ["LF in the reason phrase", () => serializeResponse({ ...response(200), reason: "OK\n" })],
  ["a status of 2 digits", () => serializeResponse(response(99))],
];

for (const [name, fn] of injections) {
  Deno.test(`serializer throws TypeError on ${name}`, () => {
    assert.throws(fn, TypeError);
  });
}

Deno.test("encodeInterleavedHeader writes $, channel and big-endian length at an offset", () => {
  const buf = new Uint8Array(8).fill(0xee);
  encodeInterleavedHeader(3, 0x1234, buf, 2);
  assert.deepEqual([...buf], [0xee, 0xee, 0x24, 3, 0x12, 0x34, 0xee, 0xee]);
  encodeInterleavedHeader(255, 0xffff, buf);
  assert.deepEqual([...buf.subarray(0, 4)], [0x24, 255, 0xff, 0xff]);
});

Deno.test("encodeInterleavedHeader rejects out-of-range channel, length and offset", () => {
  const buf = new Uint8Array(4);
  assert.throws(() => encodeInterleavedHeader(256, 0, buf), RangeError);
  assert.throws(() => encodeInterleavedHeader(-1, 0, buf), RangeError);
  assert.throws(() => encodeInterleavedHeader(0, 65536, buf), RangeError);
  assert.throws(() => encodeInterleavedHeader(0, 1, buf, 1), RangeError);
});

Deno.test("encodeInterleavedFrame builds a frame the parser reads back", () => {
  const payload = Uint8Array.from({ length: 1000 }, (_, i) => i & 0xff);
  const bytes = encodeInterleavedFrame(1, payload);
  assert.equal(bytes.length, 1004);
  const parser = new RtspParser();
  parser.push(bytes);
  const ev = parser.next();
  assert.ok(ev?.kind === "frame");
  assert.equal(ev.channel, 1);
  assert.deepEqual(ev.payload, payload);
  assert.throws(() => encodeInterleavedFrame(0, new Uint8Array(65536)), RangeError);
});
