import assert from "node:assert/strict";
import { RtspProtocolError } from "../errors.ts";
import {
  answerChallenge,
  type AuthSchemeName,
  type Challenge,
  chooseChallenge,
  type Credentials,
  digestResponse,
  type DigestResponseParams,
  formatAuthorization,
  formatChallenge,
  parseAuthorization,
  parseChallenges,
  UnusableChallengesError,
  verifyAuthorization,
  type VerifyOptions,
} from "./auth.ts";

const ALL: AuthSchemeName[] = ["digest", "basic"];

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
    ALL,
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
        answerChallenge(c.challenges, "DESCRIBE", "rtsp://h/s", "user", "pass", "cn", 1, ALL),
        c.expected,
      );
    });
  }
  await t.step("no usable challenge", () => {
    assertProtocolError(
      () => answerChallenge([authInt], "DESCRIBE", "rtsp://h/s", "u", "p", "cn", 1, ALL),
      /^No supported authentication challenge/,
    );
  });
  await t.step(
    "Basic only when allowed: refused before anything is computed, naming what was offered",
    () => {
      assert.throws(
        () => answerChallenge([basic, authInt], "DESCRIBE", "rtsp://h/s", "u", "p", "cn", 1, ["digest"]),
        (e: unknown) => {
          assert.ok(e instanceof UnusableChallengesError);
          assert.deepEqual(e.offered, ["Basic"]);
          assert.match(
            e.message,
            /^The server offers only Basic authentication, which is not allowed \(allowed: digest\)$/,
          );
          return true;
        },
      );
      assert.equal(chooseChallenge([basic, md5], ["digest"]), md5);
      assert.equal(chooseChallenge([basic, md5], ["basic"]), basic, "Basic alone when only Basic is allowed");
      assert.throws(() => chooseChallenge([md5, sha], ["basic"]), UnusableChallengesError);
    },
  );
  await t.step("classic RTSP answer has no qop, nc or cnonce", () => {
    const value = answerChallenge([md5], "DESCRIBE", "rtsp://h/s", "u", "p", "cn", 1, ALL);
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
    const value = answerChallenge([{ ...md5, qop: ["auth"] }], "PLAY", "rtsp://h/s", "u", "p", "cn", 26, ALL);
    assert.match(value, /nc=0000001a/);
  });
});

// ---------------------------------------------------------------------------------------------------------
// Server side

const passwords = new Map([["admin", "s3cret"], ["ü", "pässword"]]);
const URI = "rtsp://relay:8554/cam";

/** Options whose nonce check knows three nonces by name, and whose nonce counts live in `used`. */
function serverOptions(overrides: Partial<VerifyOptions> = {}, used = new Set<string>()): VerifyOptions {
  return {
    method: "DESCRIBE",
    requestUri: URI,
    realm: "relay",
    schemes: ALL,
    lookupPassword: (user) => passwords.get(user),
    checkNonce: (n) => n === "n-valid" ? "valid" : n === "n-stale" ? "stale" : "invalid",
    useNonceCount: (n, nc) => !used.has(`${n}/${nc}`) && !!used.add(`${n}/${nc}`),
    ...overrides,
  };
}

Deno.test("verifyAuthorization", async (t) => {
  const answer = (
    user: string,
    password: string,
    opts: {
      nonce?: string;
      algorithm?: "SHA-256";
      qop?: string[];
      uri?: string;
      realm?: string;
      nc?: number;
    } = {},
  ) => {
    const c: Challenge = { scheme: "Digest", realm: opts.realm ?? "relay", nonce: opts.nonce ?? "n-valid" };
    if (opts.algorithm) c.algorithm = opts.algorithm;
    if (opts.qop) c.qop = opts.qop;
    return answerChallenge([c], "DESCRIBE", opts.uri ?? URI, user, password, "abcdef", opts.nc ?? 1, ALL);
  };
  const ok = { ok: true, user: "admin" };
  const no = (reason: string, stale = false) => ({ ok: false, stale, reason });
  const cases: Array<{ name: string; value: string; options?: Partial<VerifyOptions>; expected: unknown }> = [
    { name: "Digest MD5, no qop", value: answer("admin", "s3cret"), expected: ok },
    {
      name: "Digest SHA-256 with qop",
      value: answer("admin", "s3cret", { algorithm: "SHA-256", qop: ["auth"] }),
      expected: ok,
    },
    { name: "Basic", value: "Basic YWRtaW46czNjcmV0", expected: ok },
    { name: "Basic UTF-8", value: "Basic w7w6cMOkc3N3b3Jk", expected: { ok: true, user: "ü" } },
    { name: "Basic wrong password", value: "Basic YWRtaW46czNjcmV1", expected: no("Invalid credentials") },
    {
      name: "Basic not accepted",
      value: "Basic YWRtaW46czNjcmV0",
      options: { schemes: ["digest"] },
      expected: no("Basic authentication is not accepted"),
    },
    {
      name: "Basic behind a leading comma",
      value: ", Basic YWRtaW46czNjcmV0",
      expected: no("Malformed or unsupported Authorization header"),
    },
    {
      name: "Digest not accepted",
      value: answer("admin", "s3cret"),
      options: { schemes: ["basic"] },
      expected: no("Digest authentication is not accepted"),
    },
    { name: "wrong password", value: answer("admin", "guess"), expected: no("Invalid credentials") },
    { name: "unknown user", value: answer("root", "s3cret"), expected: no("Invalid credentials") },
    {
      name: "other method",
      value: answer("admin", "s3cret"),
      options: { method: "PLAY" },
      expected: no("Invalid credentials"),
    },
    {
      name: "the same resource written differently (host, port, abs path)",
      value: answer("admin", "s3cret", { uri: "/cam" }),
      options: { requestUri: "rtsp://other-host/cam" },
      expected: ok,
    },
    {
      name: "another resource",
      value: answer("admin", "s3cret", { uri: "rtsp://relay:8554/other" }),
      expected: no("Digest uri does not name the requested resource"),
    },
    {
      name: "another query",
      value: answer("admin", "s3cret", { uri: `${URI}?token=1` }),
      expected: no("Digest uri does not name the requested resource"),
    },
    {
      name: "a uri that is no URI",
      value: answer("admin", "s3cret", { uri: "cam" }),
      expected: no("Digest uri does not name the requested resource"),
    },
    {
      name: "another realm, right password",
      value: answer("admin", "s3cret", { realm: "elsewhere" }),
      expected: no("Digest answer for another realm"),
    },
    {
      name: "stale nonce, right answer",
      value: answer("admin", "s3cret", { nonce: "n-stale" }),
      expected: no("Nonce expired", true),
    },
    {
      name: "stale nonce, wrong answer",
      value: answer("admin", "guess", { nonce: "n-stale" }),
      expected: no("Invalid credentials"),
    },
    {
      name: "nonce not ours (forged, or given to another address)",
      value: answer("admin", "s3cret", { nonce: "n-other" }),
      expected: no("Nonce not issued to this client"),
    },
    {
      name: "nonce count zero",
      value: answer("admin", "s3cret", { qop: ["auth"] }).replace("nc=00000001", "nc=00000000"),
      expected: no("Invalid nonce count"),
    },
    {
      name: "nonce count not 8 hex digits",
      value: answer("admin", "s3cret", { qop: ["auth"] }).replace("nc=00000001", "nc=1"),
      expected: no("Invalid nonce count"),
    },
    {
      name: "malformed header",
      value: 'Digest username="admin',
      expected: no("Malformed or unsupported Authorization header"),
    },
    {
      name: "unknown scheme",
      value: "Bearer abc",
      expected: no("Malformed or unsupported Authorization header"),
    },
    {
      name: "upper-case hex response accepted",
      value: answer("admin", "s3cret").replace(
        /response="([0-9a-f]+)"/,
        (_, r: string) => `response="${r.toUpperCase()}"`,
      ),
      expected: ok,
    },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      assert.deepEqual(verifyAuthorization(c.value, serverOptions(c.options)), c.expected);
    });
  }

  await t.step("a nonce count is accepted once, and only after the answer was verified", () => {
    const used = new Set<string>();
    const options = serverOptions({}, used);
    const value = answer("admin", "s3cret", { qop: ["auth"], nc: 7 });
    const wrong = answer("admin", "guess", { qop: ["auth"], nc: 7 });
    assert.deepEqual(verifyAuthorization(wrong, options), no("Invalid credentials"));
    assert.deepEqual(verifyAuthorization(value, options), ok, "the wrong answer did not use up count 7");
    assert.deepEqual(verifyAuthorization(value, options), no("Nonce count used before", true));
    assert.deepEqual([...used], ["n-valid/7"]);
  });

  await t.step("qop auth-int is refused", () => {
    const creds = parseAuthorization(answer("admin", "s3cret", { qop: ["auth"] }));
    assert.equal(creds.scheme, "Digest");
    const value = formatAuthorization({ ...creds, qop: "auth-int" } as Credentials);
    assert.deepEqual(verifyAuthorization(value, serverOptions()), no('Unsupported qop "auth-int"'));
  });

  await t.step("the reason never repeats the credentials", () => {
    for (const value of ["Basic YWRtaW46czNjcmV1", ", Basic YWRtaW46czNjcmV0", "Basic YWRtaW46czNjcmV0 x"]) {
      const r = verifyAuthorization(value, serverOptions({ schemes: ["digest"] }));
      assert.ok(!r.ok && !r.reason.includes("YWRtaW46"), JSON.stringify(r));
    }
  });
});
