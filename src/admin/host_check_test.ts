import { deepStrictEqual as assertEquals, equal, match } from "node:assert/strict";
import { Hono } from "hono";
import { adminHostCheck, hostAllowed, hostKind } from "./host_check.ts";

Deno.test("hostKind() tells IP literals from DNS names, ports aside", () => {
  const cases: Array<[string, ReturnType<typeof hostKind>]> = [
    ["127.0.0.1", { kind: "ip" }],
    ["10.0.0.7:8080", { kind: "ip" }],
    ["[::1]", { kind: "ip" }],
    ["[fd00::7]:8080", { kind: "ip" }],
    ["localhost:8080", { kind: "name", name: "localhost" }],
    ["Relay.Example.:8080", { kind: "name", name: "relay.example" }],
    ["127.1", { kind: "name", name: "127.1" }], // not a dotted quad: browsers would have written 127.0.0.1
    ["256.0.0.1", { kind: "name", name: "256.0.0.1" }],
    ["", { kind: "malformed" }],
    [":8080", { kind: "malformed" }],
    ["evil.example:http", { kind: "malformed" }],
    ["a b", { kind: "malformed" }],
    ["[::1", { kind: "malformed" }],
    ["::1", { kind: "malformed" }], // IPv6 needs brackets in Host
    ["user@evil.example", { kind: "malformed" }],
  ];
  for (const [host, want] of cases) assertEquals(hostKind(host), want, host);
});

Deno.test("hostAllowed() passes IP literals, localhost and configured names only", () => {
  const names = new Set(["relay.example"]);
  const cases: Array<[string, boolean]> = [
    ["192.0.2.7:8080", true],
    ["[::1]:8080", true],
    ["localhost", true],
    ["LOCALHOST:8080", true],
    ["dashboard.localhost:8080", true],
    ["relay.example", true],
    ["RELAY.example.:443", true],
    ["evil.example", false],
    ["relay.example.evil.example", false],
    ["evil-relay.example", false],
    ["localhost.evil.example", false],
    ["", false],
  ];
  for (const [host, want] of cases) equal(hostAllowed(host, names), want, host);
});

Deno.test("adminHostCheck() answers 421 with a JSON error to a foreign Host, before any route", async () => {
  const refused: string[] = [];
  const app = new Hono();
  app.use(
    "*",
    adminHostCheck({ names: ["Relay.Example."], onRefused: (_c, detail) => void refused.push(detail) }),
  );
  app.get("/x", (c) => c.json({ ok: true }));
  const get = (host?: string) => app.request("http://127.0.0.1/x", host ? { headers: { host } } : {});
  equal((await get()).status, 200, "no Host header: the URL's host (an IP) decides");
  equal((await get("relay.example:8080")).status, 200);
  const res = await get("evil.example:8080");
  equal(res.status, 421);
  match(res.headers.get("content-type") ?? "", /application\/json/);
  const body = await res.json();
  equal(
    body.error,
    'Host "evil.example:8080" is not a name of this relay: use its IP address or localhost, or start it with --admin-host NAME',
  );
  assertEquals(refused, [body.error]);
  equal((await app.request("http://evil.example/x")).status, 421, "no Host header, a name in the URL");
});
