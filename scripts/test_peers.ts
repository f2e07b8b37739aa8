/**
 * `deno task test`'s first step: the integration tests drive real peers (ffmpeg, GStreamer with its RTSP server,
 * VLC, Chromium, openssl...). On a machine that lacks some, say so in one line, with the command that installs
 * them, instead of letting a hundred tests fail one by one. On Debian the packages come from `.ci/packages.txt`
 * (the list `.ci/run` installs); elsewhere the commands the tests run are looked up on PATH.
 *
 * Exit status 0 when everything is there, 1 otherwise. `MSM_TEST_PEERS=skip` skips the check (a machine where
 * the peers live under other names).
 * @module
 */

/** The packages of a `.ci/packages.txt` text: one per line, `#` comments and blank lines ignored. */
export function parsePackageList(text: string): string[] {
  return text.split("\n").map((l) => l.replace(/#.*/, "").trim()).filter((l) => l !== "");
}

/** Commands the tests run, for machines without dpkg. */
export const PEER_COMMANDS: readonly string[] = [
  "ffmpeg",
  "ffprobe",
  "gst-launch-1.0",
  "cvlc",
  "chromium",
  "openssl",
  "python3",
  "runuser",
  "ip",
];

/** The one line that says what is missing and how to install it, or null when nothing is. */
export function missingLine(missing: readonly string[], kind: "packages" | "commands"): string | null {
  if (missing.length === 0) return null;
  const install = kind === "packages"
    ? `sudo apt-get install -y --no-install-recommends ${
      missing.join(" ")
    } (or: sudo .ci/run, which also runs the suite)`
    : "their packages (see .ci/packages.txt for the Debian names)";
  return `deno task test: the integration tests need ${missing.join(", ")}; install ${install}`;
}

async function succeeds(cmd: string, args: string[]): Promise<boolean> {
  try {
    const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "null", stdin: "null" })
      .output();
    return out.success;
  } catch {
    return false;
  }
}

/** Debian packages of `list` that are not installed, or null without dpkg-query. */
export async function missingPackages(list: readonly string[]): Promise<string[] | null> {
  if (!await succeeds("dpkg-query", ["--version"])) return null;
  const out = await new Deno.Command("dpkg-query", {
    args: ["-W", "-f=${Package} ${Status}\\n", ...list],
    stdout: "piped",
    stderr: "null",
  }).output();
  const installed = new Set(
    new TextDecoder().decode(out.stdout).split("\n")
      .filter((l) => l.endsWith(" install ok installed"))
      .map((l) => l.split(" ")[0]!.split(":")[0]!),
  );
  return list.filter((p) => !installed.has(p));
}

/** Commands of `list` not found on PATH. */
export async function missingCommands(list: readonly string[]): Promise<string[]> {
  const found = await Promise.all(list.map((c) => succeeds("sh", ["-c", `command -v ${c}`])));
  return list.filter((_, i) => !found[i]);
}

if (import.meta.main) {
  if (Deno.env.get("MSM_TEST_PEERS") !== "skip") {
    const list = parsePackageList(await Deno.readTextFile(new URL("../.ci/packages.txt", import.meta.url)));
    const packages = await missingPackages(list);
    const line = packages !== null
      ? missingLine(packages, "packages")
      : missingLine(await missingCommands(PEER_COMMANDS), "commands");
    if (line !== null) {
      console.error(line);
      Deno.exit(1);
    }
  }
}
