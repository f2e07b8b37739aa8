/**
 * RTSP URL rules of the relay: parsing `rtsp://` / `rtsps://` URLs, mapping Request-URIs to stream paths
 * and track numbers, resolving SDP `a=control` attributes, stripping credentials (for the wire) and redacting
 * secrets (for logs, errors and the admin API).
 * @module
 */

import { RtspProtocolError } from "./errors.ts";
import { RTSP_MAX_PATH_BYTES } from "./limits.ts";

/** Default TCP port of `rtsp://` (RFC 2326 §3.2). */
export const RTSP_DEFAULT_PORT = 554;
/** Default TCP port of `rtsps://` (RFC 2326 §3.2). */
export const RTSPS_DEFAULT_PORT = 322;

/** The parts of an RTSP URL. */
export interface RtspUrl {
  /** `rtsp` or `rtsps`, lower case. */
  scheme: "rtsp" | "rtsps";
  /** Host name or IP address; IPv6 literals come without their brackets (e.g. `::1`). */
  host: string;
  /** Explicit port, else 554 for `rtsp` and 322 for `rtsps`. */
  port: number;
  /** Path as written (not percent-decoded), with its leading `/`; `/` when the URL has none. */
  path: string;
  /** Percent-decoded user name, when the URL has userinfo. */
  user?: string;
  /** Percent-decoded password, when the userinfo has a `:`. */
  password?: string;
  /** Query string without the `?`, empty when absent. */
  query: string;
}

// deno-lint-ignore no-control-regex
const WHITESPACE_OR_CONTROL = /[\x00-\x20\x7f]/;
const REG_NAME = /^[A-Za-z0-9\-._~!$&'()*+,;=%]+$/;
const IPV6_LITERAL = /^[0-9A-Fa-f:.]+$/;
const SCHEME = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//;

/** Why a URL was refused, apart from the message (which quotes the URL, redacted). */
type InvalidUrlError = RtspProtocolError & { reason: string };

function invalid(url: string, why: string): InvalidUrlError {
  return Object.assign(new RtspProtocolError(`Invalid RTSP URL ${JSON.stringify(redactUrl(url))}: ${why}`), {
    reason: why,
  });
}

function percentDecode(url: string, part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw invalid(url, "bad percent-encoding in userinfo");
  }
}

/** Index of the first `?` or `#` at or after `from`, or the length. */
function pathEnd(s: string, from: number): number {
  for (let i = from; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x3f || c === 0x23) return i;
  }
  return s.length;
}

/**
 * Parses an `rtsp://` or `rtsps://` URL (scheme case-insensitive). The userinfo ends at the last `@` of the
 * authority, so passwords with an unescaped `@` (common in camera configs) still work.
 * @param url absolute RTSP URL
 * @returns its parts; the fragment, if any, is dropped
 * @throws RtspProtocolError (400) on another scheme, whitespace or control characters, an empty or
 *   malformed host, a port outside 1..65535 or bad percent-encoding in the userinfo
 * @example parseRtspUrl("rtsp://admin:p%40ss@[fe80::1]:8554/cam?x=1")
 * // { scheme: "rtsp", host: "fe80::1", port: 8554, path: "/cam", user: "admin", password: "p@ss", query: "x=1" }
 */
export function parseRtspUrl(url: string): RtspUrl {
  if (WHITESPACE_OR_CONTROL.test(url)) throw invalid(url, "whitespace or control character");
  const m = SCHEME.exec(url);
  const scheme = m?.[1]?.toLowerCase();
  if (scheme !== "rtsp" && scheme !== "rtsps") throw invalid(url, "scheme is not rtsp:// or rtsps://");
  const authorityStart = (m?.[0] ?? "").length;
  let authorityEnd = authorityStart;
  while (authorityEnd < url.length && !"/?#".includes(url.charAt(authorityEnd))) authorityEnd++;
  let authority = url.slice(authorityStart, authorityEnd);

  const result: RtspUrl = { scheme, host: "", port: 0, path: "/", query: "" };
  const at = authority.lastIndexOf("@");
  if (at >= 0) {
    const userinfo = authority.slice(0, at);
    authority = authority.slice(at + 1);
    const colon = userinfo.indexOf(":");
    if (colon >= 0) {
      result.user = percentDecode(url, userinfo.slice(0, colon));
      result.password = percentDecode(url, userinfo.slice(colon + 1));
    } else {
      result.user = percentDecode(url, userinfo);
    }
  }

  let portText = "";
  if (authority.startsWith("[")) {
    const close = authority.indexOf("]");
    if (close < 0) throw invalid(url, "unterminated IPv6 literal");
    result.host = authority.slice(1, close);
    if (!IPV6_LITERAL.test(result.host) || !result.host.includes(":")) {
      throw invalid(url, "malformed IPv6 literal");
    }
    const rest = authority.slice(close + 1);
    if (rest !== "") {
      if (!rest.startsWith(":")) throw invalid(url, "garbage after IPv6 literal");
      portText = rest.slice(1);
    }
  } else {
    const colon = authority.indexOf(":");
    result.host = colon >= 0 ? authority.slice(0, colon) : authority;
    portText = colon >= 0 ? authority.slice(colon + 1) : "";
    if (result.host === "") throw invalid(url, "empty host");
    if (!REG_NAME.test(result.host)) throw invalid(url, "malformed host");
  }
  if (portText === "") {
    result.port = scheme === "rtsps" ? RTSPS_DEFAULT_PORT : RTSP_DEFAULT_PORT;
  } else {
    if (!/^\d{1,5}$/.test(portText)) throw invalid(url, "malformed port");
    result.port = Number(portText);
    if (result.port < 1 || result.port > 65535) throw invalid(url, "port out of range");
  }

  const qOrHash = pathEnd(url, authorityEnd);
  const path = url.slice(authorityEnd, qOrHash);
  result.path = path === "" ? "/" : path;
  if (url.charAt(qOrHash) === "?") {
    const hash = url.indexOf("#", qOrHash);
    result.query = url.slice(qOrHash + 1, hash < 0 ? url.length : hash);
  }
  return result;
}

/**
 * Why a URL is not one {@linkcode parseRtspUrl} accepts, without quoting it (so a config error can name the
 * field and the problem without showing a password).
 * @param url candidate RTSP URL
 * @returns the problem (`malformed port`, `empty host`...), or null when the URL parses
 * @example rtspUrlProblem("rtsp://u:pa/ss@cam/x") // "malformed port"
 */
export function rtspUrlProblem(url: string): string | null {
  try {
    parseRtspUrl(url);
    return null;
  } catch (err) {
    return (err as Partial<InvalidUrlError>).reason ?? "not a valid URL";
  }
}

/** `s` without leading and trailing `/` (loops: a `/\/+$/` regex is quadratic on long slash runs). */
function trimSlashes(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && s.charCodeAt(a) === 0x2f) a++;
  while (b > a && s.charCodeAt(b - 1) === 0x2f) b--;
  return s.slice(a, b);
}

/** UTF-8 length of `s`, counted without encoding it. */
function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      n += 4; // a surrogate pair
      i++;
    } else n += 3;
  }
  return n;
}

/** `path` when it is within {@linkcode RTSP_MAX_PATH_BYTES}; else throws 414. */
function capped(url: string, path: string): string {
  if (path.length > RTSP_MAX_PATH_BYTES || utf8Length(path) > RTSP_MAX_PATH_BYTES) {
    throw new RtspProtocolError(
      `Request-URI path is longer than ${RTSP_MAX_PATH_BYTES} bytes (${utf8Length(path)} in ${
        JSON.stringify(redactUrl(url).slice(0, 64))
      }...)`,
      414,
      RTSP_MAX_PATH_BYTES,
    );
  }
  return path;
}

/**
 * The relay's stream path for a Request-URI: scheme, userinfo, host and port removed, then the query,
 * fragment and every leading and trailing `/`. The path is not percent-decoded. `*` gives `""`;
 * an absolute path (`/cam1`) is accepted too.
 * @param url Request-URI
 * @returns the stream path, e.g. `cam1` or `a/b`
 * @throws RtspProtocolError (400) when `url` is neither an RTSP URL, `*` nor an absolute path; (414) when the
 *   path is longer than {@linkcode RTSP_MAX_PATH_BYTES}
 * @example streamPathOf("rtsp://h:8554/cam1/") // "cam1"
 * @example streamPathOf("rtsp://h/a/b?x=1") // "a/b"
 */
export function streamPathOf(url: string): string {
  if (url === "*") return "";
  if (url.startsWith("/")) {
    if (WHITESPACE_OR_CONTROL.test(url)) throw invalid(url, "whitespace or control character");
    return capped(url, trimSlashes(url.slice(0, pathEnd(url, 0))));
  }
  return capped(url, trimSlashes(parseRtspUrl(url).path));
}

const TRACK_SUFFIX = /(?:^|\/)trackID=(\d{1,9})$/i;

/**
 * Splits a track control URL (as produced by {@linkcode resolveControl} with the `trackID=N` controls of
 * {@link ./sdp.ts}'s `rewriteSdpForServing`) into the stream path and the track number. The suffix is
 * recognised at the end of the path and also at the very end of the URL, after a query string, because
 * clients append controls textually (`rtsp://h/cam?token=x/trackID=1`).
 * @param url Request-URI of SETUP (or any request)
 * @returns `{ path, trackId }`; `trackId` is null when the URL names the whole stream
 * @throws RtspProtocolError (400, 414) as {@linkcode streamPathOf}; the cap counts the path with its track control
 * @example splitTrackUrl("rtsp://h/cam1/trackID=1") // { path: "cam1", trackId: 1 }
 * @example splitTrackUrl("rtsp://h/cam1") // { path: "cam1", trackId: null }
 */
export function splitTrackUrl(url: string): { path: string; trackId: number | null } {
  const hash = url.indexOf("#");
  const bare = hash < 0 ? url : url.slice(0, hash);
  if (bare.includes("?")) {
    const m = TRACK_SUFFIX.exec(bare);
    if (m && m.index > bare.indexOf("?")) {
      return { path: streamPathOf(bare.slice(0, m.index)), trackId: Number(m[1]) };
    }
  }
  const path = streamPathOf(url);
  const m = TRACK_SUFFIX.exec(path);
  if (!m) return { path, trackId: null };
  return { path: trimSlashes(path.slice(0, m.index)), trackId: Number(m[1]) };
}

/**
 * The part of a Request-URI that names the resource wherever the server is reached: the path as written (`/`
 * when empty) and the query, if any; scheme, userinfo, host, port and fragment dropped. An absolute path
 * (`/cam?x=1`) gives itself, `*` gives `*`. For comparing a Digest `uri` with the Request-URI (RFC 7616 §3.4.6):
 * clients send the Request-URI as written, some only its absolute path.
 * @param url Request-URI or Digest `uri`
 * @returns the path and query, or null when `url` is none of those forms
 * @example requestTarget("rtsp://user@h:8554/cam?x=1#f") // "/cam?x=1"
 * @example requestTarget("/cam") // "/cam"
 */
export function requestTarget(url: string): string | null {
  if (url === "*") return url;
  if (WHITESPACE_OR_CONTROL.test(url)) return null;
  let path: string;
  let query: string;
  if (url.startsWith("/")) {
    const end = pathEnd(url, 0);
    path = url.slice(0, end);
    const hash = url.indexOf("#", end);
    query = url.charAt(end) === "?" ? url.slice(end + 1, hash < 0 ? url.length : hash) : "";
  } else {
    try {
      ({ path, query } = parseRtspUrl(url));
    } catch {
      return null;
    }
  }
  return query === "" ? path : `${path}?${query}`;
}

/**
 * Resolves an SDP `a=control` attribute against a base URL (RFC 2326 §C.1.1): `*` or empty gives the base,
 * an absolute URL (`rtsp://`, `rtsps://`, any `scheme://`) is returned as is, and a relative control is
 * appended to the base with a single `/` between them.
 *
 * Why appending and not RFC 3986 reference resolution (which replaces the base's last segment): servers
 * write controls like `trackID=1` meaning "below the presentation", and send a Content-Base such as
 * `rtsp://cam/live.sdp` without a trailing slash. RFC 3986 would give `rtsp://cam/trackID=1`, which those
 * servers reject; live555 and ffmpeg append (`rtsp://cam/live.sdp/trackID=1`), and servers are written
 * against those clients, so the relay does the same. A control starting with `/` is appended too, without
 * doubling the slash. A query string in the base is not treated specially (the control goes after it),
 * again as those clients do.
 * @param base Content-Base, Content-Location or Request-URI of the DESCRIBE, or the session control URL
 * @param control value of the `a=control` attribute
 * @returns the absolute control URL
 * @example resolveControl("rtsp://cam/live", "trackID=1") // "rtsp://cam/live/trackID=1"
 * @example resolveControl("rtsp://cam/live/", "*") // "rtsp://cam/live/"
 */
export function resolveControl(base: string, control: string): string {
  const c = control.trim();
  if (c === "" || c === "*") return base;
  if (SCHEME.test(c)) return c;
  const baseSlash = base.endsWith("/");
  const controlSlash = c.startsWith("/");
  if (baseSlash && controlSlash) return base + c.slice(1);
  return base + (baseSlash || controlSlash ? "" : "/") + c;
}

/**
 * The URL with its `user:password@` removed, everything else kept byte for byte. For logs and for
 * Request-URIs sent upstream (credentials go in Authorization, never on the wire in the URL).
 * Never throws: a string that is not a `scheme://` URL is returned unchanged.
 * @param url any URL
 * @returns the URL without userinfo
 * @example withoutCredentials("rtsp://admin:secret@10.0.0.5:554/stream") // "rtsp://10.0.0.5:554/stream"
 */
export function withoutCredentials(url: string): string {
  const m = SCHEME.exec(url);
  if (!m) return url;
  const authorityStart = m[0].length;
  const authorityEnd = (() => {
    for (let i = authorityStart; i < url.length; i++) if ("/?#".includes(url.charAt(i))) return i;
    return url.length;
  })();
  const at = url.lastIndexOf("@", authorityEnd - 1);
  if (at < authorityStart) return url;
  return url.slice(0, authorityStart) + url.slice(at + 1);
}

/** What {@linkcode redactUrl} puts in place of a secret. */
export const REDACTED = "***";

/**
 * Query (and fragment) parameters whose values are taken for credentials: `?token=`, `?password=`, `?api_key=`,
 * `?auth=`, `?sig=`, `?session=`... Matched anywhere in the (percent-decoded) name, case-insensitive.
 */
const SECRET_PARAM = /pass|pwd|token|secret|key|auth|sig|credential|session|ticket|jwt/i;

/** A URL inside free text: a scheme, `://`, then everything up to whitespace, a quote or an angle bracket. */
const URL_IN_TEXT = /[A-Za-z][A-Za-z0-9+.-]*:\/\/[^\s"'<>`]*/g;

/** `host`, `host:port`, `[v6]` or `[v6]:port`: an authority without user info that a parser would accept. */
const PLAIN_AUTHORITY = /^(?:\[[0-9A-Fa-f:.]*\]|[^:@[\]]*)(?::\d*)?$/;

function redactParams(params: string): string {
  return params.split("&").map((p) => {
    const eq = p.indexOf("=");
    if (eq <= 0) return p;
    let name = p.slice(0, eq);
    try {
      name = decodeURIComponent(name);
    } catch {
      // Bad percent-encoding: test the name as written.
    }
    return SECRET_PARAM.test(name) ? `${p.slice(0, eq)}=${REDACTED}` : p;
  }).join("&");
}

/**
 * Hides the secrets of a URL for logs, error messages and the admin API: the password of its user info
 * (`rtsp://user:pass@host` becomes `rtsp://user:***@host`) and the values of query and fragment parameters named
 * like secrets (`?token=abc&channel=1` becomes `?token=***&channel=1`). The rest is kept as written.
 *
 * A URL whose password holds an unescaped `/`, `?` or `#` has its authority cut short there
 * (`rtsp://u:pa/ss@host`): such a URL is refused by {@linkcode parseRtspUrl}, and when the text before the cut is
 * not a plain `host:port`, everything up to the last `@` of the URL is taken for user info, so no part of the
 * password shows. Never throws.
 * @param url any URL (a string that is not `scheme://...` comes back unchanged)
 * @returns the URL without secrets
 * @example redactUrl("rtsp://admin:hunter2@10.0.0.9/live?token=abc&ch=1") // "rtsp://admin:***@10.0.0.9/live?token=***&ch=1"
 */
export function redactUrl(url: string): string {
  const m = SCHEME.exec(url);
  if (!m) return url;
  const start = m[0].length;
  let end = start;
  while (end < url.length && !"/?#".includes(url.charAt(end))) end++;
  let out = url.slice(0, start);
  let rest: string;
  const authority = url.slice(start, end);
  const at = authority.lastIndexOf("@");
  const lastAt = url.lastIndexOf("@");
  if (at >= 0) {
    out += userinfoRedacted(authority.slice(0, at)) + authority.slice(at);
    rest = url.slice(end);
  } else if (lastAt > end && !PLAIN_AUTHORITY.test(authority)) {
    // `user:pa/ss@host`: the password's `/` ended the authority early.
    out += userinfoRedacted(url.slice(start, lastAt) + ":") + "@";
    const hostEnd = (() => {
      for (let i = lastAt + 1; i < url.length; i++) if ("/?#".includes(url.charAt(i))) return i;
      return url.length;
    })();
    out += url.slice(lastAt + 1, hostEnd);
    rest = url.slice(hostEnd);
  } else {
    out += authority;
    rest = url.slice(end);
  }
  const hash = rest.indexOf("#");
  const beforeHash = hash < 0 ? rest : rest.slice(0, hash);
  const q = beforeHash.indexOf("?");
  if (q >= 0) out += beforeHash.slice(0, q + 1) + redactParams(beforeHash.slice(q + 1));
  else out += beforeHash;
  if (hash >= 0) out += "#" + redactParams(rest.slice(hash + 1));
  return out;
}

/** `user:***` for user info with a password, the user info unchanged without one. */
function userinfoRedacted(userinfo: string): string {
  const colon = userinfo.indexOf(":");
  return colon >= 0 ? `${userinfo.slice(0, colon)}:${REDACTED}` : userinfo;
}

/**
 * Applies {@linkcode redactUrl} to every URL inside a text: error messages that quote a Request-URI
 * (`DESCRIBE rtsp://cam/x?token=abc timed out`), log fields. Text around the URLs is kept.
 * @param text any text
 * @returns the text with each URL's secrets hidden
 * @example redactUrls('GET rtsp://cam/x?token=abc timed out') // "GET rtsp://cam/x?token=*** timed out"
 */
export function redactUrls(text: string): string {
  return text.replace(URL_IN_TEXT, (url) => redactUrl(url));
}
