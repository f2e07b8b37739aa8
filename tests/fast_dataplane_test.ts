/**
 * `--data-plane fast`: the relay's tracks' RTP ports are owned by one Worker (recvmmsg/sendmmsg). UDP readers of
 * the demo path and of a UDP-published stream still get their frames; without `--allow-ffi` the relay falls back
 * to the portable plane with a warning.
 * @module
 */
import { ok as assert } from "node:assert/strict";
import { cachedTestClip, ffmpegPublish, ffmpegRead, waitPublishing } from "./support/processes.ts";
import { startRelayProcess } from "./support/relay.ts";
import { parsePrometheus, sampleValue } from "./support/prometheus.ts";

const linux = Deno.build.os === "linux";

Deno.test({
  name: "with --data-plane fast, UDP readers get the demo path and a UDP-published stream",
  ignore: !linux,
  async fn() {
    await using relay = await startRelayProcess(["--data-plane", "fast"], {}, {
      permissions: ["--allow-ffi"],
    });
    const demo = await ffmpegRead(relay.url("demo"), { transport: "udp", seconds: 3 });
    console.log(`fast plane, demo over UDP: ${demo.frames}/75 frames`);
    assert(demo.frames >= 0.9 * 75, `${demo.frames} frames\n${demo.stderr}`);

    await using publisher = ffmpegPublish(await cachedTestClip(60), relay.url("live/fast"), "udp");
    await waitPublishing(publisher, 15_000);
    const r = await ffmpegRead(relay.url("live/fast"), { transport: "udp", seconds: 3 });
    console.log(`fast plane, published over UDP, read over UDP: ${r.frames}/75 frames`);
    assert(r.frames >= 0.9 * 75, `${r.frames} frames\n${r.stderr}`);
    const view = await relay.stream("live/fast");
    assert((view?.packetsIn ?? 0) > 0 && (view?.packetsOut ?? 0) > 0, JSON.stringify(view));
    assert(/data plane.*fast/.test(relay.process.output()), "the relay logs the fast data plane");
    // The UDP-published stream's packets reached the ffmpeg reader from the worker itself (cut-through).
    const metrics = parsePrometheus(
      await (await fetch(`http://127.0.0.1:${relay.adminPort}/metrics`)).text(),
    );
    const cutThrough = sampleValue(metrics, "msm_dataplane_datagrams_total", { event: "cut_through" }) ?? 0;
    // The demo path is made on the main thread, so every cut-through datagram is the published stream's.
    const toReaders = view?.packetsOut ?? 0;
    console.log(
      `fast plane: ${cutThrough} of the ${toReaders} copies to the UDP reader sent by the worker itself`,
    );
    // The cached GOP a joining reader gets first goes from the main thread (paced): at most one GOP of the clip
    // (25 frames, a packet or a few each); every live packet after it is the worker's.
    assert(
      toReaders > 0 && toReaders - cutThrough <= 30,
      `only ${cutThrough} of ${toReaders} cut through: more than a GOP's burst went through the main thread`,
    );
  },
});

Deno.test({
  name: "--data-plane fast without --allow-ffi falls back to portable with a warning",
  async fn() {
    await using relay = await startRelayProcess(["--data-plane", "fast"], {}, { permissions: [] });
    const demo = await ffmpegRead(relay.url("demo"), { transport: "udp", seconds: 2 });
    assert(demo.frames >= 40, `${demo.frames} frames\n${demo.stderr}`);
    assert(/unavailable, using portable/.test(relay.process.output()), relay.process.output());
  },
});
