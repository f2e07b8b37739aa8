/**
 * `deno bench -A bench/srtp_bench.ts`: what protecting one RTP packet of 1,200 bytes for a WebRTC viewer costs
 * (AEAD_AES_128_GCM, RFC 7714): `SrtpGcm` on libcrypto through FFI, as the relay does per packet per viewer,
 * against werift's SRTP (a node:crypto cipher per packet), which the relay uses without `--allow-ffi`.
 * @module
 */
import { Buffer } from "node:buffer";
import { ProtectionProfileAeadAes128Gcm, RtpHeader, SrtpSession } from "werift";
import { writeRtpHeader } from "../src/rtp/packet.ts";
import { SrtpGcm } from "../src/webrtc/srtp_gcm.ts";

const key = new Uint8Array(16).fill(1);
const salt = new Uint8Array(12).fill(2);
const packet = new Uint8Array(1200);
let seq = 0;

function next(): Uint8Array {
  seq = (seq + 1) & 0xffff;
  writeRtpHeader(packet, 0, {
    marker: false,
    payloadType: 102,
    sequence: seq,
    timestamp: seq * 3000,
    ssrc: 5,
  });
  return packet;
}

const fast = SrtpGcm.create(key, salt);
if (fast) {
  Deno.bench("SrtpGcm.protect (libcrypto)", { group: "srtp", baseline: true }, () => {
    fast.protect(next());
  });
} else console.log("SrtpGcm not measured: no FFI permission or no libcrypto");

const werift = new SrtpSession({
  keys: {
    localMasterKey: Buffer.from(key),
    localMasterSalt: Buffer.from(salt),
    remoteMasterKey: Buffer.from(key),
    remoteMasterSalt: Buffer.from(salt),
  },
  profile: ProtectionProfileAeadAes128Gcm,
});
Deno.bench("werift SrtpSession.encrypt (node:crypto)", { group: "srtp" }, () => {
  const buf = Buffer.from(next());
  const header = RtpHeader.deSerialize(buf);
  werift.encrypt(buf.subarray(header.payloadOffset), header);
});
