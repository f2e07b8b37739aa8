/**
 * The settings of a camera pull, with their defaults in one place: how it connects (URL, transport, schemes the
 * credentials may be sent with) and its timings (UDP fallback, media timeout, backoff, receiver reports, outage
 * reminders). {@linkcode PullSource} takes them partially, {@linkcode PullMachine} whole.
 * @module
 */
import type { AuthSchemeName } from "../../rtsp/auth/mod.ts";

/** How to pull: `auto` tries UDP first and falls back to TCP. */
export type PullTransport = "auto" | "udp" | "tcp";

/** The timings of a camera pull (milliseconds). */
export interface PullTimings {
  /** No RTP within this after PLAY over UDP switches to TCP (auto). @default 3000 */
  udpFallbackMs: number;
  /** No media for this long means the camera is gone: reconnect. @default 10000 */
  mediaTimeoutMs: number;
  /** First reconnect delay. @default 500 */
  backoffInitialMs: number;
  /** Largest reconnect delay. @default 10000 */
  backoffMaxMs: number;
  /** Interval of the RTCP receiver reports sent to the camera per track; the first goes after half. @default 5000 */
  rtcpIntervalMs: number;
  /** Longest delay between attempts while readers wait for the camera (a DESCRIBE in progress). @default 500 */
  waitingRetryMs: number;
  /** A session that played this long starts the backoff over. @default 10000 */
  stableMs: number;
  /** While the camera stays unreachable, the warning is repeated this often. @default 300000 */
  reminderMs: number;
}

/** The default timings. */
export const PULL_TIMING_DEFAULTS: Readonly<PullTimings> = {
  udpFallbackMs: 3000,
  mediaTimeoutMs: 10_000,
  backoffInitialMs: 500,
  backoffMaxMs: 10_000,
  rtcpIntervalMs: 5000,
  waitingRetryMs: 500,
  stableMs: 10_000,
  reminderMs: 300_000,
};

/** The timings given, the defaults for the others. */
export function pullTimings(given: Partial<PullTimings>): PullTimings {
  const t = { ...PULL_TIMING_DEFAULTS };
  for (const key of Object.keys(t) as (keyof PullTimings)[]) {
    const value = given[key];
    if (value !== undefined) t[key] = value;
  }
  return t;
}

/** CNAME of the relay's receiver reports unless configured. */
export const DEFAULT_PULL_CNAME = "msm-relay";

/** Settings of {@linkcode PullMachine}: every one given. */
export interface PullMachineOptions extends PullTimings {
  /** The camera URL (may carry credentials: only ever shown redacted). */
  url: string;
  /** UDP, TCP, or UDP falling back to TCP. */
  transport: PullTransport;
  /** Schemes the camera's credentials may be sent with (named in a refusal). */
  authSchemes: readonly AuthSchemeName[];
  /** CNAME of the receiver reports (SDES). */
  cname: string;
  /** The relay's SSRC towards the camera. @default a random one */
  ssrc?: number;
}
