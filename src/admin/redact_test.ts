import { deepStrictEqual as assertEquals, equal, ok } from "node:assert/strict";
import { configSchema } from "../config/schema.ts";
import { redactConfig, REDACTED, redactUrl } from "./redact.ts";

Deno.test("redactUrl() hides URL passwords and secret query values, keeping the rest as written", () => {
  const cases: Array<[string, string]> = [
    ["rtsp://user:pass@10.0.0.9:554/live", "rtsp://user:***@10.0.0.9:554/live"],
    ["rtsp://user:p@ss:w@rd@cam/x", "rtsp://user:***@cam/x"], // the last '@' of the authority ends the user info
    ["rtsps://admin:@cam", "rtsps://admin:***@cam"],
    ["rtsp://user@cam/x", "rtsp://user@cam/x"], // no password
    ["rtsp://cam.local/a@b", "rtsp://cam.local/a@b"], // '@' in the path is not user info
    ["rtsp://[::1]:8554/demo", "rtsp://[::1]:8554/demo"],
    [
      "rtsp://cam/x?channel=1&token=abc&Password=p&api_key=k#frag",
      "rtsp://cam/x?channel=1&token=***&Password=***&api_key=***#frag",
    ],
    ["rtsp://u:p@cam?sig=1", "rtsp://u:***@cam?sig=***"],
    ["not a url", "not a url"],
  ];
  for (const [input, want] of cases) equal(redactUrl(input), want, input);
});

Deno.test("redactConfig() shows that secrets are set without showing them", () => {
  const config = configSchema.parse({
    adminToken: "admin-s3cret",
    meshKey: "mesh-s3cret-0123456789",
    users: [{ name: "alice", password: "alice-s3cret", rights: "read" }],
    paths: { cam1: "rtsp://cam:cam-s3cret@192.0.2.10/1" },
  });
  const view = redactConfig(config, { cam1: config.paths.cam1!, cam2: "rtsp://u:added-s3cret@192.0.2.11/2" });
  const text = JSON.stringify(view);
  ok(!/s3cret/.test(text), text);
  assertEquals([view.adminToken, view.meshKey, view.users[0]?.password], [REDACTED, REDACTED, REDACTED]);
  assertEquals(view.paths, { cam1: "rtsp://cam:***@192.0.2.10/1", cam2: "rtsp://u:***@192.0.2.11/2" });
  equal(view.users[0]?.name, "alice");
  equal(view.rtspPort, 8554);
  // The config itself is untouched.
  equal(config.adminToken, "admin-s3cret");
  equal(config.users[0]?.password, "alice-s3cret");
});

Deno.test("redactConfig() leaves unset secrets out", () => {
  const view = redactConfig(configSchema.parse({}));
  ok(!("adminToken" in view));
  ok(!("meshKey" in view));
  assertEquals(view.users, []);
});
