/**
 * Tests of {@linkcode MediaWatch}: interleaved frames go to their track (copies, RTP or RTCP by channel; unknown
 * channels dropped), and arrivals are reported once per track, at the track's own last arrival kept within what
 * its counter vouches for, or at the frame's time.
 * @module
 */
import { deepStrictEqual as assertEquals, equal, notStrictEqual } from "node:assert/strict";
import { FakeSink, FakeTrack } from "../../../tests/support/pull_machine_harness.ts";
import { MediaWatch } from "./pull_media_watch.ts";

function sinkWith(tracks: number): FakeSink {
  const sink = new FakeSink();
  sink.tracks = Array.from({ length: tracks }, () => new FakeTrack());
  return sink;
}

Deno.test("MediaWatch hands frames to their tracks by channel, as copies", () => {
  const sink = sinkWith(2);
  let now = 100;
  const watch = new MediaWatch(sink, [
    { channel: 4, track: 0, rtcp: false },
    { channel: 5, track: 0, rtcp: true },
    { channel: 6, track: 1, rtcp: false },
  ], () => now);
  const payload = new Uint8Array([1, 2, 3]);
  watch.frame(4, payload);
  watch.frame(5, payload);
  watch.frame(9, payload); // no route: dropped
  now = 150;
  watch.frame(6, payload);
  equal(sink.tracks[0]!.rtp.length, 1);
  equal(sink.tracks[0]!.rtcp.length, 1);
  equal(sink.tracks[1]!.rtp.length, 1);
  notStrictEqual(sink.tracks[0]!.rtp[0], payload, "the parser's view is not kept");
  assertEquals(sink.tracks[0]!.rtp[0], payload);
  // Frames count as media at their own time; a track's counter says nothing later than the frame here.
  sink.tracks[0]!.lastArrival = 0.1;
  sink.tracks[1]!.lastArrival = 0.15;
  assertEquals(watch.arrivals(200), [{ track: 0, at: 100 }, { track: 1, at: 150 }]);
  assertEquals(watch.arrivals(300), [], "reported once");
});

Deno.test("MediaWatch reads UDP arrivals off the counters, within the interval the counter vouches for", () => {
  const sink = sinkWith(2);
  let now = 1000;
  const watch = new MediaWatch(sink, [], () => now);
  const [a, b] = sink.tracks as [FakeTrack, FakeTrack];
  a.counters.packetsIn = 5;
  a.lastArrival = 1.4; // 1400 ms
  assertEquals(watch.arrivals(2000), [{ track: 0, at: 1400 }]);
  // An arrival time from before the last look (another clock) is clamped into (last look, now].
  b.counters.packetsIn = 1;
  b.lastArrival = 0.5;
  a.counters.packetsIn = 6;
  a.lastArrival = 9;
  now = 3000;
  assertEquals(watch.arrivals(3000), [{ track: 0, at: 3000 }, { track: 1, at: 2000 }]);
  assertEquals(watch.arrivals(4000), []);
});

Deno.test("MediaWatch counts only packets that came after it was created", () => {
  const sink = sinkWith(1);
  sink.tracks[0]!.counters.packetsIn = 40;
  const watch = new MediaWatch(sink, [], () => 0);
  assertEquals(watch.arrivals(10), []);
});
