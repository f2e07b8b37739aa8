/**
 * Tests of the AES-256-GCM backends: a published vector, OpenSSL and node:crypto agreeing byte for byte on random
 * keys, nonces, AAD and payloads (encrypted and authenticated only), each opening what the other sealed, every
 * altered byte refused by both, and sealed mesh packets crossing backends. The OpenSSL tests are ignored only
 * when libcrypto cannot be loaded (the test name then says why); a failed self-test fails them.
 */
import { deepStrictEqual as assertEquals, equal, ok, throws } from "node:assert/strict";
import { createSecretKey } from "node:crypto";
import fc from "fast-check";
import {
  defaultGcm,
  type Gcm,
  GCM_TAG_SIZE,
  gcmBackendName,
  type GcmKey,
  nodeGcm,
  openSslGcm,
} from "./_aes_gcm.ts";
import { incarnationBytes } from "./mesh_incarnation.ts";
import { deriveKeyring } from "./mesh_keys.ts";
import { isMeshReject, MeshOpener, MeshSealer } from "./mesh_seal.ts";

const ssl = openSslGcm();
/** Why OpenSSL is not there, when it could not be loaded at all (not when it loaded and failed its self-test). */
const unavailable = typeof ssl === "string" && !ssl.includes("self-test") ? ssl : null;
const sslNote = unavailable ? ` (ignored: ${unavailable})` : "";

function openssl(): Gcm {
  if (typeof ssl === "string") throw new Error(ssl);
  return ssl;
}

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const bytes = (h: string) => new Uint8Array(Buffer.from(h, "hex"));

/** Seals with `key`: ciphertext ‖ tag in a new buffer. */
function seal(key: GcmKey, nonce: Uint8Array, aad: Uint8Array, plain: Uint8Array | null): Uint8Array {
  const n = plain?.length ?? 0;
  const out = new Uint8Array(n + GCM_TAG_SIZE);
  key.seal(nonce, aad, plain, out.subarray(0, n), out.subarray(n));
  return out;
}

/** Opens ciphertext ‖ tag with `key`: the plaintext, or null when the tag does not verify. */
function open(key: GcmKey, nonce: Uint8Array, aad: Uint8Array, sealed: Uint8Array): Uint8Array | null {
  const n = sealed.length - GCM_TAG_SIZE;
  const out = new Uint8Array(n);
  return key.open(nonce, aad, n > 0 ? sealed.subarray(0, n) : null, sealed.subarray(n), out) ? out : null;
}

// The GCM specification's test case 16 (McGrew & Viega): AES-256, 96-bit IV, 20 bytes of AAD, 60 bytes.
const VECTOR = {
  key: "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
  iv: "cafebabefacedbaddecaf888",
  aad: "feedfacedeadbeeffeedfacedeadbeefabaddad2",
  plain: "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72" +
    "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
  cipher: "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa" +
    "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
  tag: "76fc6ece0f4e1768cddf8853bb2d551b",
};

function backends(): Gcm[] {
  return unavailable ? [nodeGcm()] : [nodeGcm(), openssl()];
}

Deno.test("nodeGcm() and openSslGcm() seal and open the GCM specification's AES-256 test case 16", () => {
  for (const gcm of backends()) {
    const key = gcm.key(createSecretKey(bytes(VECTOR.key)));
    const sealed = seal(key, bytes(VECTOR.iv), bytes(VECTOR.aad), bytes(VECTOR.plain));
    equal(hex(sealed), VECTOR.cipher + VECTOR.tag, gcm.name);
    equal(hex(open(key, bytes(VECTOR.iv), bytes(VECTOR.aad), sealed)!), VECTOR.plain, gcm.name);
  }
});

Deno.test("GcmKey.seal() encrypts in place (out is the plaintext) to the same bytes, with either backend", () => {
  for (const gcm of backends()) {
    const key = gcm.key(createSecretKey(bytes(VECTOR.key)));
    for (const n of [0, 1, 15, 16, 60, 1400]) {
      const plain = new Uint8Array(n).map((_, i) => (i * 31 + 7) & 0xff);
      const expected = seal(key, bytes(VECTOR.iv), bytes(VECTOR.aad), plain);
      const buf = new Uint8Array(n + GCM_TAG_SIZE);
      buf.set(plain);
      const body = buf.subarray(0, n);
      key.seal(bytes(VECTOR.iv), bytes(VECTOR.aad), body, body, buf.subarray(n));
      equal(hex(buf), hex(expected), `${gcm.name}, ${n} bytes`);
    }
  }
});

Deno.test({
  name: `openSslGcm() loads libcrypto and is the default backend${sslNote}`,
  ignore: unavailable !== null,
  fn() {
    const gcm = openssl();
    equal(gcm.name, "openssl");
    equal(defaultGcm(), gcm);
    equal(gcmBackendName(), "openssl");
    const k = createSecretKey(new Uint8Array(32));
    equal(gcm.key(k), gcm.key(k), "one prepared key per KeyObject");
  },
});

Deno.test({
  name:
    `OpenSSL and node:crypto give the same ciphertext and tag, open each other's, refuse any change${sslNote}`,
  ignore: unavailable !== null,
  fn() {
    const backends = [openssl(), nodeGcm()] as const;
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ minLength: 12, maxLength: 12 }),
        fc.uint8Array({ minLength: 0, maxLength: 40 }),
        fc.uint8Array({ minLength: 0, maxLength: 2000, size: "max" }),
        fc.boolean(),
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        (rawKey, nonce, header, payload, encrypt, at, xor) => {
          const keyObject = createSecretKey(rawKey);
          const [a, b] = backends.map((g) => g.key(keyObject)) as [GcmKey, GcmKey];
          // Clear mode as in mesh packets: header and payload are the AAD, nothing is encrypted.
          const aad = encrypt ? header : new Uint8Array([...header, ...payload]);
          const plain = encrypt ? payload : null;
          const sealedA = seal(a, nonce, aad, plain);
          const sealedB = seal(b, nonce, aad, plain);
          equal(hex(sealedA), hex(sealedB), "same ciphertext and tag");
          const expected = hex(plain ?? new Uint8Array());
          equal(hex(open(b, nonce, aad, sealedA) ?? bytes("ff")), expected, "node:crypto opens OpenSSL's");
          equal(hex(open(a, nonce, aad, sealedB) ?? bytes("ff")), expected, "OpenSSL opens node:crypto's");
          // One byte changed anywhere: nonce, AAD, ciphertext or tag.
          const parts = [nonce, aad, sealedA].map((p) => p.slice());
          const total = parts.reduce((s, p) => s + p.length, 0);
          let i = at % total;
          const part = parts.find((p) => i < p.length || ((i -= p.length), false))!;
          part[i]! ^= xor;
          const [n2, aad2, sealed2] = parts as [Uint8Array, Uint8Array, Uint8Array];
          equal(open(a, n2, aad2, sealed2), null, "OpenSSL refuses the altered input");
          equal(open(b, n2, aad2, sealed2), null, "node:crypto refuses the altered input");
        },
      ),
      { numRuns: 500 },
    );
  },
});

Deno.test({
  name:
    `mesh packets sealed with one backend are byte for byte those of the other and open with it${sslNote}`,
  ignore: unavailable !== null,
  fn() {
    const ring = deriveKeyring(["cluster-key-gcm-0123456789"]);
    const salt = new Uint8Array(16).map((_, i) => 0x10 + i);
    const to = incarnationBytes("a1b2c3d4e5f60718");
    for (const encrypt of [true, false]) {
      const viaSsl = new MeshSealer(ring, { encrypt, salt, gcm: openssl() });
      const viaNode = new MeshSealer(ring, { encrypt, salt, gcm: nodeGcm() });
      const toSsl = new MeshOpener(ring, to, { gcm: openssl() });
      const toNode = new MeshOpener(ring, to, { gcm: nodeGcm() });
      for (const size of [0, 1, 15, 16, 17, 1200, 1452]) {
        const payload = crypto.getRandomValues(new Uint8Array(size));
        const type = size === 0 ? "heartbeat" : "rtp";
        const a = viaSsl.seal(type, 9, 1, payload, to);
        const b = viaNode.seal(type, 9, 1, payload, to);
        equal(hex(a), hex(b), `${size} bytes, encrypt ${encrypt}`);
        for (const [opener, datagram] of [[toNode, a], [toSsl, b.slice()]] as const) {
          const p = opener.open(datagram);
          if (isMeshReject(p)) throw new Error(`refused: ${p.message}`);
          assertEquals([p.type, hex(p.payload)], [type, hex(payload)]);
        }
      }
    }
  },
});

Deno.test("GcmKey.seal() and open() refuse a nonce, tag or output of the wrong size", () => {
  for (const gcm of backends()) {
    const key = gcm.key(createSecretKey(new Uint8Array(32)));
    const plain = new Uint8Array(10);
    throws(
      () => key.seal(new Uint8Array(11), plain, plain, new Uint8Array(10), new Uint8Array(16)),
      RangeError,
    );
    throws(
      () => key.seal(new Uint8Array(12), plain, plain, new Uint8Array(10), new Uint8Array(8)),
      RangeError,
    );
    throws(
      () => key.seal(new Uint8Array(12), plain, plain, new Uint8Array(9), new Uint8Array(16)),
      RangeError,
    );
    throws(
      () => key.open(new Uint8Array(12), plain, plain, new Uint8Array(16), new Uint8Array(9)),
      RangeError,
    );
    throws(() => gcm.key(createSecretKey(new Uint8Array(16))), RangeError);
    ok(true, gcm.name);
  }
});
