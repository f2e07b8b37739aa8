import { deepStrictEqual as assertEquals, equal, match, ok, throws } from "node:assert/strict";
import { ConfigError } from "./config_error.ts";
import { loadConfig } from "./load.ts";
import type { RelayConfig } from "./schema.ts";

/** An admin token of the shortest accepted length (16). */
const TOKEN = "t0k-0123456789ab";

function load(
  args: string[],
  env: Record<string, string> = {},
  files: Record<string, string> = {},
): RelayConfig {
  const r = loadConfig({
    args,
    env: (n) => env[n],
    readTextFile: (p) => {
      const f = files[p];
      if (f === undefined) throw new Error("No such file");
      return f;
    },
  });
  if (r.kind !== "config") throw new Error("help");
  return r.config;
}

Deno.test("loadConfig() applies the CLI contract's defaults", () => {
  const c = load([]);
  assertEquals([c.rtspPort, c.adminPort, c.meshPort, c.listen, c.fanout], [8554, 8080, 7000, "0.0.0.0", 4]);
  assertEquals([c.publish, c.demo, c.pullTransport, c.udpPortRange], [true, true, "auto", [10000, 19999]]);
});

Deno.test("loadConfig() layers file < env < flags", () => {
  const files = {
    "/c.yaml": "rtspPort: 1000\nadminPort: 2000\nmeshPort: 3000\npaths:\n  cam1: rtsp://a/1\n",
  };
  const c = load(["--config", "/c.yaml", "--rtsp-port", "1111", "--path", "cam2=rtsp://b/2"], {
    MSM_ADMIN_PORT: "2222",
  }, files);
  assertEquals([c.rtspPort, c.adminPort, c.meshPort], [1111, 2222, 3000]);
  assertEquals(c.paths, { cam1: "rtsp://a/1", cam2: "rtsp://b/2" });
});

Deno.test("loadConfig() parses peers, users, ranges and negated booleans", () => {
  const c = load([
    "--peer",
    "n2=127.0.0.2:8080:7000@zone-b",
    "--user",
    "alice:secret:read+publish:cams/*",
    "--udp-port-range",
    "20000-20099",
    "--no-publish",
    "--no-demo",
  ]);
  assertEquals(c.peers, [{ node: "n2", host: "127.0.0.2", adminPort: 8080, meshPort: 7000, zone: "zone-b" }]);
  assertEquals(c.users, [{ name: "alice", password: "secret", rights: "read+publish", paths: "cams/*" }]);
  assertEquals([c.udpPortRange, c.publish, c.demo], [[20000, 20099], false, false]);
});

Deno.test("loadConfig() reads the RTSP auth schemes and the client allow-list", () => {
  assertEquals(load([]).rtspAuth, ["digest"]);
  assertEquals(load(["--rtsp-auth", "digest, basic"]).rtspAuth, ["digest", "basic"]);
  const c = load(["--rtsp-allow", "10.0.0.0/8", "--rtsp-allow", "192.168.1.7", "--rtsp-allow", "fd00::1"]);
  assertEquals(c.rtspAllow, ["10.0.0.0/8", "192.168.1.7", "fd00::1"]);
  assertEquals(load([], { MSM_RTSP_ALLOW: "10.0.0.0/8 127.0.0.1" }).rtspAllow, ["10.0.0.0/8", "127.0.0.1"]);
});

Deno.test("loadConfig() --pull-auth: Digest only by default, Basic for cameras only when listed", () => {
  assertEquals(load([]).pullAuth, ["digest"]);
  assertEquals(load(["--pull-auth", "digest,basic"]).pullAuth, ["digest", "basic"]);
  assertEquals(load([], { MSM_PULL_AUTH: "basic" }).pullAuth, ["basic"]);
  throws(() => load(["--pull-auth", "ntlm"]), /pullAuth/);
  throws(() => load(["--pull-auth", ","]), /pullAuth/);
});

Deno.test("loadConfig() refuses a camera path name too long to serve", () => {
  assertEquals(Object.keys(load(["--path", `${"a".repeat(224)}=rtsp://h/x`]).paths)[0]?.length, 224);
  throws(() => load(["--path", `${"a".repeat(225)}=rtsp://h/x`]), /paths/);
});

Deno.test("loadConfig() reads secrets from files and NODE_NAME from the downward API", () => {
  const c = load(["--admin-token-file", "/t"], { NODE_NAME: "node-a" }, { "/t": "tok-0123456789abcdef\n" });
  assertEquals([c.adminToken, c.node], ["tok-0123456789abcdef", "node-a"]);
});

Deno.test("loadConfig() reads --admin-auth-reads, MSM_ADMIN_AUTH_READS and the file's adminAuthReads", () => {
  assertEquals(load([]).adminAuthReads, false);
  assertEquals(load(["--admin-token", TOKEN, "--admin-auth-reads"]).adminAuthReads, true);
  assertEquals(load([], { MSM_ADMIN_TOKEN: TOKEN, MSM_ADMIN_AUTH_READS: "yes" }).adminAuthReads, true);
  const file = { "/c.yaml": `adminToken: ${TOKEN}\nadminAuthReads: true\n` };
  assertEquals(load(["--config", "/c.yaml"], {}, file).adminAuthReads, true);
  assertEquals(load(["--config", "/c.yaml", "--no-admin-auth-reads"], {}, file).adminAuthReads, false);
});

Deno.test("loadConfig() names the field and the problem on bad input", () => {
  const cases: Array<[string[], RegExp]> = [
    [["--rtsp-port", "abc"], /--rtsp-port.*"abc" is not a number/],
    [["--rtsp-port", "70000"], /rtspPort/],
    [["--path", "cam1"], /path: "cam1" is not NAME=URL/],
    [["--path", "cam1=http://x"], /paths\.cam1: camera URLs start with rtsp/],
    [["--path", "cam1=rtsp://cam:99999/x"], /paths\.cam1: invalid camera URL \(port out of range\)/],
    [["--admin-token", "short-token"], /adminToken: the admin token must be at least 16 characters/],
    [["--admin-host", "relay.example:8080"], /adminHosts\.0: admin hosts are DNS names/],
    [["--admin-host", "http://relay.example"], /adminHosts\.0/],
    [["--rtsp-allow", "10.0.0.0/40"], /rtspAllow\.0: expected an IPv4 address, an IPv4 CIDR/],
    [["--rtsp-allow", "example.com"], /rtspAllow\.0/],
    [["--rtsp-auth", "ntlm"], /rtspAuth\.0/],
    [["--pull-transport", "smoke"], /pullTransport/],
    [["--udp-port-range", "10001-10100"], /even port/],
    [["--bogus"], /Invalid command line/],
    [["--admin-auth-reads"], /adminAuthReads needs an admin token/],
    [["--config", "/missing.yaml"], /Cannot read config file "\/missing.yaml"/],
  ];
  for (const [args, re] of cases) {
    throws(() => load(args), (err: unknown) => {
      if (!(err instanceof ConfigError)) return false;
      match(err.message, re);
      return true;
    }, args.join(" "));
  }
});

Deno.test("loadConfig() rejects a config file with a bad field", () => {
  throws(
    () => load(["--config", "/c.json"], {}, { "/c.json": '{"fanout": 0}' }),
    /fanout: Too small/i,
  );
});

Deno.test("loadConfig() reads the RTSP server limits from flags, env and file, with their defaults", () => {
  const d = load([]);
  assertEquals(
    [
      d.rtspMaxConnections,
      d.rtspMaxSessionsPerIp,
      d.rtspRequestRate,
      d.rtspMaxHeaderBytes,
      d.rtspMaxBodyBytes,
      d.rtspRequestTimeoutSeconds,
      d.rtspIdleTimeoutSeconds,
      d.maxReadersPerPath,
    ],
    [1024, 100, 50, 8192, 65536, 10, 60, 0],
  );
  const c = load([
    "--rtsp-max-connections",
    "8",
    "--rtsp-max-sessions-per-ip",
    "2",
    "--rtsp-request-rate",
    "5",
    "--rtsp-max-header-bytes",
    "2048",
    "--rtsp-max-body-bytes",
    "4096",
    "--rtsp-request-timeout",
    "1.5",
    "--rtsp-idle-timeout",
    "3",
    "--max-readers-per-path",
    "4",
  ]);
  assertEquals(
    [
      c.rtspMaxConnections,
      c.rtspMaxSessionsPerIp,
      c.rtspRequestRate,
      c.rtspMaxHeaderBytes,
      c.rtspMaxBodyBytes,
      c.rtspRequestTimeoutSeconds,
      c.rtspIdleTimeoutSeconds,
      c.maxReadersPerPath,
    ],
    [8, 2, 5, 2048, 4096, 1.5, 3, 4],
  );
  const e = load([], {
    MSM_RTSP_REQUEST_RATE: "0",
    MSM_MAX_READERS_PER_PATH: "7",
    MSM_RTSP_MAX_SESSIONS_PER_IP: "0",
  });
  assertEquals([e.rtspRequestRate, e.maxReadersPerPath, e.rtspMaxSessionsPerIp], [0, 7, 0]);
  const f = load(["--config", "/c.yaml"], {}, {
    "/c.yaml": "rtspMaxConnections: 16\nrtspIdleTimeoutSeconds: 30\n",
  });
  assertEquals([f.rtspMaxConnections, f.rtspIdleTimeoutSeconds], [16, 30]);
});

Deno.test("loadConfig() names the limit and the problem on a bad RTSP limit", () => {
  const cases: Array<[string[], RegExp]> = [
    [["--rtsp-max-connections", "0"], /rtspMaxConnections: Too small/],
    [["--rtsp-max-connections", "many"], /--rtsp-max-connections: "many" is not a number/],
    [["--rtsp-max-sessions-per-ip=-1"], /rtspMaxSessionsPerIp: Too small/],
    [["--rtsp-request-rate", "2.5"], /rtspRequestRate: Invalid input: expected int/],
    [["--rtsp-max-header-bytes", "100"], /rtspMaxHeaderBytes: Too small/],
    [["--rtsp-max-body-bytes", "999999999"], /rtspMaxBodyBytes: Too big/],
    [["--rtsp-request-timeout", "0"], /rtspRequestTimeoutSeconds: Too small/],
    [["--rtsp-idle-timeout", "0.5"], /rtspIdleTimeoutSeconds: Too small/],
    [["--max-readers-per-path", "x"], /--max-readers-per-path: "x" is not a number/],
  ];
  for (const [args, re] of cases) {
    throws(() => load(args), (err: unknown) => {
      if (!(err instanceof ConfigError)) return false;
      match(err.message, re);
      return true;
    }, args.join(" "));
  }
});

Deno.test("loadConfig() reads --camera-wait in seconds (5 by default, 0 allowed) and refuses negative waits", () => {
  assertEquals(load([]).cameraWaitSeconds, 5);
  assertEquals(load(["--camera-wait", "0"]).cameraWaitSeconds, 0);
  assertEquals(load([], { MSM_CAMERA_WAIT: "2.5" }).cameraWaitSeconds, 2.5);
  throws(
    () => load(["--camera-wait=-1"]),
    (e: unknown) => e instanceof ConfigError && /cameraWaitSeconds/.test(e.message),
  );
});

Deno.test("loadConfig() checks --users-file at load: unreadable or bad files are configuration errors", () => {
  const c = load(["--users-file", "/s/users"], {}, { "/s/users": "viewer:v-1:read\n" });
  equal(c.usersFile, "/s/users");
  assertEquals(c.users, [], "file users are read by the relay, which follows the file");
  const env = load([], { MSM_USERS_FILE: "/s/users" }, { "/s/users": "viewer:v-1:read\n" });
  equal(env.usersFile, "/s/users");
  throws(() => load(["--users-file", "/nope"]), /Cannot read --users-file "\/nope"/);
  throws(
    () => load(["--users-file", "/s/users"], {}, { "/s/users": "viewer:v-1:admin\n" }),
    (e: Error) => e instanceof ConfigError && /Invalid --users-file .* line 1: rights/.test(e.message),
  );
  throws(() => load(["--users-file", "/s/users"], {}, { "/s/users": "\n" }), /lists no user/);
  throws(() => load(["--user", "a:b"]), /Invalid user: expected NAME:PASSWORD:RIGHTS/);
});

Deno.test("loadConfig() --rtsp-max-connections-per-ip: 128 by default, 0 turns it off, negative is refused", () => {
  equal(load([]).rtspMaxConnectionsPerIp, 128);
  equal(load(["--rtsp-max-connections-per-ip", "0"]).rtspMaxConnectionsPerIp, 0);
  equal(load([], { MSM_RTSP_MAX_CONNECTIONS_PER_IP: "8" }).rtspMaxConnectionsPerIp, 8);
  throws(() => load(["--rtsp-max-connections-per-ip=-1"]), /rtspMaxConnectionsPerIp/);
});

Deno.test("loadConfig() reads --admin-host (repeatable) and MSM_ADMIN_HOST (space-separated)", () => {
  assertEquals(load([]).adminHosts, []);
  assertEquals(load(["--admin-host", "relay.example", "--admin-host", "Relay-2.Internal."]).adminHosts, [
    "relay.example",
    "Relay-2.Internal.",
  ]);
  assertEquals(load([], { MSM_ADMIN_HOST: "a.example  b.example" }).adminHosts, ["a.example", "b.example"]);
  const file = { "/c.yaml": "adminHosts: [relay.example]\n" };
  assertEquals(load(["--config", "/c.yaml"], {}, file).adminHosts, ["relay.example"]);
});

Deno.test("loadConfig() errors never quote a secret: camera URLs, tokens, config file lines", () => {
  const secrets = /PASS|WORD|SECRET/;
  const cases: Array<[string[], Record<string, string>, RegExp]> = [
    // An unescaped '/' in the password: refused at load, not half parsed into logs later.
    [["--path", "cam=rtsp://u:PASS/WORD@127.0.0.1:554/x?token=SECRET"], {}, /paths\.cam: invalid camera URL/],
    [["--path", "rtsp://u:PASSWORD@cam/x"], {}, /path: "rtsp:\/\/u:\*\*\*@cam\/x" is not NAME=URL/],
    [["--admin-token", "SECRET"], {}, /adminToken: the admin token must be at least 16/],
    [
      ["--config", "/c.yaml"],
      { "/c.yaml": "adminToken: SECRET: x\n" },
      /not valid YAML\/JSON: Nested mappings/,
    ],
    [["--config", "/c.yaml"], { "/c.yaml": 'adminToken: "SECRETPASSWORD\n' }, /not valid YAML\/JSON/],
  ];
  for (const [args, files, re] of cases) {
    throws(() => load(args, {}, files), (err: unknown) => {
      if (!(err instanceof ConfigError)) return false;
      match(err.message, re);
      ok(!secrets.test(err.message), err.message);
      return true;
    }, args.join(" "));
  }
});

Deno.test("loadConfig() takes dual-path protection for every path or per path, and refuses another word", () => {
  const files = {
    "/c.yaml":
      "protection: dual\npathProtection:\n  cam1: none\n  lobby/door: dual\npaths:\n  cam1: rtsp://a/1\n",
  };
  const c = load(["--config", "/c.yaml", "--path-protection", "cam2=dual"], {}, files);
  assertEquals([c.protection, c.pathProtection], ["dual", {
    cam1: "none",
    "lobby/door": "dual",
    cam2: "dual",
  }]);
  assertEquals(load([]).protection, "none");
  let message = "";
  try {
    load(["--path-protection", "cam1=triple"]);
  } catch (err) {
    message = (err as Error).message;
  }
  ok(/pathProtection|path-protection/.test(message) && /none|dual/.test(message), message);
});
