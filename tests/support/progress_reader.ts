/**
 * An ffmpeg reader that reports decoded frames over time (`-progress` every 100 ms), so a test can measure the
 * longest stretch without a new frame (the media gap a reader saw) while something breaks upstream.
 * @module
 */
import { type ManagedProcess, spawnProcess } from "./processes.ts";

/** A running reader. */
export interface ProgressReader extends AsyncDisposable {
  readonly process: ManagedProcess;
  /** Frames decoded so far. */
  frames(): number;
  /** Longest wall-clock stretch (ms) without a new frame between `fromMs` and `toMs` (Date.now() values). */
  longestGapMs(fromMs: number, toMs: number): number;
  /** Resolves when `frames()` reaches `n`. */
  waitForFrames(n: number, timeoutMs: number): Promise<void>;
  stop(): Promise<void>;
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
  // (time of the first progress line showing this count) for each new frame count
  const samples: Array<{ t: number; frames: number }> = [];
  let frames = 0;
  p.onLine((line, stream) => {
    if (stream !== "stdout") return;
    const m = line.match(/^frame=(\d+)/);
    if (!m) return;
    const n = Number(m[1]);
    if (n > frames) {
      frames = n;
      samples.push({ t: Date.now(), frames: n });
    }
  });
  const stop = async () => {
    await p.stop("SIGINT", 2000);
  };
  return {
    process: p,
    frames: () => frames,
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
