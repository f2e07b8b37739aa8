import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { createCipheriv } from "node:crypto";
import { GcmSealer, pointerInto } from "./gcm_sealer.ts";

Deno.test("GcmSealer seals by address exactly as node:crypto's AES-256-GCM does, encrypted and GMAC only", () => {
  const key = new Uint8Array(32).map((_, i) => i * 5 + 3);
  const sealer = new GcmSealer(key);
  try {
    for (const length of [0, 1, 100, 1200]) {
      // One arena: nonce, AAD, plaintext, output and tag at offsets, as the Worker lays them out.
      const arena = new Uint8Array(64 + 40 + 1200 + 1200 + 16);
      const nonce = new Uint8Array(12).map((_, i) => 0xa0 + i + length);
      const aad = new Uint8Array(40).map((_, i) => i ^ length);
      const plain = new Uint8Array(length).map((_, i) => (i * 13 + 7) & 0xff);
      arena.set(nonce, 0);
      arena.set(aad, 64);
      arena.set(plain, 104);
      const outAt = 104 + 1200;
      const tagAt = outAt + 1200;
      const at = (offset: number) => pointerInto(arena, offset);
      const ok = sealer.seal(at(0), at(64), 40, at(104), at(outAt), length, at(tagAt));
      const ref = createCipheriv("aes-256-gcm", key, nonce);
      ref.setAAD(aad);
      const cipher = new Uint8Array([...ref.update(plain), ...ref.final()]);
      assertEquals(ok, true);
      assertEquals(arena.subarray(outAt, outAt + length), cipher, `ciphertext of ${length} bytes`);
      assertEquals(
        arena.subarray(tagAt, tagAt + 16),
        new Uint8Array(ref.getAuthTag()),
        `tag of ${length} bytes`,
      );
    }
  } finally {
    sealer.close();
  }
});

Deno.test("GcmSealer made to decrypt opens what it sealed and refuses a changed tag", () => {
  const key = new Uint8Array(32).map((_, i) => 255 - i);
  const sealer = new GcmSealer(key);
  const opener = new GcmSealer(key, true);
  try {
    const arena = new Uint8Array(12 + 40 + 3 * 1200 + 16);
    arena.set(new Uint8Array(12).fill(9), 0);
    arena.set(new Uint8Array(40).fill(3), 12);
    const plain = new Uint8Array(1200).map((_, i) => i & 0xff);
    arena.set(plain, 52);
    const at = (offset: number) => pointerInto(arena, offset);
    const tagAt = 52 + 3600;
    assertEquals(sealer.seal(at(0), at(12), 40, at(52), at(1252), 1200, at(tagAt)), true);
    assertEquals(opener.open(at(0), at(12), 40, at(1252), at(2452), 1200, at(tagAt)), true);
    assertEquals(arena.subarray(2452, 3652), plain);
    arena[tagAt] = arena[tagAt]! ^ 1;
    assertEquals(opener.open(at(0), at(12), 40, at(1252), at(2452), 1200, at(tagAt)), false);
  } finally {
    sealer.close();
    opener.close();
  }
});
