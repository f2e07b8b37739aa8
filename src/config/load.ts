/**
 * Builds the configuration from an optional YAML/JSON file, `MSM_*` environment variables and flags
 * (file < env < flags), and validates it with zod. Which flags exist and how their text becomes a field's value
 * is derived from the schema (`flags.ts`); this file only merges the layers and reads the files flags name.
 * @module
 */
import { parseArgs } from "node:util";
import YAML from "yaml";
import type { z } from "zod";
import { ConfigError } from "./config_error.ts";
import {
  type FieldName,
  fieldValue,
  FLAGS,
  FLAGS_BY_NAME,
  fromEnv,
  PARSE_ARGS_OPTIONS,
  parseRange,
} from "./flags.ts";
import { configSchema, type RelayConfig } from "./schema.ts";
import { parseUsersFile } from "./users_file.ts";

/** Sources the loader reads, injectable for tests. */
export interface LoadSources {
  /** Command-line arguments (without the program name). */
  args: string[];
  /** Environment lookup. */
  env: (name: string) => string | undefined;
  /** File reader for `--config` and `*-file` flags. */
  readTextFile: (path: string) => string;
}

/** Result of loading: either a config or a request for help. */
export type LoadResult = { kind: "config"; config: RelayConfig } | { kind: "help" };

/** Reads `--config FILE` (YAML or JSON; YAML is a superset of JSON). */
function readConfigFile(path: string, read: (p: string) => string): Record<string, unknown> {
  let text: string;
  try {
    text = read(path);
  } catch (err) {
    throw new ConfigError(`Cannot read config file "${path}": ${(err as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = YAML.parse(text);
  } catch (err) {
    // Only the first line: the parser goes on to quote the offending source line, which may hold a secret.
    const why = (err as Error).message.split("\n")[0];
    throw new ConfigError(`Config file "${path}" is not valid YAML/JSON: ${why}`);
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== "object" || Array.isArray(doc)) {
    throw new ConfigError(`Config file "${path}" must hold a mapping of fields`);
  }
  const raw = { ...(doc as Record<string, unknown>) };
  // The file may spell ranges as "A-B" like the flag does.
  if (typeof raw.udpPortRange === "string") raw.udpPortRange = parseRange("udpPortRange", raw.udpPortRange);
  return raw;
}

/** Formats a zod error as "field: problem" lines. */
export function formatZodError(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.length ? i.path.join(".") : "(root)"}: ${i.message}`).join("; ");
}

/**
 * Loads and validates the configuration.
 * @param sources where flags, environment and files come from
 * @returns the config, or `{kind: "help"}` when `--help` was asked
 * @throws ConfigError naming the field and the problem
 * @example loadConfig({ args: Deno.args, env: Deno.env.get, readTextFile: Deno.readTextFileSync })
 */
export function loadConfig(sources: LoadSources): LoadResult {
  let parsed;
  try {
    // `deno task start -- --flag` passes the separator through.
    const args = sources.args[0] === "--" ? sources.args.slice(1) : sources.args;
    parsed = parseArgs({ args, options: PARSE_ARGS_OPTIONS, allowNegative: true, strict: true });
  } catch (err) {
    throw new ConfigError(`Invalid command line: ${(err as Error).message}`);
  }
  const positionals = parsed.positionals as string[];
  if (positionals.length) {
    throw new ConfigError(`Invalid command line: unexpected argument "${positionals[0]}"`);
  }
  const flags = parsed.values as Record<string, string | string[] | boolean | undefined>;
  if (flags.help) return { kind: "help" };

  /** A flag's value, else its MSM_ environment variable. */
  const get = (name: string) => {
    const flag = FLAGS_BY_NAME.get(name)!;
    return flags[name] ?? fromEnv(flag, sources.env);
  };
  /** The value of a flag that names a file or holds a path. */
  const str = (name: string) => get(name) as string | undefined;

  const configPath = str("config");
  const raw: Record<string, unknown> = configPath ? readConfigFile(configPath, sources.readTextFile) : {};
  for (const flag of FLAGS) {
    if (flag.field === null) continue;
    const value = get(flag.meta.name);
    if (value !== undefined) raw[flag.field] = fieldValue(flag, value, raw[flag.field]);
  }

  // Flags that name files: the relay follows the users file and the mesh key file; the token is read once.
  const usersFile = str("users-file");
  if (usersFile !== undefined) {
    const users = parseUsersFile(readNamedFile("users-file", usersFile, sources.readTextFile));
    if (typeof users === "string") throw new ConfigError(`Invalid --users-file "${usersFile}": ${users}`);
  }
  const secretFile = (flag: string, field: FieldName) => {
    const path = str(flag);
    if (path !== undefined) raw[field] = readNamedFile(flag, path, sources.readTextFile).trim();
  };
  secretFile("admin-token-file", "adminToken");
  secretFile("mesh-key-file", "meshKey");

  if (raw.node === undefined) {
    const node = sources.env("NODE_NAME");
    if (node) raw.node = node;
  }

  const result = configSchema.safeParse(raw);
  if (!result.success) throw new ConfigError(`Invalid configuration: ${formatZodError(result.error)}`);
  const config = result.data;
  if (config.udpPortRange[0] % 2 !== 0) {
    throw new ConfigError(
      `Invalid configuration: udpPortRange must start on an even port, got ${config.udpPortRange[0]}`,
    );
  }
  if (config.adminAuthReads && config.adminToken === undefined) {
    throw new ConfigError(
      "Invalid configuration: adminAuthReads needs an admin token (--admin-token, MSM_ADMIN_TOKEN or --admin-token-file)",
    );
  }
  return { kind: "config", config };
}

/** Reads the file a flag names. @throws ConfigError naming the flag and the file */
function readNamedFile(flag: string, path: string, read: (p: string) => string): string {
  try {
    return read(path);
  } catch (err) {
    throw new ConfigError(`Cannot read --${flag} "${path}": ${(err as Error).message}`);
  }
}
