/**
 * The syntax of the single values the configuration holds (ports, camera path names and URLs, admin host names,
 * RTSP users, static peers), shared by the config schema and the admin API's request bodies.
 * @module
 */
import { z } from "zod";
import { ipv4Number } from "../address.ts";
import { rtspUrlProblem } from "../rtsp/url.ts";
import { RTSP_MAX_PATH_BYTES } from "../rtsp/limits.ts";

/** A TCP or UDP port number. */
export const port = z.number().int().min(1).max(65535);

/**
 * The NAME of a pulled camera (`--path NAME=URL`): segments of letters, digits and `_.~-`, joined by `/`; short
 * enough that its track URLs (`NAME/trackID=N`) stay within the RTSP path cap.
 */
export const pathNameSchema = z.string().max(RTSP_MAX_PATH_BYTES - 32).regex(
  /^[A-Za-z0-9_.~-]+(\/[A-Za-z0-9_.~-]+)*$/,
  "path names use letters, digits, '_', '.', '~', '-' and '/' between segments",
);

/** Longest camera URL accepted (`--path NAME=URL`, `POST /api/v1/paths`). */
export const MAX_CAMERA_URL_LENGTH = 2048;

/**
 * The URL of a pulled camera (`--path NAME=URL`): one the RTSP client can parse. Refused early, a URL whose
 * password holds an unescaped `/` cannot end up, half parsed, in logs and errors; the message never quotes it.
 */
export const cameraUrlSchema = z.string().max(MAX_CAMERA_URL_LENGTH).regex(
  /^rtsps?:\/\//,
  "camera URLs start with rtsp://",
).superRefine((url, ctx) => {
  if (!/^rtsps?:\/\//.test(url)) return; // said above
  const problem = rtspUrlProblem(url);
  if (problem) {
    ctx.addIssue({
      code: "custom",
      message: `invalid camera URL (${problem}); percent-encode '/', '?' and '#' in user names and passwords`,
    });
  }
});

/** Shortest admin token accepted: 16 random characters are beyond guessing, even without the try limit. */
export const ADMIN_TOKEN_MIN_LENGTH = 16;

/**
 * A DNS name the admin API answers to besides IP literals and `localhost` (`--admin-host`): letters, digits,
 * `-` and `_` in dot-separated labels, an optional final dot. Compared case-insensitively.
 */
export const adminHostSchema = z.string().max(253).regex(
  /^[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?(\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?$/,
  "admin hosts are DNS names (letters, digits, '-', '_' and dots; no port, no scheme)",
);

/** An IPv4 address, or an IPv4 CIDR with a prefix of 0..32 bits. */
function isIpv4OrCidr(v: string): boolean {
  const [address, bits, extra] = v.split("/");
  if (extra !== undefined || ipv4Number(address ?? "") === null) return false;
  return bits === undefined || (/^\d{1,2}$/.test(bits) && Number(bits) <= 32);
}

/** A client the RTSP server may admit (`--rtsp-allow`): an IPv4 address or CIDR, or an IPv6 address. */
export const clientAddressSchema = z.string().refine(
  (v) => (v.includes(":") && /^[0-9a-fA-F:]+$/.test(v)) || isIpv4OrCidr(v),
  "expected an IPv4 address, an IPv4 CIDR (10.0.0.0/8) or an IPv6 address",
);

/** A user of the RTSP server (`NAME:PASSWORD:RIGHTS[:PATHGLOB]`). */
export const userSchema = z.object({
  name: z.string().min(1),
  password: z.string().min(1),
  rights: z.enum(["read", "publish", "read+publish"]),
  paths: z.string().min(1).default("*"),
});

/** A statically configured peer (`NODE=HOST:ADMINPORT:MESHPORT[@ZONE]`). */
export const peerSchema = z.object({
  node: z.string().min(1),
  host: z.string().min(1),
  adminPort: port,
  meshPort: port,
  zone: z.string().optional(),
});

/** An RTSP user. */
export type UserConfig = z.infer<typeof userSchema>;
/** A statically configured peer. */
export type PeerConfig = z.infer<typeof peerSchema>;
