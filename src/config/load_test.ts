import { deepStrictEqual as assertEquals, match, throws } from "node:assert/strict";
import { ConfigError, loadConfig } from "./load.ts";
import type { RelayConfig } from "./schema.ts";

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

Deno.test("loadConfig() reads secrets from files and NODE_NAME from the downward API", () => {
  const c = load(["--admin-token-file", "/t"], { NODE_NAME: "node-a" }, { "/t": "tok\n" });
  assertEquals([c.adminToken, c.node], ["tok", "node-a"]);
});

Deno.test("loadConfig() reads --admin-auth-reads, MSM_ADMIN_AUTH_READS and the file's adminAuthReads", () => {
  assertEquals(load([]).adminAuthReads, false);
  assertEquals(load(["--admin-token", "t", "--admin-auth-reads"]).adminAuthReads, true);
  assertEquals(load([], { MSM_ADMIN_TOKEN: "t", MSM_ADMIN_AUTH_READS: "yes" }).adminAuthReads, true);
  const file = { "/c.yaml": "adminToken: t\nadminAuthReads: true\n" };
  assertEquals(load(["--config", "/c.yaml"], {}, file).adminAuthReads, true);
  assertEquals(load(["--config", "/c.yaml", "--no-admin-auth-reads"], {}, file).adminAuthReads, false);
});

Deno.test("loadConfig() names the field and the problem on bad input", () => {
  const cases: Array<[string[], RegExp]> = [
    [["--rtsp-port", "abc"], /--rtsp-port.*"abc" is not a number/],
    [["--rtsp-port", "70000"], /rtspPort/],
    [["--path", "cam1"], /path: "cam1" is not NAME=URL/],
    [["--path", "cam1=http://x"], /paths\.cam1: camera URLs start with rtsp/],
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
