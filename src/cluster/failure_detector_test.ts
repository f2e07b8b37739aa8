/**
 * Tests of the failure detector on exact times: suspects held then released by speech, deaf peers whose speech does
 * not count, and this relay's own deafness (two silent peers, not one).
 * @module
 */
import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { FailureDetector } from "./failure_detector.ts";

function detector(now = 1000) {
  return new FailureDetector({ self: "me", suspectHoldMs: 15_000, silenceMs: 600, now });
}

Deno.test("FailureDetector.suspect() holds a node out for the hold, then it is live again but noted", () => {
  const d = detector();
  assertEquals(d.suspect("b", 1000), true);
  assertEquals(d.suspected("b", 1000), true);
  assertEquals(d.suspected("b", 15_999), true);
  assertEquals(d.suspectedUntil("b", 2000), 16_000);
  assertEquals(d.suspected("b", 16_000), false);
  assertEquals(d.suspectedUntil("b", 16_000), null);
  assertEquals(d.noted("b"), true, "a member once suspected stays noted until it speaks");
  d.heard("b");
  assertEquals(d.noted("b"), false);
});

Deno.test("FailureDetector never suspects this relay", () => {
  const d = detector();
  assertEquals(d.suspect("me", 1000), false);
  d.peerDeaf("me", 1000);
  assertEquals(d.suspected("me", 1000), false);
  assertEquals(d.isPeerDeaf("me"), false);
});

Deno.test("FailureDetector.heard() clears a suspect, but not a peer that said it is deaf", () => {
  const d = detector();
  d.suspect("b", 1000);
  d.heard("b");
  assertEquals(d.suspected("b", 1001), false);
  d.peerDeaf("c", 1000);
  assertEquals(d.suspected("c", 1001), true);
  d.heard("c"); // its heartbeats still arrive: they do not count
  assertEquals(d.suspected("c", 1001), true);
  d.peerHears("c");
  assertEquals([d.suspected("c", 1001), d.isPeerDeaf("c")], [false, false]);
});

Deno.test("FailureDetector remembers at most maxDeafPeers deaf peers (still suspects the rest)", () => {
  const d = new FailureDetector({ self: "me", suspectHoldMs: 100, silenceMs: 600, now: 0, maxDeafPeers: 2 });
  for (const n of ["a", "b", "c"]) d.peerDeaf(n, 0);
  assertEquals(["a", "b", "c"].map((n) => d.isPeerDeaf(n)), [true, true, false]);
  assertEquals(d.suspected("c", 50), true);
});

Deno.test("FailureDetector.checkHearing(): deaf only past the silence with two or more expected senders", () => {
  const d = detector(0);
  assertEquals(d.checkHearing(600, 5), null, "silence not over yet");
  assertEquals(d.checkHearing(601, 1), null, "one silent peer is more likely dead");
  assertEquals(d.deaf, false);
  assertEquals(d.checkHearing(601, 2), { change: "deaf", silentMs: 601 });
  assertEquals(d.deaf, true);
  assertEquals(d.checkHearing(900, 2), null, "still deaf: no second report");
  d.peerExpected(950); // does not count as hearing while deaf
  assertEquals(d.checkHearing(1000, 2), null);
  d.packetArrived(1100);
  assertEquals(d.checkHearing(1200, 2), { change: "hears", deafMs: 599 });
  assertEquals(d.deaf, false);
});

Deno.test("FailureDetector.peerExpected() restarts the silence, never moves it back", () => {
  const d = detector(0);
  d.packetArrived(500);
  d.peerExpected(400);
  assertEquals(d.checkHearing(1101, 2), { change: "deaf", silentMs: 601 });
  const e = detector(0);
  e.peerExpected(1000);
  assertEquals(e.checkHearing(1500, 3), null, "a new peer's silence counts from when it was expected");
  assertEquals(e.checkHearing(1601, 3)?.change, "deaf");
});

Deno.test("FailureDetector.generation counts changes of suspects and deaf peers, not time or repeats", () => {
  const d = detector();
  const g0 = d.generation;
  d.heard("b"); // not suspected: no change
  assertEquals(d.generation, g0);
  d.suspect("b", 1000);
  d.heard("b");
  assertEquals(d.generation, g0 + 2);
  d.peerDeaf("c", 1000);
  d.heard("c"); // a deaf peer's speech changes nothing
  assertEquals(d.generation, g0 + 3);
  d.peerHears("c");
  assertEquals(d.generation, g0 + 5, "deaf flag cleared, then the suspect");
  d.checkHearing(1_000_000, 3);
  assertEquals(d.generation, g0 + 5);
});
