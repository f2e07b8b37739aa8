/**
 * A relay gives back the memory of the runtime's code that only its start-up used (src/dataplane/startup_code.ts,
 * issue 16's idle footprint), and keeps serving. It runs from a private copy of the runtime, as in its pod: the
 * kernel leaves resident the pages another process maps too, and the test runner maps the same `deno`.
 * @module
 */
import { ok } from "node:assert/strict";
import { startRelayProcess } from "./support/relay.ts";
import { privateRuntime } from "./support/private_runtime.ts";
import { startRtspReader } from "./support/rtsp_peers.ts";
import { residentBytesOf } from "../src/dataplane/startup_code.ts";

Deno.test({
  name: "a relay pages out its start-up code once started, then still serves readers",
  ignore: Deno.build.os !== "linux",
  async fn() {
    const runtime = await privateRuntime();
    await using relay = await startRelayProcess(["--data-plane", "fast"], {}, {
      permissions: ["--allow-ffi"],
      runtime,
    });
    const m = await relay.process.waitForLine(/start-up code paged out.*"(\d+\.\d) -> (\d+\.\d)"/, 20_000, {
      stream: "any",
    });
    const before = Number(m[1]);
    const after = Number(m[2]);
    ok(before > 16, `the executable held only ${before} MiB before`);
    ok(after < before / 2, `${after} of ${before} MiB still resident right after`);
    // The relay still does its work: the demo stream reaches a reader, the admin API answers.
    let packets = 0;
    const reader = await startRtspReader(relay.url("demo"), { transport: "udp", onRtp: () => packets++ });
    try {
      for (let i = 0; i < 100 && packets < 25; i++) await new Promise((r) => setTimeout(r, 100));
      ok(packets >= 25, `the reader got ${packets} packets`);
    } finally {
      await reader.close();
    }
    ok((await relay.get("/readyz")).status === 200);
    const now = residentBytesOf(await Deno.readTextFile(`/proc/${relay.process.pid}/smaps`), runtime) /
      2 ** 20;
    console.log(
      `executable resident: ${before} MiB -> ${after} MiB, ${now.toFixed(1)} MiB once it served a reader`,
    );
    ok(now < before, `${now.toFixed(1)} MiB resident again, of ${before}`);
  },
});
