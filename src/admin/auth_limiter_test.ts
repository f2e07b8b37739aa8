import { deepStrictEqual as assertEquals, equal } from "node:assert/strict";
import { AuthLimiter, clientKey } from "./auth_limiter.ts";

Deno.test("clientKey() keeps IPv4, unwraps IPv4-mapped IPv6 and groups IPv6 by /64", () => {
  const cases: Array<[string, string]> = [
    ["192.0.2.7", "192.0.2.7"],
    ["::ffff:192.0.2.7", "192.0.2.7"],
    ["2001:db8:1:2:aaaa::7", "2001:db8:1:2::/64"],
    ["2001:db8:1:2:bbbb:cccc:dddd:eeee", "2001:db8:1:2::/64"], // same /64, same key
    ["2001:0db8:0001:0002::1", "2001:db8:1:2::/64"], // leading zeros
    ["2001:db8::1", "2001:db8:0:0::/64"],
    ["::1", "0:0:0:0::/64"],
    ["[fe80::1%eth0]", "fe80:0:0:0::/64"],
    ["unknown", "unknown"],
  ];
  for (const [address, want] of cases) equal(clientKey(address), want, address);
});

Deno.test("AuthLimiter locks a client out at the 10th wrong token until its window ends", () => {
  const limiter = new AuthLimiter({ maxFailures: 10, windowMs: 60_000 });
  const locks: boolean[] = [];
  for (let i = 0; i < 10; i++) {
    equal(limiter.blockedFor("a", 1000 + i), 0, `try ${i + 1} is looked at`);
    locks.push(limiter.fail("a", 1000 + i));
  }
  assertEquals(locks, [false, false, false, false, false, false, false, false, false, true]);
  equal(limiter.blockedFor("a", 1010), 60_000 - 10, "the window opened at the first wrong token");
  equal(limiter.blockedFor("a", 60_999), 1);
  equal(limiter.blockedFor("b", 1010), 0, "other clients are not affected");
  equal(limiter.blockedFor("a", 61_000), 0, "the window is over");
  equal(limiter.size, 0, "an ended window is forgotten");
  equal(limiter.fail("a", 61_000), false, "a new window starts from one failure");
});

Deno.test("AuthLimiter forgets failures once their window ends without a lockout", () => {
  const limiter = new AuthLimiter({ maxFailures: 3, windowMs: 1000 });
  limiter.fail("a", 0);
  limiter.fail("a", 500);
  equal(limiter.fail("a", 1000), false, "the third failure falls in a new window");
  equal(limiter.fail("a", 1001), false);
  equal(limiter.fail("a", 1002), true);
  equal(limiter.blockedFor("a", 1500), 500);
});

Deno.test("AuthLimiter keeps at most maxClients windows, dropping the oldest", () => {
  const limiter = new AuthLimiter({ maxFailures: 2, windowMs: 60_000, maxClients: 3 });
  for (const [i, c] of ["a", "b", "c", "d", "e"].entries()) {
    limiter.fail(c, i);
    limiter.fail(c, i);
  }
  equal(limiter.size, 3);
  equal(limiter.blockedFor("a", 10), 0, "evicted");
  equal(limiter.blockedFor("b", 10), 0, "evicted");
  assertEquals(["c", "d", "e"].map((c) => limiter.blockedFor(c, 10) > 0), [true, true, true]);
});
