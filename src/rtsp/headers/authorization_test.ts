import assert from "node:assert/strict";
import { type Credentials, formatAuthorization, parseAuthorization } from "./authorization.ts";
import { assertProtocolError } from "../../../tests/support/rtsp_auth_examples.ts";

const authorizationCases: Array<{ name: string; input: string; output: string; parsed: Credentials }> = [
  {
    name: "Basic",
    input: "Basic dXNlcjpwYXNz",
    output: "Basic dXNlcjpwYXNz",
    parsed: { scheme: "Basic", user: "user", password: "pass" },
  },
  {
    name: "Basic, UTF-8, colon in password, lower-case scheme",
    input: "basic w7w6cMOkc3M6d29yZA==",
    output: "Basic w7w6cMOkc3M6d29yZA==",
    parsed: { scheme: "Basic", user: "ü", password: "päss:word" },
  },
  {
    name: "RFC 2617 §3.5",
    input:
      'Digest username="Mufasa", realm="testrealm@host.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", ' +
      'uri="/dir/index.html", qop=auth, nc=00000001, cnonce="0a4f113b", ' +
      'response="6629fae49393a05397450978507c4ef1", opaque="5ccc069c403ebaf9f0171e9517f40e41"',
    output:
      'Digest username="Mufasa", realm="testrealm@host.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", ' +
      'uri="/dir/index.html", response="6629fae49393a05397450978507c4ef1", qop=auth, nc=00000001, ' +
      'cnonce="0a4f113b", opaque="5ccc069c403ebaf9f0171e9517f40e41"',
    parsed: {
      scheme: "Digest",
      username: "Mufasa",
      realm: "testrealm@host.com",
      nonce: "dcd98b7102dd2f0e8b11d0f600bfb0c093",
      uri: "/dir/index.html",
      response: "6629fae49393a05397450978507c4ef1",
      qop: "auth",
      nc: "00000001",
      cnonce: "0a4f113b",
      opaque: "5ccc069c403ebaf9f0171e9517f40e41",
    },
  },
  {
    name: "ffmpeg style: RTSP URL as uri, algorithm quoted, no qop",
    input: 'Digest username="admin", realm="IP Camera", nonce="5c7a2b", uri="rtsp://10.0.0.5:554/live", ' +
      'response="0123abcd", algorithm="md5"',
    output: 'Digest username="admin", realm="IP Camera", nonce="5c7a2b", uri="rtsp://10.0.0.5:554/live", ' +
      'response="0123abcd", algorithm=MD5',
    parsed: {
      scheme: "Digest",
      username: "admin",
      realm: "IP Camera",
      nonce: "5c7a2b",
      uri: "rtsp://10.0.0.5:554/live",
      response: "0123abcd",
      algorithm: "MD5",
    },
  },
  {
    name: "escaped quote in user name",
    input: 'Digest username="a\\"b", realm="r", nonce="n", uri="*", response="x", algorithm=SHA-256',
    output: 'Digest username="a\\"b", realm="r", nonce="n", uri="*", response="x", algorithm=SHA-256',
    parsed: {
      scheme: "Digest",
      username: 'a"b',
      realm: "r",
      nonce: "n",
      uri: "*",
      response: "x",
      algorithm: "SHA-256",
    },
  },
];

Deno.test("Authorization: parse and format", async (t) => {
  for (const c of authorizationCases) {
    await t.step(c.name, () => {
      const parsed = parseAuthorization(c.input);
      assert.deepEqual(parsed, c.parsed);
      assert.equal(formatAuthorization(parsed), c.output);
      assert.deepEqual(parseAuthorization(c.output), c.parsed);
    });
  }
});

Deno.test("Authorization: parse errors are 400 and quote the value", async (t) => {
  const errors: Array<{ name: string; input: string; message: RegExp }> = [
    {
      name: "empty",
      input: "",
      message: /^Credentials that do not start with the scheme in Authorization ""$/,
    },
    {
      name: "leading comma (a list, not one credential)",
      input: ", Basic dXNlcjpwYXNz",
      message: /^Credentials that do not start with the scheme/,
    },
    {
      name: "Digest parameter given twice",
      input: 'Digest username="u", realm="r", nonce="n", uri="/a", uri="/b", response="x"',
      message: /^Parameter "uri" given twice/,
    },
    {
      name: "Digest then Basic",
      input: 'Digest username="u", realm="r", nonce="n", uri="/", response="x", Basic dXNlcjpwYXNz',
      message: /Not exactly one/,
    },
    {
      name: "unknown scheme",
      input: "Bearer abc",
      message: /^Unsupported scheme "Bearer" in Authorization "Bearer abc"$/,
    },
    {
      name: "Basic not a token68",
      input: "Basic !!!",
      message: /^Not exactly one credential in Authorization "Basic !!!"$/,
    },
    {
      name: "Basic not base64",
      input: "Basic a=b",
      message: /^Invalid Basic credentials in Authorization "Basic a=b"$/,
    },
    { name: "Basic without colon", input: "Basic dXNlcg==", message: /without a colon/ },
    { name: "Basic not UTF-8", input: "Basic //86YQ==", message: /not UTF-8/ },
    { name: "Basic with params", input: 'Basic realm="x"', message: /Invalid Basic credentials/ },
    {
      name: "Digest missing response",
      input: 'Digest username="u", realm="r", nonce="n", uri="/"',
      message: /^Digest parameter "response" missing in Authorization/,
    },
    {
      name: "Digest qop without cnonce",
      input: 'Digest username="u", realm="r", nonce="n", uri="/", response="x", qop=auth, nc=00000001',
      message: /"cnonce" missing/,
    },
    {
      name: "Digest unsupported algorithm",
      input: 'Digest username="u", realm="r", nonce="n", uri="/", response="x", algorithm=MD5-sess',
      message: /^Unsupported algorithm "MD5-sess"/,
    },
    { name: "two credentials", input: "Basic dXNlcjpwYXNz, Basic dXNlcjpwYXNz", message: /Not exactly one/ },
  ];
  for (const c of errors) {
    await t.step(c.name, () => assertProtocolError(() => parseAuthorization(c.input), c.message));
  }
});

Deno.test("Authorization: format rejects what cannot be sent", () => {
  assert.throws(() => formatAuthorization({ scheme: "Basic", user: "a:b", password: "p" }), RangeError);
  const digest: Credentials = {
    scheme: "Digest",
    username: "u",
    realm: "r",
    nonce: "n",
    uri: "/",
    response: "x",
  };
  assert.throws(() => formatAuthorization({ ...digest, username: "u\nX: y" }), RangeError);
  assert.throws(() => formatAuthorization({ ...digest, qop: "auth, x" }), RangeError);
});
