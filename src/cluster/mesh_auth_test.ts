/** Tests of the peer protocol's signatures: requests both ways, clock window, nonces, keys, rotation. */
import { equal, ok } from "node:assert/strict";
import {
  MESH_AUTH_SKEW_MS,
  NonceCache,
  signRequest,
  signResponse,
  verifyRequest,
  verifyResponse,
} from "./mesh_auth.ts";
import { deriveKeyring, parseMeshKeys } from "./mesh_keys.ts";

const A = deriveKeyring(["cluster-key-a-0123456789"]);
const B = deriveKeyring(["cluster-key-b-0123456789"]);
const BA = deriveKeyring(["cluster-key-b-0123456789", "cluster-key-a-0123456789"]);
const body = new TextEncoder().encode('{"path":"cam1"}');
const req = { method: "POST", path: "/mesh/v1/join", body };
const T = 1_800_000_000_000;
let n = 0;
const nonce = () => (++n).toString(16).padStart(24, "0");

function verdict(r: ReturnType<typeof verifyRequest>): string {
  return r.ok ? "ok" : r.reason;
}

Deno.test("a signed request verifies once; the same request again is a replay", () => {
  const nonces = new NonceCache();
  const header = signRequest(A, req, T, nonce());
  equal(verdict(verifyRequest(A, header, req, T + 10, nonces)), "ok");
  equal(verdict(verifyRequest(A, header, req, T + 20, nonces)), "replay");
});

Deno.test("a changed method, path or body, no header, a garbled header or another key are refused", () => {
  const nonces = new NonceCache();
  const header = signRequest(A, req, T, nonce());
  equal(verdict(verifyRequest(A, header, { ...req, method: "GET" }, T, nonces)), "bad_signature");
  equal(verdict(verifyRequest(A, header, { ...req, path: "/mesh/v1/leave" }, T, nonces)), "bad_signature");
  equal(verdict(verifyRequest(A, header, { ...req, body: new Uint8Array([1]) }, T, nonces)), "bad_signature");
  equal(verdict(verifyRequest(A, null, req, T, nonces)), "missing");
  equal(verdict(verifyRequest(A, "Bearer abc", req, T, nonces)), "malformed");
  equal(verdict(verifyRequest(A, header.replace(/ts=\d+/, "ts=x"), req, T, nonces)), "malformed");
  const foreign = verdict(verifyRequest(A, signRequest(B, req, T, nonce()), req, T, nonces));
  ok(foreign === "unknown_key" || foreign === "bad_signature", foreign);
});

Deno.test("a request outside the clock window is stale, after its signature checked out", () => {
  const nonces = new NonceCache();
  equal(
    verdict(verifyRequest(A, signRequest(A, req, T - MESH_AUTH_SKEW_MS - 1, nonce()), req, T, nonces)),
    "stale",
  );
  equal(
    verdict(verifyRequest(A, signRequest(A, req, T + MESH_AUTH_SKEW_MS + 1, nonce()), req, T, nonces)),
    "stale",
  );
  equal(verdict(verifyRequest(A, signRequest(A, req, T + MESH_AUTH_SKEW_MS, nonce()), req, T, nonces)), "ok");
});

Deno.test("the nonce cache refuses (busy) instead of forgetting live nonces when full", () => {
  const nonces = new NonceCache(2);
  equal(verdict(verifyRequest(A, signRequest(A, req, T, nonce()), req, T, nonces)), "ok");
  equal(verdict(verifyRequest(A, signRequest(A, req, T, nonce()), req, T, nonces)), "ok");
  equal(verdict(verifyRequest(A, signRequest(A, req, T, nonce()), req, T, nonces)), "busy");
  // Once they expire, room comes back.
  const later = T + 2 * MESH_AUTH_SKEW_MS + 2;
  equal(verdict(verifyRequest(A, signRequest(A, req, later, nonce()), req, later, nonces)), "ok");
});

Deno.test("answers are bound to the request, the status and the body", () => {
  const header = signRequest(A, req, T, nonce());
  const sig = header.match(/sig=(\S+)/)![1]!;
  const answer = signResponse(A, sig, 200, body);
  ok(verifyResponse(A, answer, sig, 200, body));
  ok(!verifyResponse(A, answer, sig, 404, body));
  ok(!verifyResponse(A, answer, sig, 200, new Uint8Array()));
  ok(!verifyResponse(A, answer, "x".repeat(43), 200, body));
  ok(!verifyResponse(A, null, sig, 200, body));
  ok(!verifyResponse(B, answer, sig, 200, body));
});

Deno.test("rotation: a relay holding both keys verifies requests and answers signed under either", () => {
  const nonces = new NonceCache();
  equal(verdict(verifyRequest(BA, signRequest(A, req, T, nonce()), req, T, nonces)), "ok");
  equal(verdict(verifyRequest(A, signRequest(BA, req, T, nonce()), req, T, nonces)) !== "ok", true);
  const sig = "y".repeat(43);
  ok(verifyResponse(BA, signResponse(A, sig, 200, body), sig, 200, body));
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
