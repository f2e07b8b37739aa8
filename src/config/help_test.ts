import { equal, ok } from "node:assert/strict";
import { FLAGS } from "./flags.ts";
import { plainText, USAGE, usage } from "./help.ts";

Deno.test("USAGE lists every flag in every form, with its argument", () => {
  for (const flag of FLAGS) {
    for (const form of flag.forms) ok(USAGE.includes(`  ${form}`) || USAGE.includes(`, ${form}`), form);
  }
  ok(USAGE.includes("  --no-publish "), "a flag on by default shows as its --no- form");
  ok(USAGE.includes("  -h, --help "));
  ok(USAGE.includes("--peer NODE=HOST:ADMINPORT:MESHPORT[@ZONE]\n"), "a long flag has its meaning below");
});

Deno.test("USAGE shows each flag's meaning and default as plain text within 110 columns", () => {
  const lines = USAGE.split("\n");
  for (const line of lines) ok(line.length <= 110, line);
  ok(!USAGE.includes("`"), "no Markdown code spans");
  ok(/--rtsp-port N +RTSP listen port \[default: 8554\]\n/.test(USAGE));
  ok(/--linger SECONDS +keep a camera session open [^\[]+\[default: 5\]/.test(USAGE));
  ok(/--zone ZONE +[^\[]+\n {2}--discovery/.test(USAGE), "no default shown when there is none");
  ok(/--admin-host NAME +[^\[]+;\s+repeatable\n/.test(USAGE));
  ok(USAGE.includes("MSM_RTSP_PORT=8554"), "the environment rule is said once");
});

Deno.test("usage() lists the flags it is given, in their order", () => {
  const some = FLAGS.filter((f) => f.meta.name === "demo" || f.meta.name === "listen");
  const text = usage(some);
  ok(text.indexOf("--listen ADDR") < text.indexOf("--no-demo"));
  equal(text.includes("--rtsp-port"), false);
});

Deno.test("plainText() drops Markdown code spans and keeps a link's words", () => {
  equal(plainText("see [Mesh security](#mesh-security); `0`: none"), "see Mesh security; 0: none");
});
