/**
 * What a command-line flag declares about itself, and the registry that ties the declaration to its zod schema
 * field. A field of the config schema is registered once, where it is defined (`schema.ts`), and everything else a
 * flag needs is derived from that one declaration: the parseArgs options and the `MSM_*` variable
 * (`flags.ts`), the `--help` text (`help.ts`) and the README's table (`readme_table.ts`).
 * @module
 */
import { z } from "zod";

/**
 * One flag, as users read it. Text fields may use Markdown code spans (`` `x` ``) and links; `--help` shows them
 * without the markup.
 */
export interface FlagMeta {
  /** The flag without its dashes: `rtsp-port`. A `negated` flag is named without its `no-`. */
  name: string;
  /** The argument's syntax: `N`, `ADDR`, `NAME=URL`, `auto|udp|tcp`; absent for a boolean. */
  arg?: string;
  /** May be given several times; the environment variable then holds a space-separated list. */
  repeats?: boolean;
  /** A boolean that is on by default, documented as `--no-NAME` (environment: `MSM_NAME=false`). */
  negated?: boolean;
  /** The default as users should read it; absent: the schema's default (`none` when it has none). */
  default?: string;
  /** What the flag does. */
  meaning: string;
  /** A one-letter alias (`-h`). */
  short?: string;
  /** False for a flag that has no environment variable (`--help`). @default true */
  env?: boolean;
}

/** The registry of the config schema's flags: `schema.register(flagMeta, {...})` declares one. */
export const flagMeta = z.registry<FlagMeta>();

/**
 * The environment variable of a flag: `MSM_` and the flag's name in capitals, `-` replaced by `_`.
 * @example envName("rtsp-port") // "MSM_RTSP_PORT"
 */
export function envName(flag: string): string {
  return "MSM_" + flag.toUpperCase().replaceAll("-", "_");
}
