import assert from "node:assert/strict";
import { schemeName } from "./schemes.ts";

Deno.test("schemeName() maps the wire scheme to its configured name", () => {
  assert.equal(schemeName("Basic"), "basic");
  assert.equal(schemeName("Digest"), "digest");
});
