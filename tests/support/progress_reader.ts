/**
 * Readers that report decoded frames over time, so a test can measure the longest stretch without a new frame
 * (the media gap a reader saw) and the frames decoded in a wall-clock window while something breaks upstream:
 * ffmpeg (`-progress` every 50 ms) and GStreamer (`rtspsrc ... ! avdec_h264 ! fakesink`, a line per frame).
 * @module
 */
import { type ManagedProcess, spawnProcess } from "./processes.ts";

/** A running reader. */
export interface ProgressReader extends AsyncDisposable {
  readonly process: ManagedProcess;
  /** Frames decoded so far. */
  frames(): number;
  /** Frames decoded between `fromMs` and `toMs` (Date.now() values), as seen when each count was reported. */
  framesBetween(fromMs: number, toMs: number): number;
  /** Longest wall-clock stretch (ms) without a new frame between `fromMs` and `toMs` (Date.now() values). */
  longestGapMs(fromMs: number, toMs: number): number;
  /** Resolves when `frames()` reaches `n`. */
  waitForFrames(n: number, timeoutMs: number): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Builds a {@linkcode ProgressReader} over `p`, whose stdout lines are turned into a frame count by `countOf`: it
 * returns the new total, or null for a line that says nothing about frames.
 */
function trackFrames(
  p: ManagedProcess,
  countOf: (line: string, frames: number) => number | null,
): ProgressReader {
  // (time of the first line showing this count) for each new frame count
  const samples: Array<{ t: number; frames: number }> = [];
  let frames = 0;
  p.onLine((line, stream) => {
    if (stream !== "stdout") return;
    const n = countOf(line, frames);
    if (n !== null && n > frames) {
      frames = n;
      samples.push({ t: Date.now(), frames: n });
    }
  });
  const framesAt = (t: number) => {
    let n = 0;
    for (const s of samples) {
      if (s.t > t) break;
      n = s.frames;
    }
    return n;
  };
  const stop = async () => {
    await p.stop("SIGINT", 2000);
  };
  return {
    process: p,
    frames: () => frames,
    framesBetween: (fromMs, toMs) => framesAt(toMs) - framesAt(fromMs),
    longestGapMs(fromMs, toMs) {
      let gap = 0;
      let last = fromMs;
      for (const s of samples) {
        if (s.t < fromMs) continue;
        if (s.t > toMs) break;
        gap = Math.max(gap, s.t - last);
        last = s.t;
      }
      return Math.max(gap, Math.min(toMs, Date.now()) - last);
    },
    async waitForFrames(n, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      while (frames < n) {
        if (!p.running) throw new Error(`reader exited with ${frames} frames\n${p.output()}`);
        if (Date.now() > deadline) throw new Error(`reader has ${frames} frames, wanted ${n}\n${p.output()}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    stop,
    [Symbol.asyncDispose]: stop,
  };
}

/** Starts `ffmpeg -rtsp_transport T -i URL -f null -` reporting progress. */
export function startProgressReader(
  url: string,
  transport: "udp" | "tcp",
  name = "ffmpeg-progress",
): ProgressReader {
  const p = spawnProcess([
    "ffmpeg",
    "-hide_banner",
    "-nostdin",
    "-nostats",
    "-stats_period",
    "0.05",
    "-progress",
    "pipe:1",
    "-rtsp_transport",
    transport,
    "-timeout",
    "20000000",
    "-i",
    url,
    "-map",
    "0:v",
    "-fps_mode",
    "passthrough",
    "-f",
    "null",
    "-",
  ], { name });
  return trackFrames(p, (line) => {
    const m = line.match(/^frame=(\d+)/);
    return m ? Number(m[1]) : null;
  });
}

/**
 * Starts a GStreamer reader, `rtspsrc location=URL protocols=T ! rtph264depay ! h264parse ! avdec_h264 !
 * fakesink`, counting decoded frames from the fakesink's `last-message = chain` lines (`gst-launch-1.0 -v`, its
 * stdout line buffered through `stdbuf` so each frame is seen when it is decoded). gst-launch exits on EOS or an
 * error, so an early stop shows as an exited process.
 */
export function startGstProgressReader(
  url: string,
  transport: "udp" | "tcp",
  name = "gst-progress",
): ProgressReader {
  const p = spawnProcess([
    "stdbuf",
    "-oL",
    "gst-launch-1.0",
    "-v",
    "rtspsrc",
    `location=${url}`,
    `protocols=${transport}`,
    "latency=200",
    "!",
    "rtph264depay",
    "!",
    "h264parse",
    "!",
    "avdec_h264",
    "!",
    "fakesink",
    "name=sink",
    "sync=false",
    "silent=false",
  ], { name, keepLines: { stdout: 200 } });
  return trackFrames(
    p,
    (line, frames) => line.includes("GstFakeSink:sink: last-message = chain") ? frames + 1 : null,
  );
}
