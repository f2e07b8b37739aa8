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
/**
 * Longest path of a Request-URI, in UTF-8 bytes after its leading and trailing `/` are removed: the stream path
 * with any track control (`cam/trackID=0`). Longer ones are answered 414 Request-URI Too Long before anything looks
 * at them. Real paths are short (a Kubernetes `namespace/name` pair is at most 127 characters; camera paths such as
 * `Streaming/Channels/101` far less), and every per-request use of the path (users' globs, stream and metric keys,
 * logs) stays cheap and small under this bound.
 */
export const RTSP_MAX_PATH_BYTES = 256;
