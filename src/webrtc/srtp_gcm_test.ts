import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { Buffer } from "node:buffer";
import { ProtectionProfileAeadAes128Gcm, RtpHeader, SrtpSession } from "werift";
import { writeRtpHeader } from "../rtp/packet.ts";
import { SrtpGcm } from "./srtp_gcm.ts";

function sessions() {
  const keys = (a: number, b: number) => ({
    localMasterKey: Buffer.alloc(16, a),
    localMasterSalt: Buffer.alloc(12, b),
    remoteMasterKey: Buffer.alloc(16, b),
    remoteMasterSalt: Buffer.alloc(12, a),
  });
  const sender = new SrtpSession({ keys: keys(1, 2), profile: ProtectionProfileAeadAes128Gcm });
  const receiver = new SrtpSession({ keys: keys(2, 1), profile: ProtectionProfileAeadAes128Gcm });
  const ctx = (sender as unknown as { localContext: { srtpSessionKey: Buffer; srtpSessionSalt: Buffer } })
    .localContext;
  const fast = SrtpGcm.create(new Uint8Array(ctx.srtpSessionKey), new Uint8Array(ctx.srtpSessionSalt));
  return { sender, receiver, fast };
}

function packet(seq: number, size: number, extension = false): Uint8Array {
  const out = new Uint8Array(12 + (extension ? 8 : 0) + size);
  writeRtpHeader(out, 0, {
    marker: seq % 3 === 0,
    payloadType: 102,
    sequence: seq,
    timestamp: seq * 3000,
    ssrc: 0xabcdef01,
  });
  if (extension) {
    out[0] = out[0]! | 0x10;
    out.set([0xbe, 0xde, 0, 1, 0x10, 0x55, 0, 0], 12);
  }
  for (let i = 12 + (extension ? 8 : 0); i < out.length; i++) out[i] = (i * 7 + seq) & 0xff;
  return out;
}

Deno.test("SrtpGcm protects exactly as werift's SRTP does (RFC 7714), across a sequence wrap, and werift opens it", () => {
  const { sender, receiver, fast } = sessions();
  assert(fast, "libcrypto with FFI (the tests run with --allow-all)");
  try {
    for (const [i, seq] of [65530, 65531, 65535, 0, 1, 2].entries()) {
      const p = packet(seq, [0, 1, 100, 1200][i % 4]!, i % 2 === 1);
      const ours: Uint8Array = fast.protect(p)!;
      const buf = Buffer.from(p);
      const theirs = sender.encrypt(
        buf.subarray(RtpHeader.deSerialize(buf).payloadOffset),
        RtpHeader.deSerialize(buf),
      );
      assertEquals([...ours], [...new Uint8Array(theirs)], `packet ${seq}`);
      assertEquals([...new Uint8Array(receiver.decrypt(Buffer.from(ours)))], [...p], `opened ${seq}`);
    }
  } finally {
    fast.close();
  }
});

Deno.test("SrtpGcm.create() refuses keys of the wrong size", () => {
  assertEquals(SrtpGcm.create(new Uint8Array(32), new Uint8Array(12)), null);
  assertEquals(SrtpGcm.create(new Uint8Array(16), new Uint8Array(8)), null);
});
