import assert from "node:assert/strict";
import { ManualTimers } from "../../tests/support/manual_timers.ts";
import { parseGenericNack } from "../rtp/rtcp_nack.ts";
import { NackRequester } from "./nack_requester.ts";

function setup(parent = true) {
  const timers = new ManualTimers();
  const sent: Array<{ track: number; seqs: number[]; mediaSsrc: number }> = [];
  const released: string[] = [];
  const requester = new NackRequester({
    settings: { budgetMs: 100, maxRatio: 0.25 },
    timers,
    now: timers.now,
    release: (track, packets) => released.push(...packets.map((p) => `${track}:${p.seq}`)),
    send: (track, nack) => {
      const parsed = parseGenericNack(nack);
      assert.ok(typeof parsed !== "string");
      sent.push({ track, seqs: parsed.seqs, mediaSsrc: parsed.mediaSsrc });
      return parent;
    },
  });
  return { timers, sent, requester, released };
}

/** Packet `seq` of `track` to `requester`: what goes now (in order), or "held" / "late". */
function got(requester: NackRequester, track: number, seq: number, ssrc: number): number[] | string {
  const r = requester.receive(track, seq, new Uint8Array(1), false, ssrc);
  return r === "now" ? [seq] : typeof r === "string" ? r : r.map((q) => q.seq);
}

Deno.test("NACK requester: a gap on a track is asked for by a timer, per track; packets behind it wait for the repair", () => {
  const { timers, sent, requester, released } = setup();
  assert.deepEqual(got(requester, 0, 10, 0xaa), [10]);
  assert.equal(got(requester, 0, 13, 0xaa), "held");
  got(requester, 1, 500, 0xbb);
  assert.equal(got(requester, 1, 502, 0xbb), "held");
  assert.equal(sent.length, 0);
  timers.advance(3);
  assert.deepEqual(sent, [
    { track: 0, seqs: [11, 12], mediaSsrc: 0xaa },
    { track: 1, seqs: [501], mediaSsrc: 0xbb },
  ]);
  assert.deepEqual(got(requester, 0, 11, 0xaa), [11]); // 13 still waits for 12
  assert.deepEqual(got(requester, 1, 501, 0xbb), [501, 502]);
  timers.advance(15);
  assert.deepEqual(sent.slice(2), [{ track: 0, seqs: [12], mediaSsrc: 0xaa }]);
  timers.advance(200); // the budget: 12 given up, 13 delivered without it
  assert.deepEqual(released, ["0:13"]);
  assert.equal(requester.pending, 0);
  assert.equal(got(requester, 0, 12, 0xaa), "late");
  assert.equal(requester.lastDelivered(0), 13);
  const c = requester.counts();
  assert.deepEqual([c.missing, c.recovered, c.unrecovered, c.late], [3, 2, 1, 1]);
  requester.stop();
  assert.equal(timers.pending, 0);
});

Deno.test("NACK requester: without a parent nothing more is sent this round; stop cancels the timer", () => {
  const { timers, sent, requester } = setup(false);
  got(requester, 0, 0, 1);
  assert.deepEqual(got(requester, 0, 1000, 1), [1000]); // beyond the largest gap waited for
  got(requester, 0, 1003, 1);
  timers.advance(5);
  assert.equal(sent.length, 1);
  requester.stop();
  timers.advance(1000);
  assert.equal(sent.length, 1);
});
