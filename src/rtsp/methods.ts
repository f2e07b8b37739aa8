/**
 * The RTSP methods the relay's server implements (its `Public` header, and the `method` label values of
 * `msm_rtsp_requests_total`: any other method counts as `OTHER`).
 * @module
 */

/** Methods this server implements. */
export const PUBLIC_METHODS: readonly string[] = [
  "OPTIONS",
  "DESCRIBE",
  "SETUP",
  "PLAY",
  "PAUSE",
  "TEARDOWN",
  "GET_PARAMETER",
  "SET_PARAMETER",
  "ANNOUNCE",
  "RECORD",
];
