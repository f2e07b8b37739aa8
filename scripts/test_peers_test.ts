import { deepStrictEqual as assertEquals, equal, ok } from "node:assert/strict";
import { missingCommands, missingLine, missingPackages, parsePackageList } from "./test_peers.ts";

Deno.test("parsePackageList reads .ci/packages.txt: one package per line, comments and blanks ignored", async () => {
  assertEquals(parsePackageList("# heading\nffmpeg   # readers\n\n  vlc-bin\n"), ["ffmpeg", "vlc-bin"]);
  const real = parsePackageList(await Deno.readTextFile(new URL("../.ci/packages.txt", import.meta.url)));
  ok(
    real.includes("ffmpeg") && real.includes("chromium") && real.includes("gstreamer1.0-rtsp"),
    real.join(" "),
  );
  ok(real.every((p) => /^[a-z0-9][a-z0-9.+-]+$/.test(p)), "package names only");
});

Deno.test("missingLine says in one line what is missing and the command that installs it", () => {
  equal(missingLine([], "packages"), null);
  const line = missingLine(["ffmpeg", "vlc-bin"], "packages")!;
  ok(!line.includes("\n"));
  ok(line.includes("ffmpeg, vlc-bin"), line);
  ok(line.includes("sudo apt-get install -y --no-install-recommends ffmpeg vlc-bin"), line);
  ok(missingLine(["cvlc"], "commands")!.includes(".ci/packages.txt"));
});

Deno.test("deno task test's check passes on this machine (the suite's peers are installed) and says so by exit status", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("./test_peers.ts", import.meta.url).pathname],
    stdout: "piped",
    stderr: "piped",
  }).output();
  equal(out.code, 0, new TextDecoder().decode(out.stderr));
});

Deno.test("missingPackages and missingCommands find what is not installed", async () => {
  const packages = await missingPackages(["ffmpeg", "msm-no-such-package"]);
  assertEquals(packages, ["msm-no-such-package"], "dpkg-query answers on Debian, where the suite runs");
  assertEquals(await missingCommands(["sh", "msm-no-such-command"]), ["msm-no-such-command"]);
});
