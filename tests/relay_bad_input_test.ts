/**
 * Bad input against a live relay while ffmpeg reads the demo stream: every malformed or misplaced request gets a
 * clear RTSP status (with the reason in the body), garbage UDP is counted and dropped, a stalled TCP reader gets a
 * bounded queue with counted drops, and the reader that behaves keeps every frame.
 * @module
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { delay, ffmpegRead, spawnProcess } from "./support/processes.ts";
import { rssBytes } from "./support/proc_stats.ts";
import { RawRtspConnection } from "./support/raw_rtsp.ts";
import { startRelayProcess } from "./support/relay.ts";

Deno.test("malformed and misplaced requests get clear statuses; the stream and other readers carry on", async () => {
  await using relay = await startRelayProcess();
  const base = relay.url("demo");
  const reader = ffmpegRead(base, { transport: "tcp", seconds: 6 });
  await delay(500);

  const cases: Array<{ name: string; send: string; status: number[]; closes?: boolean }> = [
    { name: "unknown method", send: `FROB ${base} RTSP/1.0\r\nCSeq: 1\r\n\r\n`, status: [501] },
    { name: "missing CSeq", send: `OPTIONS ${base} RTSP/1.0\r\n\r\n`, status: [400] },
    {
      name: "unknown path",
      send: `DESCRIBE ${relay.url("nope")} RTSP/1.0\r\nCSeq: 2\r\n\r\n`,
      status: [404],
    },
    {
      name: "SETUP of a track that does not exist",
      send:
        `SETUP ${base}/trackID=9 RTSP/1.0\r\nCSeq: 3\r\nTransport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n\r\n`,
      status: [404],
    },
    {
      name: "SETUP with multicast only",
      send:
        `SETUP ${base}/trackID=0 RTSP/1.0\r\nCSeq: 4\r\nTransport: RTP/AVP;multicast;destination=239.1.1.1;port=5000-5001\r\n\r\n`,
      status: [461],
    },
    {
      name: "SETUP with a malformed Transport",
      send: `SETUP ${base}/trackID=0 RTSP/1.0\r\nCSeq: 5\r\nTransport: ;;;\r\n\r\n`,
      status: [461, 400],
    },
    { name: "PLAY without SETUP", send: `PLAY ${base} RTSP/1.0\r\nCSeq: 6\r\n\r\n`, status: [454, 455] },
    {
      name: "PLAY of an unknown session",
      send: `PLAY ${base} RTSP/1.0\r\nCSeq: 7\r\nSession: deadbeef\r\n\r\n`,
      status: [454],
    },
    {
      name: "ANNOUNCE with a body that is not SDP",
      send: `ANNOUNCE ${relay.url("pub")} RTSP/1.0\r\nCSeq: 8\r\nContent-Type: application/sdp\r\n` +
        `Content-Length: 5\r\n\r\nhello`,
      status: [400, 415],
    },
    {
      name: "RTSP/2.0",
      send: `OPTIONS ${base} RTSP/2.0\r\nCSeq: 9\r\n\r\n`,
      status: [505],
      closes: true,
    },
    {
      name: "a header of 20 KiB",
      send: `OPTIONS ${base} RTSP/1.0\r\nCSeq: 10\r\nX-Big: ${"a".repeat(20_000)}\r\n\r\n`,
      status: [431, 400],
      closes: true,
    },
    {
      name: "a body over the limit",
      send: `SET_PARAMETER ${base} RTSP/1.0\r\nCSeq: 11\r\nContent-Length: 10000000\r\n\r\n`,
      status: [413],
      closes: true,
    },
    { name: "binary garbage", send: "\x00\x01\x02\xff garbage\r\n\r\n", status: [400], closes: true },
  ];
  for (const c of cases) {
    await using conn = await RawRtspConnection.open(relay.rtspPort);
    const res = await conn.request(c.send);
    assert(res, `${c.name}: the server closed without an answer`);
    assert(
      c.status.includes(res.status),
      `${c.name}: got ${res.status} ${res.body}, want ${c.status.join("|")}`,
    );
    if (c.closes) assert(await conn.closedByServer(), `${c.name}: connection should be closed`);
    else {
      assert(res.body.trim().length > 0, `${c.name}: ${res.status} without a reason`);
      // The connection stays usable after a refused request.
      const ok = await conn.request(`OPTIONS ${base} RTSP/1.0\r\nCSeq: 99\r\n\r\n`);
      assertEquals(ok?.status, 200, `${c.name}: connection unusable afterwards`);
    }
  }

  // Pipelined requests in one write are answered in order.
  {
    await using conn = await RawRtspConnection.open(relay.rtspPort);
    await conn.send(
      `OPTIONS ${base} RTSP/1.0\r\nCSeq: 1\r\n\r\nDESCRIBE ${base} RTSP/1.0\r\nCSeq: 2\r\n\r\n` +
        `FROB ${base} RTSP/1.0\r\nCSeq: 3\r\n\r\n`,
    );
    const answers = [await conn.response(), await conn.response(), await conn.response()];
    assertEquals(answers.map((a) => [a?.headers.cseq, a?.status]), [["1", 200], ["2", 200], ["3", 501]]);
  }

  const r = await reader;
  console.log(`reader during the bad input: ${r.frames}/150 frames`);
  assert(r.frames >= 0.95 * 150, `reader lost frames: ${r.frames}\n${r.stderr}`);
  assertEquals((await relay.get("/healthz")).status, 200);
  assert(relay.process.running);
});

Deno.test("garbage UDP at the server ports is counted and dropped; the UDP reader keeps decoding", async () => {
  await using relay = await startRelayProcess();
  const base = relay.url("demo");
  // A raw reader sets up UDP to learn the server ports.
  await using conn = await RawRtspConnection.open(relay.rtspPort);
  assertEquals((await conn.request(`DESCRIBE ${base} RTSP/1.0\r\nCSeq: 1\r\n\r\n`))?.status, 200);
  const sock = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  try {
    const myPort = (sock.addr as Deno.NetAddr).port;
    const setup = await conn.request(
      `SETUP ${base}/trackID=0 RTSP/1.0\r\nCSeq: 2\r\nTransport: RTP/AVP;unicast;client_port=${myPort}-${
        myPort + 1
      }\r\n\r\n`,
    );
    assertEquals(setup?.status, 200);
    const serverPort = Number(setup!.headers.transport!.match(/server_port=(\d+)-(\d+)/)![1]);

    const reader = ffmpegRead(base, { transport: "udp", seconds: 5 });
    await delay(1000);
    const garbage = [
      new Uint8Array(0),
      new Uint8Array([0xff]),
      new Uint8Array(11).fill(0x80), // shorter than an RTP header
      new Uint8Array(1400).fill(0xaa),
      Uint8Array.from([0x80, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0x65]), // well-formed RTP from a stranger
      Uint8Array.from([0x80, 200, 0, 6, 1, 2, 3, 4]), // a truncated RTCP SR
    ];
    const to = { transport: "udp" as const, hostname: "127.0.0.1", port: serverPort };
    const rtcpTo = { ...to, port: serverPort + 1 };
    for (let i = 0; i < 600; i++) {
      const g = garbage[i % garbage.length]!;
      await sock.send(g, i % 2 ? rtcpTo : to);
      if (i % 100 === 0) await delay(50);
    }
    const r = await reader;
    console.log(`UDP reader during 600 garbage datagrams: ${r.frames}/125 frames`);
    assert(r.frames >= 0.95 * 125, `${r.frames}\n${r.stderr}`);
    const view = await relay.stream("demo");
    const dropped = view!.tracks[0]!.dropped;
    assert(dropped.unexpected_source! >= 250, `garbage not counted: ${JSON.stringify(dropped)}`);
    assertEquals(view!.source.state, "ready");
  } finally {
    sock.close();
  }
});

Deno.test("a stalled TCP reader gets a bounded queue and counted drops; another reader is not held up", async () => {
  await using relay = await startRelayProcess(["--reader-queue-bytes", "65536"]);
  const url = relay.url("noise");
  // A noisy ~20 Mbit/s stream, so the stalled reader's socket buffers fill within seconds.
  const clip = await Deno.makeTempFile({ suffix: ".mp4" });
  try {
    const enc = spawnProcess([
      "ffmpeg",
      "-v",
      "error",
      "-y",
      "-f",
      "lavfi",
      "-i",
      "nullsrc=s=640x360:r=25,geq=random(1)*255:128:128",
      "-t",
      "4",
      "-c:v",
      "libx264",
      "-preset",
      "ultrafast",
      "-qp",
      "20",
      "-g",
      "25",
      "-bf",
      "0",
      "-pix_fmt",
      "yuv420p",
      clip,
    ], { name: "ffmpeg-noise" });
    assertEquals((await enc.exited).code, 0, enc.output());
    await using publisher = spawnProcess([
      "ffmpeg",
      "-nostdin",
      "-re",
      "-stream_loop",
      "-1",
      "-i",
      clip,
      "-c",
      "copy",
      "-f",
      "rtsp",
      "-rtsp_transport",
      "tcp",
      url,
    ], { name: "ffmpeg-publish-noise" });
    await delay(1500);

    // The stalled reader: PLAY over TCP, then never read again.
    await using stalled = await RawRtspConnection.open(relay.rtspPort);
    assertEquals((await stalled.request(`DESCRIBE ${url} RTSP/1.0\r\nCSeq: 1\r\n\r\n`))?.status, 200);
    const setup = await stalled.request(
      `SETUP ${url}/trackID=0 RTSP/1.0\r\nCSeq: 2\r\nTransport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n\r\n`,
    );
    assertEquals(setup?.status, 200);
    const session = setup!.headers.session!.split(";")[0]!;
    await stalled.send(`PLAY ${url} RTSP/1.0\r\nCSeq: 3\r\nSession: ${session}\r\n\r\n`);

    let maxQueued = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const { body } = await relay.get<{ sessions: Array<{ id: string; queuedBytes: number }> }>(
          "/api/v1/sessions",
        );
        const mine = body.sessions.find((s) => s.id === session);
        if (mine) maxQueued = Math.max(maxQueued, mine.queuedBytes);
        await delay(100);
      }
    })();
    const rssBefore = rssBytes(relay.process.pid);
    const r = await ffmpegRead(url, { transport: "tcp", seconds: 6 });
    const rssAfter = rssBytes(relay.process.pid);
    sampling = false;
    await sampler;
    const view = await relay.stream("noise");
    const drops = view!.tracks[0]!.dropped.slow_reader!;
    console.log(
      `stalled reader: ${drops} packets dropped; healthy reader ${r.frames}/150 frames; ` +
        `stalled queue peaked at ${maxQueued} bytes; ` +
        `relay RSS ${(rssBefore / 1e6).toFixed(1)} -> ${(rssAfter / 1e6).toFixed(1)} MB`,
    );
    assert(publisher.running, publisher.output());
    assert(drops > 100, `the stalled reader's drops were not counted: ${JSON.stringify(view!.tracks[0])}`);
    assert(r.frames >= 0.9 * 150, `healthy reader held up: ${r.frames}\n${r.stderr}`);
    // ~15 MB went past the stalled reader; its queue stays within its 64 KiB bound (one frame of slack).
    assert(maxQueued > 0 && maxQueued <= 65536 + 4 + 65535, `stalled queue held ${maxQueued} bytes`);
    // And the process does not grow with the traffic (GC noise aside).
    assert(rssAfter - rssBefore < 64e6, `relay memory grew by ${(rssAfter - rssBefore) / 1e6} MB`);
  } finally {
    await Deno.remove(clip);
  }
});
