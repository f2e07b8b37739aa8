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
    /** Copies to the stream's readers in all, and those the worker sent itself (cut-through). */
    const sample = async () => {
      const view = await relay.stream("live/fast");
      const text = await (await fetch(`http://127.0.0.1:${relay.adminPort}/metrics`)).text();
      const cut = sampleValue(parsePrometheus(text), "msm_dataplane_datagrams_total", {
        event: "cut_through",
      });
      return { out: view?.packetsOut ?? 0, cut: cut ?? 0 };
    };
    /** The first sample that `done` accepts, polled for at most 20 s. */
    const sampleWhen = async (done: (s: { out: number; cut: number }) => boolean) => {
      const deadline = Date.now() + 20_000;
      for (;;) {
        const s = await sample();
        if (done(s) || Date.now() > deadline) return s;
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    const reading = ffmpegRead(relay.url("live/fast"), { transport: "udp", seconds: 12 });
    // The cached GOP a joining reader gets first goes from the main thread (paced), and so do live packets until
    // its burst is done, however long a loaded machine takes; steady state starts after it. In steady state
    // every live copy to a UDP reader is the worker's (the demo path is made on the main thread, so every
    // cut-through datagram is the published stream's).
    const first = await sampleWhen((s) => s.out >= 100);
    const second = await sampleWhen((s) => s.out >= first.out + 100);
    const r = await reading;
    console.log(`fast plane, published over UDP, read over UDP: ${r.frames}/300 frames`);
    assert(r.frames >= 0.9 * 300, `${r.frames} frames\n${r.stderr}`);
    const view = await relay.stream("live/fast");
    assert((view?.packetsIn ?? 0) > 0 && (view?.packetsOut ?? 0) > 0, JSON.stringify(view));
    assert(/data plane.*fast/.test(relay.process.output()), "the relay logs the fast data plane");
    const copies = second.out - first.out;
    const byWorker = second.cut - first.cut;
    console.log(
      `fast plane, steady state: ${byWorker} of ${copies} copies to the UDP reader sent by the worker`,
    );
    assert(
      copies >= 100,
      `only ${copies} copies in the steady-state window (${JSON.stringify([first, second])})`,
    );
    assert(byWorker >= 0.9 * copies, `only ${byWorker} of ${copies} steady-state copies cut through`);
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
