import { deepStrictEqual as assertEquals, equal } from "node:assert/strict";
import { Hono } from "hono";
import { isJsonContentType, jsonBodiesOnly } from "./json_only.ts";

Deno.test("isJsonContentType() accepts application/json with parameters, in any case, and nothing else", () => {
  const cases: Array<[string | undefined, boolean]> = [
    ["application/json", true],
    ["application/json; charset=utf-8", true],
    ["Application/JSON ;charset=UTF-8", true],
    [" application/json", true],
    ["text/plain", false],
    ["text/plain; charset=application/json", false],
    ["application/x-www-form-urlencoded", false],
    ["multipart/form-data; boundary=x", false],
    ["application/jsonp", false],
    ["application/merge-patch+json", false],
    ["", false],
    [undefined, false],
  ];
  for (const [type, want] of cases) equal(isJsonContentType(type), want, String(type));
});

Deno.test("jsonBodiesOnly() answers 415 to a body that is not application/json, before the handler", async () => {
  let handled = 0;
  const refused: string[] = [];
  const app = new Hono();
  app.use("*", jsonBodiesOnly({ onRefused: (_c, detail) => void refused.push(detail) }));
  app.all("/x", (c) => {
    handled++;
    return c.json({ ok: true });
  });
  // As Deno.serve hands them: a body comes with its Content-Length.
  const send = (method: string, type?: string, body?: string) =>
    app.request("/x", {
      method,
      headers: {
        ...(type ? { "content-type": type } : {}),
        ...(body ? { "content-length": `${body.length}` } : {}),
      },
      ...(body ? { body } : {}),
    });

  equal((await send("POST", "application/json", "{}")).status, 200);
  equal((await send("POST", "application/json; charset=utf-8", "{}")).status, 200);
  equal((await send("GET")).status, 200, "no body: no check");
  equal((await send("DELETE")).status, 200);
  const plain = await send("POST", "text/plain", '{"path":"demo"}');
  equal(plain.status, 415);
  equal(
    (await plain.json()).error,
    'Request bodies must be JSON: send Content-Type: application/json (got "text/plain")',
  );
  equal((await send("POST", "application/x-www-form-urlencoded", "a=1")).status, 415);
  equal((await send("POST")).status, 415, "a POST without a Content-Type");
  equal((await send("PUT", "multipart/form-data; boundary=b", "--b--")).status, 415);
  equal((await send("DELETE", "text/plain", "x")).status, 415, "any method with a body");
  equal(handled, 4);
  assertEquals(refused.length, 5);
});
