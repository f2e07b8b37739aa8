/**
 * `deno task compile`: builds the single `msm-relay` binary with `deno compile`.
 *
 * The binary gets exactly the permissions the relay uses, the unstable APIs deno.json enables, and the
 * `assets/` folder embedded so the built-in `demo` path works without the repository. The admin dashboard's files
 * (`src/admin/dashboard/`) need no `--include`: they are text imports, part of the module graph, and
 * `deno compile` embeds them with the code.
 *
 * ```sh
 * deno task compile                                     # dist/msm-relay for this machine
 * deno task compile --target aarch64-unknown-linux-gnu --output dist/msm-relay-arm64
 * deno task compile --dry-run                           # print the command only
 * DENORT_BIN=/path/to/denort deno task compile          # use a local denort instead of downloading it
 * ```
 * @module
 */
import { parseArgs } from "node:util";

/** Options of {@linkcode compileArgs}. */
export interface CompileOptions {
  /** Binary to write, relative to the repository root. @default "dist/msm-relay" */
  output?: string;
  /** `deno compile --target` (e.g. `x86_64-unknown-linux-gnu`); omitted means this machine. */
  target?: string;
  /** Unstable features from deno.json's `unstable` list, each passed as `--unstable-NAME`. @default ["net"] */
  unstable?: readonly string[];
  /** Entry point, relative to the repository root. @default "main.ts" */
  entry?: string;
}

/**
 * Permissions the relay needs at run time, and why:
 * - net: RTSP/admin listeners, UDP port pairs, camera connections, (later) mesh UDP and the Kubernetes API;
 * - read: `--config`, `--admin-token-file`/`--mesh-key-file`/`--users-file` (followed while running), the
 *   service-account folder
 *   `/var/run/secrets/kubernetes.io/serviceaccount`, and the embedded `assets/demo.h264`;
 *   unrestricted because the config and secret file paths are the user's choice;
 * - env: `MSM_*` variables (any flag), `NODE_NAME`;
 * - sys=hostname: the node name defaults to `Deno.hostname()` (src/app.ts);
 * - ffi: libc (`libc.so.6`) for the fast data plane, the default on Linux (`--data-plane auto`), and libcrypto
 *   (`libcrypto.so.3`) for the mesh's AES-GCM (node:crypto, about 5x slower, without it).
 * Never run, write or all.
 */
export const RELAY_PERMISSIONS: readonly string[] = [
  "--allow-net",
  "--allow-read",
  "--allow-env",
  "--allow-sys=hostname",
  "--allow-ffi",
];

/**
 * Runtime flags the relay runs with, wherever it runs: `deno task start`, the `deno task compile` binary (so the
 * image and the DaemonSet) and the tests' and benches' relays (tests/support/relay.ts). They trade nothing a
 * relay needs for memory (bench/README.md, "footprint", has the figures):
 * - `--v8-flags=--max-semi-space-size=1`: V8's young generation stays at 1 MiB a half instead of growing under
 *   load, in each isolate (the main thread's and the fast plane's Worker's). The ArrayBuffers the Worker hands
 *   the main thread are then freed at the next scavenge, which comes sooner: at 20k packets/s x 10 the relay
 *   holds about 100 MiB instead of 130, idle 4 MiB less, for scavenges that are more frequent and each short.
 * - `--no-code-cache`: no memory-mapped V8 code cache (3.5 MiB resident); the relay compiles its modules at
 *   start instead (about 50 ms of CPU, once).
 * - `--v8-flags=--no-short-builtin-calls`: each isolate calls V8's builtins where the executable holds them,
 *   instead of a copy of them (2 MiB each) remapped next to its heap for shorter calls: 2 MiB less resident idle,
 *   no cost that shows in `bench:dataplane` (three alternated pairs of 30 s cost trials: 2.27-2.82 µs per packet
 *   with the copies, 2.49-2.79 without).
 */
export const RELAY_RUNTIME_FLAGS: readonly string[] = [
  "--no-code-cache",
  "--v8-flags=--max-semi-space-size=1,--no-short-builtin-calls",
];

/**
 * Files embedded next to the code (the demo clip is read with `Deno.readFile` relative to `import.meta.url`).
 * Files imported `with { type: "text" }` (the dashboard's) are embedded through the module graph instead.
 */
export const INCLUDES: readonly string[] = ["assets/"];

/**
 * Builds the `deno compile` argv (without the `deno` executable itself). Pure: no I/O.
 * @param options output, target and unstable features
 * @returns arguments for `deno`
 * @example compileArgs({ target: "x86_64-unknown-linux-gnu" })
 * // ["compile", "--unstable-net", "--allow-net", ..., "--output", "dist/msm-relay", "--target", ..., "main.ts"]
 */
export function compileArgs(options: CompileOptions = {}): string[] {
  const unstable = options.unstable ?? ["net"];
  const args = ["compile"];
  for (const name of unstable) {
    if (!/^[a-z][a-z0-9-]*$/.test(name)) throw new Error(`Invalid unstable feature name "${name}"`);
    args.push(`--unstable-${name}`);
  }
  args.push(...RELAY_PERMISSIONS, ...RELAY_RUNTIME_FLAGS);
  for (const path of INCLUDES) args.push("--include", path);
  args.push("--output", options.output ?? "dist/msm-relay");
  if (options.target !== undefined) args.push("--target", options.target);
  args.push(options.entry ?? "main.ts");
  return args;
}

/**
 * Reads the `unstable` list of a deno.json text.
 * @param denoJson the file's text
 * @returns feature names, e.g. `["net"]`
 * @throws Error when the text is not JSON or the list holds non-strings
 */
export function unstableFeatures(denoJson: string): string[] {
  const doc = JSON.parse(denoJson) as { unstable?: unknown };
  const list = doc.unstable ?? [];
  if (!Array.isArray(list) || !list.every((v): v is string => typeof v === "string")) {
    throw new Error(`deno.json "unstable" must be a list of strings`);
  }
  return list;
}

/** Quotes one argument for display in a POSIX shell. */
export function shellQuote(arg: string): string {
  return /^[A-Za-z0-9_./=:@%+,-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", `'"'"'`)}'`;
}

/** Repository root (this file lives in `scripts/`). */
const REPO_ROOT = new URL("../", import.meta.url);

const USAGE = `Usage: deno task compile [--target TRIPLE] [--output FILE] [--dry-run]

  --target TRIPLE   deno compile target (default: this machine)
  --output FILE     binary to write, relative to the repository root (default: dist/msm-relay)
  --dry-run         print the deno compile command and exit
Set DENORT_BIN to a local denort binary to build without downloading one.`;

async function main(args: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        target: { type: "string" },
        output: { type: "string" },
        "dry-run": { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    console.error(`compile: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const unstable = unstableFeatures(await Deno.readTextFile(new URL("deno.json", REPO_ROOT)));
  const output = values.output ?? "dist/msm-relay";
  const argv = compileArgs({
    output,
    unstable,
    ...(values.target !== undefined ? { target: values.target } : {}),
  });
  const denort = Deno.env.get("DENORT_BIN");
  if (denort) console.log(`compile: using DENORT_BIN=${denort}`);
  console.log(["deno", ...argv].map(shellQuote).join(" "));
  if (values["dry-run"]) return 0;

  const outDir = new URL(
    output.includes("/") ? output.slice(0, output.lastIndexOf("/") + 1) : "./",
    REPO_ROOT,
  );
  await Deno.mkdir(outDir, { recursive: true });
  // The child inherits the environment, DENORT_BIN included; cwd is the repository root so deno.json,
  // deno.lock and the relative --include/--output paths resolve there.
  const status = await new Deno.Command(Deno.execPath(), {
    args: argv,
    cwd: REPO_ROOT,
    stdin: "null",
    stdout: "inherit",
    stderr: "inherit",
  }).spawn().status;
  if (!status.success) console.error(`compile: deno compile failed with exit code ${status.code}`);
  return status.code;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
