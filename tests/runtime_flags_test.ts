/**
 * The relay runs with the same runtime flags (`RELAY_RUNTIME_FLAGS`, scripts/compile.ts: V8's young generation
 * kept small, no code cache) wherever it runs: `deno task start`, the compiled binary of the image, and the
 * relays of the tests and benches, so the footprint the bench measures is the users' (bench/README.md).
 */
import assert from "node:assert/strict";
import { compileArgs, RELAY_RUNTIME_FLAGS } from "../scripts/compile.ts";
import { relayCommand } from "./support/relay.ts";

const ROOT = new URL("../", import.meta.url);

/** The arguments of a command line that come before its entry point. */
function before(args: readonly string[], entry: RegExp): string[] {
  const at = args.findIndex((a) => entry.test(a));
  assert.ok(at > 0, `no entry point in ${args.join(" ")}`);
  return args.slice(0, at);
}

Deno.test("deno task start, deno task compile and the tests' relays pass the runtime flags", async () => {
  assert.ok(RELAY_RUNTIME_FLAGS.length > 0);
  const tasks = JSON.parse(await Deno.readTextFile(new URL("deno.json", ROOT))).tasks as Record<
    string,
    string
  >;
  const launches: Record<string, string[]> = {
    "deno task start": before(tasks.start!.split(" "), /^main\.ts$/),
    "deno task compile": before(compileArgs(), /^main\.ts$/),
    "tests/support/relay.ts": before(relayCommand(["--no-demo"]), /main\.ts$/),
  };
  for (const [launch, args] of Object.entries(launches)) {
    for (const flag of RELAY_RUNTIME_FLAGS) assert.ok(args.includes(flag), `${launch} lacks ${flag}`);
  }
});

Deno.test("Deno and V8 accept the runtime flags", async () => {
  // An unknown V8 flag or Deno option makes `deno run` fail before the program starts.
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...RELAY_RUNTIME_FLAGS, "main.ts", "--help"],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, stderr);
  assert.match(new TextDecoder().decode(out.stdout), /--rtsp-port/);
});
