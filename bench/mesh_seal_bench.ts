/**
 * `deno bench bench/mesh_seal_bench.ts`: cost of sealing and opening one mesh packet (1200-byte RTP payload)
 * encrypted and authenticated-only, against plain framing: what a mesh key costs per packet and per hop.
 * @module
 */
import { decodeMeshPacket, encodeMeshPacket } from "../src/cluster/mesh_frame.ts";
import { deriveKeyring } from "../src/cluster/mesh_keys.ts";
import { MeshOpener, MeshSealer } from "../src/cluster/mesh_seal.ts";

const ring = deriveKeyring(["bench-cluster-key-0123456789abcdef"]);
const payload = crypto.getRandomValues(new Uint8Array(1200));

Deno.bench("plain framing: encode + decode", { group: "mesh packet", baseline: true }, () => {
  decodeMeshPacket(encodeMeshPacket("rtp", 7, 0, payload));
});

for (const encrypt of [true, false]) {
  const sealer = new MeshSealer(ring, { encrypt });
  const opener = new MeshOpener(ring);
  const mode = encrypt ? "AES-256-GCM" : "GMAC only";
  Deno.bench(`sealed (${mode}): seal`, { group: "mesh packet" }, () => {
    sealer.seal("rtp", 7, 0, payload);
  });
  Deno.bench(`sealed (${mode}): seal + open`, { group: "mesh packet" }, () => {
    opener.open(sealer.seal("rtp", 7, 0, payload));
  });
}
