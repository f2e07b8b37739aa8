/**
 * SuspectProbes on a fake clock with a scripted peer: suspects are asked first and leave the suspects when they
 * answer (roots may have moved), stay suspected when they do not; the root of a configured camera is probed at
 * most once per SUSPECT_PROBE_MS and suspected when silent; nothing is acted on once the mesh is closed.
 * @module
 */
import { deepStrictEqual as assertEquals, equal } from "node:assert/strict";
import { silentLogger } from "../log.ts";
import { testPeer } from "../../tests/support/peer_fixture.ts";
import { FailureDetector } from "./failure_detector.ts";
import { PeerPaths } from "./peer_paths.ts";
import { pathFingerprint, type PathFingerprints } from "./path_config.ts";
import { SUSPECT_PROBE_MS, SuspectProbes } from "./suspect_probes.ts";
import { rendezvous } from "./root_locator.ts";

const CAM = "rtsp://cam.example/live";
/** A camera path whose root, between relays a and b, is b (the rendezvous hash decides). */
const PATH = Array.from({ length: 64 }, (_, i) => `cam${i}`).find((p) => rendezvous(p, ["a", "b"]) === "b")!;

function harness() {
  const clock = { t: 10_000 };
  const now = () => clock.t;
  const detector = new FailureDetector({ self: "a", suspectHoldMs: 15_000, silenceMs: 600, now: now() });
  const answers = new Map<string, PathFingerprints | "refused" | null>([["b", {
    cam: pathFingerprint(CAM),
  }]]);
  const asked: string[] = [];
  const ask = (node: string) => {
    asked.push(node);
    return Promise.resolve(answers.get(node) ?? null);
  };
  const events: string[] = [];
  let closed = false;
  const paths = new PeerPaths({ self: "a", now, logger: silentLogger, fetch: ask });
  const probes = new SuspectProbes({
    self: "a",
    now,
    logger: silentLogger,
    detector,
    paths,
    askPaths: ask,
    peers: () => ["a", "b"],
    pulls: () => new Map([[PATH, CAM]]),
    query: (path) => ({
      path,
      url: CAM,
      live: [
        testPeer("a", "127.0.0.1"),
        ...(detector.suspected("b", now()) ? [] : [testPeer("b", "127.0.0.2")]),
      ],
      self: "a",
      serviceEndpoints: () => null,
      configured: new Set(["a", "b"]),
      known: () => true,
    }),
    suspect: (n) => {
      events.push(`suspect ${n}`);
      detector.suspect(n, now());
    },
    rootsMayHaveMoved: () => events.push("roots may have moved"),
    closed: () => closed,
  });
  return { clock, detector, answers, asked, events, probes, close: () => (closed = true) };
}

Deno.test("SuspectProbes.refreshPaths(): a suspect that answers is heard again and roots may move", async () => {
  const h = harness();
  await h.probes.refreshPaths(); // learns b's paths
  h.detector.suspect("b", h.clock.t);
  h.asked.length = 0;
  h.events.length = 0;
  h.clock.t += SUSPECT_PROBE_MS;
  await h.probes.refreshPaths();
  assertEquals(h.asked, ["b"], "the suspect is asked though its paths are not due");
  equal(h.detector.suspected("b", h.clock.t), false);
  assertEquals(h.events, ["roots may have moved"]);
});

Deno.test("SuspectProbes.refreshPaths(): a silent suspect stays suspected and is asked once per period", async () => {
  const h = harness();
  await h.probes.refreshPaths();
  h.answers.set("b", null);
  h.detector.suspect("b", h.clock.t);
  h.asked.length = 0;
  h.events.length = 0;
  h.clock.t += SUSPECT_PROBE_MS;
  await h.probes.refreshPaths();
  await h.probes.refreshPaths(); // same instant: not asked again
  assertEquals(h.asked, ["b"]);
  equal(h.detector.suspected("b", h.clock.t), true);
  assertEquals(h.events, ["suspect b"]);
});

Deno.test("SuspectProbes.checkRootOf(): the configured root is probed at most once a second, suspected when silent", async () => {
  const h = harness();
  await h.probes.refreshPaths();
  h.asked.length = 0;
  h.events.length = 0;
  h.answers.set("b", null);
  h.probes.checkRootOf(PATH);
  h.probes.checkRootOf(PATH);
  h.probes.checkRootOf("not-configured");
  for (let i = 0; i < 3; i++) await Promise.resolve();
  assertEquals(h.asked, ["b"], "asked once, and only for a configured path");
  assertEquals(h.events, ["suspect b", "roots may have moved"]);
  // Suspected now, so this relay is the root: nobody to probe. And a closed mesh asks nothing at all.
  h.clock.t += SUSPECT_PROBE_MS;
  h.probes.checkRootOf(PATH);
  h.close();
  h.detector.heard("b");
  h.probes.checkRootOf(PATH);
  for (let i = 0; i < 3; i++) await Promise.resolve();
  assertEquals(h.asked, ["b"]);
});
