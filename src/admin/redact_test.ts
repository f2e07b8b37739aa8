import { deepStrictEqual as assertEquals, equal, ok } from "node:assert/strict";
import { configSchema } from "../config/schema.ts";
import { redactConfig, REDACTED } from "./redact.ts";

Deno.test("redactConfig() shows that secrets are set without showing them", () => {
  const config = configSchema.parse({
    adminToken: "admin-s3cret-0123456789",
    meshKey: "mesh-s3cret-0123456789",
    users: [{ name: "alice", password: "alice-s3cret", rights: "read" }],
    paths: { cam1: "rtsp://cam:cam-s3cret@192.0.2.10/1?token=tok-s3cret&channel=1" },
  });
  const view = redactConfig(config, { cam1: config.paths.cam1!, cam2: "rtsp://u:added-s3cret@192.0.2.11/2" });
  const text = JSON.stringify(view);
  ok(!/s3cret/.test(text), text);
  assertEquals([view.adminToken, view.meshKey, view.users[0]?.password], [REDACTED, REDACTED, REDACTED]);
  assertEquals(view.paths, {
    cam1: "rtsp://cam:***@192.0.2.10/1?token=***&channel=1",
    cam2: "rtsp://u:***@192.0.2.11/2",
  });
  equal(view.users[0]?.name, "alice");
  equal(view.rtspPort, 8554);
  // The config itself is untouched.
  equal(config.adminToken, "admin-s3cret-0123456789");
  equal(config.users[0]?.password, "alice-s3cret");
});

Deno.test("redactConfig() leaves unset secrets out", () => {
  const view = redactConfig(configSchema.parse({}));
  ok(!("adminToken" in view));
  ok(!("meshKey" in view));
  assertEquals(view.users, []);
});
