import assert from "node:assert/strict";
import { type Challenge, formatChallenge, parseChallenges } from "./www_authenticate.ts";
import { assertProtocolError, RFC7616 } from "../../../tests/support/rtsp_auth_examples.ts";

const challengeCases: Array<{ name: string; input: string[]; output: string[]; parsed: Challenge[] }> = [
  {
    name: "Basic",
    input: ['Basic realm="IP Camera"'],
    output: ['Basic realm="IP Camera"'],
    parsed: [{ scheme: "Basic", realm: "IP Camera" }],
  },
  {
    name: "classic RTSP Digest without qop",
    input: ['Digest realm="LIVE555 Streaming Media", nonce="a1b2c3d4e5"'],
    output: ['Digest realm="LIVE555 Streaming Media", nonce="a1b2c3d4e5"'],
    parsed: [{ scheme: "Digest", realm: "LIVE555 Streaming Media", nonce: "a1b2c3d4e5" }],
  },
  {
    name: "RFC 7616 §3.9.1, two header lines",
    input: [
      ...RFC7616.challenges,
    ],
    output: [
      `Digest realm="http-auth@example.org", nonce="${RFC7616.nonce}", opaque="${RFC7616.opaque}", algorithm=SHA-256, qop="auth,auth-int"`,
      `Digest realm="http-auth@example.org", nonce="${RFC7616.nonce}", opaque="${RFC7616.opaque}", algorithm=MD5, qop="auth,auth-int"`,
    ],
    parsed: [
      {
        scheme: "Digest",
        realm: "http-auth@example.org",
        nonce: RFC7616.nonce,
        opaque: RFC7616.opaque,
        algorithm: "SHA-256",
        qop: ["auth", "auth-int"],
      },
      {
        scheme: "Digest",
        realm: "http-auth@example.org",
        nonce: RFC7616.nonce,
        opaque: RFC7616.opaque,
        algorithm: "MD5",
        qop: ["auth", "auth-int"],
      },
    ],
  },
  {
    name: "escaped quotes and commas inside quotes, case-insensitive names, stale",
    input: ['digest REALM="a \\"quoted\\", realm", Nonce="n,1", algorithm="md5", stale=TRUE'],
    output: ['Digest realm="a \\"quoted\\", realm", nonce="n,1", algorithm=MD5, stale=true'],
    parsed: [{ scheme: "Digest", realm: 'a "quoted", realm', nonce: "n,1", algorithm: "MD5", stale: true }],
  },
  {
    name: "several challenges on one line, unknown schemes skipped",
    input: [
      'Negotiate YIIGhgYJKoZIhvcS/w==, Digest realm="r", nonce="n", stale=false, Bearer realm="x", Basic realm="r"',
    ],
    output: ['Digest realm="r", nonce="n", stale=false', 'Basic realm="r"'],
    parsed: [{ scheme: "Digest", realm: "r", nonce: "n", stale: false }, { scheme: "Basic", realm: "r" }],
  },
  {
    name: "unsupported algorithms skipped, missing commas tolerated",
    input: ['Digest realm="r" nonce="n" algorithm=MD5-sess', 'Digest realm="r",nonce="m",algorithm=SHA-256'],
    output: ['Digest realm="r", nonce="m", algorithm=SHA-256'],
    parsed: [{ scheme: "Digest", realm: "r", nonce: "m", algorithm: "SHA-256" }],
  },
  {
    name: "Basic without realm, empty list",
    input: ["Basic", ""],
    output: ['Basic realm=""'],
    parsed: [{ scheme: "Basic", realm: "" }],
  },
];

Deno.test("WWW-Authenticate: parse and format", async (t) => {
  for (const c of challengeCases) {
    await t.step(c.name, () => {
      const parsed = parseChallenges(c.input);
      assert.deepEqual(parsed, c.parsed);
      assert.deepEqual(parsed.map(formatChallenge), c.output);
      assert.deepEqual(parseChallenges(c.output), c.parsed);
    });
  }
});

Deno.test("WWW-Authenticate: parse errors are 400 and quote the value", async (t) => {
  const errors: Array<{ name: string; input: string; message: RegExp }> = [
    {
      name: "unterminated quote",
      input: 'Digest realm="r, nonce=n',
      message: /^Malformed WWW-Authenticate "Digest realm="r, nonce=n": unterminated quoted string$/,
    },
    {
      name: "Digest without nonce",
      input: 'Digest realm="r"',
      message: /^Digest challenge without realm or nonce/,
    },
    {
      name: "Digest without realm",
      input: 'Digest nonce="n"',
      message: /WWW-Authenticate "Digest nonce="n""/,
    },
    { name: "garbage", input: 'Digest realm="r", @@', message: /^Malformed WWW-Authenticate/ },
    { name: "no scheme", input: '="x"', message: /expected a scheme/ },
  ];
  for (const c of errors) {
    await t.step(c.name, () => assertProtocolError(() => parseChallenges([c.input]), c.message));
  }
});

Deno.test("WWW-Authenticate: format rejects header injection", () => {
  assert.throws(() => formatChallenge({ scheme: "Basic", realm: "a\r\nX: y" }), RangeError);
});

// ---------------------------------------------------------------------------------------------------------
