/** Tests of the receiver's table of senders: lookup by salt, the budget of new salts, bounds and key rotation. */
import { equal, ok, throws } from "node:assert/strict";
import { nodeGcm } from "./_aes_gcm.ts";
import { deriveKeyring } from "./mesh_keys.ts";
import { SenderTable } from "./mesh_senders.ts";

const AB = deriveKeyring(["cluster-key-a-0123456789", "cluster-key-b-0123456789"]);

function salt(n: number): Uint8Array {
  const s = new Uint8Array(16);
  new DataView(s.buffer).setUint32(12, n);
  return s;
}

Deno.test("SenderTable.find() finds a sender by the salt inside a datagram, only the whole salt", () => {
  const table = new SenderTable(nodeGcm());
  const entry = table.add(salt(7));
  const datagram = new Uint8Array(40);
  datagram.set(salt(7), 8);
  equal(table.find(datagram, 8), entry);
  datagram[23] = 8; // the last byte differs (same first 32 bits)
  equal(table.find(datagram, 8), undefined);
  equal(table.find(datagram.subarray(0, 20), 8), undefined, "a datagram too short for a salt");
  equal(table.add(salt(7)), entry, "adding a known salt gives its entry");
  throws(() => table.add(new Uint8Array(15)), RangeError);
});

Deno.test("SenderTable.admitNew() grants a burst, then the rate; a clock that steps back adds nothing", () => {
  const table = new SenderTable(nodeGcm(), { newSaltsPerSecond: 10, newSaltsBurst: 3 });
  const grants = (now: number, n: number) =>
    Array.from({ length: n }, () => table.admitNew(now)).filter(Boolean);
  equal(grants(1000, 5).length, 3, "the burst");
  equal(grants(1050, 5).length, 0, "half a token");
  equal(grants(1100, 5).length, 1, "one token after 100 ms");
  equal(grants(500, 5).length, 0, "the clock stepped back");
  equal(grants(100_000, 10).length, 3, "never more than the burst");
});

Deno.test("SenderTable forgets the least recently heard sender beyond maxSenders", () => {
  const table = new SenderTable(nodeGcm(), { maxSenders: 3 });
  const [s1, , s3] = [table.add(salt(1)), table.add(salt(2)), table.add(salt(3))];
  table.accept(s1, 0); // s1 heard last: s2 is now the oldest
  table.add(salt(4));
  equal(table.size, 3);
  ok(table.find(salt(1), 0) === s1 && table.find(salt(3), 0) === s3);
  equal(table.find(salt(2), 0), undefined);
});

Deno.test("SenderTable derives a packet key per cluster key once, and follows a reloaded keyring", () => {
  const table = new SenderTable(nodeGcm());
  const entry = table.add(salt(1));
  const [a, b] = AB.keys as [typeof AB.keys[0], typeof AB.keys[0]];
  const ka = table.keyOf(entry, a);
  equal(table.keyOf(entry, a), ka);
  table.keyOf(entry, b);
  equal(table.derivations, 2);
  // The same secrets in new objects: the packet keys stay (no new derivation); a key gone is dropped.
  table.setKeyring(deriveKeyring(["cluster-key-a-0123456789"]));
  equal(entry.keys.length, 1);
  equal(entry.keys[0]!.gcm, ka.gcm);
  equal(entry.keys[0]!.key, table.keyOf(entry, entry.keys[0]!.key).key);
  equal(table.derivations, 2);
});
