import assert from "node:assert/strict";
import { RtspProtocolError } from "../errors.ts";
import {
  formatTransport,
  formatTransports,
  parseTransport,
  parseTransports,
  type Transport,
} from "./transport.ts";

const base = { protocol: "RTP/AVP", lowerTransport: "UDP", delivery: "unicast", other: [] } as const;

const cases: Array<{ name: string; input: string; output: string; parsed: Transport[] }> = [
  {
    name: "UDP unicast",
    input: "RTP/AVP;unicast;client_port=5000-5001",
    output: "RTP/AVP;unicast;client_port=5000-5001",
    parsed: [{ ...base, other: [], clientPort: [5000, 5001] }],
  },
  {
    name: "explicit UDP equals bare profile",
    input: "RTP/AVP/UDP;unicast;client_port=5000-5001",
    output: "RTP/AVP;unicast;client_port=5000-5001",
    parsed: [{ ...base, other: [], clientPort: [5000, 5001] }],
  },
  {
    name: "single client port means a pair",
    input: "RTP/AVP;unicast;client_port=5000",
    output: "RTP/AVP;unicast;client_port=5000-5001",
    parsed: [{ ...base, other: [], clientPort: [5000, 5001] }],
  },
  {
    name: "TCP interleaved",
    input: "RTP/AVP/TCP;unicast;interleaved=0-1",
    output: "RTP/AVP/TCP;unicast;interleaved=0-1",
    parsed: [{ ...base, other: [], lowerTransport: "TCP", interleaved: [0, 1] }],
  },
  {
    name: "lower-case TCP, single channel",
    input: "RTP/AVP/tcp;unicast;interleaved=4",
    output: "RTP/AVP/TCP;unicast;interleaved=4-5",
    parsed: [{ ...base, other: [], lowerTransport: "TCP", interleaved: [4, 5] }],
  },
  {
    name: "multicast",
    input: "RTP/AVP;multicast;destination=239.0.0.1;port=5000-5001;ttl=16",
    output: "RTP/AVP;multicast;destination=239.0.0.1;ttl=16;port=5000-5001",
    parsed: [{
      ...base,
      other: [],
      delivery: "multicast",
      destination: "239.0.0.1",
      port: [5000, 5001],
      ttl: 16,
    }],
  },
  {
    name: "server reply with ssrc",
    input: "RTP/AVP;unicast;client_port=5000-5001;server_port=6970-6971;ssrc=0A1B2C3D",
    output: "RTP/AVP;unicast;client_port=5000-5001;server_port=6970-6971;ssrc=0A1B2C3D",
    parsed: [{ ...base, other: [], clientPort: [5000, 5001], serverPort: [6970, 6971], ssrc: 0x0a1b2c3d }],
  },
  {
    name: "short lower-case ssrc is padded",
    input: "RTP/AVP;unicast;server_port=6970-6971;ssrc=abc",
    output: "RTP/AVP;unicast;server_port=6970-6971;ssrc=00000ABC",
    parsed: [{ ...base, other: [], serverPort: [6970, 6971], ssrc: 0xabc }],
  },
  {
    name: "largest ssrc",
    input: "RTP/AVP/TCP;unicast;interleaved=0-1;ssrc=FFFFFFFF",
    output: "RTP/AVP/TCP;unicast;interleaved=0-1;ssrc=FFFFFFFF",
    parsed: [{ ...base, other: [], lowerTransport: "TCP", interleaved: [0, 1], ssrc: 0xffffffff }],
  },
  {
    name: "quoted lower-case record mode",
    input: 'RTP/AVP/TCP;unicast;interleaved=0-1;mode="record"',
    output: "RTP/AVP/TCP;unicast;interleaved=0-1;mode=RECORD",
    parsed: [{ ...base, other: [], lowerTransport: "TCP", interleaved: [0, 1], mode: "RECORD" }],
  },
  {
    name: "unquoted record mode as ffmpeg sends it",
    input: "RTP/AVP/TCP;unicast;interleaved=0-1;mode=record",
    output: "RTP/AVP/TCP;unicast;interleaved=0-1;mode=RECORD",
    parsed: [{ ...base, other: [], lowerTransport: "TCP", interleaved: [0, 1], mode: "RECORD" }],
  },
  {
    name: "receive is record, play is play",
    input:
      "RTP/AVP;unicast;client_port=5000-5001;mode=receive,RTP/AVP;unicast;client_port=5000-5001;mode=Play",
    output:
      "RTP/AVP;unicast;client_port=5000-5001;mode=RECORD,RTP/AVP;unicast;client_port=5000-5001;mode=PLAY",
    parsed: [
      { ...base, other: [], clientPort: [5000, 5001], mode: "RECORD" },
      { ...base, other: [], clientPort: [5000, 5001], mode: "PLAY" },
    ],
  },
  {
    name: "alternatives in order, spaces tolerated",
    input: "RTP/AVP/TCP;unicast;interleaved=0-1 , RTP/AVP ; unicast ; client_port = 5000-5001",
    output: "RTP/AVP/TCP;unicast;interleaved=0-1,RTP/AVP;unicast;client_port=5000-5001",
    parsed: [
      { ...base, other: [], lowerTransport: "TCP", interleaved: [0, 1] },
      { ...base, other: [], clientPort: [5000, 5001] },
    ],
  },
  {
    name: "unknown parameters kept in order, with a comma inside quotes",
    input: 'RTP/AVP;unicast;client_port=5000-5001;append;x-Foo="a,b";layers=2',
    output: 'RTP/AVP;unicast;client_port=5000-5001;append;x-Foo="a,b";layers=2',
    parsed: [{
      ...base,
      clientPort: [5000, 5001],
      other: [["append", undefined], ["x-Foo", '"a,b"'], ["layers", "2"]],
    }],
  },
  {
    name: "other profiles kept as given, delivery optional",
    input: "RTP/SAVPF;client_port=0-65535;source=10.0.0.1",
    output: "RTP/SAVPF;source=10.0.0.1;client_port=0-65535",
    parsed: [{
      ...base,
      other: [],
      protocol: "RTP/SAVPF",
      delivery: undefined,
      clientPort: [0, 65535],
      source: "10.0.0.1",
    }],
  },
  {
    name: "empty parameters and trailing comma ignored",
    input: "RTP/AVPF;;unicast;;interleaved=254-255;,",
    output: "RTP/AVPF;unicast;interleaved=254-255",
    parsed: [{ ...base, other: [], protocol: "RTP/AVPF", interleaved: [254, 255] }],
  },
];

Deno.test("Transport: parse and format", async (t) => {
  for (const c of cases) {
    await t.step(c.name, () => {
      const parsed = parseTransports(c.input);
      assert.deepEqual(parsed, c.parsed);
      assert.equal(formatTransports(parsed), c.output);
      assert.deepEqual(parseTransports(c.output), c.parsed);
    });
  }
});

const errors: Array<{ name: string; input: string; message: RegExp }> = [
  { name: "empty", input: " , ", message: /^Transport " , " is empty$/ },
  { name: "no profile", input: "unicast;client_port=5000-5001", message: /does not start with/ },
  {
    name: "unknown lower transport",
    input: "RTP/AVP/SCTP;unicast",
    message: /^Unsupported lower transport "SCTP"/,
  },
  {
    name: "port too large",
    input: "RTP/AVP;unicast;client_port=65536-65537",
    message: /^Invalid client_port "65536-65537"/,
  },
  {
    name: "single port overflows",
    input: "RTP/AVP;unicast;client_port=65535",
    message: /client_port "65535"/,
  },
  { name: "port not a number", input: "RTP/AVP;unicast;server_port=a-b", message: /server_port "a-b"/ },
  { name: "negative port", input: "RTP/AVP;multicast;port=-1", message: /port "-1"/ },
  { name: "channel too large", input: "RTP/AVP/TCP;unicast;interleaved=255", message: /interleaved "255"/ },
  { name: "channel 256", input: "RTP/AVP/TCP;unicast;interleaved=256-257", message: /0\.\.255/ },
  { name: "ttl too large", input: "RTP/AVP;multicast;ttl=256", message: /^Invalid ttl "256"/ },
  { name: "ssrc too long", input: "RTP/AVP;unicast;ssrc=123456789", message: /^Invalid ssrc "123456789"/ },
  { name: "ssrc not hex", input: "RTP/AVP;unicast;ssrc=XYZ", message: /ssrc "XYZ"/ },
  { name: "unknown mode", input: "RTP/AVP;unicast;mode=PAUSE", message: /^Unsupported mode "PAUSE"/ },
  { name: "known parameter without value", input: "RTP/AVP;unicast;client_port", message: /needs a value/ },
  { name: "delivery with value", input: "RTP/AVP;unicast=1", message: /takes no value/ },
];

Deno.test("Transport: parse errors are 461 and quote the value", async (t) => {
  for (const c of errors) {
    await t.step(c.name, () => {
      assert.throws(() => parseTransports(c.input), (e: unknown) => {
        assert.ok(e instanceof RtspProtocolError);
        assert.equal(e.status, 461);
        assert.match(e.message, c.message);
        return true;
      });
    });
  }
});

Deno.test("Transport: parseTransport wants exactly one spec", () => {
  assert.deepEqual(parseTransport("RTP/AVP/TCP;unicast;interleaved=2-3").interleaved, [2, 3]);
  assert.throws(() => parseTransport("RTP/AVP;unicast,RTP/AVP/TCP;unicast"), /holds 2 specs/);
});

Deno.test("Transport: format rejects out-of-range numbers", () => {
  const ok: Transport = { ...base, other: [] };
  assert.throws(() => formatTransport({ ...ok, clientPort: [5000, 65536] }), RangeError);
  assert.throws(() => formatTransport({ ...ok, interleaved: [0, 256] }), RangeError);
  assert.throws(() => formatTransport({ ...ok, ssrc: 2 ** 32 }), RangeError);
  assert.throws(() => formatTransport({ ...ok, ssrc: -1 }), RangeError);
  assert.throws(() => formatTransport({ ...ok, ttl: 1.5 }), RangeError);
});
