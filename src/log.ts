/**
 * Structured JSON logs, one object per line on stderr, with a level threshold.
 * @module
 */

/** Log levels, least to most severe. */
export type LogLevel = "debug" | "info" | "warn" | "error";

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** A logger bound to a component name. */
export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  /** A logger for a sub-component sharing level and sink. */
  child(component: string): Logger;
  /** True when `level` would be written (skip building costly fields otherwise). */
  enabled(level: LogLevel): boolean;
}

/** Options of {@linkcode createLogger}. */
export interface LoggerOptions {
  /** Lowest level written. @default "info" */
  level?: LogLevel;
  /** Where lines go. @default a writer to stderr */
  write?: (line: string) => void;
  /** Clock. @default Date.now */
  now?: () => number;
}

const encoder = new TextEncoder();

/**
 * Creates a JSON-lines logger.
 * @example createLogger({ level: "debug" }).child("rtsp").info("session started", { id })
 */
export function createLogger(options: LoggerOptions = {}, component = "relay"): Logger {
  const threshold = RANK[options.level ?? "info"];
  const write = options.write ?? ((line: string) => {
    try {
      Deno.stderr.writeSync(encoder.encode(line + "\n"));
    } catch {
      // stderr closed: nothing sensible to do with a log line.
    }
  });
  const now = options.now ?? Date.now;
  const log = (level: LogLevel, msg: string, fields?: Record<string, unknown>) => {
    if (RANK[level] < threshold) return;
    const record = { time: new Date(now()).toISOString(), level, component, msg, ...fields };
    write(JSON.stringify(record, (_k, v) => (typeof v === "bigint" ? v.toString() : v)));
  };
  return {
    debug: (m, f) => log("debug", m, f),
    info: (m, f) => log("info", m, f),
    warn: (m, f) => log("warn", m, f),
    error: (m, f) => log("error", m, f),
    child: (c) => createLogger({ ...options, write, now }, `${component}.${c}`),
    enabled: (level) => RANK[level] >= threshold,
  };
}

/** A logger that drops everything (tests). */
export const silentLogger: Logger = createLogger({ write: () => {} });
