/**
 * Why the RTSP server refuses a client (the `reason` label of `msm_rtsp_refused_total`), and what a refusal
 * records: the vocabulary shared by the server's limits, the relay's refusal log and the metrics.
 * @module
 */

/** Every reason a client can be refused, as the metric's `reason` label spells it. */
export const REFUSAL_REASONS = [
  "max_connections",
  "max_connections_per_ip",
  "max_sessions_per_ip",
  "max_readers_per_path",
  "memory_budget",
  "slow_reader",
  "request_rate",
  "header_too_large",
  "body_too_large",
  "request_timeout",
  "idle_timeout",
  "auth_required",
  "unauthorized",
  "forbidden",
  "bad_request",
] as const;

/** Why a client was refused. */
export type RefusalReason = typeof REFUSAL_REASONS[number];

/** One refusal, as logged. Never holds credentials. */
export interface Refusal {
  reason: RefusalReason;
  /** Client address. */
  remote: string;
  /** Status answered, or null when the connection was closed without an answer. */
  status: number | null;
  /** The configured value of the limit that was hit, when the refusal is a limit. */
  limit?: number;
  /** Method of the refused request, when there was one. */
  method?: string;
  /** Stream path the request named, when known. */
  path?: string;
  /** What was wrong, in words (the text the client gets in the body). */
  detail?: string;
}
