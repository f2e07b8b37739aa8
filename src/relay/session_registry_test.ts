/**
 * The session registry: timeouts (monotonic clock), ownership, connection close, kick and stop, admission
 * limits (sessions per client, readers per path, memory budget), slow TCP readers. Driven through the harness
 * in tests/support/rtsp_service_harness.ts.
 * @module
 */
import { deepStrictEqual as assertEquals, equal, match, ok } from "node:assert/strict";
import { MemoryBudget } from "./memory_budget.ts";
import type { FakePortPair } from "../../tests/support/fake_port_pairs.ts";
import { monotonicMs } from "../clock.ts";
import { shiftClocks } from "../../tests/support/shifted_clocks.ts";
import {
  BASE,
  ENFORCED_MS,
  FakeConn,
  Harness,
  HOST,
  readerRr,
  TCP01,
  text,
  TIMEOUT_S,
} from "../../tests/support/rtsp_service_harness.ts";
import { NO_RTSP_LIMITS } from "./rtsp_service.ts";

Deno.test("RtspService.sweep() ends silent sessions and keeps those refreshed by requests or RTCP", async () => {
  const h = new Harness();
  try {
    const conn = new FakeConn();
    const silent = await h.setup(conn, `${BASE}/cam/trackID=0`, "RTP/AVP;unicast;client_port=7000-7001");
    const keepalive = await h.setup(conn, `${BASE}/cam/trackID=0`, "RTP/AVP;unicast;client_port=7002-7003");
    const rtcp = await h.setup(conn, `${BASE}/cam/trackID=0`, "RTP/AVP;unicast;client_port=7004-7005");
    const stream = h.stream("cam");
    equal(stream.refs, 3);

    h.clock.now += ENFORCED_MS - 5000;
    h.svc.sweep();
    equal(h.ids().length, 3);
    const ka = await h.send(conn, "GET_PARAMETER", `${BASE}/cam/`, { Session: keepalive });
    equal(ka.status, 200);
    equal(ka.headers.get("Session"), `${keepalive};timeout=${TIMEOUT_S}`);
    // the reader's RTCP port sent a report: v=2, p=0, count=0, RR, length=1 word; reporter SSRC 1
    (stream.pairOf(0) as FakePortPair).receiveRtcp(
      new Uint8Array([0x80, 201, 0x00, 0x01, 0, 0, 0, 1]),
      HOST,
      7005,
    );

    h.clock.now += 5001;
    h.svc.sweep();
    assertEquals(h.ids(), [keepalive, rtcp].sort());
    equal(stream.refs, 2);
    const reportsBefore = stream.tracks[0]!.counters.readerReports;
    (stream.pairOf(0) as FakePortPair).receiveRtcp(
      new Uint8Array([0x80, 201, 0x00, 0x01, 0, 0, 0, 1]),
      HOST,
      7001,
    );
    equal(
      stream.tracks[0]!.counters.readerReports,
      reportsBefore,
      "RTCP listener of the ended session removed",
    );
    equal((await h.send(conn, "PLAY", `${BASE}/cam/`, { Session: silent })).status, 454);

    h.clock.now += ENFORCED_MS + 1;
    h.svc.sweep();
    assertEquals(h.ids(), []);
    equal(stream.refs, 0);
  } finally {
    await h.close();
  }
});

Deno.test("RtspService.sweep() keeps interleaved sessions alive while their connection is active", async () => {
  const h = new Harness();
  try {
    const busy = new FakeConn();
    const idle = new FakeConn();
    busy.lastActivity = idle.lastActivity = h.clock.now;
    const idBusy = await h.tcpReader(busy, "cam");
    await h.tcpReader(idle, "cam");
    h.clock.now += ENFORCED_MS + 1;
    busy.lastActivity = h.clock.now - 1000; // RTCP frames or requests arrived a second ago
    h.svc.sweep();
    assertEquals(h.ids(), [idBusy]);
    equal(idle.closed, false); // sweeping ends the session, the shell owns the connection
  } finally {
    await h.close();
  }
});

Deno.test("RtspService times sessions on the monotonic clock: wall-clock jumps neither end nor keep them", async () => {
  using clocks = shiftClocks();
  const h = new Harness({ realClocks: true });
  try {
    const udp = new FakeConn();
    const tcp = new FakeConn();
    tcp.lastActivity = monotonicMs(); // as the shell stamps it, on the same clock
    const wallAtSetup = Date.now();
    const udpId = await h.setup(udp, `${BASE}/cam/trackID=0`, "RTP/AVP;unicast;client_port=7200-7201");
    const tcpId = await h.tcpReader(tcp, "cam");
    const udpSession = h.svc.sessions().find((s) => s.id === udpId)!;
    ok(Math.abs(udpSession.createdAt - wallAtSetup) < 1000, "createdAt is a wall-clock time");

    // NTP steps the wall clock an hour forward, then two hours back: no session ends.
    clocks.wallMs += 3_600_000;
    h.svc.sweep();
    assertEquals(h.ids(), [udpId, tcpId].sort());
    clocks.wallMs -= 7_200_000;
    h.svc.sweep();
    assertEquals(h.ids(), [udpId, tcpId].sort());

    // With the wall clock an hour behind, silence is still timed: the UDP reader ends after the enforced
    // timeout, the interleaved one lives on while its connection shows activity.
    clocks.monotonicMs += ENFORCED_MS - 5000;
    h.svc.sweep();
    equal(h.ids().length, 2);
    tcp.lastActivity = monotonicMs();
    clocks.monotonicMs += 5001;
    h.svc.sweep();
    assertEquals(h.ids(), [tcpId]);
    clocks.monotonicMs += ENFORCED_MS + 1;
    h.svc.sweep();
    assertEquals(h.ids(), []);
  } finally {
    await h.close();
  }
});

Deno.test("RtspService stamps createdAt and reader reports with the wall clock, not the monotonic one", async () => {
  const h = new Harness();
  try {
    const tcp = new FakeConn();
    const id = await h.tcpReader(tcp, "cam");
    const session = h.svc.sessions().find((s) => s.id === id)!;
    equal(session.createdAt, h.wall.now);
    equal(session.timer.lastActivity, h.clock.now);
    h.wall.now -= 3_600_000; // the wall clock steps back an hour: the report says so, the session lives on
    tcp.onFrame!(1, readerRr({ ssrc: h.stream("cam").tracks[0]!.outputSsrc, cumulativeLost: 1 }));
    equal(session.reports.get(0)!.at, h.wall.now);
    h.clock.now += ENFORCED_MS - 1000;
    tcp.lastActivity = h.clock.now;
    h.svc.sweep();
    assertEquals(h.ids(), [id]);
  } finally {
    await h.close();
  }
});

Deno.test("RtspService.connectionClosed() ends interleaved sessions and keeps UDP ones", async () => {
  const h = new Harness();
  try {
    const conn = new FakeConn();
    await h.tcpReader(conn, "cam");
    const udp = await h.setup(conn, `${BASE}/cam2/trackID=0`, "RTP/AVP;unicast;client_port=7010-7011");
    equal((await h.send(conn, "PLAY", `${BASE}/cam2/`, { Session: udp })).status, 200);
    h.svc.connectionClosed(conn);
    assertEquals(h.ids(), [udp]);
    equal(h.stream("cam").refs, 0);
    equal(h.stream("cam").tracks[0]!.egresses.length, 0);
    equal(h.stream("cam2").refs, 1);
  } finally {
    await h.close();
  }
});

Deno.test("RtspService.kick() ends exactly the named session", async () => {
  const h = new Harness();
  try {
    const a = new FakeConn();
    const b = new FakeConn();
    const c = new FakeConn();
    const idA = await h.tcpReader(a, "cam");
    const idB = await h.tcpReader(b, "cam");
    const idC = await h.setup(c, `${BASE}/cam/trackID=0`, "RTP/AVP;unicast;client_port=7020-7021");

    equal(h.svc.kick(idA), true);
    assertEquals(h.ids(), [idB, idC].sort());
    equal(a.closed, true); // an interleaved reader loses its connection
    equal(b.closed, false);
    equal(h.stream("cam").refs, 2);
    assertEquals(h.stream("cam").tracks[0]!.egresses.map((e) => e.id), [`${idB}:0`]);

    equal(h.svc.kick(idC), true);
    equal(c.closed, false); // a UDP reader's connection is not the session
    assertEquals(h.ids(), [idB]);
    equal(h.svc.kick(idC), false);
    equal(h.svc.kick("ffffffffffffffff"), false);
    assertEquals(h.ids(), [idB]);
  } finally {
    await h.close();
  }
});

Deno.test("RtspService.stop() ends every session", async () => {
  const h = new Harness();
  try {
    await h.tcpReader(new FakeConn(), "cam");
    await h.setup(new FakeConn(), `${BASE}/cam2/trackID=1`, "RTP/AVP;unicast;client_port=7030-7031");
    h.svc.stop();
    assertEquals(h.ids(), []);
    equal(h.stream("cam").refs, 0);
    equal(h.stream("cam2").refs, 0);
  } finally {
    await h.close();
  }
});

Deno.test("RtspService answers 503 to a SETUP opening more sessions than a client may hold, before starting a camera", async () => {
  const h = new Harness({ limits: { ...NO_RTSP_LIMITS, maxSessionsPerIp: 2 } });
  try {
    const [a, b, c] = [new FakeConn(), new FakeConn(), new FakeConn()];
    const first = await h.setup(a, `${BASE}/cam/trackID=0`, TCP01); // a session counts from its SETUP
    await h.tcpReader(b, "cam");
    const sources = h.sources.length;
    const res = await h.send(c, "SETUP", `${BASE}/cam2/trackID=0`, { Transport: TCP01 });
    equal(res.status, 503);
    match(text(res), /This client already holds 2 sessions, the most allowed per client/);
    equal(h.sources.length, sources, "the refused reader started no camera");
    equal(h.svc.sessions().length, 2, "and left no session behind");
    // A second track of a session it holds is no new session; another address has its own count.
    await h.setup(a, `${BASE}/cam/trackID=1`, "RTP/AVP/TCP;unicast;interleaved=2-3", first);
    await h.tcpReader(new FakeConn("10.0.0.9"), "cam2");
    // A session ended is a slot free.
    equal((await h.send(a, "TEARDOWN", `${BASE}/cam/`, { Session: first })).status, 200);
    await h.tcpReader(c, "cam2");
    assertEquals(h.refused, ["max_sessions_per_ip"]);
  } finally {
    await h.close();
  }
});

Deno.test("RtspService answers 453 to a SETUP or PLAY beyond the readers a path may have", async () => {
  const h = new Harness({ limits: { ...NO_RTSP_LIMITS, maxReadersPerPath: 1 } });
  try {
    const [a, b, c] = [new FakeConn(), new FakeConn(), new FakeConn()];
    const sa = await h.setup(a, `${BASE}/cam/trackID=0`, TCP01);
    const sb = await h.setup(b, `${BASE}/cam/trackID=0`, TCP01); // set up, not playing: no reader yet
    equal((await h.send(a, "PLAY", `${BASE}/cam/`, { Session: sa })).status, 200);
    const play = await h.send(b, "PLAY", `${BASE}/cam/`, { Session: sb });
    equal(play.status, 453);
    match(text(play), /Path "cam" already has 1 playing reader, the most allowed/);
    equal((await h.send(c, "SETUP", `${BASE}/cam/trackID=0`, { Transport: TCP01 })).status, 453);
    equal(
      (await h.send(a, "PLAY", `${BASE}/cam/`, { Session: sa })).status,
      200,
      "a playing reader may PLAY again",
    );
    await h.tcpReader(c, "cam2"); // another path has its own count
    equal((await h.send(a, "TEARDOWN", `${BASE}/cam/`, { Session: sa })).status, 200);
    equal((await h.send(b, "PLAY", `${BASE}/cam/`, { Session: sb })).status, 200, "the slot freed is taken");
    assertEquals(h.refused, ["max_readers_per_path", "max_readers_per_path"]);
    equal(h.svc.readersByPath().get("cam"), 1);
  } finally {
    await h.close();
  }
});

Deno.test("RtspService refuses new sessions with 503 while the memory budget is nearly used up", async () => {
  const budget = new MemoryBudget(1000);
  const h = new Harness({ memoryBudget: budget });
  try {
    const conn = new FakeConn();
    equal((await h.send(conn, "DESCRIBE", `${BASE}/cam`)).status, 200);
    budget.force("gop_cache", 950);
    const refused = await h.send(conn, "SETUP", `${BASE}/cam/trackID=0`, {
      Transport: "RTP/AVP/TCP;unicast;interleaved=0-1",
    });
    equal(refused.status, 503);
    match(new TextDecoder().decode(refused.body), /memory budget is nearly used up \(0 of 0 MiB/);
    ok(h.refused.includes("memory_budget"));
    budget.release("gop_cache", 950);
    await h.tcpReader(conn, "cam");
  } finally {
    await h.close();
  }
});

Deno.test("RtspService closes a TCP reader that has taken no packet for the slow-reader timeout", async () => {
  const h = new Harness();
  try {
    const conn = new FakeConn();
    const id = await h.tcpReader(conn, "cam");
    // The reader's queue refuses every frame: it stopped reading.
    const writer = conn.writer as unknown as { droppingSince: number | null };
    Object.defineProperty(writer, "droppingSince", { value: h.clock.now, configurable: true });
    h.clock.now += 9_000;
    h.svc.sweep();
    ok(h.ids().includes(id), "closed before the timeout");
    h.clock.now += 2_000;
    h.svc.sweep();
    ok(!h.ids().includes(id), "still open after the timeout");
    ok(conn.closed, "its connection was not closed");
    ok(h.refused.includes("slow_reader"));
  } finally {
    await h.close();
  }
});
