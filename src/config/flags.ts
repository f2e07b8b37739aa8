/**
 * Every flag of the command line, derived from its one declaration: the config schema's registered fields
 * (`schema.ts`), plus the three flags that steer the loader itself (`--config`, `--admin-token-file`, `--help`),
 * declared here. From each: its parseArgs option, its `MSM_*` variable, how its text becomes the field's value
 * (from the field's zod type), and the words `--help` and the README show.
 * @module
 */
import type { z } from "zod";
import { ConfigError } from "./config_error.ts";
import { envName, type FlagMeta, flagMeta } from "./flag_meta.ts";
import { configDefaults, configSchema, type RelayConfig } from "./schema.ts";
import { splitUser } from "./users_file.ts";
import { redactUrls } from "../rtsp/url.ts";

/** A field of the configuration. */
export type FieldName = keyof typeof configSchema.shape;

/**
 * How a flag's text becomes its field's value, read from the field's zod type: `boolean`; `number`; `text`
 * (strings and enums); `range` (a tuple, `A-B`); `commaList` (a list given once, `a,b`); `list` (a repeated
 * flag); `map` (a record, repeated `NAME=VALUE`).
 */
export type FlagKind = "boolean" | "number" | "text" | "range" | "commaList" | "list" | "map";

/** A flag of the command line with what is derived from its declaration. */
export interface Flag {
  /** The declaration. */
  readonly meta: FlagMeta;
  /** The config field it sets; null for the loader's own flags. */
  readonly field: FieldName | null;
  /** How its text becomes the field's value. */
  readonly kind: FlagKind;
  /** Its environment variable, or null (`--help`). */
  readonly env: string | null;
  /** How it is written: `--rtsp-port N`, `--no-publish`; several forms when it has a short one. */
  readonly forms: readonly string[];
  /** The default as users read it (Markdown; "" for none shown). */
  readonly defaultText: string;
}

/** The loader's own flags (no config field), and the field each is listed after (null: first; "end": last). */
const LOADER_FLAGS: ReadonlyArray<{ after: FieldName | null | "end"; meta: FlagMeta }> = [
  {
    after: null,
    meta: {
      name: "config",
      arg: "FILE",
      default: "none",
      meaning:
        "YAML or JSON config file (the fields of the README's [Config file](#config-file) section); the " +
        "environment and flags override it",
    },
  },
  {
    after: "adminToken",
    meta: {
      name: "admin-token-file",
      arg: "F",
      default: "none",
      meaning: "read the admin token from a file (once, at start; surrounding white space is dropped)",
    },
  },
  {
    after: "end",
    meta: { name: "help", short: "h", env: false, default: "", meaning: "print the usage and exit" },
  },
];

/** Parsers of one item of a repeated flag whose items are objects. */
const ITEM_PARSERS: Partial<Record<FieldName, (flag: Flag, text: string) => unknown>> = {
  peers: parsePeer,
  users: (_flag, text) => {
    const fields = splitUser(text);
    if (typeof fields === "string") throw new ConfigError(`Invalid user: ${fields}`);
    return fields;
  },
};

interface Def {
  type: string;
  innerType?: z.core.$ZodType;
  element?: z.core.$ZodType;
}

/** The type of a field once its default and optionality are peeled off, and of a list's items. */
function typeOf(schema: z.core.$ZodType): { type: string; element: string | null } {
  let def = schema._zod.def as Def;
  while ((def.type === "default" || def.type === "optional") && def.innerType) {
    def = def.innerType._zod.def as Def;
  }
  return { type: def.type, element: def.element ? (def.element._zod.def as Def).type : null };
}

/** The kind of flag each zod type of field makes (an array's depends on whether the flag repeats). */
const KIND_OF_TYPE: Record<string, FlagKind> = {
  boolean: "boolean",
  number: "number",
  string: "text",
  enum: "text",
  tuple: "range",
  record: "map",
};

function kindOf(field: FieldName, meta: FlagMeta): FlagKind {
  const { type, element } = typeOf(configSchema.shape[field]);
  const kind = type === "array" ? (meta.repeats ? "list" : "commaList") : KIND_OF_TYPE[type];
  // A programming error, found by the flag tests: the field needs a conversion before it can be a flag.
  if (!kind) throw new Error(`--${meta.name}: no conversion from text to a ${type} field`);
  if (kind === "list" && element === "object" && !ITEM_PARSERS[field]) {
    throw new Error(`--${meta.name}: no parser for one item`);
  }
  if (kind === "boolean" && meta.default === undefined) {
    throw new Error(`--${meta.name}: a boolean flag says its default in words`);
  }
  return kind;
}

/** The default as users read it: the declaration's words, else the schema's default value in a code span. */
function defaultTextOf(meta: FlagMeta, kind: FlagKind, value: unknown): string {
  if (meta.default !== undefined) return meta.default;
  if (value === undefined || (typeof value === "object" && Object.keys(value as object).length === 0)) {
    return "none";
  }
  const text = Array.isArray(value) ? value.join(kind === "range" ? "-" : ",") : String(value);
  return "`" + text + "`";
}

function flagOf(meta: FlagMeta, field: FieldName | null, defaults: RelayConfig): Flag {
  const kind = field ? kindOf(field, meta) : meta.arg === undefined ? "boolean" : "text";
  const long = meta.negated
    ? `--no-${meta.name}`
    : meta.arg
    ? `--${meta.name} ${meta.arg}`
    : `--${meta.name}`;
  return {
    meta,
    field,
    kind,
    env: meta.env === false ? null : envName(meta.name),
    forms: meta.short ? [`-${meta.short}`, long] : [long],
    defaultText: defaultTextOf(meta, kind, field ? defaults[field] : undefined),
  };
}

function deriveFlags(): Flag[] {
  const defaults = configDefaults();
  const loader = (after: FieldName | null | "end") =>
    LOADER_FLAGS.filter((f) => f.after === after).map((f) => flagOf(f.meta, null, defaults));
  const flags = loader(null);
  for (const field of Object.keys(configSchema.shape) as FieldName[]) {
    const meta = flagMeta.get(configSchema.shape[field]);
    if (meta) flags.push(flagOf(meta, field, defaults), ...loader(field));
  }
  flags.push(...loader("end"));
  const names = new Set<string>();
  for (const f of flags) {
    if (names.has(f.meta.name)) throw new Error(`--${f.meta.name} is declared twice`);
    names.add(f.meta.name);
  }
  return flags;
}

/** Every flag, in the order `--help` and the README list them. */
export const FLAGS: readonly Flag[] = deriveFlags();

/** The flags by name. */
export const FLAGS_BY_NAME: ReadonlyMap<string, Flag> = new Map(FLAGS.map((f) => [f.meta.name, f]));

/** The flags as `node:util` parseArgs options. */
export const PARSE_ARGS_OPTIONS: Record<
  string,
  { type: "string" | "boolean"; multiple?: boolean; short?: string }
> = Object.fromEntries(FLAGS.map((f) => [f.meta.name, {
  type: f.kind === "boolean" ? "boolean" : "string",
  ...(f.meta.repeats ? { multiple: true } : {}),
  ...(f.meta.short ? { short: f.meta.short } : {}),
}]));

/**
 * Reads a flag's environment variable: a boolean accepts `1/true/yes/on` and `0/false/no/off`, a repeated flag
 * takes a space-separated list (commas stay part of a value: URLs may hold them).
 * @returns the value as parseArgs would give it, or undefined when the variable is unset or empty
 * @throws ConfigError for a boolean that is neither
 */
export function fromEnv(
  flag: Flag,
  env: (name: string) => string | undefined,
): string | string[] | boolean | undefined {
  if (flag.env === null) return undefined;
  const text = env(flag.env);
  if (text === undefined || text === "") return undefined;
  if (flag.kind === "boolean") {
    if (/^(1|true|yes|on)$/i.test(text)) return true;
    if (/^(0|false|no|off)$/i.test(text)) return false;
    throw new ConfigError(`Invalid ${flag.env}: "${text}" is not a boolean`);
  }
  return flag.meta.repeats ? text.split(/\s+/).filter(Boolean) : text;
}

/**
 * Turns a flag's value (from the command line or the environment) into its field's raw value, before the schema
 * validates it.
 * @param previous the field's value so far (the config file's): a `map` flag adds to it
 * @throws ConfigError when the text does not have the flag's syntax
 */
export function fieldValue(flag: Flag, value: string | string[] | boolean, previous: unknown): unknown {
  const name = flag.meta.name;
  const text = () => value as string;
  switch (flag.kind) {
    case "boolean":
      return value;
    case "number":
      return toNumber(`--${name}`, text());
    case "text":
      return value;
    case "range":
      return parseRange(`--${name}`, text());
    case "commaList":
      return text().split(",").map((s) => s.trim()).filter(Boolean);
    case "list": {
      const parse = flag.field ? ITEM_PARSERS[flag.field] : undefined;
      return (value as string[]).map((item) => parse ? parse(flag, item) : item);
    }
    case "map": {
      const out: Record<string, unknown> = { ...(previous as Record<string, unknown> | undefined) };
      for (const item of value as string[]) {
        const eq = item.indexOf("=");
        if (eq <= 0) throw new ConfigError(`Invalid ${name}: "${redactUrls(item)}" is not ${flag.meta.arg}`);
        out[item.slice(0, eq)] = item.slice(eq + 1);
      }
      return out;
    }
  }
}

function toNumber(what: string, value: string): number {
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n)) {
    throw new ConfigError(`Invalid ${what}: "${value}" is not a number`);
  }
  return n;
}

/**
 * Reads `FIRST-LAST` (`--udp-port-range`, and the config file's `udpPortRange` when it is a string).
 * @throws ConfigError naming `what`
 */
export function parseRange(what: string, v: string): [number, number] {
  const m = /^(\d+)-(\d+)$/.exec(v.trim());
  if (!m) throw new ConfigError(`Invalid ${what}: "${v}" is not FIRST-LAST`);
  return [Number(m[1]), Number(m[2])];
}

/** Reads `NODE=HOST:ADMINPORT:MESHPORT[@ZONE]` (`--peer`); the host may be a bracketed IPv6 address. */
function parsePeer(flag: Flag, v: string): Record<string, unknown> {
  const m = /^([^=]+)=(\[[^\]]+\]|[^:@]+):(\d+):(\d+)(?:@(.+))?$/.exec(v);
  if (!m) throw new ConfigError(`Invalid ${flag.meta.name}: "${v}" is not ${flag.meta.arg}`);
  const peer: Record<string, unknown> = {
    node: m[1],
    host: m[2]!.replace(/^\[|\]$/g, ""),
    adminPort: Number(m[3]),
    meshPort: Number(m[4]),
  };
  if (m[5]) peer.zone = m[5];
  return peer;
}
