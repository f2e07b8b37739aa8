/**
 * The RTSP service's front door: CSeq, unknown methods, the request rate and its billing, refusals counted
 * and logged, upstream waits. Driven through the harness in tests/support/rtsp_service_harness.ts.
 * @module
 */
import { deepStrictEqual as assertEquals, equal, match, ok } from "node:assert/strict";
import { request, response } from "../rtsp/message.ts";
import { NO_RTSP_LIMITS, requestCost } from "./rtsp_service.ts";
import { RtspProtocolError } from "../rtsp/errors.ts";
import { RtspAuthenticator } from "./rtsp_auth.ts";
import { createLogger } from "../log.ts";
import { BASE, FakeConn, Harness, HOST, text } from "../../tests/support/rtsp_service_harness.ts";

Deno.test("RtspService answers OPTIONS with the methods it implements, echoing CSeq", async () => {
  const h = new Harness();
  try {
    const res = await h.svc.handle(request("OPTIONS", "*", { CSeq: " 17 " }), new FakeConn());
    equal(res.status, 200);
    equal(res.headers.get("CSeq"), "17");
    equal(res.headers.get("Server"), "msm-relay");
    equal(res.headers.get("Session"), undefined);
    const methods = res.headers.get("Public")!.split(",").map((m) => m.trim()).sort();
    assertEquals(methods, [
      "ANNOUNCE",
      "DESCRIBE",
      "GET_PARAMETER",
      "OPTIONS",
      "PAUSE",
      "PLAY",
      "RECORD",
      "SETUP",
      "SET_PARAMETER",
      "TEARDOWN",
    ]);
    assertEquals(h.answered, [["OPTIONS", 200]]);
  } finally {
    await h.close();
  }
});

Deno.test("RtspService refuses a missing or malformed CSeq with 400 and unknown methods with 501", async () => {
  const h = new Harness();
  try {
    const conn = new FakeConn();
    equal((await h.svc.handle(request("OPTIONS", "*"), conn)).status, 400);
    const bad = await h.svc.handle(request("OPTIONS", "*", { CSeq: "abc" }), conn);
    equal(bad.status, 400);
    equal(bad.headers.get("CSeq"), "abc");
    const res = await h.send(conn, "REDIRECT", `${BASE}/cam`);
    equal(res.status, 501);
    equal(res.reason, "Not Implemented");
    equal((await h.send(conn, "FLY", `${BASE}/cam`)).status, 501);
    assertEquals(h.answered, [["OPTIONS", 400], ["OPTIONS", 400], ["REDIRECT", 501], ["FLY", 501]]);
    equal(h.hub.streams().length, 0);
  } finally {
    await h.close();
  }
});

Deno.test("RtspService answers 503 when the upstream is not ready in time, and lets the stream go", async () => {
  const h = new Harness({ sourceWaitMs: 20 });
  try {
    const conn = new FakeConn();
    equal((await h.send(conn, "DESCRIBE", `${BASE}/dead`)).status, 503);
    equal(h.stream("dead").refs, 0);
    const setup = await h.send(conn, "SETUP", `${BASE}/dead/trackID=0`, {
      Transport: "RTP/AVP/TCP;unicast;interleaved=0-1",
    });
    equal(setup.status, 503);
    assertEquals(h.ids(), []);
    equal(h.stream("dead").refs, 0);
  } finally {
    await h.close();
  }
});

Deno.test("RtspService answers a request naming an unknown Session with 454", async () => {
  const h = new Harness();
  try {
    const conn = new FakeConn();
    await h.setup(conn, `${BASE}/cam/trackID=0`, "RTP/AVP/TCP;unicast;interleaved=0-1");
    const unknown = { Session: "00000000deadbeef" };
    for (const method of ["PLAY", "PAUSE", "TEARDOWN", "GET_PARAMETER", "SET_PARAMETER", "OPTIONS"]) {
      const res = await h.send(conn, method, `${BASE}/cam/`, unknown);
      equal(res.status, 454, method);
      equal(res.reason, "Session Not Found");
      match(new TextDecoder().decode(res.body), /00000000deadbeef/); // the reason names the session
    }
    const setup = await h.send(conn, "SETUP", `${BASE}/cam/trackID=1`, {
      ...unknown,
      Transport: "RTP/AVP/TCP;unicast;interleaved=2-3",
    });
    equal(setup.status, 454);
    equal(h.ids().length, 1);
    equal(h.stream("cam").refs, 1);
  } finally {
    await h.close();
  }
});

Deno.test("RtspService bills a client's rate for new connections and failures only; past it, 503 with Retry-After", async () => {
  const h = new Harness({ limits: { ...NO_RTSP_LIMITS, requestsPerSecond: 2 } });
  try {
    const a = new FakeConn();
    const b = new FakeConn("10.0.0.2");
    const options = (conn: FakeConn) => h.send(conn, "OPTIONS", `${BASE}/cam`);
    const unknown = (conn: FakeConn) => h.send(conn, "DESCRIBE", `${BASE}/nothing`);
    for (let i = 0; i < 20; i++) equal((await options(a)).status, 200, `successful request ${i} is free`);
    // The connection cost one token of the burst of 4; three failures spend the rest.
    for (let i = 0; i < 3; i++) equal((await unknown(a)).status, 404);
    const res = await options(a);
    equal(res.status, 503);
    equal(res.headers.get("Retry-After"), "1");
    equal(res.headers.get("CSeq"), "24");
    match(
      text(res),
      /More than 2 failed requests or new connections per second from this client; retry after 1 s/,
    );
    equal((await options(b)).status, 200, "another address has its own bucket");
    h.clock.now += 500; // one token back at 2/s
    equal((await options(a)).status, 200);
    equal((await unknown(a)).status, 404);
    equal((await options(a)).status, 503);
    assertEquals(h.refused.filter((r) => r === "request_rate"), ["request_rate", "request_rate"]);
  } finally {
    await h.close();
  }
});

Deno.test("requestCost() bills failures, a quarter for a handshake's 401, nothing for success", () => {
  const req = (auth?: string) =>
    request("DESCRIBE", `${BASE}/cam`, { CSeq: "1", ...(auth ? { Authorization: auth } : {}) });
  equal(requestCost(req(), response(200)), 0);
  equal(requestCost(req(), response(401)), 0.25);
  equal(requestCost(req("Digest x"), response(401)), 1);
  equal(requestCost(req(), response(404)), 1);
  equal(requestCost(req(), response(503)), 1);
});

Deno.test("RtspService logs bad credentials once per client per 10 s, never the password, and counts each", async () => {
  const lines: Array<Record<string, unknown>> = [];
  const h = new Harness({
    auth: new RtspAuthenticator({
      users: [{ name: "u", password: "p-secret", rights: "read", paths: "*" }],
      schemes: ["basic"],
    }),
    logger: createLogger({ level: "info", write: (l) => lines.push(JSON.parse(l)) }),
  });
  try {
    const conn = new FakeConn();
    equal((await h.send(conn, "DESCRIBE", `${BASE}/cam`)).status, 401, "the handshake's first step");
    const wrong = { Authorization: `Basic ${btoa("u:wrong-secret")}` };
    for (let i = 0; i < 30; i++) {
      h.clock.now += 10;
      equal((await h.send(conn, "DESCRIBE", `${BASE}/cam`, wrong)).status, 401);
    }
    assertEquals(h.refused, ["auth_required", ...Array(30).fill("unauthorized")]);
    const refused = lines.filter((l) => l.msg === "rtsp request refused");
    assertEquals(refused.map((l) => [l.level, l.reason, l.remote, l.status, l.path, l.suppressed]), [
      ["warn", "unauthorized", HOST, 401, "cam", 0],
    ]);
    h.clock.now += 10_000;
    h.svc.sweep();
    const summary = lines.filter((l) => l.msg === "rtsp refusals suppressed");
    assertEquals(summary.map((l) => [l.reason, l.remote, l.suppressed]), [["unauthorized", HOST, 29]]);
    const log = JSON.stringify(lines);
    ok(!log.includes("wrong-secret") && !log.includes(btoa("u:wrong-secret")), "credentials logged");
  } finally {
    await h.close();
  }
});

Deno.test("RtspService counts framing errors and the server's connection limits under their reasons", async () => {
  const lines: Array<Record<string, unknown>> = [];
  const h = new Harness({ logger: createLogger({ level: "info", write: (l) => lines.push(JSON.parse(l)) }) });
  try {
    const conn = new FakeConn();
    h.svc.protocolError(conn, new RtspProtocolError("Message head exceeds 8192 bytes", 431, 8192));
    h.svc.protocolError(conn, new RtspProtocolError('Content-Length "9" exceeds 4 bytes', 413, 4));
    h.svc.protocolError(conn, new RtspProtocolError("Request incomplete after 10000 ms", 408, 10_000));
    h.svc.protocolError(conn, new RtspProtocolError("Malformed request line"));
    h.svc.limitHit(conn.remote, { reason: "max_connections", status: 503, limit: 1024, method: "OPTIONS" });
    h.svc.limitHit(conn.remote, { reason: "idle_timeout", status: null, limit: 60_000 });
    assertEquals(h.refused, [
      "header_too_large",
      "body_too_large",
      "request_timeout",
      "bad_request",
      "max_connections",
      "idle_timeout",
    ]);
    assertEquals(
      lines.map((l) => [l.msg, l.reason, l.status, l.limit]),
      [
        ["rtsp request refused", "header_too_large", 431, 8192],
        ["rtsp request refused", "body_too_large", 413, 4],
        ["rtsp request refused", "request_timeout", 408, 10],
        ["rtsp request refused", "bad_request", 400, undefined],
        ["rtsp request refused", "max_connections", 503, 1024],
        ["rtsp connection closed", "idle_timeout", null, 60],
      ],
    );
    ok(h.answered.some(([m, s]) => m === "OPTIONS" && s === 503), "the 503 is an answered request too");
    // The idle timeout spares a connection holding a session.
    equal(h.svc.holdsSession(conn), false);
    const id = await h.tcpReader(conn, "cam");
    equal(h.svc.holdsSession(conn), true);
    await h.send(conn, "TEARDOWN", `${BASE}/cam/`, { Session: id });
    equal(h.svc.holdsSession(conn), false);
  } finally {
    await h.close();
  }
});

Deno.test("RtspService answers at once, not with a promise, every request that need not wait for a stream", async () => {
  const h = new Harness();
  try {
    const conn = new FakeConn();
    equal((await h.send(conn, "DESCRIBE", `${BASE}/cam`)).status, 200); // starts the source; it becomes ready
    let cseq = 100;
    const now = (method: string, url: string, headers: Record<string, string> = {}) => {
      const req = request(method, url, { CSeq: String(++cseq), ...headers });
      const res = h.svc.handle(req, conn);
      ok(!(res instanceof Promise), `${method} answered with a promise`);
      h.svc.responseSent(req, res, conn);
      return res;
    };
    equal(now("OPTIONS", "*").status, 200);
    equal(now("DESCRIBE", `${BASE}/cam`).status, 200);
    equal(now("DESCRIBE", `${BASE}/nothing`).status, 404);
    const setup = now("SETUP", `${BASE}/cam/trackID=0`, { Transport: "RTP/AVP/TCP;unicast;interleaved=0-1" });
    equal(setup.status, 200);
    const session = setup.headers.get("Session")!.split(";")[0]!;
    equal(now("PLAY", `${BASE}/cam/`, { Session: session }).status, 200);
    equal(now("TEARDOWN", `${BASE}/cam/`, { Session: session }).status, 200);
    const waiting = h.svc.handle(request("DESCRIBE", `${BASE}/dead`, { CSeq: "1" }), conn);
    ok(waiting instanceof Promise); // a stream that is not ready yet
    equal((await waiting).status, 503);
  } finally {
    await h.close();
  }
});
