import assert from "node:assert/strict";
import { RtspProtocolError } from "../errors.ts";
import {
  answerChallenge,
  type Challenge,
  checkNonce,
  createNonce,
  type Credentials,
  digestResponse,
  type DigestResponseParams,
  formatAuthorization,
  formatChallenge,
  parseAuthorization,
  parseChallenges,
  verifyAuthorization,
} from "./auth.ts";

function assertProtocolError(fn: () => unknown, message: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof RtspProtocolError);
    assert.equal(e.status, 400);
    assert.match(e.message, message);
    return true;
  });
}

// ---------------------------------------------------------------------------------------------------------
// WWW-Authenticate

const RFC7616_NONCE = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v";
const RFC7616_OPAQUE = "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS";

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
      `Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=SHA-256, nonce="${RFC7616_NONCE}", opaque="${RFC7616_OPAQUE}"`,
      `Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=MD5, nonce="${RFC7616_NONCE}", opaque="${RFC7616_OPAQUE}"`,
    ],
    output: [
      `Digest realm="http-auth@example.org", nonce="${RFC7616_NONCE}", opaque="${RFC7616_OPAQUE}", algorithm=SHA-256, qop="auth,auth-int"`,
      `Digest realm="http-auth@example.org", nonce="${RFC7616_NONCE}", opaque="${RFC7616_OPAQUE}", algorithm=MD5, qop="auth,auth-int"`,
    ],
    parsed: [
      {
        scheme: "Digest",
        realm: "http-auth@example.org",
        nonce: RFC7616_NONCE,
        opaque: RFC7616_OPAQUE,
        algorithm: "SHA-256",
        qop: ["auth", "auth-int"],
      },
      {
        scheme: "Digest",
        realm: "http-auth@example.org",
        nonce: RFC7616_NONCE,
        opaque: RFC7616_OPAQUE,
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
// Authorization

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
    { name: "empty", input: "", message: /^Not exactly one credential in Authorization ""$/ },
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

// ---------------------------------------------------------------------------------------------------------
// Digest response

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
      nonce: RFC7616_NONCE,
      qop: "auth",
      nc: 1,
      cnonce: "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
    },
    response: "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",
  },
  {
    name: "RFC 7616 §3.9.1 MD5, algorithm left out",
    params: {
      username: "Mufasa",
      realm: "http-auth@example.org",
      password: "Circle of Life",
      method: "GET",
      uri: "/dir/index.html",
      nonce: RFC7616_NONCE,
      qop: "auth",
      nc: 1,
      cnonce: "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
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

// ---------------------------------------------------------------------------------------------------------
// Client side

Deno.test("answerChallenge: RFC 7616 picks SHA-256 and matches the RFC", () => {
  const challenges = parseChallenges(challengeCases[2]?.input ?? []).reverse(); // MD5 first: order does not matter
  const value = answerChallenge(
    challenges,
    "GET",
    "/dir/index.html",
    "Mufasa",
    "Circle of Life",
    "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
    1,
  );
  assert.equal(
    value,
    'Digest username="Mufasa", realm="http-auth@example.org", nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", ' +
      'uri="/dir/index.html", response="753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1", ' +
      'algorithm=SHA-256, qop=auth, nc=00000001, cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", ' +
      'opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"',
  );
});

Deno.test("answerChallenge: strength order and fallbacks", async (t) => {
  const basic: Challenge = { scheme: "Basic", realm: "r" };
  const md5: Challenge = { scheme: "Digest", realm: "r", nonce: "n" };
  const sha: Challenge = { scheme: "Digest", realm: "r", nonce: "n", algorithm: "SHA-256" };
  const authInt: Challenge = {
    scheme: "Digest",
    realm: "r",
    nonce: "n",
    algorithm: "SHA-256",
    qop: ["auth-int"],
  };
  const cases: Array<{ name: string; challenges: Challenge[]; expected: RegExp }> = [
    { name: "Basic only", challenges: [basic], expected: /^Basic dXNlcjpwYXNz$/ },
    {
      name: "Digest MD5 beats Basic",
      challenges: [basic, md5],
      expected: /^Digest username="user".*response="[0-9a-f]{32}"$/,
    },
    {
      name: "SHA-256 beats MD5",
      challenges: [md5, sha, basic],
      expected: /response="[0-9a-f]{64}", algorithm=SHA-256$/,
    },
    { name: "auth-int only is unusable", challenges: [authInt, md5], expected: /response="[0-9a-f]{32}"$/ },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      assert.match(
        answerChallenge(c.challenges, "DESCRIBE", "rtsp://h/s", "user", "pass", "cn", 1),
        c.expected,
      );
    });
  }
  await t.step("no usable challenge", () => {
    assertProtocolError(
      () => answerChallenge([authInt], "DESCRIBE", "rtsp://h/s", "u", "p", "cn", 1),
      /^No supported authentication challenge/,
    );
  });
  await t.step("classic RTSP answer has no qop, nc or cnonce", () => {
    const value = answerChallenge([md5], "DESCRIBE", "rtsp://h/s", "u", "p", "cn", 1);
    const creds = parseAuthorization(value);
    assert.deepEqual(creds, {
      scheme: "Digest",
      username: "u",
      realm: "r",
      nonce: "n",
      uri: "rtsp://h/s",
      response: digestResponse({
        username: "u",
        realm: "r",
        password: "p",
        method: "DESCRIBE",
        uri: "rtsp://h/s",
        nonce: "n",
      }),
    });
  });
  await t.step("nonce count in hex", () => {
    const value = answerChallenge([{ ...md5, qop: ["auth"] }], "PLAY", "rtsp://h/s", "u", "p", "cn", 26);
    assert.match(value, /nc=0000001a/);
  });
});

// ---------------------------------------------------------------------------------------------------------
// Server side

const SECRET = new Uint8Array(32).fill(7);
const T0 = 1_700_000_000_000;
const MAX_AGE = 60_000;
const passwords = new Map([["admin", "s3cret"], ["ü", "pässword"]]);
const lookup = (user: string) => passwords.get(user);

Deno.test("verifyAuthorization", async (t) => {
  const nonce = createNonce(SECRET, T0);
  const challenge = (n: string): Challenge[] =>
    parseChallenges([formatChallenge({ scheme: "Digest", realm: "relay", nonce: n })]);
  const at = (now: number) => (n: string) => checkNonce(n, SECRET, now, MAX_AGE);
  const answer = (user: string, password: string, algorithm?: "SHA-256", qop?: string[]) => {
    const c: Challenge = { scheme: "Digest", realm: "relay", nonce };
    if (algorithm) c.algorithm = algorithm;
    if (qop) c.qop = qop;
    return answerChallenge([c], "DESCRIBE", "rtsp://relay:8554/cam", user, password, "abcdef", 1);
  };
  const cases: Array<{ name: string; value: string; now: number; method?: string; expected: unknown }> = [
    {
      name: "Digest MD5, no qop",
      value: answer("admin", "s3cret"),
      now: T0,
      expected: { ok: true, user: "admin" },
    },
    {
      name: "Digest SHA-256 with qop",
      value: answer("admin", "s3cret", "SHA-256", ["auth"]),
      now: T0 + MAX_AGE,
      expected: { ok: true, user: "admin" },
    },
    { name: "Basic", value: "Basic YWRtaW46czNjcmV0", now: T0, expected: { ok: true, user: "admin" } },
    { name: "Basic UTF-8", value: "Basic w7w6cMOkc3N3b3Jk", now: T0, expected: { ok: true, user: "ü" } },
    {
      name: "Basic wrong password",
      value: "Basic YWRtaW46czNjcmV1",
      now: T0,
      expected: { ok: false, stale: false },
    },
    {
      name: "wrong password",
      value: answer("admin", "guess"),
      now: T0,
      expected: { ok: false, stale: false },
    },
    { name: "unknown user", value: answer("root", "s3cret"), now: T0, expected: { ok: false, stale: false } },
    {
      name: "other method",
      value: answer("admin", "s3cret"),
      now: T0,
      method: "PLAY",
      expected: { ok: false, stale: false },
    },
    {
      name: "stale nonce, right answer",
      value: answer("admin", "s3cret"),
      now: T0 + MAX_AGE + 1,
      expected: { ok: false, stale: true },
    },
    {
      name: "stale nonce, wrong answer",
      value: answer("admin", "guess"),
      now: T0 + MAX_AGE + 1,
      expected: { ok: false, stale: false },
    },
    {
      name: "forged nonce",
      value: answerChallenge(
        challenge("0".repeat(76)),
        "DESCRIBE",
        "rtsp://relay/cam",
        "admin",
        "s3cret",
        "x",
        1,
      ),
      now: T0,
      expected: { ok: false, stale: false },
    },
    {
      name: "malformed header",
      value: 'Digest username="admin',
      now: T0,
      expected: { ok: false, stale: false },
    },
    { name: "unknown scheme", value: "Bearer abc", now: T0, expected: { ok: false, stale: false } },
    {
      name: "upper-case hex response accepted",
      value: answer("admin", "s3cret").replace(
        /response="([0-9a-f]+)"/,
        (_, r: string) => `response="${r.toUpperCase()}"`,
      ),
      now: T0,
      expected: { ok: true, user: "admin" },
    },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      assert.deepEqual(verifyAuthorization(c.value, c.method ?? "DESCRIBE", lookup, at(c.now)), c.expected);
    });
  }

  await t.step("the uri is not compared with the request (ffmpeg sends the Request-URI)", () => {
    const value = answerChallenge(
      challenge(nonce),
      "SETUP",
      "rtsp://elsewhere/x/trackID=0",
      "admin",
      "s3cret",
      "c",
      1,
    );
    assert.deepEqual(verifyAuthorization(value, "SETUP", lookup, at(T0)), { ok: true, user: "admin" });
  });

  await t.step("qop auth-int is refused", () => {
    const creds = parseAuthorization(answer("admin", "s3cret", undefined, ["auth"]));
    assert.equal(creds.scheme, "Digest");
    const value = formatAuthorization({ ...creds, qop: "auth-int" } as Credentials);
    assert.deepEqual(verifyAuthorization(value, "DESCRIBE", lookup, at(T0)), { ok: false, stale: false });
  });
});

Deno.test("createNonce and checkNonce", async (t) => {
  const nonce = createNonce(SECRET, T0);
  await t.step("shape", () => {
    assert.match(nonce, /^[0-9a-f]{76}$/);
    assert.equal(nonce.slice(0, 12), T0.toString(16).padStart(12, "0"));
    assert.equal(createNonce(SECRET, T0), nonce);
    assert.notEqual(createNonce(SECRET, T0 + 1), nonce);
  });
  const cases: Array<{ name: string; nonce: string; secret?: Uint8Array; now: number; expected: string }> = [
    { name: "fresh", nonce, now: T0, expected: "valid" },
    { name: "at max age", nonce, now: T0 + MAX_AGE, expected: "valid" },
    { name: "past max age", nonce, now: T0 + MAX_AGE + 1, expected: "stale" },
    { name: "far in the future (clock stepped back)", nonce, now: T0 - MAX_AGE - 1, expected: "stale" },
    { name: "other secret", nonce, secret: new Uint8Array(32).fill(8), now: T0, expected: "invalid" },
    {
      name: "time tampered",
      nonce: (T0 + 5).toString(16).padStart(12, "0") + nonce.slice(12),
      now: T0,
      expected: "invalid",
    },
    {
      name: "mac tampered",
      nonce: nonce.slice(0, -1) + (nonce.endsWith("0") ? "1" : "0"),
      now: T0,
      expected: "invalid",
    },
    { name: "upper case", nonce: nonce.toUpperCase(), now: T0, expected: "invalid" },
    { name: "garbage", nonce: "dcd98b7102dd2f0e8b11d0f600bfb0c093", now: T0, expected: "invalid" },
    { name: "empty", nonce: "", now: T0, expected: "invalid" },
  ];
  for (const c of cases) {
    await t.step(
      c.name,
      () => assert.equal(checkNonce(c.nonce, c.secret ?? SECRET, c.now, MAX_AGE), c.expected),
    );
  }
  await t.step("bad inputs", () => {
    assert.throws(() => createNonce(new Uint8Array(15), T0), RangeError);
    assert.throws(() => checkNonce(nonce, new Uint8Array(0), T0, MAX_AGE), RangeError);
    assert.throws(() => createNonce(SECRET, -1), RangeError);
    assert.throws(() => createNonce(SECRET, 1.5), RangeError);
  });
});
