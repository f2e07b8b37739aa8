/**
 * The README's table of flags and environment variables, derived from the flags' declarations (`flags.ts`).
 * `deno task readme:flags` writes it into README.md between two HTML comments; a test fails when the README's
 * copy differs from the generated one.
 * @module
 */
import { type Flag, FLAGS } from "./flags.ts";

/** The comment before the table in README.md. */
export const TABLE_START =
  "<!-- flags:start (generated from src/config/schema.ts: deno task readme:flags) -->";
/** The comment after the table in README.md. */
export const TABLE_END = "<!-- flags:end -->";

/** A table cell: a `|` inside one must be escaped, even in a code span. */
function cell(markdown: string): string {
  return markdown.replaceAll("|", "\\|");
}

function row(flag: Flag): string[] {
  const forms = flag.forms.map((f) => "`" + f + "`").join(", ") + (flag.meta.repeats ? " (repeatable)" : "");
  const env = flag.env === null ? "" : "`" + flag.env + (flag.meta.negated ? "=false" : "") + "`";
  return [forms, env, flag.defaultText, flag.meta.meaning].map(cell);
}

/**
 * The Markdown table of the flags, laid out as `deno fmt` lays tables out (columns padded to their widest cell),
 * so the README stays formatted.
 * @param flags the flags to list
 * @returns the table's lines joined with `\n`, without a final newline
 */
export function flagTable(flags: readonly Flag[] = FLAGS): string {
  const rows = [["Flag", "Environment", "Default", "Meaning"], ...flags.map(row)];
  const widths = rows[0]!.map((_, i) => Math.max(3, ...rows.map((r) => r[i]!.length)));
  const line = (r: readonly string[]) => `| ${r.map((c, i) => c.padEnd(widths[i]!)).join(" | ")} |`;
  const [head, ...body] = rows;
  return [line(head!), line(widths.map((w) => "-".repeat(w))), ...body.map(line)].join("\n");
}

/** Where the table sits in a README: the text between the markers, and its offsets. */
function locate(readme: string): { from: number; to: number } | null {
  const start = readme.indexOf(TABLE_START);
  const end = readme.indexOf(TABLE_END);
  if (start < 0 || end < start) return null;
  return { from: start + TABLE_START.length, to: end };
}

/**
 * The table a README holds between the markers.
 * @returns the table without the blank lines around it, or null when the markers are missing
 */
export function tableIn(readme: string): string | null {
  const at = locate(readme);
  return at ? readme.slice(at.from, at.to).trim() : null;
}

/**
 * A README with `table` between the markers (blank lines around it, as `deno fmt` keeps them).
 * @throws Error when the README lacks the markers
 */
export function withTable(readme: string, table: string): string {
  const at = locate(readme);
  if (!at) throw new Error(`README.md lacks the markers ${TABLE_START} ... ${TABLE_END}`);
  return `${readme.slice(0, at.from)}\n\n${table}\n\n${readme.slice(at.to)}`;
}
