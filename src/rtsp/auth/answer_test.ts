import assert from "node:assert/strict";
import { type Challenge, parseChallenges } from "../headers/www_authenticate.ts";
import { parseAuthorization } from "../headers/authorization.ts";
import { answerChallenge, chooseChallenge, UnusableChallengesError } from "./answer.ts";
import { digestResponse } from "./digest.ts";
import { ALL_SCHEMES, assertProtocolError, RFC7616 } from "../../../tests/support/rtsp_auth_examples.ts";

Deno.test("answerChallenge: RFC 7616 picks SHA-256 and matches the RFC", () => {
  const challenges = parseChallenges(RFC7616.challenges).reverse(); // MD5 first: order does not matter
  const value = answerChallenge(
    challenges,
    "GET",
    "/dir/index.html",
    "Mufasa",
    "Circle of Life",
    RFC7616.cnonce,
    1,
    ALL_SCHEMES,
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
        answerChallenge(c.challenges, "DESCRIBE", "rtsp://h/s", "user", "pass", "cn", 1, ALL_SCHEMES),
        c.expected,
      );
    });
  }
  await t.step("no usable challenge", () => {
    assertProtocolError(
      () => answerChallenge([authInt], "DESCRIBE", "rtsp://h/s", "u", "p", "cn", 1, ALL_SCHEMES),
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
    const value = answerChallenge([md5], "DESCRIBE", "rtsp://h/s", "u", "p", "cn", 1, ALL_SCHEMES);
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
    const value = answerChallenge(
      [{ ...md5, qop: ["auth"] }],
      "PLAY",
      "rtsp://h/s",
      "u",
      "p",
      "cn",
      26,
      ALL_SCHEMES,
    );
    assert.match(value, /nc=0000001a/);
  });
});
