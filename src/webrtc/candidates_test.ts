import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { candidateAddresses, isIpv4 } from "./candidates.ts";

Deno.test("candidateAddresses(): --listen's address, else the Host the browser used, else the node's interfaces", () => {
  assertEquals(candidateAddresses("10.0.0.5", "relay.example:8080", ["10.0.0.5", "127.0.0.1"]), ["10.0.0.5"]);
  assertEquals(candidateAddresses("0.0.0.0", "192.0.2.9:8080", ["10.0.0.5"]), ["192.0.2.9"]);
  assertEquals(candidateAddresses("0.0.0.0", "relay.example:8080", ["10.0.0.5", "127.0.0.1", "10.0.0.5"]), [
    "10.0.0.5",
    "127.0.0.1",
  ]);
  assertEquals(candidateAddresses("0.0.0.0", undefined, []), ["127.0.0.1"]);
  assertEquals(candidateAddresses("::", "[::1]:8080", ["fe80::1"]), ["127.0.0.1"]);
  assertEquals(candidateAddresses("0.0.0.0", "0.0.0.0:80", ["10.0.0.5"]), ["10.0.0.5"]);
});

Deno.test("isIpv4() takes dotted quads only", () => {
  assertEquals(["1.2.3.4", "255.255.255.255", "256.1.1.1", "1.2.3", "a.b.c.d", " 1.2.3.4"].map(isIpv4), [
    true,
    true,
    false,
    false,
    false,
    false,
  ]);
});
