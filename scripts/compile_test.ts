import { deepStrictEqual as assertEquals, ok } from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { Buffer } from "node:buffer";
import { compileArgs, INCLUDES, shellQuote, unstableFeatures } from "./compile.ts";
import { loadDemoClip } from "../src/relay/sources/demo.ts";
import { DASHBOARD_ICON, DASHBOARD_SCRIPT, DASHBOARD_STYLE } from "../src/admin/dashboard_page.ts";
import { RtspClientConnection } from "../src/rtsp/client.ts";

const REPO_ROOT = fileURLToPath(new URL("../", import.meta.url));
const decoder = new TextDecoder();

/** Runs `deno ARGS` in the repository root; returns status and text output. */
async function deno(args: string[], env: Record<string, string> = {}) {
  const out = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: REPO_ROOT,
    env: { NO_COLOR: "1", ...env },
    stdin: "null",
  }).output();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

/** Where `deno compile` caches the denort it downloads for this version and target, if present. */
async function cachedDenort(): Promise<string | null> {
  const info = JSON.parse((await deno(["info", "--json"])).stdout) as { denoDir: string };
  const path = `${info.denoDir}/dl/release/v${Deno.version.deno}/denort-${Deno.build.target}.zip`;
  try {
    await Deno.stat(path);
    return path;
  } catch {
    return null;
  }
}

const denortAvailable = Boolean(Deno.env.get("DENORT_BIN")) || (await cachedDenort()) !== null;

Deno.test("compileArgs() grants exactly the relay's permissions", () => {
  const args = compileArgs();
  const allows = args.filter((a) => a.startsWith("--allow-") || a === "-A");
  assertEquals(allows.sort(), [
    "--allow-env",
    "--allow-ffi", // the fast data plane
    "--allow-net",
    "--allow-read",
    "--allow-sys=hostname",
  ]);
  for (const forbidden of ["--allow-run", "--allow-write", "--allow-all", "-A", "--allow-sys"]) {
    ok(!args.includes(forbidden), `must not pass ${forbidden}`);
  }
});

Deno.test("compileArgs() embeds assets/ and writes dist/msm-relay from main.ts", () => {
  const args = compileArgs();
  assertEquals(args[0], "compile");
  const inc = args.indexOf("--include");
  ok(inc > 0, "no --include");
  assertEquals(args[inc + 1], "assets/");
  assertEquals(args.slice(args.indexOf("--output"), args.indexOf("--output") + 2), [
    "--output",
    "dist/msm-relay",
  ]);
  assertEquals(args.at(-1), "main.ts");
  ok(!args.includes("--target"));
});

Deno.test("compileArgs() passes the target, output and unstable features through", () => {
  const args = compileArgs({ target: "aarch64-unknown-linux-gnu", output: "out/x", unstable: ["net", "kv"] });
  ok(args.includes("--unstable-net") && args.includes("--unstable-kv"));
  assertEquals(args.slice(args.indexOf("--target"), args.indexOf("--target") + 2), [
    "--target",
    "aarch64-unknown-linux-gnu",
  ]);
  assertEquals(args.slice(args.indexOf("--output"), args.indexOf("--output") + 2), ["--output", "out/x"]);
  assertEquals(args.at(-1), "main.ts", "the entry point stays last");
});

Deno.test("unstableFeatures() reads deno.json's unstable list", async () => {
  const text = await Deno.readTextFile(`${REPO_ROOT}deno.json`);
  assertEquals(unstableFeatures(text), ["net"]);
  assertEquals(unstableFeatures("{}"), []);
  ok(compileArgs({ unstable: unstableFeatures(text) }).includes("--unstable-net"));
});

Deno.test("shellQuote() leaves plain words alone and quotes the rest", () => {
  assertEquals(shellQuote("--allow-sys=hostname"), "--allow-sys=hostname");
  assertEquals(shellQuote("a b"), "'a b'");
  assertEquals(shellQuote("--v8-flags=--a=1,--b"), "--v8-flags=--a=1,--b"); // a comma is not special to sh
  assertEquals(shellQuote("it's"), `'it'"'"'s'`);
});

Deno.test("compile.ts --dry-run prints the deno compile command and builds nothing", async () => {
  const r = await deno(
    ["run", "--allow-read", "--allow-env", "--allow-run", "--allow-write", "scripts/compile.ts", "--dry-run"],
    { DENORT_BIN: "/nonexistent/denort" },
  );
  assertEquals(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split("\n");
  assertEquals(lines[0], "compile: using DENORT_BIN=/nonexistent/denort");
  assertEquals(lines[1], ["deno", ...compileArgs()].join(" "));
});

Deno.test("compile.ts refuses unknown options", async () => {
  const r = await deno(["run", "--allow-read", "--allow-env", "scripts/compile.ts", "--bogus"]);
  assertEquals(r.code, 2);
  ok(r.stderr.includes("--bogus"), r.stderr);
});

Deno.test("main.ts's module graph is local files, node: builtins and pinned npm: packages only", async () => {
  const r = await deno(["info", "--json", "main.ts"]);
  assertEquals(r.code, 0, r.stderr);
  const info = JSON.parse(r.stdout) as {
    modules: Array<{ specifier: string; kind: string; error?: string }>;
    redirects: Record<string, string>;
  };
  const errors = info.modules.filter((m) => m.error).map((m) => `${m.specifier}: ${m.error}`);
  assertEquals(errors, []);
  const foreign = info.modules
    .map((m) => m.specifier)
    .filter((s) => !s.startsWith(`file://${REPO_ROOT}`) && !s.startsWith("node:") && !s.startsWith("npm:"));
  assertEquals(foreign, [], "jsr:, https: or files outside the repository would not embed reliably");
  for (const from of Object.keys(info.redirects)) {
    ok(/^npm:(@[^/]+\/)?[^@/]+@\d+\.\d+\.\d+$/.test(from), `${from} is not pinned to an exact version`);
  }
  ok(info.modules.some((m) => m.specifier.endsWith("/src/relay/sources/demo.ts")));
});

Deno.test("the demo clip the demo source loads lives under an included folder", async () => {
  const clip = await loadDemoClip();
  ok(clip.length > 1000, "demo clip is too small");
  assertEquals([...clip.subarray(0, 4)], [0, 0, 0, 1], "Annex B start code");
  // loadDemoClip() resolves ../../../assets/demo.h264 from src/relay/sources/: the repository's assets/.
  const onDisk = await Deno.readFile(`${REPO_ROOT}assets/demo.h264`);
  assertEquals(onDisk.length, clip.length);
  ok(INCLUDES.some((p) => "assets/demo.h264".startsWith(p)));
});

Deno.test({
  name:
    "deno compile accepts the argv and embeds assets/ and the dashboard (any runtime stands in for denort)",
  // Uses this deno executable as DENORT_BIN: the output would not start the relay, but the compile step
  // (module graph, --include, permissions, unstable flags) runs for real without downloading anything.
  ignore: denortAvailable,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "msm-compile-" });
    try {
      const r = await deno(compileArgs({ output: `${dir}/msm-relay` }), { DENORT_BIN: Deno.execPath() });
      assertEquals(r.code, 0, r.stderr);
      const listing = r.stdout + r.stderr;
      ok(/assets\/\*|demo\.h264/.test(listing), `assets not listed as embedded:\n${listing}`);
      ok(/dashboard\/\*|dashboard\.js/.test(listing), `dashboard files not listed as embedded:\n${listing}`);
      ok((await Deno.stat(`${dir}/msm-relay`)).size > 1_000_000);
      // The dashboard's text imports are stored verbatim in the binary: each file's text is found in it.
      const bytes = await Deno.readFile(`${dir}/msm-relay`);
      const binary = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      const files: Array<[string, string]> = [
        ["dashboard.js", DASHBOARD_SCRIPT.trimStart()],
        ["dashboard.css", DASHBOARD_STYLE.trimStart()],
        ["favicon.svg", DASHBOARD_ICON],
      ];
      for (const [name, text] of files) {
        ok(binary.indexOf(text) >= 0, `${name} is not embedded in the binary`);
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "the compiled binary prints its usage and serves the embedded demo clip",
  ignore: !denortAvailable,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "msm-compile-" });
    const bin = `${dir}/msm-relay`;
    try {
      const built = await deno(compileArgs({ output: bin }));
      assertEquals(built.code, 0, built.stderr);
      const help = await new Deno.Command(bin, { args: ["--help"], stdin: "null" }).output();
      assertEquals(help.code, 0);
      ok(decoder.decode(help.stdout).includes("--rtsp-port"));

      const port = (() => {
        const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
        const p = (l.addr as Deno.NetAddr).port;
        l.close();
        return p;
      })();
      const child = new Deno.Command(bin, {
        args: ["--listen", "127.0.0.1", "--rtsp-port", String(port), "--admin-port", String(port + 1)],
        stdin: "null",
        stdout: "null",
        stderr: "null",
      }).spawn();
      try {
        let client: RtspClientConnection | null = null;
        for (let i = 0; i < 50 && !client; i++) {
          client = await RtspClientConnection.connect(`rtsp://127.0.0.1:${port}/demo`).catch(() => null);
          if (!client) await new Promise((r) => setTimeout(r, 100));
        }
        ok(client, "compiled relay did not listen");
        const res = await client.request("DESCRIBE", `rtsp://127.0.0.1:${port}/demo`);
        client.close();
        assertEquals(res.status, 200);
        ok(decoder.decode(res.body).includes("H264/90000"));
        const page = await fetch(`http://127.0.0.1:${port + 1}/`);
        assertEquals(page.status, 200);
        ok(
          (await page.text()).includes(`<script>${DASHBOARD_SCRIPT}</script>`),
          "the dashboard page lacks its script",
        );
      } finally {
        child.kill("SIGTERM");
        await child.status;
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
