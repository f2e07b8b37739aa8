/**
 * Tests of how {@linkcode PullMachine} retries a camera, on a fake clock: the backoff doubles to its cap and
 * starts over after a session that played `stableMs`, readers waiting cap it at `waitingRetryMs`, a reader
 * arriving brings a pending retry forward, and the outage is logged once at warn, at debug after, with a
 * reminder, and its end at info.
 * @module
 */
import { deepStrictEqual as assertEquals, equal, ok } from "node:assert/strict";
import { CAMERA_URL, MachineHarness } from "../../../tests/support/pull_machine_harness.ts";

/** Fails the pending connect and returns the delay the machine chose. */
function refuse(h: MachineHarness): number {
  h.send({ kind: "connectFailed", conn: h.conn, error: new Error("Connection refused (os error 111)") });
  return h.timers.get("retry")! - h.now;
}

/** Lets the pending retry fire; returns the time it fired. */
function retry(h: MachineHarness): number {
  h.advance(h.timers.get("retry")! - h.now);
  equal(h.machine.phase, "connecting");
  return h.now;
}

Deno.test("PullMachine backs off from backoffInitialMs, doubling up to backoffMaxMs", () => {
  const h = new MachineHarness();
  h.send({ kind: "start" });
  const delays: number[] = [];
  for (let i = 0; i < 8; i++) {
    delays.push(refuse(h));
    equal(h.machine.retryAt, h.now + delays.at(-1)!);
    retry(h);
  }
  assertEquals(delays, [500, 1000, 2000, 4000, 8000, 10_000, 10_000, 10_000]);
  equal(h.conn, 9, "one connection per attempt");
  // Retries of an unreachable camera stay in "error": no state change per attempt.
  equal(h.sink.calls.filter((c) => c === "state connecting").length, 1);
});

Deno.test("PullMachine starts the backoff over after a session that played stableMs, not after a shorter one", () => {
  const h = new MachineHarness({ transport: "tcp", stableMs: 10_000, mediaTimeoutMs: 60_000 });
  h.send({ kind: "start" });
  refuse(h);
  retry(h);
  refuse(h);
  retry(h);
  equal(refuse(h), 2000);
  retry(h);
  // Plays 9.999 s: too short, the backoff goes on doubling.
  h.play();
  h.now += 9999;
  h.send({ kind: "closed", conn: h.conn });
  equal(h.timers.get("retry")! - h.now, 4000);
  retry(h);
  // Plays 10 s: the camera was up, the next delay is the first again.
  h.play();
  h.now += 10_000;
  h.send({ kind: "closed", conn: h.conn });
  equal(h.timers.get("retry")! - h.now, 500);
});

Deno.test("PullMachine retries at most waitingRetryMs apart while readers wait", () => {
  const h = new MachineHarness({ backoffInitialMs: 400, waitingRetryMs: 100 });
  h.send({ kind: "start" });
  h.sink.waiting = 1;
  const delays = [refuse(h)];
  for (let i = 0; i < 3; i++) {
    retry(h);
    delays.push(refuse(h));
  }
  assertEquals(delays, [100, 100, 100, 100]);
  h.sink.waiting = 0;
  retry(h);
  equal(refuse(h), 400 * 2 ** 4, "the attempts made while readers waited count");
});

Deno.test("PullMachine brings a pending retry forward to waitingRetryMs after the last attempt when a reader arrives", () => {
  const h = new MachineHarness({ backoffInitialMs: 400, waitingRetryMs: 100 });
  h.send({ kind: "start" });
  refuse(h);
  retry(h);
  const failedAt = h.now;
  equal(refuse(h), 800);
  h.now += 30;
  assertEquals(h.send({ kind: "start" }), [{ kind: "setTimer", timer: "retry", at: failedAt + 100 }]);
  equal(h.machine.retryAt, failedAt + 100);
  // Later readers change nothing: the retry is due sooner anyway.
  assertEquals(h.send({ kind: "start" }), []);
  h.advance(70);
  assertEquals(h.outputs.at(-1), { kind: "connect", conn: 3, url: CAMERA_URL });
  // A reader that comes when waitingRetryMs already passed: the retry is due at once.
  refuse(h);
  h.now += 150;
  const out = h.send({ kind: "start" });
  assertEquals(out, [{ kind: "setTimer", timer: "retry", at: h.now - 50 }]);
  h.advance(0);
  equal(h.machine.phase, "connecting");
});

Deno.test("PullMachine ignores a reader arriving while it is not waiting to retry", () => {
  const h = new MachineHarness({ transport: "tcp" });
  h.send({ kind: "start" });
  assertEquals(h.send({ kind: "start" }), []);
  h.play();
  assertEquals(h.send({ kind: "start" }), []);
});

Deno.test("PullMachine logs an outage once at warn, retries at debug, a reminder every reminderMs, and the recovery at info", () => {
  const h = new MachineHarness({ transport: "tcp", backoffMaxMs: 10_000, reminderMs: 60_000 });
  h.send({ kind: "start" });
  const start = h.now;
  while (h.now - start < 70_000) {
    refuse(h);
    retry(h);
  }
  const lines = h.outputs.flatMap((o) => o.kind === "log" ? [o] : []);
  equal(lines[0]!.level, "warn");
  assertEquals(lines[0]!.fields, {
    path: "cam",
    url: "rtsp://viewer:***@10.0.0.5:554/cam",
    error: "Connection refused (os error 111)",
    retryInMs: 500,
  });
  equal(lines[0]!.msg, "camera unreachable; retrying with backoff");
  const reminders = lines.filter((l) => l.msg === "camera still unreachable; retrying with backoff");
  equal(reminders.length, 1);
  equal(reminders[0]!.level, "warn");
  ok((reminders[0]!.fields.failingForS as number) >= 60, JSON.stringify(reminders[0]));
  const debug = lines.filter((l) => l.level === "debug");
  equal(debug.length, lines.length - 2);
  ok(debug.every((l) => l.msg === "camera still unreachable" && typeof l.fields.failures === "number"));
  const failures = h.machine.failures;
  equal(failures, lines.length);
  // The camera comes back: one info line with the outage's length; the count starts over.
  const down = h.now - start;
  h.play();
  assertEquals(h.logFields("camera session playing").at(-1), {
    path: "cam",
    url: "rtsp://viewer:***@10.0.0.5:554/cam",
    transport: "tcp",
    tracks: 1,
    afterFailures: failures,
    downS: Math.round(down / 100) / 10,
  });
  equal(h.machine.failures, 0);
  // The session that played ends: one warning; a failure after it begins a new outage (warn again).
  h.send({ kind: "closed", conn: h.conn });
  retry(h);
  refuse(h);
  assertEquals(h.logLines.slice(-2), [
    "warn camera session ended; reconnecting",
    "warn camera unreachable; retrying with backoff",
  ]);
  ok(
    !JSON.stringify(h.outputs.filter((o) => o.kind === "log")).includes("s3cret"),
    "no password in the logs",
  );
});
