import assert from "node:assert/strict";
import type { Challenge } from "../headers/www_authenticate.ts";
import { type Credentials, formatAuthorization, parseAuthorization } from "../headers/authorization.ts";
import { answerChallenge } from "./answer.ts";
import { verifyAuthorization, type VerifyOptions } from "./verify.ts";
import { ALL_SCHEMES } from "../../../tests/support/rtsp_auth_examples.ts";

const passwords = new Map([["admin", "s3cret"], ["ü", "pässword"]]);
const URI = "rtsp://relay:8554/cam";

/** Options whose nonce check knows three nonces by name, and whose nonce counts live in `used`. */
function serverOptions(overrides: Partial<VerifyOptions> = {}, used = new Set<string>()): VerifyOptions {
  return {
    method: "DESCRIBE",
    requestUri: URI,
    realm: "relay",
    schemes: ALL_SCHEMES,
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
    return answerChallenge(
      [c],
      "DESCRIBE",
      opts.uri ?? URI,
      user,
      password,
      "abcdef",
      opts.nc ?? 1,
      ALL_SCHEMES,
    );
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
