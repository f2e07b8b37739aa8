/**
 * The text `--help` prints, derived from the flags' declarations (`flags.ts`): every flag with its argument, its
 * meaning and its default, wrapped for a terminal.
 * @module
 */
import { type Flag, FLAGS } from "./flags.ts";

/** Columns of the help text. */
const WIDTH = 110;
/** Where meanings start; a longer flag puts its meaning on the next line. */
const MEANING_COLUMN = 36;

/**
 * Markdown as plain text: code spans lose their backticks, links keep their words.
 * @example plainText("see [Mesh security](#mesh-security), `0`: none") // "see Mesh security, 0: none"
 */
export function plainText(markdown: string): string {
  return markdown.replace(/\[([^\]]+)\]\([^)]*\)/g, "$1").replaceAll("`", "");
}

/** Splits `text` into lines of at most `width` characters, at spaces (a longer word stands alone). */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line !== "" && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line === "" ? word : `${line} ${word}`;
  }
  if (line !== "") lines.push(line);
  return lines;
}

/**
 * One flag's entry: its forms, then its meaning, whether it repeats and its default (unless there is none), wrapped
 * at the meaning column.
 */
function entry(flag: Flag): string[] {
  const label = "  " + flag.forms.join(", ");
  const fallback = plainText(flag.defaultText);
  const text = plainText(flag.meta.meaning) + (flag.meta.repeats ? "; repeatable" : "") +
    (fallback === "" || fallback === "none" ? "" : ` [default: ${fallback}]`);
  const indent = " ".repeat(MEANING_COLUMN);
  const lines = wrap(text, WIDTH - MEANING_COLUMN).map((l) => indent + l);
  if (label.length < MEANING_COLUMN - 1) {
    return [label.padEnd(MEANING_COLUMN) + lines[0]!.trimStart(), ...lines.slice(1)];
  }
  return [label, ...lines];
}

/**
 * The usage text `--help` prints.
 * @param flags the flags to list
 * @returns lines joined with `\n`, without a final newline
 */
export function usage(flags: readonly Flag[] = FLAGS): string {
  const intro = wrap(
    "Every flag can also be given as an environment variable: MSM_ and the flag's name in capitals, with - " +
      "replaced by _ (MSM_RTSP_PORT=8554); --no-X is MSM_X=false (booleans accept 1/true/yes/on and " +
      "0/false/no/off); a repeated flag takes a space-separated list. Flags override the environment, which " +
      "overrides the --config file.",
    WIDTH,
  );
  return [
    "msm-relay: RTSP relay and replication mesh",
    "",
    "Usage: msm-relay [FLAGS]  (from a checkout: deno task start -- [FLAGS])",
    "",
    ...intro,
    "",
    "Flags:",
    ...flags.flatMap(entry),
  ].join("\n");
}

/** Usage text printed by `--help`. */
export const USAGE: string = usage();
