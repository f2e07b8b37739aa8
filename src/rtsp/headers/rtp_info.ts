/**
 * The RTSP `RTP-Info` header (RFC 2326 §12.33): for each stream of a PLAY reply, its URL and the sequence
 * number and RTP timestamp of the first packet sent after the PLAY.
 * @module
 */

import { RtspProtocolError } from "../errors.ts";

/** One stream of an `RTP-Info` header. */
export interface RtpInfoEntry {
  /** Stream URL, as sent. */
  url: string;
  /** Sequence number of the first RTP packet, 0..65535. */
  seq?: number;
  /** RTP timestamp of the first RTP packet, 0..2^32-1. */
  rtptime?: number;
}

/** A segment after a comma starts a new entry only if it starts with one of these parameters. */
const ENTRY_START = /^\s*(?:url|seq|rtptime)\s*=/i;
const PARAM = /^\s*([A-Za-z][A-Za-z0-9_-]*)\s*=(.*)$/s;

function fail(message: string): never {
  throw new RtspProtocolError(message);
}

function parseEntry(entry: string, value: string): RtpInfoEntry {
  let url: string | undefined;
  let seq: number | undefined;
  let rtptime: number | undefined;
  // A piece that is no known parameter and follows the url belongs to the url (`rtsp://h/s;x=1`).
  let extendingUrl = false;
  for (const piece of entry.split(";")) {
    if (piece.trim() === "") continue;
    const m = PARAM.exec(piece);
    const key = m?.[1]?.toLowerCase();
    const raw = m?.[2]?.trim() ?? "";
    if (key === "url") {
      if (url !== undefined) fail(`Stream "${entry.trim()}" has more than one url in RTP-Info "${value}"`);
      url = raw;
      extendingUrl = true;
    } else if (key === "seq") {
      if (!/^\d{1,5}$/.test(raw) || Number(raw) > 0xffff) fail(`Invalid seq "${raw}" in RTP-Info "${value}"`);
      seq = Number(raw);
      extendingUrl = false;
    } else if (key === "rtptime") {
      if (!/^\d{1,10}$/.test(raw) || Number(raw) > 0xffffffff) {
        fail(`Invalid rtptime "${raw}" in RTP-Info "${value}"`);
      }
      rtptime = Number(raw);
      extendingUrl = false;
    } else if (extendingUrl && url !== undefined && key !== "ssrc") {
      url += `;${piece.trimEnd()}`;
    } else {
      extendingUrl = false;
    }
  }
  if (url !== undefined && url.length >= 2 && url.startsWith('"') && url.endsWith('"')) {
    url = url.slice(1, -1);
  }
  if (url === undefined || url === "") fail(`Stream "${entry.trim()}" has no url in RTP-Info "${value}"`);
  const out: RtpInfoEntry = { url };
  if (seq !== undefined) out.seq = seq;
  if (rtptime !== undefined) out.rtptime = rtptime;
  return out;
}

/**
 * Parses an `RTP-Info` header value: entries `url=...;seq=...;rtptime=...` separated by commas. A comma or
 * semicolon inside a URL is kept when what follows it is not a known parameter; `ssrc` and unknown
 * parameters after `seq`/`rtptime` are ignored, and a quoted url (RFC 7826) is unquoted.
 * @throws {RtspProtocolError} status 400 when an entry has no url or a number is malformed or out of range
 * @example parseRtpInfo("url=rtsp://h/s/trackID=0;seq=1;rtptime=0,url=rtsp://h/s/trackID=1;seq=7")
 */
export function parseRtpInfo(value: string): RtpInfoEntry[] {
  const entries: string[] = [];
  for (const segment of value.split(",")) {
    if (segment.trim() === "") continue;
    const last = entries.length - 1;
    if (ENTRY_START.test(segment) || last < 0) entries.push(segment);
    else entries[last] += `,${segment}`;
  }
  if (entries.length === 0) fail(`RTP-Info "${value}" is empty`);
  return entries.map((entry) => parseEntry(entry, value));
}

/**
 * Formats an `RTP-Info` header value, entries separated by commas.
 * @example formatRtpInfo([{ url: "rtsp://h/s/trackID=0", seq: 1, rtptime: 0 }])
 *   // "url=rtsp://h/s/trackID=0;seq=1;rtptime=0"
 */
export function formatRtpInfo(entries: readonly RtpInfoEntry[]): string {
  return entries.map((e) => {
    let s = `url=${e.url}`;
    if (e.seq !== undefined) s += `;seq=${e.seq}`;
    if (e.rtptime !== undefined) s += `;rtptime=${e.rtptime}`;
    return s;
  }).join(",");
}
