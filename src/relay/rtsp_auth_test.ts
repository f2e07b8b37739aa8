import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { addressMatcher, RtspAuthenticator } from "./rtsp_auth.ts";
import { answerChallenge, parseChallenges } from "../rtsp/headers/auth.ts";
import type { UserConfig } from "../config/schema.ts";

const USERS: UserConfig[] = [
  { name: "viewer", password: "v-pass", rights: "read", paths: "cams/*" },
  { name: "cam", password: "c:pass", rights: "publish", paths: "*" },
  { name: "admin", password: "a-pass", rights: "read+publish", paths: "*" },
];
const URL = "rtsp://relay/cams/door";

function digestFor(
  auth: RtspAuthenticator,
  method: string,
  user: string,
  password: string,
  algorithm?: string,
) {
  const challenges = parseChallenges(auth.challenges(false)).filter((c) =>
    algorithm === undefined || c.algorithm === algorithm || c.scheme === algorithm
  );
  return answerChallenge(challenges, method, URL, user, password, "0a4f113b", 1);
}

Deno.test("RtspAuthenticator: no users, everyone may read and publish", () => {
  const auth = new RtspAuthenticator({ users: [] });
  assertEquals(auth.check("DESCRIBE", "x", "read", undefined, "10.0.0.1"), { kind: "allow", user: null });
  assertEquals(auth.check("ANNOUNCE", "x", "publish", undefined, "10.0.0.1").kind, "allow");
});

Deno.test("RtspAuthenticator: Digest SHA-256 and MD5 grant the user's rights on its paths only", () => {
  let now = 1_700_000_000_000;
  const auth = new RtspAuthenticator({ users: USERS, now: () => now });
  for (const algorithm of ["SHA-256", "MD5"]) {
    const viewer = digestFor(auth, "DESCRIBE", "viewer", "v-pass", algorithm);
    assertEquals(auth.check("DESCRIBE", "cams/door", "read", viewer, "10.0.0.1"), {
      kind: "allow",
      user: "viewer",
    });
    assertEquals(
      auth.check("DESCRIBE", "other", "read", viewer, "10.0.0.1").kind,
      "forbidden",
      "outside cams/*",
    );
    const announce = digestFor(auth, "ANNOUNCE", "viewer", "v-pass", algorithm);
    assertEquals(auth.check("ANNOUNCE", "cams/door", "publish", announce, "10.0.0.1").kind, "forbidden");
    const cam = digestFor(auth, "DESCRIBE", "cam", "c:pass", algorithm);
    assertEquals(
      auth.check("DESCRIBE", "cams/door", "read", cam, "10.0.0.1").kind,
      "forbidden",
      "publish only",
    );
  }
  // The Digest response covers the method: a DESCRIBE answer replayed as PLAY fails.
  const describe = digestFor(auth, "DESCRIBE", "admin", "a-pass");
  assertEquals(auth.check("PLAY", "cams/door", "read", describe, "10.0.0.1").kind, "challenge");
  // Nonces expire: the right answer to an old nonce is challenged again with stale=true.
  const old = digestFor(auth, "DESCRIBE", "admin", "a-pass");
  now += 10 * 60_000;
  const decision = auth.check("DESCRIBE", "cams/door", "read", old, "10.0.0.1");
  assertEquals(decision, { kind: "challenge", stale: true, reason: "Nonce expired" });
  assert(auth.challenges(true).every((c) => !c.startsWith("Digest") || /stale=true/.test(c)));
});

Deno.test("RtspAuthenticator: missing, wrong or unknown credentials are challenged; Basic only when enabled", () => {
  const auth = new RtspAuthenticator({ users: USERS });
  assertEquals(auth.check("DESCRIBE", "cams/door", "read", undefined, "10.0.0.1").kind, "challenge");
  assertEquals(
    auth.check("DESCRIBE", "cams/door", "read", digestFor(auth, "DESCRIBE", "viewer", "wrong"), "10.0.0.1")
      .kind,
    "challenge",
  );
  assertEquals(
    auth.check("DESCRIBE", "cams/door", "read", digestFor(auth, "DESCRIBE", "nobody", "x"), "10.0.0.1").kind,
    "challenge",
  );
  assertEquals(auth.check("DESCRIBE", "cams/door", "read", "Digest garbage", "10.0.0.1").kind, "challenge");
  const basic = "Basic " + btoa("viewer:v-pass");
  assertEquals(
    auth.check("DESCRIBE", "cams/door", "read", basic, "10.0.0.1").kind,
    "challenge",
    "Basic is off",
  );
  assert(!auth.challenges(false).some((c) => c.startsWith("Basic")));
  const withBasic = new RtspAuthenticator({ users: USERS, schemes: ["digest", "basic"] });
  assertEquals(withBasic.check("DESCRIBE", "cams/door", "read", basic, "10.0.0.1").kind, "allow");
  assertEquals(withBasic.challenges(false).map((c) => c.split(" ")[0]), ["Digest", "Digest", "Basic"]);
  assertEquals(
    withBasic.check("DESCRIBE", "cams/door", "read", "Basic " + btoa("viewer:nope"), "10.0.0.1").kind,
    "challenge",
  );
});

Deno.test("RtspAuthenticator: clients outside the allow-list are refused before credentials", () => {
  const auth = new RtspAuthenticator({ users: [], allowFrom: ["10.0.0.0/8", "192.168.1.7", "::1"] });
  assertEquals(auth.check("DESCRIBE", "x", "read", undefined, "10.200.3.4").kind, "allow");
  assertEquals(auth.check("DESCRIBE", "x", "read", undefined, "::ffff:10.1.1.1").kind, "allow");
  assertEquals(auth.check("DESCRIBE", "x", "read", undefined, "192.168.1.7").kind, "allow");
  assertEquals(auth.check("DESCRIBE", "x", "read", undefined, "::1").kind, "allow");
  assertEquals(auth.check("DESCRIBE", "x", "read", undefined, "192.168.1.8").kind, "forbidden");
  assertEquals(auth.check("DESCRIBE", "x", "read", undefined, "11.0.0.1").kind, "forbidden");
  assert(addressMatcher("0.0.0.0/0")("8.8.8.8"));
  assert(!addressMatcher("127.0.0.1/32")("127.0.0.2"));
});

Deno.test("RtspAuthenticator.setUsers(): a changed password takes effect for the next request", () => {
  const auth = new RtspAuthenticator({ users: USERS, schemes: ["digest", "basic"] });
  const old = "Basic " + btoa("viewer:v-pass");
  assertEquals(auth.check("DESCRIBE", "cams/door", "read", old, "10.0.0.1").kind, "allow");
  auth.setUsers([{ name: "viewer", password: "v-new", rights: "read", paths: "*" }]);
  assertEquals(auth.check("DESCRIBE", "cams/door", "read", old, "10.0.0.1").kind, "challenge");
  const fresh = "Basic " + btoa("viewer:v-new");
  assertEquals(auth.check("DESCRIBE", "other", "read", fresh, "10.0.0.1").kind, "allow", "new paths too");
  assertEquals(
    auth.check("DESCRIBE", "x", "read", "Basic " + btoa("admin:a-pass"), "10.0.0.1").kind,
    "challenge",
  );
});

Deno.test("RtspAuthenticator: users' globs are matched as globs, not regular expressions", () => {
  const auth = new RtspAuthenticator({
    users: [{ name: "alice", password: "a", rights: "read", paths: "site-*-*-*.live" }],
    schemes: ["basic"],
  });
  const check = (path: string) =>
    auth.check("DESCRIBE", path, "read", "Basic " + btoa("alice:a"), "10.0.0.1").kind;
  assertEquals(check("site-1-2-3.live"), "allow");
  assertEquals(check("site-1-2-3xlive"), "forbidden", "'.' is not a wildcard");
  assertEquals(check("site-" + "-".repeat(240) + "x"), "forbidden");
});
