/**
 * RTSP users as flags (`--user NAME:PASSWORD:RIGHTS[:PATHGLOB]`) and as a users file (`--users-file`, one such
 * line per user, blank lines and `#` comments ignored), e.g. a mounted Secret that the relay follows while it
 * runs, so passwords change without a restart.
 * @module
 */
import { type UserConfig, userSchema } from "./values.ts";

/**
 * Splits `NAME:PASSWORD:RIGHTS[:PATHGLOB]` into the fields of a user (validated by the schema later).
 * @returns the fields, or a sentence saying what is wrong
 */
export function splitUser(v: string): Record<string, unknown> | string {
  const parts = v.split(":");
  if (parts.length < 3 || parts.length > 4) {
    return `expected NAME:PASSWORD:RIGHTS[:PATHGLOB], got ${parts.length} fields`;
  }
  const [name, password, rights, paths] = parts;
  const user: Record<string, unknown> = { name, password, rights };
  if (paths) user.paths = paths;
  return user;
}

/**
 * Reads a users file. An empty file is refused: a relay whose users all vanished would let everyone in.
 * @returns the users, or a sentence naming the first bad line (never its password)
 */
export function parseUsersFile(text: string): UserConfig[] | string {
  const users: UserConfig[] = [];
  const names = new Set<string>();
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === "" || line.startsWith("#")) continue;
    const fields = splitUser(line);
    if (typeof fields === "string") return `line ${i + 1}: ${fields}`;
    const r = userSchema.safeParse(fields);
    if (!r.success) {
      return `line ${i + 1}: ${r.error.issues.map((x) => `${x.path.join(".")}: ${x.message}`).join("; ")}`;
    }
    if (names.has(r.data.name)) return `line ${i + 1}: user "${r.data.name}" is listed twice`;
    names.add(r.data.name);
    users.push(r.data);
  }
  if (users.length === 0) return "the users file lists no user";
  return users;
}
