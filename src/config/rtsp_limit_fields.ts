/**
 * The fields of the RTSP server's limits: session and connection timeouts, connections and sessions per client,
 * the request rate, request sizes, readers per path and tracks per stream. Each bounds what an outsider can make
 * the relay hold; the config schema (`schema.ts`) takes them in as they are, flags declared.
 * @module
 */
import { z } from "zod";
import { RTSP_MAX_BODY_BYTES, RTSP_MAX_HEAD_BYTES } from "../rtsp/limits.ts";
import { flagMeta } from "./flag_meta.ts";

/** The RTSP server's limits, as config schema fields. */
export const rtspLimitFields = {
  sessionTimeoutSeconds: z.number().int().min(5).max(3600).default(60).register(flagMeta, {
    name: "session-timeout",
    arg: "S",
    meaning: "RTSP session timeout advertised to clients, in seconds; enforced 10 s later",
  }),
  rtspMaxConnections: z.number().int().min(1).max(1_000_000).default(1024).register(flagMeta, {
    name: "rtsp-max-connections",
    arg: "N",
    meaning:
      "open RTSP connections; one more gets `503` (with `Retry-After`) to its first request and is closed",
  }),
  rtspMaxConnectionsPerIp: z.number().int().min(0).max(1_000_000).default(128).register(flagMeta, {
    name: "rtsp-max-connections-per-ip",
    arg: "N",
    meaning: "open RTSP connections from one client address; one more gets `503` with `Retry-After` and is " +
      "closed; `0`: no limit",
  }),
  rtspMaxSessionsPerIp: z.number().int().min(0).max(1_000_000).default(100).register(flagMeta, {
    name: "rtsp-max-sessions-per-ip",
    arg: "N",
    meaning:
      "RTSP sessions (readers and publishers) one client address may hold; a SETUP opening one more gets " +
      "`503`; `0`: no limit. Raise it for a recorder or proxy that reads many streams from one address",
  }),
  rtspRequestRate: z.number().int().min(0).max(1_000_000).default(50).register(flagMeta, {
    name: "rtsp-request-rate",
    arg: "N",
    meaning: "RTSP requests per second per client address, in bursts of up to 2N; more get `503` with " +
      "`Retry-After`; interleaved media and RTCP do not count; `0`: no limit",
  }),
  rtspMaxHeaderBytes: z.number().int().min(1024).max(1024 * 1024).default(RTSP_MAX_HEAD_BYTES).register(
    flagMeta,
    {
      name: "rtsp-max-header-bytes",
      arg: "N",
      meaning:
        "largest request head (request line and headers); larger gets `431` and the connection is closed",
    },
  ),
  rtspMaxBodyBytes: z.number().int().min(1024).max(16 * 1024 * 1024).default(RTSP_MAX_BODY_BYTES).register(
    flagMeta,
    {
      name: "rtsp-max-body-bytes",
      arg: "N",
      meaning:
        "largest request body (the SDP of an ANNOUNCE); larger gets `413` and the connection is closed",
    },
  ),
  rtspRequestTimeoutSeconds: z.number().min(1).max(3600).default(10).register(flagMeta, {
    name: "rtsp-request-timeout",
    arg: "S",
    meaning:
      "seconds a client has to send a whole request, the first one included (slowloris); then `408` and " +
      "the connection is closed",
  }),
  rtspIdleTimeoutSeconds: z.number().min(1).max(86_400).default(60).register(flagMeta, {
    name: "rtsp-idle-timeout",
    arg: "S",
    meaning: "a connection that holds no session and sends nothing for this many seconds is closed; " +
      "connections with a session follow `--session-timeout`",
  }),
  maxReadersPerPath: z.number().int().min(0).max(1_000_000).default(0).register(flagMeta, {
    name: "max-readers-per-path",
    arg: "N",
    default: "`0` (no limit)",
    meaning: "readers playing one path; a SETUP or PLAY of one more gets `453 Not Enough Bandwidth`",
  }),
  maxTracksPerStream: z.number().int().min(1).max(64).default(16).register(flagMeta, {
    name: "max-tracks-per-stream",
    arg: "N",
    meaning: "media sections one stream may have (1..64: a TCP-interleaved session needs two channels a " +
      "track): an ANNOUNCE with more gets `400`, a camera or a mesh root describing more is refused (logged, " +
      "shown in the stream's error)",
  }),
};
