/**
 * `deno bench -A bench/mesh_seal_bench.ts`: cost of sealing and opening one mesh packet (1200-byte RTP payload)
 * encrypted and authenticated-only, against plain framing: what a mesh key costs per packet and per hop, with each
 * AES-256-GCM backend (OpenSSL's libcrypto through FFI, the relay's default when it loads, and node:crypto). Without
 * `--allow-ffi` only node:crypto is measured. "renumbered": what a relay fed by the mesh pays to send its children
 * the numbering packets arrived with (the 12-byte header patched in the datagram's copy; sealed in place).
 * @module
 */
import { type Gcm, nodeGcm, openSslGcm } from "../src/cluster/_aes_gcm.ts";
import { decodeMeshPacket, encodeMeshPacket } from "../src/cluster/mesh_frame.ts";
import { incarnationBytes } from "../src/cluster/mesh_incarnation.ts";
import { deriveKeyring } from "../src/cluster/mesh_keys.ts";
import { MeshOpener, MeshSealer } from "../src/cluster/mesh_seal.ts";

const ring = deriveKeyring(["bench-cluster-key-0123456789abcdef"]);
const payload = crypto.getRandomValues(new Uint8Array(1200));
payload[0] = 0x80;
const renumber = { ssrc: 0x12345678, seqDelta: 0xfff0, tsDelta: 0xfffe0000 };
/** The receiver's incarnation (sealed packets are bound to it). */
const to = incarnationBytes("0123456789abcdef");

Deno.bench("plain framing: encode + decode", { group: "plain", baseline: true }, () => {
  decodeMeshPacket(encodeMeshPacket("rtp", 7, 0, payload));
});
Deno.bench("plain framing, renumbered: encode + decode", { group: "plain" }, () => {
  decodeMeshPacket(encodeMeshPacket("rtp", 7, 0, payload, renumber));
});

const ssl = openSslGcm();
if (typeof ssl === "string") console.log(`OpenSSL not measured: ${ssl}`);
const backends: Gcm[] = typeof ssl === "string" ? [nodeGcm()] : [nodeGcm(), ssl];

for (const encrypt of [true, false]) {
  const mode = encrypt ? "AES-256-GCM" : "GMAC only";
  for (const gcm of backends) {
    const sealer = new MeshSealer(ring, { encrypt, gcm });
    const opener = new MeshOpener(ring, to, { gcm });
    const baseline = gcm.name === "node:crypto";
    Deno.bench(`${gcm.name}: seal`, { group: `${mode}: seal`, baseline }, () => {
      sealer.seal("rtp", 7, 0, payload, to);
    });
    Deno.bench(`${gcm.name}: seal, renumbered`, { group: `${mode}: seal` }, () => {
      sealer.seal("rtp", 7, 0, payload, to, renumber);
    });
    Deno.bench(`${gcm.name}: seal + open`, { group: `${mode}: seal + open`, baseline }, () => {
      opener.open(sealer.seal("rtp", 7, 0, payload, to));
    });
  }
}
