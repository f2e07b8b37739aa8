/**
 * Tests of {@linkcode PathConfigViews}: who is configured with what, fingerprints without secrets, conflicts,
 * refresh scheduling.
 * @module
 */
import { deepStrictEqual as assertEquals, equal, ok } from "node:assert/strict";
import {
  FIRST_RETRY_MS,
  GIVE_UP_MS,
  PathConfigViews,
  pathFingerprint,
  REFRESH_MAX_MS,
  REFRESH_MIN_MS,
} from "./path_config.ts";

Deno.test("pathFingerprint() ignores credentials and query, tells cameras apart", () => {
  equal(pathFingerprint("rtsp://u:secret@cam.local/live?token=x"), pathFingerprint("rtsp://cam.local/live"));
  ok(pathFingerprint("rtsp://cam.local/live") !== pathFingerprint("rtsp://cam.local/other"));
  equal(pathFingerprint("rtsp://cam.local/live").length, 16);
});

Deno.test("PathConfigViews knows which relays are configured with a path, and when they disagree", () => {
  const v = new PathConfigViews("a");
  v.setOwn(new Map([["cam", "rtsp://u:p@10.0.0.9/live"]]));
  assertEquals(v.own(), { cam: pathFingerprint("rtsp://10.0.0.9/live") });
  ok(v.update("b", { cam: pathFingerprint("rtsp://10.0.0.9/live") }, 0), "b brings a path");
  ok(!v.update("b", { cam: pathFingerprint("rtsp://10.0.0.9/live") }, 1), "nothing new");
  ok(v.update("c", { other: "ffff" }, 0));
  assertEquals([...v.configured("cam")].sort(), ["a", "b"]);
  assertEquals([...v.configured("other")], ["c"]);
  equal(v.conflicts("cam"), null);
  v.update("c", { cam: pathFingerprint("rtsp://10.0.0.8/live") }, 2);
  assertEquals([...v.conflicts("cam")!.values()].map((n) => n.sort()), [["a", "b"], ["c"]]);
  ok(v.retain(new Set(["a", "b"])), "c left with a path");
  assertEquals([...v.configured("cam")].sort(), ["a", "b"]);
  ok(!v.known("c") && v.known("b") && v.known("a"));
});

Deno.test("PathConfigViews fetches each peer once per period, longer in large clusters", () => {
  const v = new PathConfigViews("a");
  assertEquals(v.due(["a", "b", "c"], 0), ["b", "c"]);
  v.update("b", {}, 0);
  v.failed("c", 0);
  assertEquals(v.due(["a", "b", "c"], FIRST_RETRY_MS - 1), []);
  assertEquals(
    v.due(["a", "b", "c"], FIRST_RETRY_MS),
    ["c"],
    "a first fetch that failed is tried again soon",
  );
  ok(!v.known("c"), "a peer that never answered is not taken for one configured with nothing");
  assertEquals(v.due(["a", "b", "c"], REFRESH_MIN_MS), ["b", "c"]);
  equal(PathConfigViews.refreshMs(10), REFRESH_MIN_MS);
  equal(PathConfigViews.refreshMs(600), 60_000);
  equal(PathConfigViews.refreshMs(5000), REFRESH_MAX_MS);
});

Deno.test("PathConfigViews waits for a peer's paths while it may be starting, not for one that never answers", () => {
  const v = new PathConfigViews("a");
  assertEquals(v.awaited("b", 0), true, "never asked yet");
  v.failed("b", 0);
  v.failed("b", GIVE_UP_MS - 1000);
  assertEquals(v.awaited("b", GIVE_UP_MS - 1), true, "failing for less than GIVE_UP_MS");
  assertEquals(v.awaited("b", GIVE_UP_MS), false, "given up: no longer counted as maybe configured");
  v.update("b", {}, GIVE_UP_MS + 1);
  assertEquals([v.awaited("b", GIVE_UP_MS + 2), v.known("b")], [false, true]);
  v.retain(new Set());
  v.failed("b", 100_000);
  assertEquals(v.awaited("b", 100_000 + GIVE_UP_MS - 1), true, "forgotten peers start over");
  assertEquals(v.awaited("a", 0), false, "this relay is known");
});

Deno.test("PathConfigViews: a refusal counts as configured with nothing and is asked again soon, backing off", () => {
  const views = new PathConfigViews("a");
  const peers = ["a", "b", "c"];
  views.update("b", { cam: pathFingerprint("rtsp://cam/1") }, 0);
  views.update("c", { cam: pathFingerprint("rtsp://cam/1") }, 0);
  // b restarts and refuses this relay until its own view loads (seed 523 of the cluster simulation: two roots
  // for 10 s while a relay that had been refused once waited a whole refresh period to ask again).
  equal(views.refused("b", 100), true, "b no longer counts as configured with cam");
  assertEquals([...views.configured("cam")], ["c"]);
  ok(views.known("b"), "a refusal is an answer");
  assertEquals(views.due(peers, 1099), []);
  assertEquals(views.due(peers, 1100), ["b"], "asked again after 1 s");
  views.refused("b", 1100);
  assertEquals(views.due(peers, 3099), []);
  assertEquals(views.due(peers, 3100), ["b"], "then after 2 s");
  const period = PathConfigViews.refreshMs(peers.length);
  let t = 3100;
  for (let i = 0; i < 10; i++, t += period) views.refused("b", t); // 2^9 s would be far past the period
  const bDue = (at: number) => views.due(peers, at).includes("b");
  const lastRefusal = t - period;
  equal(bDue(lastRefusal + period - 1), false);
  equal(bDue(lastRefusal + period), true, "never later than the refresh period");
  const last = lastRefusal;
  // Its answer comes back: configured again, and asked at the usual period from then on.
  equal(views.update("b", { cam: pathFingerprint("rtsp://cam/1") }, last + 20_000), true);
  assertEquals([...views.configured("cam")].sort(), ["b", "c"]);
  equal(views.due(["a", "b"], last + 21_100).includes("b"), false, "no longer hurried");
});
