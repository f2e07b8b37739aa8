/**
 * Tests of the mesh's calling side with a scripted transport: calls go to discovery's addresses, never a body's;
 * strangers are not called without a key; errors carry the peer's status; a peer that does not answer is reported
 * unreachable; and what a peer says of its configured paths counts only when it is a signed answer of its own.
 * @module
 */
import { deepStrictEqual as assertEquals, ok as assert, rejects } from "node:assert/strict";
import { silentLogger } from "../log.ts";
import { UnsignedAnswerError } from "./mesh_http.ts";
import type { PeerTransport } from "./mesh_io.ts";
import { encodePath, MeshPeerClient, originOf, PeerError } from "./mesh_peer_client.ts";
import { PeerTrust } from "./peer_trust.ts";
import { testPeer } from "../../tests/support/peer_fixture.ts";

const peer = testPeer;
const B = peer("b", "127.0.0.2");

type Script = (origin: string, method: string, path: string) => { status: number; text: string } | Error;

function client(script: Script, keyed = false) {
  const seen: string[] = [];
  const events: string[] = [];
  const transport: PeerTransport = {
    request(target, method, path) {
      seen.push(`${method} ${target.origin}${path} for ${target.node}`);
      const r = script(target.origin, method, path);
      return r instanceof Error ? Promise.reject(r) : Promise.resolve(r);
    },
  };
  const c = new MeshPeerClient({
    transport,
    trust: new PeerTrust({ self: "a", discovery: { peers: () => [B] }, keyed: () => keyed }),
    logger: silentLogger,
    onUnreachable: (n) => events.push(`unreachable ${n}`),
    onHeard: (n) => events.push(`heard ${n}`),
  });
  return { c, seen, events };
}

Deno.test("originOf() and encodePath() build peer URLs (IPv6 in brackets, segments encoded)", () => {
  assertEquals(originOf({ host: "fe80::1", adminPort: 8080 }), "http://[fe80::1]:8080");
  assertEquals(encodePath("a b/c?d"), "a%20b/c%3Fd");
});

Deno.test("MeshPeerClient.call() goes to discovery's address for a known node, whatever the ref says", async () => {
  const { c, seen, events } = client(() => ({ status: 200, text: '{"ok":true}' }));
  assertEquals(await c.call({ node: "b", host: "10.6.6.6", adminPort: 1, meshPort: 2 }, "leave", {}), {
    ok: true,
  });
  assertEquals(seen, ["POST http://127.0.0.2:8080/mesh/v1/leave for b"]);
  assertEquals(events, ["heard b"]);
});

Deno.test("MeshPeerClient.call() refuses to call a stranger without a key (403), and calls it with one", async () => {
  const stranger = { node: "x", host: "10.6.6.6", adminPort: 1, meshPort: 2 };
  const open = client(() => ({ status: 200, text: "{}" }));
  const err = await open.c.call(stranger, "join", {}).catch((e) => e);
  assert(err instanceof PeerError && err.status === 403, String(err));
  assertEquals(open.seen, []);
  const keyed = client(() => ({ status: 200, text: "{}" }), true);
  await keyed.c.call(stranger, "join", {});
  assertEquals(keyed.seen, ["POST http://10.6.6.6:1/mesh/v1/join for x"]);
});

Deno.test("MeshPeerClient.call(): error statuses and non-JSON answers are PeerErrors; no answer is unreachable", async () => {
  const statuses = client(() => ({ status: 409, text: '{"error":"stale epoch"}' }));
  const e409 = await statuses.c.call(B, "subscribe", {}).catch((e) => e);
  assert(e409 instanceof PeerError && e409.status === 409 && /stale epoch/.test(e409.message), String(e409));
  assertEquals(statuses.events, [], "an answer, but no success: neither heard nor unreachable");
  const garbled = client(() => ({ status: 200, text: "<html>" }));
  const e502 = await garbled.c.call(B, "join", {}).catch((e) => e);
  assert(e502 instanceof PeerError && e502.status === 502, String(e502));
  const down = client(() => new Error("connection refused"));
  await rejects(down.c.call(B, "join", {}), /connection refused/);
  assertEquals(down.events, ["unreachable b"]);
});

Deno.test("MeshPeerClient.join() and renew() check answers against the protocol's schemas", async () => {
  const { c } = client(() => ({ status: 200, text: '{"root":"b"}' }));
  const from = {
    node: "a",
    host: "127.0.0.1",
    adminPort: 8080,
    meshPort: 7000,
    incarnation: "0011223344556677",
  };
  await rejects(
    c.join(B, { path: "cam", from, readers: 1, suspects: [], deaf: false, standby: false }, 1000),
  );
  const renew = client(() => ({
    status: 200,
    text: JSON.stringify({ paths: { cam: { status: 409, error: "join again" } } }),
  }));
  assertEquals(
    await renew.c.renew(B, { from, deaf: false, paths: [{ path: "cam", readers: 1, epoch: "e" }] }),
    { cam: { status: 409, error: "join again" } },
  );
});

Deno.test("MeshPeerClient.paths(): only a peer's own signed answer counts; a refusal is 'refused'; silence is null", async () => {
  const fp = "0123456789abcdef";
  const ok = client(() => ({ status: 200, text: JSON.stringify({ paths: { cam: fp } }) }));
  assertEquals(await ok.c.paths("b"), { cam: fp });
  assertEquals(ok.seen, ["GET http://127.0.0.2:8080/mesh/v1/paths for b"]);
  const unsigned = client(() => new UnsignedAnswerError("http://127.0.0.2:8080/mesh/v1/paths", 200), true);
  assertEquals(await unsigned.c.paths("b"), "refused", "an answer not signed with the mesh key says nothing");
  const refused = client(() => ({ status: 401, text: '{"error":"missing"}' }));
  assertEquals(await refused.c.paths("b"), "refused");
  const garbled = client(() => ({ status: 200, text: '{"paths":{"cam":"not a fingerprint"}}' }));
  assertEquals(await garbled.c.paths("b"), "refused");
  const down = client(() => new Error("connection refused"));
  assertEquals(await down.c.paths("b"), null);
  assertEquals(await ok.c.paths("stranger"), null, "only peers discovery knows are asked");
});

Deno.test("MeshPeerClient.servesRoot(): 200 is yes; anything else, or no answer, is no", async () => {
  const yes = client((_o, _m, path) => ({
    status: path === "/mesh/v1/roots/my%20cam" ? 200 : 404,
    text: "{}",
  }));
  assertEquals(await yes.c.servesRoot(B, "my cam"), true);
  assertEquals(await yes.c.servesRoot(B, "other"), false);
  assertEquals(await client(() => new Error("timeout")).c.servesRoot(B, "cam"), false);
});
