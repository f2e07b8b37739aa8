import assert from "node:assert/strict";
import { ManualTimers } from "../../tests/support/manual_timers.ts";
import { parseGenericNack } from "../rtp/rtcp_nack.ts";
import { NackRequester } from "./nack_requester.ts";

function setup(parent = true) {
  const timers = new ManualTimers();
  const sent: Array<{ track: number; seqs: number[]; mediaSsrc: number }> = [];
  const requester = new NackRequester({
    settings: { budgetMs: 100, maxRatio: 0.25 },
    timers,
    now: timers.now,
    send: (track, nack) => {
      const parsed = parseGenericNack(nack);
      assert.ok(typeof parsed !== "string");
      sent.push({ track, seqs: parsed.seqs, mediaSsrc: parsed.mediaSsrc });
      return parent;
    },
  });
  return { timers, sent, requester };
}

Deno.test("NACK requester: a gap on a track is asked for by a timer, per track, until repaired", () => {
  const { timers, sent, requester } = setup();
  requester.receive(0, 10, 0xaa);
  requester.receive(0, 13, 0xaa);
  requester.receive(1, 500, 0xbb);
  requester.receive(1, 502, 0xbb);
  assert.equal(sent.length, 0);
  timers.advance(3);
  assert.deepEqual(sent, [
    { track: 0, seqs: [11, 12], mediaSsrc: 0xaa },
    { track: 1, seqs: [501], mediaSsrc: 0xbb },
  ]);
  assert.equal(requester.receive(0, 11, 0xaa), "repaired");
  assert.equal(requester.receive(1, 501, 0xbb), "repaired");
  timers.advance(15);
  assert.deepEqual(sent.slice(2), [{ track: 0, seqs: [12], mediaSsrc: 0xaa }]);
  timers.advance(200);
  assert.equal(requester.pending, 0);
  assert.equal(requester.receive(0, 12, 0xaa), "late");
  const c = requester.counts();
  assert.deepEqual([c.missing, c.recovered, c.unrecovered, c.late], [3, 2, 1, 1]);
  requester.stop();
  assert.equal(timers.pending, 0);
});

Deno.test("NACK requester: without a parent nothing more is sent this round; stop cancels the timer", () => {
  const { timers, sent, requester } = setup(false);
  requester.receive(0, 0, 1);
  requester.receive(0, 1000, 1); // beyond the largest gap asked for
  requester.receive(0, 1003, 1);
  timers.advance(5);
  assert.equal(sent.length, 1);
  requester.stop();
  timers.advance(1000);
  assert.equal(sent.length, 1);
});
