/**
 * Tests of whom the mesh believes: without a key, calls and datagrams only from the addresses discovery gives (IPv4
 * and its IPv6-mapped form alike), bodies' addresses replaced by discovery's; with a key, key holders anywhere.
 * @module
 */
import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { PeerTrust } from "./peer_trust.ts";
import { testPeer } from "../../tests/support/peer_fixture.ts";

const peer = testPeer;
const PEERS = [peer("a", "127.0.0.1"), peer("b", "127.0.0.2")];

function trust(keyed: boolean) {
  return new PeerTrust({ self: "a", discovery: { peers: () => PEERS }, keyed: () => keyed });
}

Deno.test("PeerTrust without a key: only known relays, from their own addresses", () => {
  const t = trust(false);
  assertEquals(t.knownPeer("a"), undefined, "this relay is not a peer");
  assertEquals(t.knownPeer("b")?.host, "127.0.0.2");
  assertEquals([t.knownCaller("::ffff:127.0.0.2"), t.knownCaller("127.0.0.9"), t.knownCaller(null)], [
    true,
    false,
    false,
  ]);
  assertEquals(t.knownCaller("127.0.0.1"), false, "this relay's own address is no peer's");
  assertEquals([t.callerIs("127.0.0.2", "b"), t.callerIs("127.0.0.2", "c"), t.callerIs("127.0.0.3", "b")], [
    true,
    false,
    false,
  ]);
  const mesh = (hostname: string, port: number): Deno.NetAddr => ({ transport: "udp", hostname, port });
  assertEquals([t.fromPeer(mesh("127.0.0.2", 7000), "b"), t.fromPeer(mesh("127.0.0.2", 7001), "b")], [
    true,
    false,
  ]);
  const forged = { node: "b", host: "10.6.6.6", adminPort: 1, meshPort: 2 };
  assertEquals(t.trustedRef(forged), { node: "b", host: "127.0.0.2", adminPort: 8080, meshPort: 7000 });
  assertEquals(t.trustedRef({ ...forged, node: "stranger" }), null);
  assertEquals(t.trustedRef({ ...forged, node: "a" }), { ...forged, node: "a" }, "itself as given");
});

Deno.test("PeerTrust with a key: key holders from anywhere, discovery's addresses still win", () => {
  const t = trust(true);
  assertEquals([t.knownCaller("10.9.9.9"), t.callerIs("10.9.9.9", "b")], [true, true]);
  assertEquals(t.fromPeer({ transport: "udp", hostname: "10.9.9.9", port: 1 }, "zz"), true);
  const stranger = { node: "stranger", host: "10.6.6.6", adminPort: 1, meshPort: 2 };
  assertEquals(t.trustedRef(stranger), stranger);
  assertEquals(t.trustedRef({ ...stranger, node: "b" })?.host, "127.0.0.2");
});
