/**
 * Reader-side figures of issue 6, each bounded in time, printed as a table and written to
 * bench/output/readers.json:
 * - added latency of one relay hop (publisher → relay → reader, TCP and UDP readers), p50 / p99;
 * - relay memory per reader (100 TCP readers on one stream);
 * - relay CPU per reader on a 4 Mbit/s stream (50 TCP readers), and the same for a GStreamer RTSP proxy
 *   (gst-rtsp-server re-serving rtspsrc, bench/support/gst_proxy.py) side by side;
 * - time to a first picture with and without the GOP cache (camera GOP 2 s): PLAY → a complete keyframe
 *   delivered (a reader of our own), and ffmpeg start → first decoded frame, with fast-start options and with
 *   ffmpeg's defaults (which analyse the stream before decoding and so wait for several frames).
 * Run: `deno run -A bench/readers.ts` (also part of `deno task bench`).
 * @module
 */
import { writeRtpHeader } from "../src/rtp/packet.ts";
import { delay, spawnProcess, startGstCamera } from "../tests/support/processes.ts";
import { type RelayProcess, startRelayProcess } from "../tests/support/relay.ts";
import { cpuSeconds, rssBytes } from "../tests/support/proc_stats.ts";
import { startRtspPublisher, startRtspReader } from "../tests/support/rtsp_peers.ts";
import { ffmpegFirstFrameMs, playToKeyframe, waitForKeyframeEnd } from "../tests/support/keyframe_probe.ts";
import { FigureTable, percentile } from "./support/figures.ts";

/** ffmpeg input options for a fast start (decode from the first packets instead of analysing the stream). */
const FAST_START = ["-analyzeduration", "0", "-probesize", "32"];

const OUTPUT = new URL("./output/readers.json", import.meta.url);
const SDP = [
  "v=0",
  "o=- 0 0 IN IP4 127.0.0.1",
  "s=bench",
  "t=0 0",
  "m=video 0 RTP/AVP 96",
  "a=rtpmap:96 H264/90000",
  "a=control:trackID=0",
  "",
].join("\r\n");

const figures = new FigureTable(60);
const report = figures.report;

/** A TCP publisher of `path` whose `send()` sends one 1200-byte RTP packet stamped with performance.now(). */
async function publish(relay: RelayProcess, path: string) {
  const publisher = await startRtspPublisher(relay.url(path), SDP, { transport: "tcp" });
  let seq = 0;
  return {
    conn: publisher.conn,
    /** Sends one 1200-byte RTP packet carrying the send time (performance.now()) at payload offset 4. */
    send() {
      seq = (seq + 1) & 0xffff;
      const packet = new Uint8Array(1200); // queued by reference until written: a fresh buffer per packet
      writeRtpHeader(packet, 0, {
        marker: true,
        payloadType: 96,
        sequence: seq,
        timestamp: seq * 3000,
        ssrc: 7,
      });
      packet[12] = 0x41; // a non-IDR slice: the GOP cache keeps nothing
      new DataView(packet.buffer).setFloat64(16, performance.now());
      void publisher.send(packet);
    },
  };
}

/** A reader of `url` that counts RTP packets and, given `delays`, records each packet's one-way delay. */
async function readerOf(url: string, transport: "udp" | "tcp", delays: number[] | null) {
  let packets = 0;
  const reader = await startRtspReader(url, {
    transport,
    onRtp: (payload) => {
      if (payload.length < 24) return;
      packets++;
      delays?.push(performance.now() - new DataView(payload.buffer, payload.byteOffset).getFloat64(16));
    },
  });
  return { close: reader.close, packets: () => packets };
}

/** A TCP reader of a relay path. */
function tcpReader(relay: RelayProcess, path: string, delays: number[] | null) {
  return readerOf(relay.url(path), "tcp", delays);
}

async function latency(): Promise<void> {
  await using relay = await startRelayProcess(["--no-gop-cache"]);
  const pub = await publish(relay, "lat");
  const tcpDelays: number[] = [];
  const udpDelays: number[] = [];
  const tcp = await tcpReader(relay, "lat", tcpDelays);
  const udp = await readerOf(relay.url("lat"), "udp", udpDelays);
  // 500 packets/s for 4 s, paced in 2 ms steps.
  const end = performance.now() + 4000;
  while (performance.now() < end) {
    pub.send();
    await delay(2);
  }
  await delay(200);
  for (const [name, d] of [["TCP", tcpDelays], ["UDP", udpDelays]] as const) {
    const sorted = d.slice(100).sort((a, b) => a - b); // skip the warm-up
    report(
      `added latency per hop, ${name} reader, p50`,
      percentile(sorted, 0.5),
      "ms",
      `${sorted.length} packets`,
    );
    report(`added latency per hop, ${name} reader, p99`, percentile(sorted, 0.99), "ms");
  }
  await tcp.close();
  await udp.close();
  pub.conn.close();
}

async function memoryAndCpu(): Promise<void> {
  // 100 readers and a publisher, all from 127.0.0.1, set up back to back: beyond the per-client defaults.
  await using relay = await startRelayProcess([
    "--no-gop-cache",
    "--reader-queue-bytes",
    "262144",
    "--rtsp-max-sessions-per-ip",
    "0",
    "--rtsp-request-rate",
    "0",
    "--rtsp-max-connections-per-ip",
    "0",
  ]);
  const pid = relay.process.pid;
  const pub = await publish(relay, "load");
  // 4 Mbit/s of 1200-byte packets: ~420 packets/s, sent in 10 ms batches.
  let running = true;
  const sender = (async () => {
    while (running) {
      for (let i = 0; i < 4; i++) pub.send();
      await delay(10);
    }
  })();
  await delay(1000);
  const rss0 = rssBytes(pid);
  const cpu0 = cpuSeconds(pid);
  const t0 = performance.now();
  await delay(3000);
  const idleCpu = (cpuSeconds(pid) - cpu0) / ((performance.now() - t0) / 1000);
  const readers = [];
  for (let i = 0; i < 50; i++) readers.push(await tcpReader(relay, "load", null));
  await delay(1000);
  const cpu1 = cpuSeconds(pid);
  const t1 = performance.now();
  await delay(5000);
  const loadedCpu = (cpuSeconds(pid) - cpu1) / ((performance.now() - t1) / 1000);
  report(
    "relay CPU per reader, 4 Mbit/s stream, 50 TCP readers",
    ((loadedCpu - idleCpu) / 50) * 100,
    "% core",
    `total ${(loadedCpu * 100).toFixed(1)} %`,
  );
  const delivered = readers.map((r) => r.packets());
  report("packets per reader in 5 s (min of 50)", Math.min(...delivered), "packets", "~2100 sent");
  for (let i = 0; i < 50; i++) readers.push(await tcpReader(relay, "load", null));
  await delay(2000);
  const rss1 = rssBytes(pid);
  report(
    "relay memory per reader (100 TCP readers)",
    (rss1 - rss0) / 100 / 1024,
    "KiB",
    `RSS ${(rss0 / 2 ** 20).toFixed(0)} -> ${(rss1 / 2 ** 20).toFixed(0)} MiB`,
  );
  running = false;
  await sender;
  for (const r of readers) await r.close();
  pub.conn.close();
}

/** A 4 Mbit/s 720p H.264 clip (made once, kept under bench/output/). */
async function clip4m(): Promise<string> {
  const path = new URL("./output/testsrc2-720p-4m.mp4", import.meta.url).pathname;
  try {
    if ((await Deno.stat(path)).size > 0) return path;
  } catch { /* make it */ }
  await Deno.mkdir(new URL("./output/", import.meta.url), { recursive: true });
  const p = spawnProcess([
    "ffmpeg",
    "-v",
    "error",
    "-y",
    "-f",
    "lavfi",
    "-i",
    "testsrc2=size=1280x720:rate=25",
    "-t",
    "20",
    "-c:v",
    "libx264",
    "-preset",
    "veryfast",
    "-b:v",
    "4M",
    "-maxrate",
    "4M",
    "-bufsize",
    "2M",
    "-g",
    "25",
    "-bf",
    "0",
    "-pix_fmt",
    "yuv420p",
    path,
  ], { name: "ffmpeg-clip-4m" });
  if ((await p.exited).code !== 0) throw new Error(`clip: ${p.output()}`);
  return path;
}

/** CPU (share of a core) a process uses for `ms`. */
async function cpuOver(pid: number, ms: number): Promise<number> {
  const c0 = cpuSeconds(pid);
  const t0 = performance.now();
  await delay(ms);
  return (cpuSeconds(pid) - c0) / ((performance.now() - t0) / 1000);
}

/** Relay vs a GStreamer RTSP proxy (gst-rtsp-server re-serving rtspsrc): CPU per reader, 50 TCP readers each. */
async function cpuVersusGstreamer(): Promise<void> {
  await using relay = await startRelayProcess(["--linger", "30"]);
  await using publisher = spawnProcess([
    "ffmpeg",
    "-hide_banner",
    "-nostdin",
    "-re",
    "-stream_loop",
    "-1",
    "-i",
    await clip4m(),
    "-c",
    "copy",
    "-f",
    "rtsp",
    "-rtsp_transport",
    "tcp",
    relay.url("hd"),
  ], { name: "ffmpeg-publish-4m" });
  await delay(2000);
  await using proxy = spawnProcess([
    "/usr/bin/python3",
    "-u",
    new URL("./support/gst_proxy.py", import.meta.url).pathname,
    "--upstream",
    relay.url("hd"),
  ], { name: "gst-proxy" });
  const port = Number((await proxy.waitForLine(/^READY port=(\d+)/, 15_000))[1]);
  const proxyUrl = `rtsp://127.0.0.1:${port}/proxy`;
  const warm = await readerOf(proxyUrl, "tcp", null); // the proxy now pulls from the relay
  await delay(2000);
  for (
    const [name, pid, url] of [
      ["msm-relay", relay.process.pid, relay.url("hd")],
      ["GStreamer proxy", proxy.pid, proxyUrl],
    ] as const
  ) {
    const idle = await cpuOver(pid, 3000);
    const readers = [];
    for (let i = 0; i < 50; i++) readers.push(await readerOf(url, "tcp", null));
    await delay(1000);
    const before = readers.map((r) => r.packets());
    const loaded = await cpuOver(pid, 5000);
    const got = readers.map((r, i) => r.packets() - before[i]!);
    report(
      `CPU per reader, 4 Mbit/s, 50 TCP readers: ${name}`,
      ((loaded - idle) / 50) * 100,
      "% core",
      `total ${(loaded * 100).toFixed(1)} %, min ${Math.min(...got)} packets/reader in 5 s`,
    );
    for (const r of readers) await r.close();
    await delay(1000);
  }
  await warm.close();
  void publisher;
}

async function timeToFirstFrame(): Promise<void> {
  await using camera = await startGstCamera({ fps: 25, gop: 50 }); // a keyframe every 2 s
  for (const gopCache of [true, false]) {
    await using relay = await startRelayProcess([
      "--path",
      `cam=${camera.url}`,
      "--linger",
      "60",
      ...(gopCache ? [] : ["--no-gop-cache"]),
    ]);
    const url = relay.url("cam");
    await waitForKeyframeEnd(url); // warm up: the relay is now pulling
    const label = `GOP cache ${gopCache ? "on" : "off"}`;
    const figures: Array<[string, () => Promise<number>]> = [
      [`PLAY -> complete keyframe delivered, ${label}`, async () => (await playToKeyframe(url)).ms],
      [
        `ffmpeg start -> first decoded frame, fast start, ${label}`,
        () => ffmpegFirstFrameMs(url, FAST_START),
      ],
      [`ffmpeg start -> first decoded frame, defaults, ${label}`, () => ffmpegFirstFrameMs(url)],
    ];
    for (const [figure, measure] of figures) {
      const samples: number[] = [];
      for (let i = 0; i < 5; i++) {
        await delay(317 * (i + 1) % 1900); // join at different points of the GOP
        samples.push(await measure());
      }
      samples.sort((a, b) => a - b);
      report(
        figure,
        percentile(samples, 0.5),
        "ms",
        `median of 5; min ${samples[0]!.toFixed(0)}, max ${samples.at(-1)!.toFixed(0)}`,
      );
    }
  }
}

if (import.meta.main) {
  // `deno run -A bench/readers.ts [latency|memory|gstreamer|first-frame ...]`: all by default.
  const only = new Set(Deno.args);
  const run = (name: string) => only.size === 0 || only.has(name);
  console.log("bench/readers.ts");
  if (run("latency")) await latency();
  if (run("memory")) await memoryAndCpu();
  if (run("gstreamer")) await cpuVersusGstreamer();
  if (run("first-frame")) await timeToFirstFrame();
  await Deno.mkdir(new URL("./", OUTPUT), { recursive: true });
  await Deno.writeTextFile(
    OUTPUT,
    JSON.stringify({ at: new Date().toISOString(), rows: figures.rows }, null, 2),
  );
}
