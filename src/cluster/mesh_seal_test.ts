/**
 * Tests of sealed mesh packets: round trips in both modes, refusal of forged, altered, replayed and foreign
 * packets, and key rotation (a packet sealed under either active key opens).
 */
import { deepStrictEqual as assertEquals, equal, ok } from "node:assert/strict";
import fc from "fast-check";
import { encodeMeshPacket, type MeshPacket } from "./mesh_frame.ts";
import { deriveKeyring } from "./mesh_keys.ts";
import { isMeshReject, MeshOpener, type MeshReject, MeshSealer, SEALED_OVERHEAD } from "./mesh_seal.ts";

const A = deriveKeyring(["cluster-key-a-0123456789"]);
const B = deriveKeyring(["cluster-key-b-0123456789"]);
const AB = deriveKeyring(["cluster-key-a-0123456789", "cluster-key-b-0123456789"]);
const BA = deriveKeyring(["cluster-key-b-0123456789", "cluster-key-a-0123456789"]);

function packet(r: MeshPacket | MeshReject): MeshPacket {
  if (isMeshReject(r)) throw new Error(`refused: ${r.reason} (${r.message})`);
  return r;
}

function reason(r: MeshPacket | MeshReject): string {
  return isMeshReject(r) ? r.reason : "accepted";
}

Deno.test("a sealed packet opens to the same type, track, stream id and payload, encrypted or not", () => {
  for (const encrypt of [true, false]) {
    const sealer = new MeshSealer(A, { encrypt });
    const opener = new MeshOpener(A);
    const payload = new Uint8Array([0x80, 96, 0, 1, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const datagram = sealer.seal("rtp", 0xdeadbeef, 3, payload);
    equal(datagram.length, payload.length + SEALED_OVERHEAD);
    const body = datagram.subarray(20, 20 + payload.length);
    equal(
      Buffer.from(body).equals(Buffer.from(payload)),
      !encrypt,
      "the payload is in clear only when not encrypting",
    );
    const p = packet(opener.open(datagram));
    assertEquals([p.type, p.track, p.streamId, [...p.payload]], ["rtp", 3, 0xdeadbeef, [...payload]]);
  }
});

Deno.test("heartbeats seal too, with an empty payload allowed", () => {
  const p = packet(new MeshOpener(A).open(new MeshSealer(A).seal("heartbeat", 0, 0, new Uint8Array())));
  equal(p.type, "heartbeat");
  equal(p.payload.length, 0);
});

Deno.test("a packet sealed with another key, or unsealed, is refused", () => {
  const opener = new MeshOpener(A);
  const foreign = new MeshSealer(B).seal("rtp", 1, 0, new Uint8Array(20));
  const r = opener.open(foreign);
  ok(reason(r) === "unknown_key" || reason(r) === "auth", reason(r)); // ids may collide: then the tag fails
  equal(reason(opener.open(encodeMeshPacket("rtp", 1, 0, new Uint8Array(20)))), "unauthenticated");
  equal(reason(opener.open(new Uint8Array([0x20, 0, 0]))), "malformed");
  equal(reason(opener.open(new Uint8Array())), "malformed");
  equal(reason(opener.open(new Uint8Array(100).fill(0x50))), "malformed");
});

Deno.test("a packet is accepted once; reordering within the window is fine; older than the window is not", () => {
  const sealer = new MeshSealer(A);
  const opener = new MeshOpener(A);
  const sealed = Array.from(
    { length: 5000 },
    (_, i) => sealer.seal("rtp", 7, 0, new Uint8Array([i & 0xff, 1])),
  );
  equal(reason(opener.open(sealed[1]!)), "accepted");
  equal(reason(opener.open(sealed[1]!)), "replay");
  equal(reason(opener.open(sealed[0]!)), "accepted", "one behind: reordered, still new");
  equal(reason(opener.open(sealed[4999]!)), "accepted");
  equal(reason(opener.open(sealed[4000]!)), "accepted", "999 behind the newest: inside the window");
  equal(reason(opener.open(sealed[500]!)), "replay", "4499 behind the newest: outside the window");
  equal(reason(opener.open(sealed[4999]!)), "replay");
});

Deno.test("a forged packet does not move the replay window", () => {
  const sealer = new MeshSealer(A);
  const opener = new MeshOpener(A);
  const good = sealer.seal("rtp", 7, 0, new Uint8Array([1, 2, 3]));
  const forged = good.slice();
  forged[16] = 0xff; // a far future packet number, tag now wrong
  equal(reason(opener.open(forged)), "auth");
  equal(reason(opener.open(good)), "accepted", "the forgery did not push the window past the real packet");
});

Deno.test("every single-byte change of a sealed packet is refused", () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 1, maxLength: 64 }),
      fc.boolean(),
      fc.nat(),
      fc.integer({ min: 1, max: 255 }),
      (payload, encrypt, at, xor) => {
        const datagram = new MeshSealer(A, { encrypt }).seal("rtcp", 42, 1, payload);
        const altered = datagram.slice();
        altered[at % altered.length]! ^= xor;
        return isMeshReject(new MeshOpener(A).open(altered));
      },
    ),
    { numRuns: 2000 },
  );
});

Deno.test("rotation: while two keys are active, packets sealed under either open; the first key seals", () => {
  const opener = new MeshOpener(AB);
  const oldSender = new MeshSealer(A);
  const newSender = new MeshSealer(BA);
  equal(reason(opener.open(oldSender.seal("rtp", 1, 0, new Uint8Array([1])))), "accepted");
  equal(reason(opener.open(newSender.seal("rtp", 1, 0, new Uint8Array([2])))), "accepted");
  // The sender switches keys live: its numbering continues, nothing is refused.
  oldSender.setKeyring(BA);
  equal(reason(opener.open(oldSender.seal("rtp", 1, 0, new Uint8Array([3])))), "accepted");
  // Once the old key is gone, it is refused.
  opener.setKeyring(B);
  const late = new MeshSealer(A).seal("rtp", 1, 0, new Uint8Array([4]));
  ok(["unknown_key", "auth"].includes(reason(opener.open(late))));
});

Deno.test("the opener forgets the least recently heard sender beyond its bound", () => {
  const opener = new MeshOpener(A, { maxSenders: 3 });
  const senders = Array.from({ length: 5 }, () => new MeshSealer(A));
  for (const s of senders) equal(reason(opener.open(s.seal("rtp", 1, 0, new Uint8Array([1])))), "accepted");
  equal(opener.senders, 3);
});
