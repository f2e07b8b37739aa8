/**
 * What a browser viewer costs the relay against an RTSP reader of the same stream (issue 18): one relay with a
 * GStreamer camera (720p, 25 fps), BENCH_VIEWER_COUNT (20) readers of one kind at a time for BENCH_VIEWER_SECONDS
 * (30 s, after 3 s to settle): RTSP over TCP (interleaved, as a browser-side proxy would read), RTSP over UDP,
 * fragmented-MP4 WebSocket viewers (the `/watch` player's, without a browser: Deno WebSocket clients that read
 * everything) and WebRTC viewers (WHEP, DTLS-SRTP; tests/support/whep_client.ts, which counts what arrives without
 * decoding it). BENCH_VIEWER_KINDS picks some. One reader first for 10 s (the camera's ingest and the relay's
 * fixed costs), then COUNT more: prints the relay's CPU per added reader and second, and per picture, over the
 * whole window, and how it splits between the main thread, the fast plane's Worker and the other threads.
 * `deno run -A bench/viewer_cost.ts` (`deno task bench:viewer-cost`).
 * @module
 */
import { delay, startGstCamera } from "../tests/support/processes.ts";
import { openWindow } from "./support/trial_window.ts";
import { type RelayProcess, startRelayProcess } from "../tests/support/relay.ts";
import { startRtspReader } from "../tests/support/rtsp_peers.ts";
import { startWhepClient } from "../tests/support/whep_client.ts";

const COUNT = Number(Deno.env.get("BENCH_VIEWER_COUNT") ?? 20);
const SECONDS = Number(Deno.env.get("BENCH_VIEWER_SECONDS") ?? 30);
const FPS = 25;

type Kind = "rtsp/tcp" | "rtsp/udp" | "fmp4/websocket" | "webrtc";

async function readers(relay: RelayProcess, kind: Kind, count: number): Promise<{ close(): Promise<void> }> {
  const closers: Array<() => Promise<void> | void> = [];
  for (let i = 0; i < count; i++) {
    if (kind === "webrtc") {
      const client = await startWhepClient(`http://${relay.host}:${relay.adminPort}`, "cam");
      closers.push(() => client.close());
    } else if (kind === "fmp4/websocket") {
      const ws = new WebSocket(`ws://${relay.host}:${relay.adminPort}/watch/v1/fmp4/cam`);
      ws.binaryType = "arraybuffer";
      await new Promise((resolve, reject) => {
        ws.onopen = resolve;
        ws.onerror = () => reject(new Error("viewer refused"));
      });
      ws.onmessage = () => {};
      closers.push(() => ws.close());
    } else {
      const r = await startRtspReader(relay.url("cam"), {
        transport: kind === "rtsp/tcp" ? "tcp" : "udp",
        onRtp: () => {},
      });
      closers.push(() => r.close());
    }
  }
  return { close: async () => void await Promise.all(closers.map((c) => c())) };
}

/** The relay's CPU over `seconds`, per kind of thread (ms of CPU per second). */
async function cpuOver(relay: RelayProcess, seconds: number): Promise<Map<string, number>> {
  const window = openWindow(relay.process.pid);
  await delay(seconds * 1000);
  const w = window.end();
  const out = new Map<string, number>([["all", (1000 * w.cpuSeconds) / w.seconds]]);
  for (const g of w.groups) {
    const key = g.group === "main" || g.group === "Worker" ? g.group : "rest";
    out.set(key, (out.get(key) ?? 0) + (1000 * g.seconds) / w.seconds);
  }
  return out;
}

async function trial(kind: Kind): Promise<string> {
  await using camera = await startGstCamera({ fps: FPS, gop: 2 * FPS, width: 1280, height: 720 });
  await using relay = await startRelayProcess(
    [
      "--path",
      `cam=${camera.url}`,
      "--max-viewers",
      String(COUNT + 1),
    ],
    {},
    { permissions: ["--allow-ffi"] },
  ); // as `deno task start` runs it: the fast plane, libcrypto's SRTP
  // One reader first (the camera's ingest and the relay's fixed costs), then COUNT more: the difference is theirs.
  const one = await readers(relay, kind, 1);
  try {
    await delay(3000);
    const base = await cpuOver(relay, 10);
    const more = await readers(relay, kind, COUNT);
    try {
      await delay(3000);
      const loaded = await cpuOver(relay, SECONDS);
      const added = (key: string) => ((loaded.get(key) ?? 0) - (base.get(key) ?? 0)) / COUNT;
      const perReader = added("all");
      return `  ${kind.padEnd(15)} relay CPU ${base.get("all")!.toFixed(1)} ms/s with 1, ${
        loaded.get("all")!.toFixed(1)
      } with ${COUNT + 1}: ` +
        `${perReader.toFixed(2)} ms/s per reader more, ${
          (1000 * perReader / FPS).toFixed(1)
        } µs per picture ` +
        `(main thread ${added("main").toFixed(2)}, Worker ${added("Worker").toFixed(2)}, other threads ${
          added("rest").toFixed(2)
        })`;
    } finally {
      await more.close();
    }
  } finally {
    await one.close();
  }
}

if (import.meta.main) {
  console.log(
    `bench/viewer_cost.ts: ${COUNT} readers of one kind, a GStreamer camera 1280x720 at ${FPS} fps, ${SECONDS} s ` +
      `per kind; load avg ${Deno.loadavg().join(" ")}`,
  );
  const kinds = (Deno.env.get("BENCH_VIEWER_KINDS") ?? "rtsp/tcp,rtsp/udp,fmp4/websocket,webrtc").split(",");
  for (const kind of kinds as Kind[]) console.log(await trial(kind));
}
