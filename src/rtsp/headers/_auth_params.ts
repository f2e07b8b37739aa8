/**
 * The syntax that `WWW-Authenticate` ({@link ./www_authenticate.ts}) and `Authorization`
 * ({@link ./authorization.ts}) share (RFC 7235 §2.1): a list of `scheme token68` or
 * `scheme name=value, name="quoted", ...` items, the quoting of parameter values on output, and the Digest
 * `algorithm` names. Private to the headers folder: the two header files are its only users.
 * @module
 */
import { RtspProtocolError } from "../errors.ts";

/** Digest hash algorithms supported. `-sess` variants and SHA-512-256 are not. */
export type DigestAlgorithm = "MD5" | "SHA-256";

/** One scheme of an auth list, with its token68 or its parameters as sent. */
export interface RawAuth {
  /** Scheme, as sent (compare it case-insensitively). */
  scheme: string;
  /** The token68 after the scheme (Basic credentials), when there is one instead of parameters. */
  token68?: string;
  /** Parameters by lower-case name; quoted values unescaped. */
  params: Map<string, string>;
  /** A parameter name given twice (the last value is kept). */
  duplicate?: string;
}

/** One character of a token (RFC 7230 `tchar`). */
export const TCHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/;
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** A token68 (RFC 7235 §2.1) standing alone before a comma or the end; sticky, so no slicing is needed. */
const TOKEN68 = /[A-Za-z0-9\-._~+/]+=*(?=[ \t]*(?:,|$))/y;

/**
 * Splits an auth list into its schemes. Quoted strings may hold commas and backslash-escaped quotes; a missing
 * comma between parameters is tolerated (a name not followed by `=` starts the next scheme).
 * @param value the header value
 * @param header the header's name, for error messages
 * @returns the items in order
 * @throws {RtspProtocolError} status 400 on an unterminated quoted string, a missing scheme or stray text
 * @example parseAuthList('Basic realm="cam"', "WWW-Authenticate")[0]?.params.get("realm") // "cam"
 */
export function parseAuthList(value: string, header: string): RawAuth[] {
  const fail = (why: string): never => {
    throw new RtspProtocolError(`Malformed ${header} "${value}": ${why}`);
  };
  const s = value;
  let pos = 0;
  const peek = (): string | undefined => s[pos];
  const skip = (chars: string): void => {
    while (pos < s.length && chars.includes(s[pos] ?? "")) pos++;
  };
  const token = (): string => {
    const start = pos;
    while (pos < s.length && TCHAR.test(s[pos] ?? "")) pos++;
    return s.slice(start, pos);
  };
  const quoted = (): string => {
    pos++; // opening quote
    let out = "";
    while (pos < s.length) {
      const c = s[pos++];
      if (c === '"') return out;
      if (c === "\\") {
        if (pos >= s.length) break;
        out += s[pos++];
      } else out += c;
    }
    return fail("unterminated quoted string");
  };
  const bare = (): string => {
    const start = pos;
    while (pos < s.length && !", \t".includes(s[pos] ?? "")) pos++;
    return s.slice(start, pos);
  };

  const list: RawAuth[] = [];
  for (;;) {
    skip(", \t");
    if (pos >= s.length) break;
    const scheme = token();
    if (scheme === "") fail(`expected a scheme at "${s.slice(pos)}"`);
    const item: RawAuth = { scheme, params: new Map() };
    list.push(item);
    skip(" \t");
    TOKEN68.lastIndex = pos;
    const t68 = TOKEN68.exec(s);
    if (t68) {
      item.token68 = t68[0];
      pos = TOKEN68.lastIndex;
      continue;
    }
    for (;;) {
      skip(", \t");
      if (pos >= s.length) break;
      const save = pos;
      const name = token();
      if (name === "") fail(`unexpected "${s.slice(pos)}"`);
      skip(" \t");
      if (peek() !== "=") {
        pos = save; // a new challenge starts here
        break;
      }
      pos++;
      skip(" \t");
      const key = name.toLowerCase();
      if (item.params.has(key)) item.duplicate ??= key;
      item.params.set(key, peek() === '"' ? quoted() : bare());
    }
  }
  return list;
}

/**
 * Reads an `algorithm` parameter, case-insensitively.
 * @param raw the value as sent, or undefined when the parameter is absent
 * @returns the algorithm, undefined when absent (MD5 is meant), or null when it is not supported
 * @example parseAlgorithm("sha-256") // "SHA-256"
 */
export function parseAlgorithm(raw: string | undefined): DigestAlgorithm | undefined | null {
  if (raw === undefined) return undefined;
  const upper = raw.toUpperCase();
  return upper === "MD5" || upper === "SHA-256" ? upper : null;
}

/**
 * Formats `name="value"`, escaping `\` and `"`.
 * @throws {RangeError} when the value holds a control character (it could end the header line)
 * @example quotedParam("realm", 'a"b') // 'realm="a\\"b"'
 */
export function quotedParam(name: string, value: string): string {
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if ((code < 0x20 && code !== 0x09) || code === 0x7f) throw new RangeError(`Control character in ${name}`);
  }
  return `${name}="${value.replace(/[\\"]/g, "\\$&")}"`;
}

/**
 * Formats `name=value` for a value that must be a bare token (`algorithm`, `qop`, `nc`).
 * @throws {RangeError} when the value is not a token
 * @example tokenParam("algorithm", "SHA-256") // "algorithm=SHA-256"
 */
export function tokenParam(name: string, value: string): string {
  if (!TOKEN.test(value)) throw new RangeError(`Invalid ${name} "${value}"`);
  return `${name}=${value}`;
}
