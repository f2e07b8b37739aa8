/**
 * The defaults a user lives with (issue 15): with default flags, a recorder that connects to 64 streams at once from
 * one address (an NVR, an analytics pod, every reader behind one NAT) is served, while a client that probes 400
 * unknown paths as fast as it can is mostly refused, and other clients do not notice either.
 * @module
 */
import { ok as assert } from "node:assert/strict";
import { RawRtspConnection } from "./support/raw_rtsp.ts";
import { startRelayProcess } from "./support/relay.ts";
import { type RtspReader, startRtspReader } from "./support/rtsp_peers.ts";
import { parsePrometheus, sampleValue } from "./support/prometheus.ts";

Deno.test("default limits: 64 readers from one address at once are served; 400 unknown paths mostly refused", async () => {
  // Default flags (the harness only picks ports and a UDP range, and a short linger).
  await using relay = await startRelayProcess();
  const url = relay.url("demo");
  const counts = new Array<number>(64).fill(0);
  const started = await Promise.allSettled(
    counts.map((_, i) => startRtspReader(url, { transport: "tcp", onRtp: () => counts[i]!++ })),
  );
  const readers = started.filter((r): r is PromiseFulfilledResult<RtspReader> => r.status === "fulfilled")
    .map((r) => r.value);
  const failed = started.filter((r) => r.status === "rejected").map((r) => String(r.reason));
  try {
    await new Promise((r) => setTimeout(r, 2000));
    const fed = counts.filter((n) => n > 0).length;
    // A prober on another connection of the same address, as fast as it can.
    await using probe = await RawRtspConnection.open(relay.rtspPort);
    const n = 400;
    await probe.send(
      Array.from({ length: n }, (_, i) => `DESCRIBE ${url}-nothing-${i} RTSP/1.0\r\nCSeq: ${i + 1}\r\n\r\n`)
        .join(""),
    );
    const statuses = new Map<number, number>();
    for (let i = 0; i < n; i++) {
      const res = await probe.response(10_000);
      assert(res, `answer ${i}: connection closed`);
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
    }
    const before = [...counts];
    await new Promise((r) => setTimeout(r, 1000));
    const stillFed = counts.filter((c, i) => c > before[i]!).length;
    const m = parsePrometheus(await (await fetch(`http://127.0.0.1:${relay.adminPort}/metrics`)).text());
    const refused = sampleValue(m, "msm_rtsp_refused_total", { reason: "request_rate" }) ?? 0;
    console.log(
      `64 readers at once: ${readers.length} set up (${failed.length} failed ${
        failed.slice(0, 2).join("; ")
      }), ` +
        `${fed} fed; 400 unknown paths: ${
          JSON.stringify(Object.fromEntries(statuses))
        }, ${refused} counted ` +
        `refused; ${stillFed} of the readers still fed after the probe`,
    );
    assert(failed.length === 0 && fed === 64, "a reader of the 64 was refused or not fed");
    assert((statuses.get(503) ?? 0) > n / 2, "most of the probe's requests should be refused");
    assert(refused >= (statuses.get(503) ?? 0), "refusals are counted");
    assert(stillFed === readers.length, "the probe disturbed the readers");
  } finally {
    await Promise.all(readers.map((r) => r.close()));
  }
});
