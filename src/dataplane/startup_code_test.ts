import { deepEqual, equal, ok } from "node:assert/strict";
import { readOnlyMappingsOf, residentBytesOf } from "./startup_code.ts";
import { privateRuntime } from "../../tests/support/private_runtime.ts";

const EXE = "/usr/lib/deno/deno";

Deno.test("readOnlyMappingsOf() keeps the read-only and executable mappings of the files wanted", () => {
  const maps = [
    `55c1b5518000-55c1b70a6000 r--p 00000000 00:1f 1234 ${EXE}`,
    `55c1b731c000-55c1bb010000 r-xp 01e03000 00:1f 1234 ${EXE}`,
    `55c1bb010000-55c1bb282000 rw-p 05af6000 00:1f 1234 ${EXE}`,
    `7f1a9fdc0000-7f1a9ffe6000 r-xp 03b00000 00:1f 1234 ${EXE}`,
    `7f1abd277000-7f1abd3cd000 r-xp 00028000 00:1f 99 /usr/lib/x86_64-linux-gnu/libc.so.6`,
    `7f1a68000000-7f1a682f2000 rw-p 00000000 00:00 0 `,
    `7f1a00000000-7f1a00001000 r--p 00000000 00:1f 77 ${EXE}.old`,
    `7f1a00001000-7f1a00002000 r--p 00000000 00:1f 78 /tmp/a file with spaces`,
    "7ffd2c3f0000-7ffd2c3f2000 r-xp 00000000 00:00 0                          [vdso]",
    "garbage",
    "",
  ].join("\n");
  deepEqual(readOnlyMappingsOf(maps, (p) => p === EXE), [
    { start: 0x55c1b5518000n, length: 0x55c1b70a6000 - 0x55c1b5518000, perms: "r--p" },
    { start: 0x55c1b731c000n, length: 0x55c1bb010000 - 0x55c1b731c000, perms: "r-xp" },
    { start: 0x7f1a9fdc0000n, length: 0x7f1a9ffe6000 - 0x7f1a9fdc0000, perms: "r-xp" },
  ]);
  equal(readOnlyMappingsOf(maps, (p) => p === "/tmp/a file with spaces").length, 1);
  equal(readOnlyMappingsOf(maps, (p) => p === "/nowhere").length, 0);
  // Every file: the anonymous mapping, the kernel's and the writable ones are still left out.
  equal(readOnlyMappingsOf(maps, () => true).length, 6);
});

Deno.test("residentBytesOf() sums the Rss lines of the file's mappings", () => {
  const smaps = [
    `55c1b5518000-55c1b70a6000 r--p 00000000 00:1f 1234 ${EXE}`,
    "Size:              28216 kB",
    "Rss:                3176 kB",
    `7f1abd277000-7f1abd3cd000 r-xp 00028000 00:1f 99 /usr/lib/x86_64-linux-gnu/libc.so.6`,
    "Rss:                1368 kB",
    `55c1b731c000-55c1bb010000 r-xp 01e03000 00:1f 1234 ${EXE}`,
    "Rss:               11528 kB",
  ].join("\n");
  equal(residentBytesOf(smaps, EXE), (3176 + 11528) * 1024);
});

Deno.test({
  name: "dropStartupCode() gives back most of the executable's resident pages, and the runtime still runs",
  ignore: Deno.build.os !== "linux",
  async fn() {
    // A private copy of the runtime, on disk: pages the test runner maps too would stay resident.
    const deno = await privateRuntime();
    const probe = new URL("./testdata/startup_code_probe.ts", import.meta.url);
    const out = await new Deno.Command(deno, {
      args: ["run", "--allow-ffi", "--no-config", probe.pathname],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    equal(out.code, 0, stderr);
    const { answers, drop, later } = JSON.parse(new TextDecoder().decode(out.stdout));
    deepEqual(answers, [42, 100], "the Worker answered before and after");
    ok(drop, "dropStartupCode() ran");
    const mib = (n: number) => `${(n / 2 ** 20).toFixed(1)} MiB`;
    console.log(
      `executable resident: ${mib(drop.residentBefore)} -> ${mib(drop.residentAfter)}, ` +
        `${mib(later)} once the Worker answered again (what it ran came back)`,
    );
    ok(drop.residentBefore > 16 * 2 ** 20, `only ${mib(drop.residentBefore)} resident before`);
    ok(
      drop.residentAfter < drop.residentBefore / 2,
      `${mib(drop.residentAfter)} of ${mib(drop.residentBefore)}`,
    );
  },
});
