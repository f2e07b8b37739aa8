/**
 * The RTSP `Range` header (RFC 2326 §12.29), minimally: a unit and an optional start and end, kept as text.
 * @module
 */

import { RtspProtocolError } from "../errors.ts";

/** Time unit of a range: normal play time, absolute UTC time, or SMPTE timecode. */
export type RangeUnit = "npt" | "clock" | "smpte";

/** A parsed `Range` header. Times are kept as sent, after checking their syntax. */
export interface Range {
  /** Unit of `start` and `end`. */
  unit: RangeUnit;
  /** First time of the range (`0.000`, `now`, `19961108T143720.25Z`, `10:07:00`); absent when open. */
  start?: string;
  /** Last time of the range; absent when open (`npt=0-`). */
  end?: string;
}

const TIME: Record<RangeUnit, RegExp> = {
  npt: /^(?:now|\d+(?:\.\d*)?|\d+:\d{1,2}:\d{1,2}(?:\.\d*)?)$/i,
  clock: /^\d{8}T\d{6}(?:\.\d+)?Z$/,
  smpte: /^\d{1,2}:\d{2}:\d{2}(?::\d{2}(?:\.\d{1,2})?)?$/,
};

/**
 * Parses a `Range` header value such as `npt=0.000-`, `npt=10-20.5`, `clock=19961108T143720Z-` or
 * `smpte=10:07:00-10:07:33:05.01`. The unit is case-insensitive; parameters after `;` (`time=`) are ignored.
 * @throws {RtspProtocolError} status 400 when the unit is unknown, there is no `-`, or a time is malformed
 * @example parseRange("npt=0.000-") // { unit: "npt", start: "0.000" }
 */
export function parseRange(value: string): Range {
  const spec = value.split(";")[0] ?? "";
  const eq = spec.indexOf("=");
  const unit = spec.slice(0, Math.max(eq, 0)).trim().toLowerCase();
  if (unit !== "npt" && unit !== "clock" && unit !== "smpte") {
    throw new RtspProtocolError(`Unsupported unit in Range "${value}"`);
  }
  const times = spec.slice(eq + 1).split("-");
  if (times.length !== 2) throw new RtspProtocolError(`Range "${value}" needs exactly one "-"`);
  const range: Range = { unit };
  const [start = "", end = ""] = times.map((t) => t.trim());
  for (const time of [start, end]) {
    if (time !== "" && !TIME[unit].test(time)) {
      throw new RtspProtocolError(`Invalid ${unit} time "${time}" in Range "${value}"`);
    }
  }
  if (start === "" && end === "") throw new RtspProtocolError(`Range "${value}" has neither start nor end`);
  if (start !== "") range.start = start;
  if (end !== "") range.end = end;
  return range;
}

/**
 * Formats a `Range` header value: `unit=start-end`, either time left out when absent.
 * @example formatRange({ unit: "npt", start: "0.000" }) // "npt=0.000-"
 */
export function formatRange(range: Range): string {
  return `${range.unit}=${range.start ?? ""}-${range.end ?? ""}`;
}
