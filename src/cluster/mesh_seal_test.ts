/**
 * Tests of sealed mesh packets: round trips in both modes, refusal of forged, altered, replayed and foreign
 * packets, of packets sealed for another relay or for an earlier run of this one, key rotation, unique packet
 * keys and nonces across sealers, and the bounded cost of made-up salts.
 */
import { deepStrictEqual as assertEquals, equal, ok } from "node:assert/strict";
import { createCipheriv, hkdfSync } from "node:crypto";
import fc from "fast-check";
import { encodeMeshPacket, type MeshPacket } from "./mesh_frame.ts";
import { incarnationBytes, newIncarnation, toHex } from "./mesh_incarnation.ts";
import { deriveKeyring, derivePacketKey } from "./mesh_keys.ts";
import { isMeshReject, MeshOpener, type MeshReject, MeshSealer, SEALED_OVERHEAD } from "./mesh_seal.ts";

const A = deriveKeyring(["cluster-key-a-0123456789"]);
const B = deriveKeyring(["cluster-key-b-0123456789"]);
const AB = deriveKeyring(["cluster-key-a-0123456789", "cluster-key-b-0123456789"]);
const BA = deriveKeyring(["cluster-key-b-0123456789", "cluster-key-a-0123456789"]);
/** Two relay processes. */
const RELAY_1 = incarnationBytes("0123456789abcdef");
const RELAY_2 = incarnationBytes("fedcba9876543210");

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
    const opener = new MeshOpener(A, RELAY_1);
    const payload = new Uint8Array([0x80, 96, 0, 1, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const datagram = sealer.seal("rtp", 0xdeadbeef, 3, payload, RELAY_1);
    equal(datagram.length, payload.length + SEALED_OVERHEAD);
    equal(datagram[0], 0x30, "version 3, type rtp");
    equal(toHex(datagram.subarray(8, 24)), toHex(sealer.salt), "the salt follows key id and flags");
    const body = datagram.subarray(32, 32 + payload.length);
    equal(
      Buffer.from(body).equals(Buffer.from(payload)),
      !encrypt,
      "the payload is in clear only when not encrypting",
    );
    const p = packet(opener.open(datagram));
    assertEquals([p.type, p.track, p.streamId, [...p.payload]], ["rtp", 3, 0xdeadbeef, [...payload]]);
  }
});

Deno.test("a renumbered packet seals its renumbered copy, encrypted or not; the caller's packet is untouched", () => {
  for (const encrypt of [true, false]) {
    const sealer = new MeshSealer(A, { encrypt });
    const opener = new MeshOpener(A, RELAY_1);
    const payload = new Uint8Array([0x80, 96, 0, 1, 0, 0, 0, 10, 0, 0, 0, 7, 0x41, 0x42, 0x43]);
    const before = [...payload];
    const datagram = sealer.seal("rtp", 5, 0, payload, RELAY_1, {
      ssrc: 0xabcdef01,
      seqDelta: 0xffff,
      tsDelta: 5,
    });
    assertEquals([...payload], before);
    const p = packet(opener.open(datagram));
    assertEquals(
      [...p.payload],
      [0x80, 96, 0, 0, 0, 0, 0, 15, 0xab, 0xcd, 0xef, 0x01, 0x41, 0x42, 0x43],
      `encrypt: ${encrypt}`,
    );
  }
});

Deno.test("a sealed packet is the documented bytes: header, per-salt HKDF key, nonce, AAD with the receiver", () => {
  const salt = new Uint8Array(16).map((_, i) => 0xa0 + i);
  const payload = new Uint8Array([0x80, 96, 0, 9, 1, 2, 3, 4]);
  for (const encrypt of [true, false]) {
    const sealer = new MeshSealer(A, { encrypt, salt });
    sealer.seal("rtp", 1, 0, new Uint8Array([0]), RELAY_1); // packet 0: the next is number 1
    const datagram = sealer.seal("rtcp", 0x01020304, 7, payload, RELAY_1);
    const key = A.keys[0]!;
    // ver 3 | rtcp, track 7, stream id, key id, flags; salt; packet number 1 (64 bits)
    const header = new Uint8Array([
      0x31,
      7,
      1,
      2,
      3,
      4,
      key.id,
      encrypt ? 1 : 0,
      ...salt,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      1,
    ]);
    equal(toHex(datagram.subarray(0, 32)), toHex(header));
    // Independently: HKDF-SHA256(data key, salt, "msm-relay mesh packet key v3"), nonce = header[20..32),
    // AAD = receiver's incarnation ‖ header (‖ payload in clear).
    const packetKey = hkdfSync("sha256", key.data, salt, "msm-relay mesh packet key v3", 32);
    const cipher = createCipheriv("aes-256-gcm", new Uint8Array(packetKey), header.subarray(20));
    cipher.setAAD(new Uint8Array([...RELAY_1, ...header, ...(encrypt ? [] : payload)]));
    const body = encrypt ? new Uint8Array([...cipher.update(payload), ...cipher.final()]) : payload;
    if (!encrypt) cipher.final();
    equal(toHex(datagram.subarray(32)), toHex(new Uint8Array([...body, ...cipher.getAuthTag()])));
  }
});

Deno.test("heartbeats seal too, with an empty payload allowed", () => {
  const sealed = new MeshSealer(A).seal("heartbeat", 0, 0, new Uint8Array(), RELAY_1);
  const p = packet(new MeshOpener(A, RELAY_1).open(sealed));
  equal(p.type, "heartbeat");
  equal(p.payload.length, 0);
});

Deno.test("a packet sealed with another key, unsealed, of wire version 2 or garbled is refused", () => {
  const opener = new MeshOpener(A, RELAY_1);
  const foreign = new MeshSealer(B).seal("rtp", 1, 0, new Uint8Array(20), RELAY_1);
  const r = opener.open(foreign);
  ok(reason(r) === "unknown_key" || reason(r) === "auth", reason(r)); // ids may collide: then the tag fails
  equal(reason(opener.open(encodeMeshPacket("rtp", 1, 0, new Uint8Array(20)))), "unauthenticated");
  const v2 = new MeshSealer(A).seal("rtp", 1, 0, new Uint8Array(20), RELAY_1);
  v2[0] = 0x20; // what a relay of the previous release sends
  equal(reason(opener.open(v2)), "version");
  equal(reason(opener.open(new Uint8Array([0x30, 0, 0]))), "malformed");
  equal(reason(opener.open(new Uint8Array())), "malformed");
  equal(reason(opener.open(new Uint8Array(100).fill(0x50))), "malformed");
});

Deno.test("a packet sealed for one relay is refused by another, and by the same relay after a restart", () => {
  const sealer = new MeshSealer(A);
  for (const encrypt of [true, false]) {
    const s = new MeshSealer(A, { encrypt });
    const forRelay1 = s.seal("rtp", 5, 0, new Uint8Array([1, 2, 3]), RELAY_1);
    // Relay 2 holds the same key and even uses the same stream id.
    equal(reason(new MeshOpener(A, RELAY_2).open(forRelay1.slice())), "auth", "another relay");
    // Relay 1 restarted: same node, same key, a new process with an empty replay table.
    equal(reason(new MeshOpener(A, incarnationBytes(newIncarnation())).open(forRelay1.slice())), "auth");
    equal(reason(new MeshOpener(A, RELAY_1).open(forRelay1)), "accepted", "the relay it was sealed for");
  }
  const opener = new MeshOpener(A, RELAY_2);
  equal(reason(opener.open(sealer.seal("rtp", 5, 0, new Uint8Array([1]), RELAY_2))), "accepted");
  equal(reason(opener.open(sealer.seal("rtp", 5, 0, new Uint8Array([1]), RELAY_1))), "auth");
  equal(reason(opener.open(sealer.seal("rtp", 5, 0, new Uint8Array([1]), RELAY_2))), "accepted");
});

Deno.test("a packet is accepted once; reordering within the window is fine; older than the window is not", () => {
  const sealer = new MeshSealer(A);
  const opener = new MeshOpener(A, RELAY_1);
  const sealed = Array.from(
    { length: 5000 },
    (_, i) => sealer.seal("rtp", 7, 0, new Uint8Array([i & 0xff, 1]), RELAY_1),
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
  const opener = new MeshOpener(A, RELAY_1);
  const good = sealer.seal("rtp", 7, 0, new Uint8Array([1, 2, 3]), RELAY_1);
  const forged = good.slice();
  forged[26] = 0xff; // a far future packet number, tag now wrong
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
        const datagram = new MeshSealer(A, { encrypt }).seal("rtcp", 42, 1, payload, RELAY_1);
        const altered = datagram.slice();
        altered[at % altered.length]! ^= xor;
        return isMeshReject(new MeshOpener(A, RELAY_1).open(altered));
      },
    ),
    { numRuns: 2000 },
  );
});

Deno.test("rotation: while two keys are active, packets sealed under either open; the first key seals", () => {
  const opener = new MeshOpener(AB, RELAY_1);
  const oldSender = new MeshSealer(A);
  const newSender = new MeshSealer(BA);
  const seal = (s: MeshSealer, b: number) => s.seal("rtp", 1, 0, new Uint8Array([b]), RELAY_1);
  equal(reason(opener.open(seal(oldSender, 1))), "accepted");
  equal(reason(opener.open(seal(newSender, 2))), "accepted");
  // The sender switches keys live: its numbering continues under its salt, nothing is refused.
  const before = seal(oldSender, 3);
  oldSender.setKeyring(BA);
  equal(reason(opener.open(seal(oldSender, 4))), "accepted");
  equal(reason(opener.open(before)), "accepted", "a late packet under the old key still opens");
  equal(reason(opener.open(before)), "replay", "the sender's window spans its keys");
  // A reloaded keyring (new objects for the same secrets) keeps the windows.
  const resent = seal(oldSender, 5);
  equal(reason(opener.open(resent)), "accepted");
  opener.setKeyring(deriveKeyring(["cluster-key-a-0123456789", "cluster-key-b-0123456789"]));
  equal(reason(opener.open(resent)), "replay");
  // Once the old key is gone, it is refused.
  opener.setKeyring(B);
  const late = new MeshSealer(A).seal("rtp", 1, 0, new Uint8Array([6]), RELAY_1);
  ok(["unknown_key", "auth"].includes(reason(opener.open(late))));
});

Deno.test("the opener forgets the least recently heard sender beyond its bound", () => {
  const opener = new MeshOpener(A, RELAY_1, { maxSenders: 3 });
  const senders = Array.from({ length: 5 }, () => new MeshSealer(A));
  for (const s of senders) {
    equal(reason(opener.open(s.seal("rtp", 1, 0, new Uint8Array([1]), RELAY_1))), "accepted");
  }
  equal(opener.senders, 3);
});

Deno.test("no two sealers ever seal under the same packet key and nonce, even when their random bits collide", () => {
  // Every 16-byte draw shares its first 6 bytes with every other one: the 48-bit sender ids of wire version 2
  // would all collide (the birthday bound reached at once); the 128-bit salts differ in their other 80 bits.
  const realRandom = crypto.getRandomValues.bind(crypto);
  fc.assert(
    fc.property(
      fc.array(
        fc.record({
          packets: fc.integer({ min: 1, max: 12 }),
          limit: fc.integer({ min: 1, max: 5 }),
          rotateAt: fc.nat({ max: 12 }),
        }),
        { minLength: 2, maxLength: 6 },
      ),
      (sealers) => {
        const seen = new Set<string>();
        crypto.getRandomValues = (<T extends ArrayBufferView>(array: T): T => {
          realRandom(array);
          if (array instanceof Uint8Array) array.fill(0x5a, 0, Math.min(6, array.length));
          return array;
        }) as typeof crypto.getRandomValues;
        try {
          for (const spec of sealers) {
            const sealer = new MeshSealer(AB, { saltPacketLimit: spec.limit });
            for (let i = 0; i < spec.packets; i++) {
              if (i === spec.rotateAt) sealer.setKeyring(BA);
              const d = sealer.seal("rtp", 1, 0, new Uint8Array([i]), RELAY_1);
              const key = AB.keys.find((k) => k.id === d[6])!;
              const packetKey = toHex(derivePacketKey(key, d.subarray(8, 24)).export());
              const pair = `${packetKey}/${toHex(d.subarray(20, 32))}`;
              if (seen.has(pair)) return false;
              seen.add(pair);
            }
          }
          return true;
        } finally {
          crypto.getRandomValues = realRandom;
        }
      },
    ),
    { numRuns: 300 },
  );
});

Deno.test("a flood of made-up salts costs a bounded number of key derivations and displaces no sender", () => {
  let now = 1000;
  const opener = new MeshOpener(A, RELAY_1, { newSaltsPerSecond: 50, now: () => now });
  const known = new MeshSealer(A);
  const announced = new MeshSealer(A);
  const newcomer = new MeshSealer(A);
  equal(reason(opener.open(known.seal("rtp", 1, 0, new Uint8Array([1]), RELAY_1))), "accepted");
  opener.announce(announced.salt);
  const derivedBefore = opener.derivations;
  // What an attacker without the key sends: well-formed packets, the right key id, random salts and tags.
  const template = new MeshSealer(A).seal("rtp", 1, 0, new Uint8Array(100), RELAY_1);
  const counts = new Map<string, number>();
  for (let i = 0; i < 20_000; i++) {
    if (i > 0 && i % 1000 === 0) now += 100; // 20 000 packets in 2 s
    const forged = template.slice();
    crypto.getRandomValues(forged.subarray(8, 24));
    crypto.getRandomValues(forged.subarray(forged.length - 16));
    const r = reason(opener.open(forged));
    counts.set(r, (counts.get(r) ?? 0) + 1);
  }
  const tried = counts.get("auth") ?? 0;
  // A burst of 100, then 50 a second for 1.9 s.
  ok(tried >= 100 && tried <= 100 + 50 * 1.9 + 1, `${tried} made-up salts were tried`);
  equal(tried + (counts.get("salt_rate") ?? 0), 20_000, JSON.stringify([...counts]));
  equal(opener.derivations - derivedBefore, tried, "one derivation per salt tried, none for the others");
  equal(opener.senders, 2, "made-up salts never get an entry");
  // Senders already heard, and announced ones, are not held up by the flood.
  equal(reason(opener.open(known.seal("rtp", 1, 0, new Uint8Array([2]), RELAY_1))), "accepted");
  equal(reason(opener.open(announced.seal("rtp", 1, 0, new Uint8Array([3]), RELAY_1))), "accepted");
  // A new sender waits for the budget: refused while it is spent, accepted once it refills.
  equal(reason(opener.open(newcomer.seal("rtp", 1, 0, new Uint8Array([4]), RELAY_1))), "salt_rate");
  now += 1000;
  equal(reason(opener.open(newcomer.seal("rtp", 1, 0, new Uint8Array([5]), RELAY_1))), "accepted");
  equal(opener.senders, 3);
});

Deno.test("open(datagram, verified) takes what the data plane opened: checks, sender and replay window only", () => {
  const sealer = new MeshSealer(A, { encrypt: false });
  const opener = new MeshOpener(A, RELAY_1);
  const payload = new Uint8Array([0x80, 96, 0, 1, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  const first = sealer.seal("rtp", 7, 1, payload, RELAY_1);
  // A sender not authenticated here first is refused, whatever the data plane says.
  equal(reason(opener.open(first.slice(), true)), "auth");
  equal(opener.lastOpened, null);
  packet(opener.open(first));
  equal(toHex(opener.lastOpened!.salt), toHex(sealer.salt), "the sender whose key the data plane may get");
  const second = sealer.seal("rtp", 7, 1, payload, RELAY_1);
  const p = packet(opener.open(second, true));
  assertEquals([p.type, p.track, p.streamId, [...p.payload], p.owned], [
    "rtp",
    1,
    7,
    [...payload],
    undefined,
  ]);
  equal(reason(opener.open(second, true)), "replay", "its replay window still counts");
  equal(toHex(opener.incarnation), toHex(RELAY_1));
});

Deno.test("forWorker() gives the data plane a sealer of its own: a fresh salt each time, the packet key under it", () => {
  const sealer = new MeshSealer(A, { encrypt: false });
  equal(sealer.workerSalt, null);
  const first = sealer.forWorker();
  const second = sealer.forWorker();
  equal(first.salt.length, 16);
  ok(toHex(first.salt) !== toHex(second.salt), "a new salt per fork");
  ok(toHex(first.salt) !== toHex(sealer.salt), "never the main sealer's");
  equal(toHex(sealer.workerSalt!), toHex(second.salt), "the last fork's salt, announced to children");
  equal(toHex(first.key), toHex(new Uint8Array(derivePacketKey(A.keys[0]!, first.salt).export())));
  assertEquals([first.keyId, first.encrypt], [A.keys[0]!.id, false]);
});
