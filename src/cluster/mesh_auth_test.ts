/**
 * Tests of the peer protocol's signatures: requests both ways, bound to the relay they are for (node name and
 * incarnation), the clock window, nonces, keys, rotation, and answers bound to the request, the status, the body
 * and the headers that tell the caller a clock and an incarnation.
 */
import { equal, ok } from "node:assert/strict";
import {
  MESH_AUTH_SKEW_MS,
  NonceCache,
  signRequest,
  signResponse,
  verifyRequest,
  verifyResponse,
} from "./mesh_auth.ts";
import { deriveKeyring } from "./mesh_keys.ts";
import { parseMeshKeys } from "../config/mesh_key_syntax.ts";

const A = deriveKeyring(["cluster-key-a-0123456789"]);
const B = deriveKeyring(["cluster-key-b-0123456789"]);
const BA = deriveKeyring(["cluster-key-b-0123456789", "cluster-key-a-0123456789"]);
const body = new TextEncoder().encode('{"path":"cam1"}');
const req = { method: "POST", path: "/mesh/v1/join", body };
const T = 1_800_000_000_000;
/** The receiving relay, and the caller's view of it. */
const SELF = { node: "node-a", incarnation: "0011223344556677" };
const TO = { node: "node-a", incarnation: "0011223344556677" };
const NONE = { time: "", incarnation: "" };
let n = 0;
const nonce = () => (++n).toString(16).padStart(24, "0");

function verdict(r: ReturnType<typeof verifyRequest>): string {
  return r.ok ? "ok" : r.reason;
}

Deno.test("a signed request verifies once; the same request again is a replay", () => {
  const nonces = new NonceCache();
  const header = signRequest(A, req, TO, T, nonce());
  equal(verdict(verifyRequest(A, header, req, SELF, T + 10, nonces)), "ok");
  equal(verdict(verifyRequest(A, header, req, SELF, T + 20, nonces)), "replay");
});

Deno.test("a changed method, path or body, no header, a garbled header or another key are refused", () => {
  const nonces = new NonceCache();
  const header = signRequest(A, req, TO, T, nonce());
  equal(verdict(verifyRequest(A, header, { ...req, method: "GET" }, SELF, T, nonces)), "bad_signature");
  equal(
    verdict(verifyRequest(A, header, { ...req, path: "/mesh/v1/leave" }, SELF, T, nonces)),
    "bad_signature",
  );
  equal(
    verdict(verifyRequest(A, header, { ...req, body: new Uint8Array([1]) }, SELF, T, nonces)),
    "bad_signature",
  );
  equal(verdict(verifyRequest(A, null, req, SELF, T, nonces)), "missing");
  equal(verdict(verifyRequest(A, "Bearer abc", req, SELF, T, nonces)), "malformed");
  equal(verdict(verifyRequest(A, header.replace(/ts=\d+/, "ts=x"), req, SELF, T, nonces)), "malformed");
  equal(verdict(verifyRequest(A, header.replace(/inc=\S+/, "inc=xyz"), req, SELF, T, nonces)), "malformed");
  equal(verdict(verifyRequest(A, header.replace(/^v2/, "v1"), req, SELF, T, nonces)), "version");
  const foreign = verdict(verifyRequest(A, signRequest(B, req, TO, T, nonce()), req, SELF, T, nonces));
  ok(foreign === "unknown_key" || foreign === "bad_signature", foreign);
});

Deno.test("a request signed for one relay is refused by another, whatever the header claims", () => {
  const nonces = new NonceCache();
  const forA = signRequest(A, req, TO, T, nonce());
  const b = { node: "node-b", incarnation: "8899aabbccddeeff" };
  const refused = verifyRequest(A, forA, req, b, T, nonces);
  equal(verdict(refused), "wrong_node");
  ok(!refused.ok && refused.signed && !refused.hints, "signed, without a clock or incarnation to learn");
  // Rewriting the header's node or incarnation breaks the signature.
  const renamed = forA.replace("node=node-a", "node=node-b").replace(/inc=\S+/, `inc=${b.incarnation}`);
  equal(verdict(verifyRequest(A, renamed, req, b, T, nonces)), "bad_signature");
  equal(verdict(verifyRequest(A, forA, req, SELF, T, nonces)), "ok", "node-a takes it");
});

Deno.test("a request signed for an earlier run of the relay is refused after a restart (empty nonce cache)", () => {
  const before = signRequest(A, req, TO, T, nonce());
  equal(verdict(verifyRequest(A, before, req, SELF, T, new NonceCache())), "ok");
  const restarted = { node: "node-a", incarnation: "7766554433221100" };
  const refused = verifyRequest(A, before, req, restarted, T + 1000, new NonceCache());
  equal(verdict(refused), "incarnation");
  ok(!refused.ok && refused.signed && refused.hints, "the caller is told the new incarnation");
  // A first call knows no incarnation yet: refused the same way, so the caller learns it.
  const first = signRequest(A, req, { node: "node-a", incarnation: null }, T, nonce());
  ok(first.includes(" inc=- "));
  equal(verdict(verifyRequest(A, first, req, restarted, T, new NonceCache())), "incarnation");
});

Deno.test("a request outside the clock window is stale, after its signature checked out", () => {
  const nonces = new NonceCache();
  const at = (t: number) =>
    verdict(verifyRequest(A, signRequest(A, req, TO, t, nonce()), req, SELF, T, nonces));
  equal(at(T - MESH_AUTH_SKEW_MS - 1), "stale");
  equal(at(T + MESH_AUTH_SKEW_MS + 1), "stale");
  equal(at(T + MESH_AUTH_SKEW_MS), "ok");
});

Deno.test("the nonce cache refuses (busy) instead of forgetting live nonces when full", () => {
  const nonces = new NonceCache(2);
  const at = (t: number) =>
    verdict(verifyRequest(A, signRequest(A, req, TO, t, nonce()), req, SELF, t, nonces));
  equal(at(T), "ok");
  equal(at(T), "ok");
  equal(at(T), "busy");
  // Once they expire, room comes back.
  equal(at(T + 2 * MESH_AUTH_SKEW_MS + 2), "ok");
});

Deno.test("answers are bound to the request, the status, the body, the time and the incarnation they tell", () => {
  const header = signRequest(A, req, TO, T, nonce());
  const sig = header.match(/sig=(\S+)/)![1]!;
  const told = { time: String(T), incarnation: SELF.incarnation };
  const answer = signResponse(A, sig, 401, body, told);
  ok(verifyResponse(A, answer, sig, 401, body, told));
  ok(!verifyResponse(A, answer, sig, 401, body, { ...told, time: String(T + 86_400_000) }), "another time");
  ok(!verifyResponse(A, answer, sig, 401, body, { ...told, time: "" }), "the time removed");
  ok(!verifyResponse(A, answer, sig, 401, body, { ...told, incarnation: "ffffffffffffffff" }));
  ok(!verifyResponse(A, answer, sig, 200, body, told));
  ok(!verifyResponse(A, answer, sig, 401, new Uint8Array(), told));
  ok(!verifyResponse(A, answer, "x".repeat(43), 401, body, told));
  ok(!verifyResponse(A, null, sig, 401, body, told));
  ok(!verifyResponse(B, answer, sig, 401, body, told));
  ok(verifyResponse(A, signResponse(A, sig, 200, body, NONE), sig, 200, body, NONE));
});

Deno.test("rotation: a relay holding both keys verifies requests and answers signed under either", () => {
  const nonces = new NonceCache();
  equal(verdict(verifyRequest(BA, signRequest(A, req, TO, T, nonce()), req, SELF, T, nonces)), "ok");
  equal(verdict(verifyRequest(A, signRequest(BA, req, TO, T, nonce()), req, SELF, T, nonces)) !== "ok", true);
  const sig = "y".repeat(43);
  ok(verifyResponse(BA, signResponse(A, sig, 200, body, NONE), sig, 200, body, NONE));
});

Deno.test("parseMeshKeys reads one key per line and refuses short, empty or too many keys", () => {
  equal(
    JSON.stringify(parseMeshKeys("# rotated 2026-11\nkey-one-0123456789abc\n\n key-two-0123456789abc \n")),
    JSON.stringify(["key-one-0123456789abc", "key-two-0123456789abc"]),
  );
  ok(typeof parseMeshKeys("") === "string");
  ok(String(parseMeshKeys("short")).includes("at least 16"));
  ok(
    typeof parseMeshKeys(Array.from({ length: 5 }, (_, i) => `key-${i}-0123456789abcdef`).join("\n")) ===
      "string",
  );
  equal(deriveKeyring(["cluster-key-a-0123456789"]).keys[0]!.fingerprint, A.keys[0]!.fingerprint);
  ok(A.keys[0]!.fingerprint !== B.keys[0]!.fingerprint);
});
