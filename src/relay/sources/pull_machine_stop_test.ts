/**
 * Tests of how {@linkcode PullMachine} stops: in every phase (connecting, a request in flight, playing, waiting
 * to retry) it ends cleanly, with a best-effort TEARDOWN when a connection is open, no timer left armed and no
 * connection left open; and, for random event sequences, it never throws and never asks for a request or a
 * connection after the stop.
 * @module
 */
import { deepStrictEqual as assertEquals, equal, ok } from "node:assert/strict";
import fc from "fast-check";
import {
  CAMERA_BASE,
  CAMERA_HOST,
  CAMERA_URL,
  MachineHarness,
  response,
  sdp,
} from "../../../tests/support/pull_machine_harness.ts";
import type { PullOutput, PullTimer } from "./pull_events.ts";
import { TEARDOWN_WAIT_MS } from "./pull_machine.ts";

/** Nothing left behind: no timer, no connection. */
function assertClean(h: MachineHarness): void {
  equal(h.machine.phase, "stopped");
  assertEquals([...h.timers.keys()], [], "timers left armed");
  assertEquals([...h.open], [], "connections left open");
}

Deno.test("PullMachine stopped before it started just stops, and never starts after", () => {
  const h = new MachineHarness();
  assertEquals(h.send({ kind: "stop" }), [{ kind: "stopped" }]);
  assertEquals(h.send({ kind: "start" }), []);
  assertEquals(h.send({ kind: "stop" }), []);
  assertClean(h);
});

Deno.test("PullMachine stopped while connecting gives the connection up, with no request", () => {
  const h = new MachineHarness();
  h.send({ kind: "start" });
  assertEquals(h.send({ kind: "stop" }), [{ kind: "close", conn: 1 }, { kind: "stopped" }]);
  // The connection opens after all: the machine asks nothing of it (the shell closes it).
  assertEquals(h.send({ kind: "connected", conn: 1, host: CAMERA_HOST }), []);
  assertClean(h);
});

Deno.test("PullMachine stopped with a request in flight sends a TEARDOWN and closes on its answer", () => {
  const h = new MachineHarness();
  h.startConnected();
  const describe = h.lastRequest.id;
  const out = h.send({ kind: "stop" });
  const teardown = h.lastRequest;
  assertEquals([teardown.method, teardown.url, teardown.headers], ["TEARDOWN", CAMERA_URL, {}]);
  assertEquals(out.at(-1), { kind: "setTimer", timer: "teardown", at: h.now + TEARDOWN_WAIT_MS });
  equal(h.machine.phase, "stopping");
  // The DESCRIBE's answer, late: ignored.
  assertEquals(h.send({ kind: "response", id: describe, response: response(200, {}, sdp(1)) }), []);
  const done = h.answer(200);
  assertEquals(done, [{ kind: "cancelTimer", timer: "teardown" }, { kind: "close", conn: 1 }, {
    kind: "stopped",
  }]);
  assertClean(h);
  ok(!h.sink.calls.includes("describe 1 tracks"));
});

Deno.test("PullMachine stopped gives a silent camera TEARDOWN_WAIT_MS to answer, or less if it closes", () => {
  const h = new MachineHarness({ transport: "tcp" });
  h.startConnected();
  h.send({ kind: "stop" });
  assertEquals(h.advance(TEARDOWN_WAIT_MS), [{ kind: "close", conn: 1 }, { kind: "stopped" }]);
  assertClean(h);
  const c = new MachineHarness({ transport: "tcp" });
  c.startConnected();
  c.send({ kind: "stop" });
  assertEquals(c.send({ kind: "closed", conn: 1 }), [
    { kind: "cancelTimer", timer: "teardown" },
    { kind: "close", conn: 1 },
    { kind: "stopped" },
  ]);
  assertClean(c);
});

Deno.test("PullMachine stopped while playing cancels its timers and tears the session down with its Session", () => {
  const h = new MachineHarness();
  h.play({ tracks: 2 });
  const out = h.send({ kind: "stop" });
  assertEquals(
    out.filter((o) => o.kind === "cancelTimer").map((o) => (o as { timer: PullTimer }).timer).sort(),
    ["fallback", "keepalive", "media", "report"],
  );
  const teardown = h.lastRequest;
  assertEquals([teardown.method, teardown.url, teardown.headers], ["TEARDOWN", CAMERA_URL, {
    Session: "1234",
  }]);
  h.send({ kind: "requestFailed", id: teardown.id, error: new Error("Connection closed") });
  assertClean(h);
  equal(h.sink.state, "ready", "a stop leaves the state to the stream");
  assertEquals(h.logLines, ["info camera session playing"]);
});

Deno.test("PullMachine stopped while waiting to retry cancels the retry", () => {
  const h = new MachineHarness();
  h.send({ kind: "start" });
  h.send({ kind: "connectFailed", conn: 1, error: new Error("Connection refused") });
  assertEquals(h.send({ kind: "stop" }), [{ kind: "cancelTimer", timer: "retry" }, { kind: "stopped" }]);
  equal(h.machine.retryAt, null);
  assertClean(h);
  assertEquals(h.advance(60_000), []);
});

// ---------------------------------------------------------------------------------------------------------------
// Random event sequences.

const TIMERS: PullTimer[] = ["retry", "media", "fallback", "keepalive", "report", "teardown"];

/** One scripted step: an event (ids and connections mostly the current ones), or time passing. */
type Step =
  | { kind: "start" | "stop" }
  | { kind: "connected" | "connectFailed" | "closed"; conn: number | "current" }
  | { kind: "answer"; id: number | "last"; status: number; session: string; transport: string; body: string }
  | { kind: "requestFailed"; id: number | "last" }
  | { kind: "media"; track: number; ago: number }
  | { kind: "timer"; timer: PullTimer }
  | { kind: "advance"; ms: number };

/** Mostly the current connection or the latest request: a camera that answers, now and then a stray one. */
const conn = fc.oneof({ arbitrary: fc.constant("current" as const), weight: 9 }, {
  arbitrary: fc.nat(4),
  weight: 1,
});
const id = fc.oneof({ arbitrary: fc.constant("last" as const), weight: 9 }, {
  arbitrary: fc.nat(12),
  weight: 1,
});
const step: fc.Arbitrary<Step> = fc.oneof(
  { arbitrary: fc.constantFrom({ kind: "start" as const }, { kind: "stop" as const }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant("connected" as const), conn }), weight: 5 },
  {
    arbitrary: fc.record({ kind: fc.constantFrom("connectFailed" as const, "closed" as const), conn }),
    weight: 1,
  },
  {
    arbitrary: fc.record({
      kind: fc.constant("answer" as const),
      id,
      status: fc.oneof({ arbitrary: fc.constant(200), weight: 9 }, fc.constantFrom(401, 404, 454, 461)),
      session: fc.constantFrom("1234", "1234;timeout=30", "1234;timeout=0", "", "bad id;timeout=x"),
      transport: fc.constantFrom(
        "RTP/AVP;unicast;client_port=5000-5001;server_port=7000-7001",
        "RTP/AVP/TCP;unicast;interleaved=4-5",
        "RTP/AVP;unicast",
        "",
        "garbage;;;",
      ),
      body: fc.oneof({ arbitrary: fc.constantFrom(sdp(1), sdp(2), sdp(3)), weight: 9 }, fc.string()),
    }),
    weight: 12,
  },
  { arbitrary: fc.record({ kind: fc.constant("requestFailed" as const), id }), weight: 1 },
  {
    arbitrary: fc.record({ kind: fc.constant("media" as const), track: fc.nat(3), ago: fc.nat(5000) }),
    weight: 3,
  },
  {
    arbitrary: fc.record({ kind: fc.constant("timer" as const), timer: fc.constantFrom(...TIMERS) }),
    weight: 1,
  },
  { arbitrary: fc.record({ kind: fc.constant("advance" as const), ms: fc.nat(20_000) }), weight: 4 },
);

/** Runs one step against the harness; returns what the machine asked. */
function run(h: MachineHarness, s: Step): PullOutput[] {
  const lastId = h.requests.at(-1)?.id ?? 0;
  switch (s.kind) {
    case "start":
    case "stop":
      return h.send({ kind: s.kind });
    case "connected":
      return h.send({ kind: "connected", conn: s.conn === "current" ? h.conn : s.conn, host: CAMERA_HOST });
    case "connectFailed":
      return h.send({
        kind: s.kind,
        conn: s.conn === "current" ? h.conn : s.conn,
        error: new Error("refused"),
      });
    case "closed":
      return h.send({ kind: s.kind, conn: s.conn === "current" ? h.conn : s.conn });
    case "answer": {
      const headers: Record<string, string> = { "Content-Base": CAMERA_BASE };
      if (s.session) headers.Session = s.session;
      if (s.transport) headers.Transport = s.transport;
      return h.send({
        kind: "response",
        id: s.id === "last" ? lastId : s.id,
        response: response(s.status, headers, s.body),
      });
    }
    case "requestFailed":
      return h.send({ kind: s.kind, id: s.id === "last" ? lastId : s.id, error: new Error("timed out") });
    case "media":
      return h.send({ kind: "media", track: s.track, at: h.now - s.ago });
    case "timer":
      return h.send({ kind: "timer", timer: s.timer });
    case "advance":
      return h.advance(s.ms);
  }
}

Deno.test("PullMachine never throws, and asks for no request or connection after a stop, whatever happens", () => {
  fc.assert(
    fc.property(
      fc.array(step, { minLength: 10, maxLength: 80 }),
      fc.constantFrom("auto" as const, "udp" as const, "tcp" as const),
      fc.record({
        maxTracks: fc.integer({ min: 1, max: 3 }),
        portsExhausted: fc.oneof({ arbitrary: fc.constant(false), weight: 4 }, fc.constant(true)),
        waiting: fc.nat(2),
      }),
      (steps, transport, sink) => {
        const h = new MachineHarness({ transport, backoffInitialMs: 100, stableMs: 1000 });
        Object.assign(h.sink, sink);
        let stopAsked = false;
        let stopped = false;
        for (const s of [{ kind: "start" } as const, ...steps]) {
          const out = run(h, s);
          if (stopped) assertEquals(out, [], `after stopped: ${JSON.stringify(s)}`);
          if (s.kind === "stop" && !stopAsked) {
            stopAsked = true;
            ok(out.filter((o) => o.kind === "request").every((o) => o.method === "TEARDOWN"));
            ok(out.filter((o) => o.kind === "request").length <= 1);
            ok(!out.some((o) => o.kind === "connect"));
          } else if (stopAsked) {
            ok(!out.some((o) => o.kind === "request" || o.kind === "connect"), JSON.stringify([s, out]));
          }
          if (out.some((o) => o.kind === "stopped")) stopped = true;
        }
        // Whatever happened, a stop (and the camera's silence) ends it cleanly.
        run(h, { kind: "stop" });
        h.advance(TEARDOWN_WAIT_MS);
        assertClean(h);
      },
    ),
    { numRuns: 1000 },
  );
});
