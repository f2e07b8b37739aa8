/**
 * The RTSP server's limits against a live relay, set small by flags, while ffmpeg reads the demo stream over TCP:
 * each limit answers its status (431, 413, 408, idle close, 503 for sessions per client, 453 for readers per
 * path, 503 for connections, 503 with Retry-After for the request rate), the reader that was already playing
 * keeps every frame (its RTCP `$` frames cost no request tokens), the log holds one refusal line per reason
 * and client however many refusals there were, and `msm_rtsp_refused_total` counts each one.
 *
 * Every client here is 127.0.0.1, so the per-client limits are shared by the reader and the abuse: the reader
 * is unaffected because a playing session needs no further requests.
 * @module
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { delay, ffmpegRead, withTimeout } from "./support/processes.ts";
import { parsePrometheus, sampleValue } from "./support/prometheus.ts";
import { type RawResponse, RawRtspConnection } from "./support/raw_rtsp.ts";
import { startRelayProcess } from "./support/relay.ts";

const READ_SECONDS = 10;
const RATE = 20; // requests per second per client, burst 40
const TCP = "RTP/AVP/TCP;unicast;interleaved=0-1";

/** The relay's JSON log lines about refusals. */
type LogLine = { msg: string; reason: string; remote: string; status: number | null; limit?: number };

Deno.test("RTSP limits answer their statuses, a playing reader carries on, refusals are logged throttled and counted", async () => {
  await using relay = await startRelayProcess([
    "--rtsp-max-connections",
    "6",
    "--rtsp-max-sessions-per-ip",
    "3",
    "--rtsp-request-rate",
    String(RATE),
    "--rtsp-max-header-bytes",
    "2048",
    "--rtsp-max-body-bytes",
    "2048",
    "--rtsp-request-timeout",
    "1",
    "--rtsp-idle-timeout",
    "2",
    "--max-readers-per-path",
    "2",
  ]);
  const lines: LogLine[] = [];
  relay.process.onLine((line, stream) => {
    if (stream !== "stderr" || !line.startsWith("{")) return;
    const l = JSON.parse(line) as LogLine;
    if (/^rtsp (request refused|connection closed|refusals suppressed)$/.test(l.msg)) lines.push(l);
  });
  const base = relay.url("demo");
  const port = relay.rtspPort;
  const open = () => RawRtspConnection.open(port);
  const expectStatus = (what: string, res: RawResponse | null, status: number) => {
    assert(res, `${what}: closed without an answer`);
    assert(res.status === status, `${what}: ${res.status} ${res.body}, want ${status}`);
    return res;
  };

  // The reader plays first, and holds one of 127.0.0.1's sessions, connections and playing readers of "demo".
  const reader = ffmpegRead(base, { transport: "tcp", seconds: READ_SECONDS });
  await withTimeout(
    (async () => {
      while (((await relay.stream("demo"))?.packetsOut ?? 0) === 0) await delay(100);
    })(),
    10_000,
    "the reader never started playing",
  );

  // Head and body sizes: 431 and 413, then closed.
  {
    await using c = await open();
    expectStatus(
      "head of 3000 bytes",
      await c.request(`OPTIONS ${base} RTSP/1.0\r\nCSeq: 1\r\nX-Pad: ${"a".repeat(3000)}\r\n\r\n`),
      431,
    );
    assert(await c.closedByServer(), "closed after 431");
  }
  {
    await using c = await open();
    expectStatus(
      "body of 5000 bytes",
      await c.request(`SET_PARAMETER ${base} RTSP/1.0\r\nCSeq: 1\r\nContent-Length: 5000\r\n\r\n`),
      413,
    );
    assert(await c.closedByServer(), "closed after 413");
  }

  // Slowloris (an incomplete request for over 1 s) and an idle connection without a session (2 s), meanwhile.
  const slow = (async () => {
    await using c = await open();
    await c.send(`OPTIONS ${base} RTSP/1.0\r\nCSeq: 1\r\nX-Slow: `);
    const started = Date.now();
    expectStatus("incomplete request", await c.response(5000), 408);
    return Date.now() - started;
  })();
  const idle = (async () => {
    await using c = await open();
    expectStatus(
      "OPTIONS before idling",
      await c.request(`OPTIONS ${base} RTSP/1.0\r\nCSeq: 1\r\n\r\n`),
      200,
    );
    const started = Date.now();
    assert(await c.closedByServer(6000), "an idle connection without a session stays open");
    return Date.now() - started;
  })();

  // Sessions per client: the reader's and two more; a fourth SETUP gets 503. Readers per path: a second one
  // may play, a third gets 453.
  {
    await using s2 = await open();
    await using s3 = await open();
    await using s4 = await open();
    const setup = (c: RawRtspConnection) =>
      c.request(`SETUP ${base}/trackID=0 RTSP/1.0\r\nCSeq: 1\r\nTransport: ${TCP}\r\n\r\n`);
    const id2 = expectStatus("SETUP 2", await setup(s2), 200).headers.session!.split(";")[0];
    const id3 = expectStatus("SETUP 3", await setup(s3), 200).headers.session!.split(";")[0];
    const refused = expectStatus("SETUP 4", await setup(s4), 503);
    assert(/already holds 3 sessions/.test(refused.body), refused.body);
    const play = (c: RawRtspConnection, id: string | undefined) =>
      c.request(`PLAY ${base} RTSP/1.0\r\nCSeq: 2\r\nSession: ${id}\r\n\r\n`);
    expectStatus("PLAY of a second reader", await play(s2, id2), 200);
    const full = expectStatus("PLAY of a third reader", await play(s3, id3), 453);
    assert(/already has 2 playing readers/.test(full.body), full.body);
  }

  const slowMs = await slow;
  const idleMs = await idle;
  console.log(`408 after ${slowMs} ms (limit 1 s), idle close after ${idleMs} ms (limit 2 s)`);
  assert(slowMs >= 900 && slowMs < 3000, `408 after ${slowMs} ms`);
  assert(idleMs >= 1900 && idleMs < 4000, `idle close after ${idleMs} ms`);

  // Connections: the reader's and five more; every one beyond gets 503 to its first request and is closed.
  await delay(300); // the server sees the closes above
  const holders: RawRtspConnection[] = [];
  try {
    for (let i = 0; i < 5; i++) {
      const c = await open();
      holders.push(c);
      expectStatus(
        `connection ${i + 2}`,
        await c.request(`OPTIONS ${base} RTSP/1.0\r\nCSeq: 1\r\n\r\n`),
        200,
      );
    }
    for (let i = 0; i < 5; i++) {
      await using extra = await open();
      const res = expectStatus(
        `connection beyond the limit, ${i}`,
        await extra.request(`DESCRIBE ${base} RTSP/1.0\r\nCSeq: ${40 + i}\r\n\r\n`),
        503,
      );
      assertEquals(res.headers.cseq, String(40 + i));
      assert(/Too many connections \(limit 6\)/.test(res.body), res.body);
      assert(await extra.closedByServer(), "a refused connection is closed");
    }
    expectStatus(
      "a connection within the limit",
      await holders[0]!.request(`OPTIONS ${base} RTSP/1.0\r\nCSeq: 2\r\n\r\n`),
      200,
    );
  } finally {
    for (const c of holders) c.close();
  }

  // Request rate: 150 pipelined DESCRIBEs of a path that does not exist (a client probing). Failures are what the
  // rate bills: the burst is answered 404, the rest get 503 with Retry-After, and the connection stays usable.
  // Successful requests are free: 150 pipelined OPTIONS before them all pass.
  let rateRefused = 0;
  {
    await delay(300);
    await using c = await open();
    const n = 150;
    await c.send(
      Array.from({ length: n }, (_, i) => `OPTIONS ${base} RTSP/1.0\r\nCSeq: ${i + 1}\r\n\r\n`).join(""),
    );
    for (let i = 0; i < n; i++) expectStatus(`OPTIONS ${i + 1}`, (await c.response())!, 200);
    await c.send(
      Array.from(
        { length: n },
        (_, i) => `DESCRIBE ${base}/nothing-here RTSP/1.0\r\nCSeq: ${n + i + 1}\r\n\r\n`,
      ).join(""),
    );
    let answered = 0;
    for (let i = 0; i < n; i++) {
      const res = await c.response();
      assert(res, `answer ${i}: connection closed`);
      assertEquals(res.headers.cseq, String(n + i + 1));
      if (res.status === 404) answered++;
      else {
        expectStatus(`DESCRIBE ${i + 1}`, res, 503);
        assert(Number(res.headers["retry-after"]) >= 1, `Retry-After "${res.headers["retry-after"]}"`);
        rateRefused++;
      }
    }
    console.log(
      `${n} pipelined OPTIONS all passed; of ${n} DESCRIBEs of an unknown path ${answered} answered 404, ` +
        `${rateRefused} refused (rate ${RATE}/s, burst ${2 * RATE})`,
    );
    assert(answered >= 2 * RATE - 12 && answered <= 2 * RATE + 5, `${answered} answered`);
  }

  const r = await reader;
  const want = READ_SECONDS * 25;
  console.log(`reader during the abuse: ${r.frames}/${want} frames`);
  assert(r.frames >= 0.9 * want, `the reader lost frames: ${r.frames}\n${r.stderr}`);

  // One line per reason and client (within 10 s), whatever the number of refusals.
  const refusedLines = lines.filter((l) => l.msg !== "rtsp refusals suppressed");
  const byReason = new Map<string, number>();
  for (const l of refusedLines) byReason.set(l.reason, (byReason.get(l.reason) ?? 0) + 1);
  console.log(`log: ${lines.length} refusal lines, ${JSON.stringify(Object.fromEntries(byReason))}`);
  for (
    const reason of [
      "header_too_large",
      "body_too_large",
      "request_timeout",
      "idle_timeout",
      "max_sessions_per_ip",
      "max_readers_per_path",
      "max_connections",
      "request_rate",
    ]
  ) {
    assertEquals(byReason.get(reason), 1, `log lines for ${reason}`);
  }
  const rateLine = refusedLines.find((l) => l.reason === "request_rate")!;
  assertEquals([rateLine.remote, rateLine.status, rateLine.limit], ["127.0.0.1", 503, RATE]);
  assertEquals(refusedLines.find((l) => l.reason === "max_connections")?.limit, 6);
  assert(lines.length <= 12 && rateRefused >= 100, `${lines.length} lines for ${rateRefused}+ refusals`);

  // The metric counts every refusal.
  const res = await fetch(`http://${relay.host}:${relay.adminPort}/metrics`);
  const m = parsePrometheus(await res.text());
  const refusedTotal = (reason: string) => sampleValue(m, "msm_rtsp_refused_total", { reason });
  assertEquals(refusedTotal("request_rate"), rateRefused);
  assertEquals(refusedTotal("max_connections"), 5);
  for (const reason of ["header_too_large", "body_too_large", "request_timeout", "max_sessions_per_ip"]) {
    assertEquals(refusedTotal(reason), 1, reason);
  }
  assertEquals(refusedTotal("max_readers_per_path"), 1);
  assert(refusedTotal("idle_timeout")! >= 1);
  assertEquals(refusedTotal("unauthorized"), 0);
  assert(sampleValue(m, "msm_rtsp_requests_total", { method: "DESCRIBE", status: "503" })! >= rateRefused);
  assert(relay.process.running, "the relay is still up");
});
