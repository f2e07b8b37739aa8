import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { Buffer } from "node:buffer";
import { classes, Message, methods, parseMessage } from "werift";
import { bindingSuccess, crc32, isStun, readBindingRequest, stunUsername } from "./stun.ts";

const PWD = "relaypasswordrelaypassword";

/** A Binding request as another implementation (werift's STUN, MIT) writes it. */
function request(
  username: string,
  key: string,
  options: { useCandidate?: boolean; fingerprint?: boolean } = {},
) {
  const m = new Message(methods.BINDING, classes.REQUEST);
  m.setAttribute("USERNAME", username);
  m.setAttribute("PRIORITY", 1853824767);
  m.setAttribute("ICE-CONTROLLING", BigInt(42));
  if (options.useCandidate) m.setAttribute("USE-CANDIDATE", null);
  m.addMessageIntegrity(Buffer.from(key));
  if (options.fingerprint ?? true) m.addFingerprint();
  return { bytes: new Uint8Array(m.bytes), transactionId: new Uint8Array(m.transactionId) };
}

Deno.test("readBindingRequest() reads a signed Binding request another implementation wrote", () => {
  const { bytes, transactionId } = request("abcd:efgh", PWD, { useCandidate: true });
  assert(isStun(bytes));
  assertEquals(stunUsername(bytes), "abcd:efgh");
  const read = readBindingRequest(bytes, PWD);
  assert(typeof read !== "string", String(read));
  assertEquals(read.username, "abcd:efgh");
  assertEquals(read.useCandidate, true);
  assertEquals([...read.transactionId], [...transactionId]);
  const plain = readBindingRequest(request("abcd:efgh", PWD, { fingerprint: false }).bytes, PWD);
  assert(typeof plain !== "string" && !plain.useCandidate);
});

Deno.test("readBindingRequest() refuses a wrong password, a flipped bit, a bad fingerprint and non-requests", () => {
  const { bytes } = request("abcd:efgh", PWD);
  assertEquals(readBindingRequest(bytes, "anotherpasswordanotherpass"), "MESSAGE-INTEGRITY does not match");
  const flipped = bytes.slice();
  flipped[25] = flipped[25]! ^ 1; // inside USERNAME: the fingerprint catches it first
  assertEquals(readBindingRequest(flipped, PWD), "FINGERPRINT does not match");
  const noFp = request("abcd:efgh", PWD, { fingerprint: false }).bytes;
  noFp[25] = noFp[25]! ^ 1;
  assertEquals(readBindingRequest(noFp, PWD), "MESSAGE-INTEGRITY does not match");
  const unsigned = new Message(methods.BINDING, classes.REQUEST);
  unsigned.setAttribute("USERNAME", "abcd:efgh");
  assertEquals(readBindingRequest(new Uint8Array(unsigned.bytes), PWD), "no MESSAGE-INTEGRITY");
  const indication = new Message(methods.BINDING, classes.INDICATION);
  assert(String(readBindingRequest(new Uint8Array(indication.bytes), PWD)).includes("not a Binding request"));
  assertEquals(
    readBindingRequest(bytes.subarray(0, bytes.length - 4), PWD),
    "not a well-formed STUN message",
  );
  assertEquals(
    readBindingRequest(new Uint8Array([0x16, 0xfe, 0xfd, 0, 0]), PWD),
    "not a well-formed STUN message",
  );
});

Deno.test("bindingSuccess() is a response another implementation verifies, with the mapped address", () => {
  const { transactionId } = request("abcd:efgh", PWD);
  const out = bindingSuccess(transactionId, "192.0.2.7", 54321, PWD);
  const parsed = parseMessage(Buffer.from(out), Buffer.from(PWD));
  assert(parsed, "werift reads it (and checks its integrity and fingerprint)");
  assertEquals(parsed.messageClass, classes.RESPONSE);
  assertEquals(parsed.getAttributeValue("XOR-MAPPED-ADDRESS"), ["192.0.2.7", 54321]);
  assertEquals([...parsed.transactionId], [...transactionId]);
  assertEquals(parseMessage(Buffer.from(out), Buffer.from("wrongwrongwrongwrongwrong")), undefined);
});

Deno.test("crc32() is ISO 3309's", () => {
  assertEquals(crc32(new TextEncoder().encode("123456789")), 0xcbf43926);
});
