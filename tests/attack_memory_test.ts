/**
 * Issue 13 item 13: the relay-wide memory budget. Publishers with many video tracks and big GOPs, and TCP readers
 * that never read, each stay within their own bound (4 MiB per GOP cache, 2 MiB per reader queue), yet together
 * they held more than the pod's memory limit. With the budget, what they hold together stays under it, new
 * sessions are refused with a 503 that says why, and readers that do not read are let go.
 * @module
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { RawRtspConnection } from "./support/raw_rtsp.ts";
import { type RelayProcess, startRelayProcess } from "./support/relay.ts";
import { delay } from "./support/processes.ts";
import { writeRtpHeader } from "../src/rtp/packet.ts";
import { parsePrometheus, sampleValue } from "./support/prometheus.ts";

const MIB = 1024 * 1024;
const BUDGET = 16 * MIB;
const NO_LIMITS = [
  "--rtsp-max-connections-per-ip",
  "0",
  "--rtsp-max-sessions-per-ip",
  "0",
  "--rtsp-request-rate",
  "0",
  "--memory-budget-bytes",
  String(BUDGET),
];

function sdpWith(n: number): string {
  const medias = Array.from(
    { length: n },
    (_, i) => `m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=control:streamid=${i}\r\n`,
  );
  return `v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=x\r\nt=0 0\r\n${medias.join("")}`;
}

function req(
  method: string,
  url: string,
  cseq: number,
  headers: Record<string, string> = {},
  body = "",
): string {
  const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join("");
  return `${method} ${url} RTSP/1.0\r\nCSeq: ${cseq}\r\n${extra}` +
    (body ? `Content-Length: ${body.length}\r\n` : "") + `\r\n${body}`;
}

/** A TCP-interleaved publisher of `tracks` H.264 tracks, packets framed by hand. */
async function publisher(relay: RelayProcess, path: string, tracks: number) {
  const conn = await RawRtspConnection.open(relay.rtspPort);
  const url = `rtsp://127.0.0.1:${relay.rtspPort}/${path}`;
  const ann = await conn.request(
    req("ANNOUNCE", url, 1, { "Content-Type": "application/sdp" }, sdpWith(tracks)),
  );
  assertEquals(ann?.status, 200, `ANNOUNCE ${path}`);
  let session = "";
  for (let i = 0; i < tracks; i++) {
    const r = await conn.request(req("SETUP", `${url}/streamid=${i}`, 2 + i, {
      Transport: `RTP/AVP/TCP;unicast;interleaved=${2 * i}-${2 * i + 1};mode=record`,
      ...(session ? { Session: session } : {}),
    }));
    assertEquals(r?.status, 200, `SETUP ${path} ${i}`);
    session = r!.headers["session"]!.split(";")[0]!;
  }
  assertEquals((await conn.request(req("RECORD", url, 100, { Session: session })))?.status, 200);
  let seq = 0;
  return {
    conn,
    /** `count` packets of 1200 bytes on `track`, the first an IDR slice when `key`. */
    async send(track: number, count: number, key: boolean): Promise<void> {
      const batch = new Uint8Array(count * 1204);
      for (let k = 0; k < count; k++) {
        const off = k * 1204;
        batch.set([0x24, 2 * track, 1200 >> 8, 1200 & 0xff], off);
        const p = batch.subarray(off + 4, off + 1204);
        writeRtpHeader(p, 0, {
          marker: true,
          payloadType: 96,
          sequence: seq++ & 0xffff,
          timestamp: seq,
          ssrc: 7,
        });
        p[12] = key && k === 0 ? 0x65 : 0x41;
      }
      await conn.send(batch);
    },
  };
}

async function scrape(relay: RelayProcess) {
  return parsePrometheus(await (await fetch(`http://127.0.0.1:${relay.adminPort}/metrics`)).text());
}

Deno.test("attack: publishers with many big-GOP video tracks hold no more than the memory budget", async () => {
  await using relay = await startRelayProcess(NO_LIMITS);
  const pubs = await Promise.all([0, 1, 2].map((i) => publisher(relay, `gop${i}`, 16)));
  try {
    // A keyframe, then 1.2 MB of the same GOP on every track: 3 x 16 x 1.2 MB = 58 MB offered to the caches.
    for (const pub of pubs) {
      for (let t = 0; t < 16; t++) {
        await pub.send(t, 1, true);
        await pub.send(t, 1000, false);
      }
    }
    await delay(1000);
    const streams = await relay.get<{ streams: Array<{ tracks: Array<{ gopCacheBytes?: number }> }> }>(
      "/api/v1/streams",
    );
    const cached = streams.body.streams.flatMap((s) => s.tracks).reduce(
      (n, t) => n + (t.gopCacheBytes ?? 0),
      0,
    );
    const m = await scrape(relay);
    const used = sampleValue(m, "msm_memory_budget_used_bytes", { what: "gop_cache" }) ?? -1;
    const refused = sampleValue(m, "msm_memory_budget_refusals_total", { what: "gop_cache" }) ?? 0;
    console.log(
      `3 publishers x 16 tracks x 1.2 MB GOPs: ${(cached / MIB).toFixed(1)} MiB cached (budget ` +
        `${BUDGET / MIB} MiB; ${used} bytes on the gauge), ${refused} budget refusals`,
    );
    assert(cached <= BUDGET, `${cached} bytes cached`);
    assert(cached >= BUDGET / 2, `only ${cached} bytes cached: the caches should fill the budget`);
    assertEquals(used, cached);
    assert(refused > 0, "no refusal counted");
  } finally {
    for (const p of pubs) p.conn.conn.close();
  }
});

Deno.test("attack: TCP readers that never read hold no more than the budget, then are let go", async () => {
  await using relay = await startRelayProcess(NO_LIMITS);
  const pub = await publisher(relay, "fat", 1);
  const readers: RawRtspConnection[] = [];
  let sending = true;
  // About 3 MB/s of one video track.
  const feeding = (async () => {
    while (sending) {
      await pub.send(0, 25, false);
      await delay(10);
    }
  })();
  try {
    const url = `rtsp://127.0.0.1:${relay.rtspPort}/fat`;
    for (let i = 0; i < 30; i++) {
      const c = await RawRtspConnection.open(relay.rtspPort);
      readers.push(c);
      const setup = await c.request(
        req("SETUP", `${url}/trackID=0`, 1, { Transport: "RTP/AVP/TCP;unicast;interleaved=0-1" }),
      );
      assertEquals(setup?.status, 200, `reader ${i}`);
      const session = setup!.headers["session"]!.split(";")[0]!;
      await c.send(req("PLAY", url, 2, { Session: session })); // and never read again
    }
    let refusedNew: number | null = null;
    let maxQueued = 0;
    for (let t = 0; t < 12 && refusedNew !== 503; t++) {
      await delay(1000);
      const sessions = await relay.get<{ sessions: Array<{ queuedBytes: number }> }>("/api/v1/sessions");
      maxQueued = Math.max(maxQueued, sessions.body.sessions.reduce((n, s) => n + s.queuedBytes, 0));
      await using probe = await RawRtspConnection.open(relay.rtspPort);
      refusedNew = (await probe.request(
        req("SETUP", `${url}/trackID=0`, 1, { Transport: "RTP/AVP/TCP;unicast;interleaved=0-1" }),
      ))?.status ?? null;
    }
    const m = await scrape(relay);
    const used = sampleValue(m, "msm_memory_budget_used_bytes", { what: "reader_queue" }) ?? -1;
    // The readers that stopped reading are closed 10 s after their first dropped frame.
    let left = 30;
    for (let t = 0; t < 20 && left > 0; t++) {
      await delay(1000);
      const sessions = await relay.get<{ sessions: Array<{ role: string }> }>("/api/v1/sessions");
      left = sessions.body.sessions.filter((s) => s.role === "reader").length;
    }
    const slow = sampleValue(await scrape(relay), "msm_rtsp_refused_total", { reason: "slow_reader" }) ?? 0;
    console.log(
      `30 readers that never read on a 3 MB/s stream: at most ${(maxQueued / MIB).toFixed(1)} MiB queued ` +
        `(budget ${BUDGET / MIB} MiB, gauge ${
          (used / MIB).toFixed(1)
        } MiB); a new reader got ${refusedNew}; ` +
        `${30 - left} closed as slow readers (${slow} counted)`,
    );
    assert(maxQueued <= BUDGET, `${maxQueued} bytes queued`);
    assertEquals(refusedNew, 503, "a new session was admitted with the budget used up");
    assertEquals(left, 0, "readers that never read were kept");
    assert(slow >= 30, `${slow} slow readers counted`);
  } finally {
    sending = false;
    await feeding;
    for (const r of readers) r.conn.close();
    pub.conn.conn.close();
  }
});
