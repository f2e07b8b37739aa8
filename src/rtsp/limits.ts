/**
 * Hard limits of the RTSP wire layer. Everything that reads bytes from the network checks them. The head and body
 * bounds are defaults: the server takes `--rtsp-max-header-bytes` and `--rtsp-max-body-bytes` instead.
 * @module
 */

/** Default largest request or response head (start line + headers), in bytes. Larger heads are answered 431. */
export const RTSP_MAX_HEAD_BYTES = 8 * 1024;
/** Default largest message body (SDP of ANNOUNCE, SET_PARAMETER), in bytes. Larger bodies are answered 413. */
export const RTSP_MAX_BODY_BYTES = 64 * 1024;
/** Most header lines in one message. */
export const RTSP_MAX_HEADER_COUNT = 64;
/** Largest `$`-interleaved frame payload (the length field is 16 bits). */
export const RTSP_MAX_FRAME_BYTES = 0xffff;
