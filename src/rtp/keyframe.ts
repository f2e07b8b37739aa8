/**
 * Keyframe detection on whole RTP packets of the video codecs the relay caches GOPs of, read in place: the GOP
 * cache and the fast plane's worker apply the same grammar (RFC 6184 for H.264, RFC 7798 for H.265).
 * @module
 */
import { isKeyframeRtpPayloadAt } from "./h264.ts";
import { isH265KeyframeRtpPayloadAt } from "./h265.ts";
import { rtpPayloadOffsetAt } from "./packet.ts";

/** Video codecs whose keyframes the relay recognises. */
export type KeyframeCodec = "H264" | "H265";

/**
 * True when the RTP packet of `length` bytes at `at` in `buf` starts a decodable picture of `codec` (or carries its
 * parameter sets); false for a malformed packet. No view is made.
 */
export function isKeyframeRtpAt(codec: KeyframeCodec, buf: Uint8Array, at: number, length: number): boolean {
  const start = rtpPayloadOffsetAt(buf, at, length);
  if (start < 0) return false;
  // rtpPayloadOffsetAt validated the padding count already.
  const end = (buf[at]! & 0x20) !== 0 ? length - buf[at + length - 1]! : length;
  if (end <= start) return false;
  return codec === "H264"
    ? isKeyframeRtpPayloadAt(buf, at + start, at + end)
    : isH265KeyframeRtpPayloadAt(buf, at + start, at + end);
}
