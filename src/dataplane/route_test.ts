import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { writeRtpHeader } from "../rtp/packet.ts";
import { EMPTY_ROUTE, Route, routeNarrows, type RouteSpec } from "./route.ts";
import { writeSockaddrIn } from "./_libc.ts";

const IP = (127 << 24) | 1; // 127.0.0.1
const MAP = { ssrc: 0x1234, seqDelta: 10, tsDelta: 0xfffffff0, outSsrc: 0xabcdef01 };

function dests(...ports: number[]): Uint8Array {
  const b = new Uint8Array(ports.length * 16);
  ports.forEach((p, i) => writeSockaddrIn(new DataView(b.buffer), i * 16, "127.0.0.1", p));
  return b;
}

function spec(over: Partial<RouteSpec> = {}): RouteSpec {
  return { src: { ip: IP, port: 5000 }, map: MAP, dests: dests(6000), prompt: false, ...over };
}

function rtp(ssrc: number, seq = 65530, ts = 100): Uint8Array {
  const p = new Uint8Array(40);
  writeRtpHeader(p, 0, { marker: false, payloadType: 96, sequence: seq, timestamp: ts, ssrc });
  return p;
}

/** The packet inside a larger buffer, 37 bytes in, with other bytes around it (as in the worker's slots). */
function inSlot(packet: Uint8Array): { buf: Uint8Array; at: number } {
  const at = 37;
  const buf = new Uint8Array(at + packet.length + 29).fill(0x5a);
  buf.set(packet, at);
  return { buf, at };
}

/** Route.forwards of `packet` read in place at an offset. */
function forwards(r: Route, packet: Uint8Array, ip: number, port: number): boolean {
  const { buf, at } = inSlot(packet);
  return r.forwards(buf, at, packet.length, ip, port);
}

Deno.test("Route forwards valid RTP of the mapped SSRC from the expected source only", () => {
  const r = new Route();
  assert(!forwards(r, rtp(0x1234), IP, 5000), "an empty route forwards nothing");
  assert(r.apply(spec(), 0, false));
  assert(forwards(r, rtp(0x1234), IP, 5000));
  assert(!forwards(r, rtp(0x9999), IP, 5000), "another SSRC is the main thread's (it resyncs)");
  assert(!forwards(r, rtp(0x1234), IP, 5001), "another source port");
  assert(!forwards(r, rtp(0x1234), IP + 1, 5000), "another source address");
  const bad = rtp(0x1234);
  bad[0] = 0x40; // version 1
  assert(!forwards(r, bad, IP, 5000));
  assert(!forwards(r, rtp(0x1234).subarray(0, 11), IP, 5000));
  assert(r.apply(spec({ src: { ip: IP, port: 0 } }), 0, true));
  assert(forwards(r, rtp(0x1234), IP, 40000), "port 0 accepts any port of the source host");
  assert(r.apply(spec({ dests: new Uint8Array(0) }), 0, true));
  assert(!forwards(r, rtp(0x1234), IP, 5000), "no destination, nothing to forward");
});

Deno.test("Route rewrites sequence number, timestamp and SSRC with wrap-around", () => {
  const r = new Route();
  r.apply(spec(), 0, false);
  const p = rtp(0x1234, 65530, 100);
  const { buf, at } = inSlot(p);
  r.rewrite(buf, at);
  const v = new DataView(buf.buffer, at);
  assertEquals(v.getUint16(2), (65530 + 10) & 0xffff);
  assertEquals(v.getUint32(4), (100 + 0xfffffff0) >>> 0);
  assertEquals(v.getUint32(8), 0xabcdef01);
  assertEquals(buf.subarray(at + 12, at + p.length), p.subarray(12), "the payload is untouched");
  assert(buf.subarray(0, at).every((b) => b === 0x5a), "bytes before the packet are untouched");
  assert(buf.subarray(at + p.length).every((b) => b === 0x5a), "bytes after the packet are untouched");
});

Deno.test("Route widens only when the main thread has handled every posted packet; narrowing applies at once", () => {
  const r = new Route();
  r.posted = 7;
  assert(!r.apply(spec(), 6, false), "the main thread lags by one packet");
  assert(r.prompt, "while an update waits, packets are posted at once");
  assert(r.apply(spec(), 7, false));
  assert(!r.prompt);
  r.posted = 9;
  assert(r.apply(spec({ dests: new Uint8Array(0) }), 3, true), "a forced (narrowing) update applies");
});

Deno.test("routeNarrows: fewer destinations or nothing to forward narrows; a new destination or mapping widens", () => {
  const cur = spec({ dests: dests(6000, 6002) });
  assert(routeNarrows(cur, spec({ dests: dests(6002) })));
  assert(routeNarrows(cur, spec({ dests: dests(6000, 6002) })));
  assert(routeNarrows(cur, spec({ map: null, dests: dests(7000) })), "no mapping: forwards nothing");
  assert(routeNarrows(cur, spec({ src: null })));
  assert(!routeNarrows(cur, spec({ dests: dests(6000, 6004) })));
  assert(!routeNarrows(cur, spec({ map: { ...MAP, seqDelta: 11 }, dests: dests(6000) })));
  assert(!routeNarrows(cur, spec({ src: { ip: IP, port: 5002 }, dests: dests(6000) })));
  assert(!routeNarrows(EMPTY_ROUTE, spec()));
});
