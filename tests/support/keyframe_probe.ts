/**
 * Start-up probes of an H.264 RTSP stream for the GOP cache's test and bench:
 * - {@linkcode playToKeyframe}: a TCP reader of our own that times PLAY → the last packet of its first complete
 *   keyframe (SPS, PPS and the IDR slices up to the marker bit), i.e. when a decoder can show a picture;
 * - {@linkcode waitForKeyframeEnd}: resolves just after a keyframe passed on the stream, so a test can join at a
 *   known point of the GOP (right after a keyframe: the worst case without a GOP cache);
 * - {@linkcode ffmpegFirstFrameMs}: time from starting ffmpeg to its first decoded frame.
 * @module
 */
import { H264_FU_A, H264_NAL_IDR, H264_NAL_PPS, H264_NAL_SPS, H264_STAP_A } from "../../src/rtp/h264.ts";
import { rtpPayloadOffset, rtpTimestamp } from "../../src/rtp/packet.ts";
import { spawnProcess } from "./processes.ts";
import { startRtspReader } from "./rtsp_peers.ts";

/** NAL unit types an H.264 RTP payload carries (STAP-A unpacked, FU-A start fragments only). */
function nalTypes(payload: Uint8Array): number[] {
  const type = payload[0]! & 0x1f;
  if (type >= 1 && type <= 23) return [type];
  if (type === H264_FU_A) return payload.length > 1 && (payload[1]! & 0x80) ? [payload[1]! & 0x1f] : [];
  if (type !== H264_STAP_A) return [];
  const out: number[] = [];
  for (let off = 1; off + 2 < payload.length;) {
    const size = (payload[off]! << 8) | payload[off + 1]!;
    off += 2;
    if (size === 0 || off + size > payload.length) break;
    out.push(payload[off]! & 0x1f);
    off += size;
  }
  return out;
}

/** Follows RTP packets and says when the first complete keyframe (with parameter sets) has arrived. */
export class KeyframeTracker {
  #sps = false;
  #pps = false;
  #idrTimestamp = -1;
  /** Packets seen. */
  packets = 0;

  /** Feeds one RTP packet. @returns true when it completes a keyframe preceded by SPS and PPS */
  push(packet: Uint8Array): boolean {
    this.packets++;
    const at = rtpPayloadOffset(packet);
    if (at < 0 || at >= packet.length) return false;
    for (const t of nalTypes(packet.subarray(at))) {
      if (t === H264_NAL_SPS) this.#sps = true;
      else if (t === H264_NAL_PPS) this.#pps = true;
      else if (t === H264_NAL_IDR && this.#sps && this.#pps) this.#idrTimestamp = rtpTimestamp(packet);
    }
    const marker = (packet[1]! & 0x80) !== 0;
    return marker && this.#idrTimestamp >= 0 && rtpTimestamp(packet) === this.#idrTimestamp;
  }
}

/** Milliseconds from the PLAY reply to the end of the first complete keyframe, and the packets before it. */
export async function playToKeyframe(
  url: string,
  timeoutMs = 10_000,
): Promise<{ ms: number; packets: number }> {
  const tracker = new KeyframeTracker();
  let done: (at: number) => void = () => {};
  const complete = new Promise<number>((resolve) => (done = resolve));
  let finished = false;
  const reader = await startRtspReader(url, {
    transport: "tcp",
    onRtp: (p) => {
      if (!finished && tracker.push(p)) {
        finished = true;
        done(performance.now());
      }
    },
  });
  const timer = setTimeout(() => done(NaN), timeoutMs);
  try {
    // Packets that arrived with the PLAY reply (the GOP burst) count from the reply itself.
    const at = await complete;
    if (Number.isNaN(at)) throw new Error(`no complete keyframe within ${timeoutMs} ms`);
    return { ms: Math.max(0, at - reader.playReplyAt), packets: tracker.packets };
  } finally {
    clearTimeout(timer);
    await reader.close();
  }
}

/** Resolves right after a keyframe (the marker packet of an IDR picture) passes on the live stream. */
export async function waitForKeyframeEnd(url: string, timeoutMs = 10_000): Promise<void> {
  let live = false;
  let seen: () => void = () => {};
  let fail: (e: Error) => void = () => {};
  const passed = new Promise<void>((resolve, reject) => {
    seen = resolve;
    fail = reject;
  });
  let tracker = new KeyframeTracker();
  const reader = await startRtspReader(url, {
    transport: "tcp",
    onRtp: (p) => {
      if (live && tracker.push(p)) seen();
    },
  });
  // Whatever arrived with the PLAY reply may be a cached burst, not the live edge: wait for fresh packets.
  setTimeout(() => {
    live = true;
    tracker = new KeyframeTracker();
  }, 100);
  const timer = setTimeout(() => fail(new Error(`no keyframe within ${timeoutMs} ms`)), timeoutMs);
  try {
    await passed;
  } finally {
    clearTimeout(timer);
    await reader.close();
  }
}

/**
 * Milliseconds from starting ffmpeg (reading `url` over TCP) to its first decoded video frame; an upper bound of
 * PLAY → first frame, since it includes ffmpeg's own start and the RTSP handshake.
 * @param inputArgs extra input options, e.g. `["-analyzeduration", "0"]`
 */
export async function ffmpegFirstFrameMs(url: string, inputArgs: string[] = []): Promise<number> {
  const started = performance.now();
  await using p = spawnProcess([
    "ffmpeg",
    "-hide_banner",
    "-nostdin",
    "-nostats",
    "-stats_period",
    "0.02",
    "-progress",
    "pipe:1",
    "-rtsp_transport",
    "tcp",
    ...inputArgs,
    "-i",
    url,
    "-map",
    "0:v",
    "-f",
    "null",
    "-",
  ], { name: "ffmpeg-first-frame" });
  await p.waitForLine(/^frame=[1-9]/, 10_000);
  return performance.now() - started;
}
