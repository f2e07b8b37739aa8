/**
 * Follows a small file (a mounted Secret: keys, users) while the relay runs: it is read every `intervalMs` and a
 * changed content is handed over, so a rotated Secret takes effect without a restart. A file that cannot be read,
 * or whose new content the owner rejects, keeps what is in use, with one error line until it changes again.
 * @module
 */
import type { Logger } from "./log.ts";

/** Options of {@linkcode followFile}. */
export interface FileFollowerOptions<T> {
  path: string;
  /** The content in use now (no change for it). */
  initial: string;
  /** Parses a new content: the value to apply, or a sentence saying why it is rejected. */
  parse: (text: string) => T | { rejected: string };
  /** Applies an accepted value. */
  apply: (value: T) => void;
  logger: Logger;
  /** What the file holds, for log lines ("mesh keys", "RTSP users"). */
  what: string;
  /** Fields of the "reloaded" line (never secrets). */
  describe?: (value: T) => Record<string, unknown>;
  /** How often the file is read. @default 1000 */
  intervalMs?: number;
}

/**
 * Starts following `path`.
 * @returns stops following
 */
export function followFile<T>(options: FileFollowerOptions<T>): () => void {
  let last = options.initial.trim();
  let unreadable = false;
  const timer = setInterval(async () => {
    let text: string;
    try {
      text = (await Deno.readTextFile(options.path)).trim();
    } catch (err) {
      if (!unreadable) {
        options.logger.error(`cannot read the ${options.what} file; keeping those in use`, {
          path: options.path,
          error: (err as Error).message,
        });
      }
      unreadable = true;
      return;
    }
    unreadable = false;
    if (text === last) return;
    last = text;
    const value = options.parse(text);
    if (value !== null && typeof value === "object" && "rejected" in value) {
      options.logger.error(`the ${options.what} file was rejected; keeping those in use`, {
        path: options.path,
        error: value.rejected,
      });
      return;
    }
    try {
      options.apply(value as T);
    } catch (err) {
      options.logger.error(`the ${options.what} file could not be applied; keeping those in use`, {
        path: options.path,
        error: (err as Error).message,
      });
      return;
    }
    options.logger.info(`${options.what} reloaded`, {
      path: options.path,
      ...options.describe?.(value as T),
    });
  }, options.intervalMs ?? 1000);
  Deno.unrefTimer(timer);
  return () => clearInterval(timer);
}
