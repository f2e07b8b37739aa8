import { deepStrictEqual as assertEquals, equal, match, ok } from "node:assert/strict";
import { Hono } from "hono";
import { adminAuth, bearerToken, constantTimeEqual, tokensEqual } from "./auth.ts";

const bytes = (...b: number[]) => new Uint8Array(b);

Deno.test("constantTimeEqual() is true only for the same bytes, whatever the lengths", () => {
  const cases: Array<[Uint8Array, Uint8Array, boolean]> = [
    [bytes(), bytes(), true],
    [bytes(1, 2, 3), bytes(1, 2, 3), true],
    [bytes(1, 2, 3), bytes(1, 2, 4), false], // last byte differs
    [bytes(0, 2, 3), bytes(1, 2, 3), false], // first byte differs
    [bytes(1, 2), bytes(1, 2, 3), false], // prefix
    [bytes(1, 2, 3), bytes(1, 2), false],
    [bytes(), bytes(0), false], // a missing byte is not a zero byte
    [bytes(0), bytes(), false],
  ];
  for (const [a, b, want] of cases) equal(constantTimeEqual(a, b), want, `${a} vs ${b}`);
});

Deno.test("tokensEqual() compares tokens by value, case and length included", () => {
  equal(tokensEqual("s3cret", "s3cret"), true);
  equal(tokensEqual("s3cret", "S3cret"), false);
  equal(tokensEqual("s3cre", "s3cret"), false);
  equal(tokensEqual("s3crett", "s3cret"), false);
  equal(tokensEqual("", "s3cret"), false);
  equal(tokensEqual("žeton", "žeton"), true);
});

Deno.test("bearerToken() reads RFC 6750 bearer credentials only", () => {
  const cases: Array<[string | undefined, string | null]> = [
    ["Bearer abc", "abc"],
    ["bearer abc", "abc"],
    ["BEARER   abc  ", "abc"],
    ["Bearer a.b-c_d~e+f/g=", "a.b-c_d~e+f/g="],
    ["Basic YWxhZGRpbjpvcGVuc2VzYW1l", null],
    ["Bearer", null],
    ["Bearer ", null],
    ["Bearerabc", null],
    ["", null],
    [undefined, null],
  ];
  for (const [header, want] of cases) equal(bearerToken(header), want, String(header));
});

/** An app with one read and one mutation behind the guard. */
function guarded(options: Parameters<typeof adminAuth>[0]): Hono {
  const app = new Hono();
  app.use("/x", adminAuth(options));
  app.get("/x", (c) => c.json({ read: true }));
  app.post("/x", (c) => c.json({ changed: true }));
  return app;
}

async function call(app: Hono, method: string, authorization?: string) {
  const res = await app.request("/x", { method, headers: authorization ? { authorization } : {} });
  return { status: res.status, challenge: res.headers.get("www-authenticate"), body: await res.json() };
}

Deno.test("adminAuth() lets mutations through with the right token only, and reads freely by default", async () => {
  const app = guarded({ token: "t0k" });
  assertEquals(await call(app, "POST", "Bearer t0k"), {
    status: 200,
    challenge: null,
    body: { changed: true },
  });
  assertEquals(await call(app, "GET"), { status: 200, challenge: null, body: { read: true } });
  const missing = await call(app, "POST");
  assertEquals([missing.status, missing.challenge], [401, 'Bearer realm="msm-relay"']);
  equal(typeof missing.body.error, "string");
  const wrong = await call(app, "POST", "Bearer t0K");
  assertEquals([wrong.status, wrong.challenge], [401, 'Bearer realm="msm-relay", error="invalid_token"']);
  assertEquals(wrong.body, { error: "Invalid bearer token" });
  equal((await call(app, "POST", "Basic dDBrOg==")).status, 401);
});

Deno.test("adminAuth() guards reads too when asked", async () => {
  const app = guarded({ token: "t0k", reads: true });
  equal((await call(app, "GET")).status, 401);
  equal((await call(app, "GET", "Bearer nope")).status, 401);
  equal((await call(app, "GET", "Bearer t0k")).status, 200);
});

Deno.test("adminAuth() refuses every mutation when no token is configured", async () => {
  const app = guarded({});
  const refused = await call(app, "POST", "Bearer anything");
  equal(refused.status, 403);
  equal(refused.body.error, "Admin changes are disabled: no admin token is configured (--admin-token)");
  equal((await call(app, "GET")).status, 200);
  // Reads asked to be guarded with nothing to check against: closed, not open.
  equal((await call(guarded({ reads: true }), "GET")).status, 403);
});

Deno.test("adminAuth() answers 429 with Retry-After after 10 wrong tokens from one client, even to the right one", async () => {
  let now = 5_000;
  const reasons: string[] = [];
  const app = new Hono();
  app.use(
    "/x",
    adminAuth({
      token: "t0k",
      now: () => now,
      onRefused: (_c, reason, status) => void reasons.push(`${reason} ${status}`),
    }),
  );
  app.post("/x", (c) => c.json({ changed: true }));
  const from = (hostname: string) => ({ remoteAddr: { transport: "tcp", hostname, port: 40000 } });
  const post = (authorization: string, hostname = "192.0.2.7") =>
    app.request("/x", { method: "POST", headers: { authorization } }, from(hostname));

  for (let i = 0; i < 10; i++) equal((await post("Bearer wrong")).status, 401, `wrong token ${i + 1}`);
  now += 1_500;
  const locked = await post("Bearer t0k");
  equal(locked.status, 429, "the right token waits too");
  equal(locked.headers.get("retry-after"), "59");
  match((await locked.json()).error, /^Too many wrong admin tokens from this address: try again in 59 s$/);
  equal((await post("Bearer t0k", "192.0.2.8")).status, 200, "another client is not affected");
  equal((await post("Bearer t0k", "::ffff:192.0.2.7")).status, 429, "the same client over IPv6-mapped IPv4");
  now += 58_500;
  equal((await post("Bearer t0k")).status, 200, "the window is over");
  assertEquals(reasons, [
    ...Array<string>(10).fill("bad_token 401"),
    "locked_out 429",
    "locked_out 429",
  ]);
});

Deno.test("adminAuth() does not count a missing token as a wrong one", async () => {
  const app = guarded({ token: "t0k", reads: true });
  for (let i = 0; i < 30; i++) equal((await call(app, "GET")).status, 401);
  equal((await call(app, "GET", "Bearer t0k")).status, 200);
});

Deno.test("bearerToken() takes time linear in the header: 64 KB of spaces inside a credential", () => {
  const header = `Bearer a${" ".repeat(64 * 1024)}b${" ".repeat(64 * 1024)}`;
  const t0 = performance.now();
  const token = bearerToken(header);
  const ms = performance.now() - t0;
  equal(token, `a${" ".repeat(64 * 1024)}b`);
  // Quadratic matching took seconds here; linear work is well under a second even on a loaded machine.
  ok(ms < 1000, `${ms} ms`);
});
