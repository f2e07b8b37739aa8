import { deepStrictEqual as assertEquals, equal, notDeepStrictEqual, ok, throws } from "node:assert/strict";
import { ConfigError } from "./config_error.ts";
import { fieldValue, type Flag, FLAGS, FLAGS_BY_NAME, fromEnv, PARSE_ARGS_OPTIONS } from "./flags.ts";
import { loadConfig } from "./load.ts";
import { configDefaults, configSchema, type RelayConfig } from "./schema.ts";

const TOKEN = "t0k-0123456789ab";
const FILE_TOKEN = "file-t0k-0123456789";
const KEY = "mesh-key-0123456789abcdef";
const FILES: Record<string, string> = {
  "/etc/relay.yaml": "rtspPort: 1234\n",
  "/etc/users": "viewer:v-1:read\n",
  "/etc/token": `${FILE_TOKEN}\n`,
  "/etc/mesh-key": `# rotated\n${KEY}-2\n`,
};

/**
 * A value of every flag that differs from its default (for a boolean: the value it is not by default), so a flag
 * that did not reach the config shows. A flag missing here fails the test below: add it when you add a flag.
 */
const SAMPLES: Record<string, string | boolean> = {
  config: "/etc/relay.yaml",
  "rtsp-port": "1554",
  "admin-port": "1080",
  "mesh-port": "1700",
  listen: "127.0.0.2",
  path: "lobby/door=rtsp://u:p@192.0.2.1/x?a=1,2",
  publish: false,
  demo: false,
  node: "node-b",
  zone: "zone-b",
  discovery: "static",
  peer: "n2=[fd00::2]:8080:7000@zone-b",
  fanout: "2",
  user: "alice:secret:read+publish:cams/*",
  "users-file": "/etc/users",
  "rtsp-auth": "digest, basic",
  "rtsp-allow": "10.0.0.0/8",
  "admin-token": TOKEN,
  "admin-token-file": "/etc/token",
  "admin-auth-reads": true,
  "admin-host": "relay.example",
  "mesh-key": KEY,
  "mesh-key-file": "/etc/mesh-key",
  "mesh-encrypt": false,
  protection: "dual",
  "path-protection": "lobby/door=none",
  "max-viewers": "5",
  "webrtc-port": "9189",
  "mesh-nack": false,
  "mesh-nack-budget-ms": "150",
  "mesh-nack-max-ratio": "0.5",
  "udp-port-range": "20000-20099",
  "pull-transport": "tcp",
  "pull-auth": "basic",
  "camera-wait": "0.5",
  "data-plane": "portable",
  "plane-digests": false,
  linger: "9",
  "reader-queue-bytes": "65536",
  "gop-cache": false,
  "gop-cache-bytes": "1048576",
  "memory-budget-bytes": "0",
  "session-timeout": "30",
  "rtsp-max-connections": "8",
  "rtsp-max-connections-per-ip": "0",
  "rtsp-max-sessions-per-ip": "3",
  "rtsp-request-rate": "7",
  "rtsp-max-header-bytes": "2048",
  "rtsp-max-body-bytes": "4096",
  "rtsp-request-timeout": "1.5",
  "rtsp-idle-timeout": "3",
  "max-readers-per-path": "4",
  "max-tracks-per-stream": "2",
  "log-level": "debug",
};

/** What a sample needs besides itself to be a valid configuration. */
const NEEDS: Record<string, string[]> = { "admin-auth-reads": ["--admin-token", TOKEN] };

function load(args: string[], env: Record<string, string> = {}): RelayConfig {
  const r = loadConfig({
    args,
    env: (n) => env[n],
    readTextFile: (p) => {
      const f = FILES[p];
      if (f === undefined) throw new Error("No such file");
      return f;
    },
  });
  if (r.kind !== "config") throw new Error("help");
  return r.config;
}

/** The sample given as a flag, and as the flag's environment variable. */
function both(flag: Flag): { args: string[]; env: Record<string, string> } {
  const sample = SAMPLES[flag.meta.name]!;
  const name = flag.meta.name;
  if (typeof sample === "boolean") {
    return { args: [sample ? `--${name}` : `--no-${name}`], env: { [flag.env!]: String(sample) } };
  }
  return { args: [`--${name}`, sample], env: { [flag.env!]: sample } };
}

Deno.test("every flag has a sample in this test, and every sample a flag", () => {
  assertEquals(
    FLAGS.map((f) => f.meta.name).filter((n) => n !== "help" && !(n in SAMPLES)),
    [],
    "flags without a sample",
  );
  assertEquals(Object.keys(SAMPLES).filter((n) => !FLAGS_BY_NAME.has(n)), [], "samples of no flag");
});

Deno.test("every flag reaches the config, set as a flag and as its MSM_ variable alike", () => {
  const defaults = load([]);
  for (const flag of FLAGS) {
    if (flag.meta.name === "help") continue;
    const { args, env } = both(flag);
    const needs = NEEDS[flag.meta.name] ?? [];
    const fromFlag = load([...needs, ...args]);
    const fromEnvVar = load(needs, env);
    notDeepStrictEqual(fromFlag, load(needs), `${args.join(" ")} changes nothing`);
    assertEquals(fromEnvVar, fromFlag, `${Object.keys(env)[0]} differs from ${args[0]}`);
    if (flag.field) {
      notDeepStrictEqual(fromFlag[flag.field], defaults[flag.field], `${args[0]} sets its field`);
    }
  }
});

Deno.test("every flag overrides its MSM_ variable, which overrides the config file", () => {
  const c = load(["--config", "/etc/relay.yaml", "--rtsp-port", "1555"], { MSM_RTSP_PORT: "1556" });
  equal(c.rtspPort, 1555);
  equal(load(["--config", "/etc/relay.yaml"], { MSM_RTSP_PORT: "1556" }).rtspPort, 1556);
  equal(load([], { MSM_CONFIG: "/etc/relay.yaml" }).rtspPort, 1234);
  equal(load(["--demo"], { MSM_DEMO: "false" }).demo, true);
});

Deno.test("--help and -h ask for the usage; it has no MSM_ variable", () => {
  for (const args of [["--help"], ["-h"]]) {
    equal(loadConfig({ args, env: () => undefined, readTextFile: () => "" }).kind, "help");
  }
  equal(FLAGS_BY_NAME.get("help")?.env, null);
  equal(load([], { MSM_HELP: "1" }).rtspPort, 8554);
});

Deno.test("every field of the config schema is a flag, in the schema's order", () => {
  const fields = FLAGS.flatMap((f) => (f.field ? [f.field] : []));
  assertEquals(fields, Object.keys(configSchema.shape));
});

Deno.test("flags: each flag's kind follows its field's zod type", () => {
  const kinds = Object.fromEntries(FLAGS.map((f) => [f.meta.name, f.kind]));
  assertEquals(
    [kinds["rtsp-port"], kinds.listen, kinds["pull-transport"], kinds.publish, kinds["udp-port-range"]],
    ["number", "text", "text", "boolean", "range"],
  );
  assertEquals([kinds.path, kinds.peer, kinds["admin-host"], kinds["rtsp-auth"]], [
    "map",
    "list",
    "list",
    "commaList",
  ]);
  assertEquals([kinds.config, kinds["admin-token-file"], kinds.help], ["text", "text", "boolean"]);
  assertEquals(PARSE_ARGS_OPTIONS.path, { type: "string", multiple: true });
  assertEquals(PARSE_ARGS_OPTIONS.help, { type: "boolean", short: "h" });
  assertEquals(PARSE_ARGS_OPTIONS["gop-cache"], { type: "boolean" });
});

Deno.test("flags: the default users read is the schema's default", () => {
  const defaults = configDefaults();
  for (const flag of FLAGS) {
    if (!flag.field) continue;
    const value = defaults[flag.field];
    if (typeof value === "boolean") {
      // A flag on by default is documented as its --no- form; one off by default as itself.
      equal(
        flag.meta.negated ?? false,
        value,
        `--${flag.meta.name} is documented in the form that changes it`,
      );
    } else if (value === undefined || (typeof value === "object" && Object.keys(value).length === 0)) {
      // No value to show: words ("none", "everyone"), not a value in a code span.
      ok(!/^`[^`]*`$/.test(flag.defaultText), `--${flag.meta.name} has no default, not ${flag.defaultText}`);
    } else {
      const shown = Array.isArray(value) ? value.join(flag.kind === "range" ? "-" : ",") : String(value);
      ok(
        flag.defaultText.includes("`" + shown + "`"),
        `--${flag.meta.name}: "${flag.defaultText}" for ${shown}`,
      );
    }
  }
  assertEquals(
    ["rtsp-port", "udp-port-range", "rtsp-auth", "path", "memory-budget-bytes", "node"].map((n) =>
      FLAGS_BY_NAME.get(n)?.defaultText
    ),
    [
      "`8554`",
      "`10000-19999`",
      "`digest`",
      "none",
      "`536870912` (512 MiB)",
      "`$NODE_NAME`, else the hostname",
    ],
  );
});

Deno.test("fromEnv() reads booleans in words and repeated flags as space-separated lists", () => {
  const publish = FLAGS_BY_NAME.get("publish")!;
  for (const word of ["1", "true", "YES", "on"]) equal(fromEnv(publish, () => word), true, word);
  for (const word of ["0", "false", "No", "OFF"]) equal(fromEnv(publish, () => word), false, word);
  throws(
    () => fromEnv(publish, () => "maybe"),
    (e: unknown) => e instanceof ConfigError && e.message === 'Invalid MSM_PUBLISH: "maybe" is not a boolean',
  );
  const path = FLAGS_BY_NAME.get("path")!;
  assertEquals(fromEnv(path, () => " a=rtsp://h/x,y \n b=rtsp://h/z "), ["a=rtsp://h/x,y", "b=rtsp://h/z"]);
  equal(fromEnv(FLAGS_BY_NAME.get("listen")!, () => ""), undefined, "an empty variable is unset");
});

Deno.test("fieldValue() converts a flag's text by its kind, and names the flag when it cannot", () => {
  const flag = (n: string) => FLAGS_BY_NAME.get(n)!;
  equal(fieldValue(flag("rtsp-port"), "554", undefined), 554);
  assertEquals(fieldValue(flag("udp-port-range"), " 20000-20099 ", undefined), [20000, 20099]);
  assertEquals(fieldValue(flag("pull-auth"), "digest, basic,", undefined), ["digest", "basic"]);
  assertEquals(fieldValue(flag("path"), ["b=rtsp://h/2"], { a: "rtsp://h/1", b: "rtsp://old" }), {
    a: "rtsp://h/1",
    b: "rtsp://h/2",
  });
  assertEquals(fieldValue(flag("peer"), ["n2=127.0.0.2:8080:7000"], undefined), [
    { node: "n2", host: "127.0.0.2", adminPort: 8080, meshPort: 7000 },
  ]);
  const cases: Array<[string, string | string[], string]> = [
    ["rtsp-port", "8k", 'Invalid --rtsp-port: "8k" is not a number'],
    ["rtsp-port", " ", 'Invalid --rtsp-port: " " is not a number'],
    ["udp-port-range", "10000:10100", 'Invalid --udp-port-range: "10000:10100" is not FIRST-LAST'],
    ["path", ["rtsp://u:pw@cam/x"], 'Invalid path: "rtsp://u:***@cam/x" is not NAME=URL'],
    ["peer", ["n2=h:80"], 'Invalid peer: "n2=h:80" is not NODE=HOST:ADMINPORT:MESHPORT[@ZONE]'],
    ["user", ["a:b"], "Invalid user: expected NAME:PASSWORD:RIGHTS[:PATHGLOB], got 2 fields"],
  ];
  for (const [name, value, message] of cases) {
    throws(() => fieldValue(flag(name), value, undefined), (e: unknown) => {
      equal((e as Error).message, message);
      return e instanceof ConfigError;
    });
  }
});
