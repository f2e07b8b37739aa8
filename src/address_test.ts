/**
 * The address helpers every folder uses: IPv4 as a number, addresses compared as relays compare them, hosts in
 * URLs.
 * @module
 */
import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { hostForUrl, ipv4Number, plainAddress } from "./address.ts";

Deno.test("ipv4Number() reads dotted IPv4 only", () => {
  assertEquals(ipv4Number("10.0.0.1"), 167772161);
  assertEquals(ipv4Number("255.255.255.255"), 0xffffffff);
  for (const bad of ["10.0.0", "10.0.0.256", "::1", "host", "1.2.3.4.5", ""]) {
    assertEquals(ipv4Number(bad), null, bad);
  }
});

Deno.test("plainAddress() compares IPv4-mapped IPv6 addresses as IPv4, in lower case", () => {
  assertEquals(plainAddress("::FFFF:127.0.0.2"), "127.0.0.2");
  assertEquals(plainAddress("FE80::1"), "fe80::1");
  assertEquals(plainAddress("10.0.0.7"), "10.0.0.7");
});

Deno.test("hostForUrl() brackets IPv6 literals once", () => {
  assertEquals(hostForUrl("fe80::1"), "[fe80::1]");
  assertEquals(hostForUrl("[fe80::1]"), "[fe80::1]");
  assertEquals(hostForUrl("10.0.0.1"), "10.0.0.1");
  assertEquals(hostForUrl("relay.example"), "relay.example");
});
