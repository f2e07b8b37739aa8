import assert from "node:assert/strict";
import { digestResponse, type DigestResponseParams, formatNonceCount } from "./digest.ts";
import { RFC7616 } from "../../../tests/support/rtsp_auth_examples.ts";

const vectors: Array<{ name: string; params: DigestResponseParams; response: string }> = [
  {
    name: "RFC 2617 §3.5",
    params: {
      algorithm: "MD5",
      username: "Mufasa",
      realm: "testrealm@host.com",
      password: "Circle Of Life",
      method: "GET",
      uri: "/dir/index.html",
      nonce: "dcd98b7102dd2f0e8b11d0f600bfb0c093",
      qop: "auth",
      nc: "00000001",
      cnonce: "0a4f113b",
    },
    response: "6629fae49393a05397450978507c4ef1",
  },
  {
    name: "RFC 7616 §3.9.1 SHA-256",
    params: {
      algorithm: "SHA-256",
      username: "Mufasa",
      realm: "http-auth@example.org",
      password: "Circle of Life",
      method: "GET",
      uri: "/dir/index.html",
      nonce: RFC7616.nonce,
      qop: "auth",
      nc: 1,
      cnonce: RFC7616.cnonce,
    },
    response: RFC7616.sha256Response,
  },
  {
    name: "RFC 7616 §3.9.1 MD5, algorithm left out",
    params: {
      username: "Mufasa",
      realm: "http-auth@example.org",
      password: "Circle of Life",
      method: "GET",
      uri: "/dir/index.html",
      nonce: RFC7616.nonce,
      qop: "auth",
      nc: 1,
      cnonce: RFC7616.cnonce,
    },
    response: "8ca523f5e9506fed4657c9700eebdbec",
  },
  {
    // md5(md5("Mufasa:testrealm@host.com:Circle Of Life") + ":" + nonce + ":" + md5("DESCRIBE:rtsp://host/stream"))
    name: "classic RTSP, no qop, MD5",
    params: {
      algorithm: "MD5",
      username: "Mufasa",
      realm: "testrealm@host.com",
      password: "Circle Of Life",
      method: "DESCRIBE",
      uri: "rtsp://host/stream",
      nonce: "dcd98b7102dd2f0e8b11d0f600bfb0c093",
    },
    response: "86543b3cbadd277ce9e14fff2af997dd",
  },
  {
    name: "classic RTSP, no qop, SHA-256",
    params: {
      algorithm: "SHA-256",
      username: "admin",
      realm: "IP Camera",
      password: "s3cret",
      method: "SETUP",
      uri: "rtsp://10.0.0.5:554/live/trackID=1",
      nonce: "5c7a2b",
    },
    response: "2b263f5d28f7c47508b4b57d5d79d309825a6af7c4dc793f263af6eee9f7d948",
  },
];

Deno.test("digestResponse: test vectors", async (t) => {
  for (const v of vectors) await t.step(v.name, () => assert.equal(digestResponse(v.params), v.response));
});

Deno.test("digestResponse: rejects what it cannot compute", () => {
  const base = vectors[0]?.params;
  assert.ok(base);
  assert.throws(() => digestResponse({ ...base, qop: "auth-int" }), RangeError);
  assert.throws(() => digestResponse({ ...base, cnonce: undefined }), RangeError);
  assert.throws(() => digestResponse({ ...base, nc: 0 }), RangeError);
});

Deno.test("formatNonceCount() writes 8 hex digits and refuses counts outside 1..2^32-1", () => {
  assert.equal(formatNonceCount(1), "00000001");
  assert.equal(formatNonceCount(26), "0000001a");
  assert.equal(formatNonceCount(0xffffffff), "ffffffff");
  for (const bad of [0, -1, 1.5, 0x100000000, Number.NaN]) {
    assert.throws(() => formatNonceCount(bad), RangeError);
  }
});
