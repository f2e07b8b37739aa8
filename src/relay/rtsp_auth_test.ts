import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { addressMatcher, normaliseAddress, RtspAuthenticator } from "./rtsp_auth.ts";
import { answerChallenge, type AuthSchemeName, parseChallenges } from "../rtsp/auth/mod.ts";
import type { UserConfig } from "../config/values.ts";
import { configDefaults } from "../config/schema.ts";

const USERS: UserConfig[] = [
  { name: "viewer", password: "v-pass", rights: "read", paths: "cams/*" },
  { name: "cam", password: "c:pass", rights: "publish", paths: "*" },
  { name: "admin", password: "a-pass", rights: "read+publish", paths: "*" },
];
const URL = "rtsp://relay/cams/door";
const CLIENT = "10.0.0.1";
const ALL: AuthSchemeName[] = ["digest", "basic"];
/** The schemes offered unless the relay is told otherwise (`--rtsp-auth`'s default). */
const SCHEMES = configDefaults().rtspAuth;

/** A client's answer to a fresh challenge of `auth` for `CLIENT` (qop=auth, nonce count `nc`). */
function digestFor(
  auth: RtspAuthenticator,
  method: string,
  user: string,
  password: string,
  opts: { algorithm?: string; uri?: string; nc?: number; client?: string } = {},
) {
  const challenges = parseChallenges(auth.challenges(false, opts.client ?? CLIENT)).filter((c) =>
    opts.algorithm === undefined || c.algorithm === opts.algorithm
  );
  return answerChallenge(challenges, method, opts.uri ?? URL, user, password, "0a4f113b", opts.nc ?? 1, ALL);
}

/** The same answer in the RFC 2069 form (no qop, no nonce count), as GStreamer and VLC send it. */
function rfc2069For(
  auth: RtspAuthenticator,
  method: string,
  user: string,
  password: string,
  client = CLIENT,
) {
  const challenges = parseChallenges(auth.challenges(false, client)).map((c) => {
    const { qop: _, ...rest } = c;
    return rest;
  });
  return answerChallenge(challenges, method, URL, user, password, "", 1, ALL);
}

Deno.test("RtspAuthenticator: no users, everyone may read and publish", () => {
  const auth = new RtspAuthenticator({ users: [], schemes: SCHEMES });
  assertEquals(auth.check("DESCRIBE", "x", "read", undefined, CLIENT, URL), { kind: "allow", user: null });
  assertEquals(auth.check("ANNOUNCE", "x", "publish", undefined, CLIENT, URL).kind, "allow");
});

Deno.test("RtspAuthenticator: Digest SHA-256 and MD5 grant the user's rights on its paths only", () => {
  let now = 1_700_000_000_000;
  const auth = new RtspAuthenticator({ users: USERS, schemes: SCHEMES, now: () => now });
  for (const algorithm of ["SHA-256", "MD5"]) {
    const viewer = digestFor(auth, "DESCRIBE", "viewer", "v-pass", { algorithm });
    assertEquals(auth.check("DESCRIBE", "cams/door", "read", viewer, CLIENT, URL), {
      kind: "allow",
      user: "viewer",
    });
    const other = digestFor(auth, "DESCRIBE", "viewer", "v-pass", { algorithm, uri: "rtsp://relay/other" });
    assertEquals(
      auth.check("DESCRIBE", "other", "read", other, CLIENT, "rtsp://relay/other").kind,
      "forbidden",
      "outside cams/*",
    );
    const announce = digestFor(auth, "ANNOUNCE", "viewer", "v-pass", { algorithm });
    assertEquals(auth.check("ANNOUNCE", "cams/door", "publish", announce, CLIENT, URL).kind, "forbidden");
    const cam = digestFor(auth, "DESCRIBE", "cam", "c:pass", { algorithm });
    assertEquals(
      auth.check("DESCRIBE", "cams/door", "read", cam, CLIENT, URL).kind,
      "forbidden",
      "publish only",
    );
  }
  // The Digest response covers the method: a DESCRIBE answer replayed as PLAY fails.
  const describe = digestFor(auth, "DESCRIBE", "admin", "a-pass");
  assertEquals(auth.check("PLAY", "cams/door", "read", describe, CLIENT, URL).kind, "challenge");
  // Nonces expire: the right answer to an old nonce is challenged again with stale=true.
  const old = digestFor(auth, "DESCRIBE", "admin", "a-pass");
  now += 10 * 60_000;
  const decision = auth.check("DESCRIBE", "cams/door", "read", old, CLIENT, URL);
  assertEquals(decision, { kind: "challenge", stale: true, reason: "Nonce expired" });
  assert(auth.challenges(true, CLIENT).every((c) => !c.startsWith("Digest") || /stale=true/.test(c)));
});

Deno.test("RtspAuthenticator: a Digest answer is bound to its request URI, realm, nonce count and client address", () => {
  const auth = new RtspAuthenticator({ users: USERS, schemes: SCHEMES });
  const check = (authorization: string, uri = URL, client = CLIENT) =>
    auth.check("DESCRIBE", "cams/door", "read", authorization, client, uri);
  const reason = (d: ReturnType<typeof check>) => d.kind === "allow" ? "allow" : d.reason;

  // Equivalent forms of the Request-URI are the same resource: the host, port and userinfo do not matter.
  const answer = digestFor(auth, "DESCRIBE", "viewer", "v-pass");
  assertEquals(reason(check(answer, "rtsp://10.0.0.9:8554/cams/door")), "allow");
  const absPath = digestFor(auth, "DESCRIBE", "viewer", "v-pass", { uri: "/cams/door" });
  assertEquals(reason(check(absPath)), "allow", "a client that sends only the absolute path");

  // Another path, another query, another file under the same path: refused before the password is looked at.
  for (
    const uri of [
      "rtsp://relay/cams/window",
      "rtsp://relay/cams/door?x=1",
      "rtsp://relay/cams/door/trackID=0",
    ]
  ) {
    const elsewhere = digestFor(auth, "DESCRIBE", "viewer", "v-pass", { uri });
    assertEquals(reason(check(elsewhere)), "Digest uri does not name the requested resource", uri);
  }
  const star = digestFor(auth, "DESCRIBE", "viewer", "v-pass", { uri: "*" });
  assertEquals(reason(check(star)), "Digest uri does not name the requested resource", "*");

  // Another realm: an answer made for another server with the same password.
  const foreign = digestFor(auth, "DESCRIBE", "viewer", "v-pass").replace(
    'realm="msm-relay"',
    'realm="other"',
  );
  assertEquals(reason(check(foreign)), "Digest answer for another realm");

  // A nonce count is accepted once; counts may arrive out of order within the window.
  const first = digestFor(auth, "DESCRIBE", "viewer", "v-pass");
  const nonce = /nonce="([0-9a-f]+)"/.exec(first)![1]!;
  const withCount = (nc: number) =>
    answerChallenge(
      [{ scheme: "Digest", realm: auth.realm, nonce, qop: ["auth"] }],
      "DESCRIBE",
      URL,
      "viewer",
      "v-pass",
      "0a4f113b",
      nc,
      ALL,
    );
  assertEquals(reason(check(withCount(1))), "allow");
  assertEquals(check(withCount(1)), { kind: "challenge", stale: true, reason: "Nonce count used before" });
  assertEquals(reason(check(withCount(5))), "allow");
  assertEquals(reason(check(withCount(3))), "allow", "out of order");
  assertEquals(reason(check(withCount(3))), "Nonce count used before");
  // A wrong answer does not use up a count.
  assertEquals(
    reason(check(withCount(4).replace(/response="[0-9a-f]/, 'response="x'))),
    "Invalid credentials",
  );
  assertEquals(reason(check(withCount(4))), "allow");

  // The nonce works only for the address it was given to (RFC 2069 answers carry no count: this is their bound).
  const gst = rfc2069For(auth, "DESCRIBE", "viewer", "v-pass");
  assert(!/qop=/.test(gst));
  assertEquals(reason(check(gst)), "allow");
  assertEquals(reason(check(gst)), "allow", "no count to track: repeats from the same address pass");
  assertEquals(reason(check(gst, URL, "10.0.0.2")), "Nonce not issued to this client");
  assertEquals(
    reason(check(gst, URL, "::ffff:10.0.0.1")),
    "allow",
    "the IPv4-mapped form is the same address",
  );
  assertEquals(
    reason(check(digestFor(auth, "DESCRIBE", "viewer", "v-pass"), URL, "10.0.0.2")),
    "Nonce not issued to this client",
  );
});

Deno.test("RtspAuthenticator: missing, malformed, several, wrong or unknown credentials are challenged; Basic only when enabled", () => {
  const auth = new RtspAuthenticator({ users: USERS, schemes: SCHEMES });
  const check = (authorization: string | string[] | undefined, a = auth) =>
    a.check("DESCRIBE", "cams/door", "read", authorization, CLIENT, URL);
  assertEquals(check(undefined), { kind: "challenge", stale: false, reason: "Authentication required" });
  assertEquals(check([]).kind, "challenge");
  assertEquals(check(digestFor(auth, "DESCRIBE", "viewer", "wrong")).kind, "challenge");
  assertEquals(check(digestFor(auth, "DESCRIBE", "nobody", "x")).kind, "challenge");
  assertEquals(check("Digest garbage").kind, "challenge");
  const basic = "Basic " + btoa("viewer:v-pass");
  assertEquals(check(basic), {
    kind: "challenge",
    stale: false,
    reason: "Basic authentication is not accepted",
  });
  // However it is dressed: a leading comma, a second credential, a second header.
  const good = digestFor(auth, "DESCRIBE", "viewer", "v-pass");
  for (const disguised of [`, ${basic}`, ` ,${basic}`, `${basic}, ${good}`, `${good}, ${basic}`]) {
    assertEquals(check(disguised).kind, "challenge", disguised);
  }
  assertEquals(check([good, basic]), {
    kind: "challenge",
    stale: false,
    reason: "Several Authorization headers",
  });
  assertEquals(check([good]).kind, "allow");
  assert(!auth.challenges(false, CLIENT).some((c) => c.startsWith("Basic")));

  const withBasic = new RtspAuthenticator({ users: USERS, schemes: ["digest", "basic"] });
  assertEquals(check(basic, withBasic).kind, "allow");
  assertEquals(withBasic.challenges(false, CLIENT).map((c) => c.split(" ")[0]), [
    "Digest",
    "Digest",
    "Basic",
  ]);
  assertEquals(check("Basic " + btoa("viewer:nope"), withBasic).kind, "challenge");
  assertEquals(check(`, ${basic}`, withBasic).kind, "challenge", "malformed even when Basic is on");

  const basicOnly = new RtspAuthenticator({ users: USERS, schemes: ["basic"] });
  const digest = digestFor(withBasic, "DESCRIBE", "viewer", "v-pass");
  assertEquals(check(digest, basicOnly), {
    kind: "challenge",
    stale: false,
    reason: "Digest authentication is not accepted",
  });
});

Deno.test("RtspAuthenticator: two challenges never share a nonce", () => {
  const auth = new RtspAuthenticator({ users: USERS, schemes: SCHEMES, now: () => 1_700_000_000_000 });
  const nonces = new Set<string>();
  for (let i = 0; i < 100; i++) nonces.add(parseChallenges(auth.challenges(false, CLIENT))[0]!.nonce!);
  assertEquals(nonces.size, 100, "same client, same millisecond");
});

Deno.test("RtspAuthenticator: clients outside the allow-list are refused before credentials", () => {
  const auth = new RtspAuthenticator({
    users: [],
    schemes: SCHEMES,
    allowFrom: ["10.0.0.0/8", "192.168.1.7", "::1"],
  });
  const check = (addr: string) => auth.check("DESCRIBE", "x", "read", undefined, addr, URL).kind;
  assertEquals(check("10.200.3.4"), "allow");
  assertEquals(check("::ffff:10.1.1.1"), "allow");
  assertEquals(check("192.168.1.7"), "allow");
  assertEquals(check("::1"), "allow");
  assertEquals(check("192.168.1.8"), "forbidden");
  assertEquals(check("11.0.0.1"), "forbidden");
  assert(addressMatcher("0.0.0.0/0")("8.8.8.8"));
  assert(!addressMatcher("127.0.0.1/32")("127.0.0.2"));
  assertEquals(normaliseAddress("::FFFF:10.0.0.1"), "10.0.0.1");
  assertEquals(normaliseAddress("FE80::1"), "fe80::1");
});

Deno.test("RtspAuthenticator.setUsers(): a changed password takes effect for the next request", () => {
  const auth = new RtspAuthenticator({ users: USERS, schemes: ["digest", "basic"] });
  const check = (path: string, authorization: string) =>
    auth.check("DESCRIBE", path, "read", authorization, CLIENT, `rtsp://relay/${path}`).kind;
  const old = "Basic " + btoa("viewer:v-pass");
  assertEquals(check("cams/door", old), "allow");
  auth.setUsers([{ name: "viewer", password: "v-new", rights: "read", paths: "*" }]);
  assertEquals(check("cams/door", old), "challenge");
  assertEquals(check("other", "Basic " + btoa("viewer:v-new")), "allow", "new paths too");
  assertEquals(check("x", "Basic " + btoa("admin:a-pass")), "challenge");
});

Deno.test("RtspAuthenticator: users' globs are matched as globs, not regular expressions", () => {
  const auth = new RtspAuthenticator({
    users: [{ name: "alice", password: "a", rights: "read", paths: "site-*-*-*.live" }],
    schemes: ["basic"],
  });
  const check = (path: string) =>
    auth.check("DESCRIBE", path, "read", "Basic " + btoa("alice:a"), CLIENT, `rtsp://relay/${path}`).kind;
  assertEquals(check("site-1-2-3.live"), "allow");
  assertEquals(check("site-1-2-3xlive"), "forbidden", "'.' is not a wildcard");
  assertEquals(check("site-" + "-".repeat(240) + "x"), "forbidden");
});

Deno.test("RtspAuthenticator.checkPassword: a browser viewer's user, password and right on the path", () => {
  const auth = new RtspAuthenticator({ users: USERS, schemes: SCHEMES, allowFrom: ["10.0.0.0/8"] });
  const [user] = USERS;
  const path = "cams/door";
  assertEquals(auth.checkPassword(user!.name, user!.password, path, "read", CLIENT), {
    kind: "allow",
    user: user!.name,
  });
  assertEquals(auth.checkPassword(user!.name, "wrong", path, "read", CLIENT).kind, "challenge");
  assertEquals(auth.checkPassword("nobody", user!.password, path, "read", CLIENT).kind, "challenge");
  assertEquals(
    auth.checkPassword("cam", "c:pass", path, "read", CLIENT).kind,
    "forbidden",
    "a publisher, not a reader",
  );
  assertEquals(
    auth.checkPassword(user!.name, user!.password, "lobby", "read", CLIENT).kind,
    "forbidden",
    "not its path",
  );
  assertEquals(auth.checkPassword(user!.name, user!.password, path, "read", "192.0.2.1").kind, "forbidden");
  assertEquals(
    new RtspAuthenticator({ users: [], schemes: SCHEMES }).checkPassword("a", "b", path, "read", CLIENT),
    {
      kind: "allow",
      user: null,
    },
  );
});
