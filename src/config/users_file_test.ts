/** Tests of the RTSP users file and the `--user` splitter. */
import { deepStrictEqual as assertEquals, equal, ok } from "node:assert/strict";
import { parseUsersFile, splitUser } from "./users_file.ts";

Deno.test("parseUsersFile() reads one user per line, skipping blanks and comments, paths default to *", () => {
  const users = parseUsersFile(
    "# rotated 2026-11\n\nviewer:v-1:read:cams/*\r\n  cam:c-2:publish  \nboss:b-3:read+publish\n",
  );
  assertEquals(users, [
    { name: "viewer", password: "v-1", rights: "read", paths: "cams/*" },
    { name: "cam", password: "c-2", rights: "publish", paths: "*" },
    { name: "boss", password: "b-3", rights: "read+publish", paths: "*" },
  ]);
});

Deno.test("parseUsersFile() names the bad line without its password; an empty file or a repeated user is refused", () => {
  const bad = parseUsersFile("viewer:v-1:read\nsecretive:hunter2:admin\n");
  ok(typeof bad === "string" && bad.startsWith("line 2: rights"), String(bad));
  ok(!String(bad).includes("hunter2"));
  equal(parseUsersFile("a:b\n"), "line 1: expected NAME:PASSWORD:RIGHTS[:PATHGLOB], got 2 fields");
  equal(parseUsersFile("# nobody\n\n"), "the users file lists no user");
  equal(parseUsersFile("v:1:read\nv:2:read\n"), 'line 2: user "v" is listed twice');
  ok(typeof parseUsersFile("v::read\n") === "string", "an empty password");
});

Deno.test("splitUser() splits NAME:PASSWORD:RIGHTS[:PATHGLOB]", () => {
  assertEquals(splitUser("a:b:read"), { name: "a", password: "b", rights: "read" });
  assertEquals(splitUser("a:b:read:x/*"), { name: "a", password: "b", rights: "read", paths: "x/*" });
  equal(typeof splitUser("a:b:c:d:e"), "string");
});
