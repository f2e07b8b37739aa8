/**
 * `deno task bench:memory`: what a reader costs the relay in memory, and whether it is given back when the
 * reader leaves (issue 16, "a small footprint").
 *
 * One relay as `deno task start` runs it (the fast data plane, the built-in `demo` path), then
 * BENCH_MEMORY_READERS readers of `demo` (default 200; UDP, or TCP interleaved with BENCH_MEMORY_TRANSPORT=tcp),
 * each DESCRIBE / SETUP / PLAY with its RTSP connection kept open as ffmpeg does, and a TEARDOWN when it leaves;
 * BENCH_MEMORY_WAVE set up at a time (default 20). The relay's memory is read idle (after the demo source ran for
 * a while), with every reader playing, and BENCH_MEMORY_AFTER_SECONDS (default 45) after they all left: VmRSS,
 * its parts from /proc/PID/smaps_rollup (anonymous: the heaps; file: code), the JS heap and the external
 * (ArrayBuffer) memory V8 accounts for (`msm_process_heap_used_bytes` and `msm_process_external_memory_bytes` of
 * /metrics). Per reader: (RSS with readers - RSS idle) / readers.
 *
 * UDP readers' sockets are never read (the kernel drops what does not fit), TCP readers read and discard: what is
 * measured is the relay.
 * Prints a table and writes bench/output/reader_memory.json.
 * @module
 */
import { delay } from "../tests/support/processes.ts";
import { startRelayProcess } from "../tests/support/relay.ts";
import { type RtspReader, startRtspReader } from "../tests/support/rtsp_peers.ts";
import { parsePrometheus } from "../tests/support/prometheus.ts";
import { FigureTable } from "./support/figures.ts";
import { envInt } from "./support/env.ts";

const READERS = envInt("BENCH_MEMORY_READERS", 200, 1);
const TRANSPORT = transportOf(Deno.env.get("BENCH_MEMORY_TRANSPORT") ?? "udp");

function transportOf(raw: string): "udp" | "tcp" {
  if (raw === "udp" || raw === "tcp") return raw;
  throw new Error(`Invalid BENCH_MEMORY_TRANSPORT: "${raw}" (udp or tcp)`);
}
const WAVE = envInt("BENCH_MEMORY_WAVE", 20, 1);
const AFTER_SECONDS = envInt("BENCH_MEMORY_AFTER_SECONDS", 45, 0);
/** Seconds the relay runs its demo source before the idle reading (warm-up: JIT, the demo clip's GOP cache). */
const WARM_SECONDS = envInt("BENCH_MEMORY_WARM_SECONDS", 10, 0);
const OUTPUT = new URL("./output/reader_memory.json", import.meta.url);
const KiB = 1024;
const MiB = 1024 * 1024;

/** The relay's memory at one moment. */
interface MemorySample {
  rss: number;
  /** smaps_rollup fields in bytes: Rss, Anonymous, Pss_File, Private_Dirty. */
  anonymous: number;
  file: number;
  heapUsed: number;
  external: number;
}

function smapsRollup(pid: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of Deno.readTextFileSync(`/proc/${pid}/smaps_rollup`).split("\n")) {
    const m = line.match(/^(\w+):\s+(\d+) kB/);
    if (m) out[m[1]!] = Number(m[2]) * KiB;
  }
  return out;
}

async function sample(pid: number, metricsUrl: string): Promise<MemorySample> {
  const m = parsePrometheus(await (await fetch(metricsUrl)).text());
  const value = (name: string) => m.get(name)?.samples[0]?.value ?? NaN;
  const s = smapsRollup(pid);
  return {
    rss: s.Rss ?? NaN,
    anonymous: s.Anonymous ?? NaN,
    file: (s.Rss ?? 0) - (s.Anonymous ?? 0),
    heapUsed: value("msm_process_heap_used_bytes"),
    external: value("msm_process_external_memory_bytes"),
  };
}

async function main(): Promise<number> {
  console.log(
    `bench/reader_memory.ts: ${READERS} ${TRANSPORT.toUpperCase()} readers of demo, waves of ${WAVE}, ` +
      `${AFTER_SECONDS} s after they leave`,
  );
  // Every reader comes from 127.0.0.1: the per-client limits off, as in bench/load.ts.
  const perClient = [
    "--rtsp-max-sessions-per-ip",
    "0",
    "--rtsp-max-connections-per-ip",
    "0",
    "--rtsp-request-rate",
    "0",
  ];
  await using relay = await startRelayProcess(["--log-level", "warn", ...perClient], {}, {
    name: "msm-relay-memory",
    permissions: ["--allow-ffi"],
  });
  const pid = relay.process.pid;
  const metricsUrl = `http://${relay.host}:${relay.adminPort}/metrics`;
  // The demo source starts with its first reader: one reader for the warm-up, gone before the idle reading.
  const warm = await startRtspReader(relay.url("demo"), { transport: "udp" });
  await delay(WARM_SECONDS * 1000);
  await warm.conn.request("TEARDOWN", relay.url("demo"), { Session: warm.session });
  await warm.close();
  await delay(2000);
  const idle = await sample(pid, metricsUrl);

  const readers: RtspReader[] = [];
  let failed = 0;
  let next = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: WAVE }, async () => {
    while (next < READERS) {
      next++;
      try {
        readers.push(await startRtspReader(relay.url("demo"), { transport: TRANSPORT }));
      } catch (err) {
        failed++;
        if (failed <= 3) console.log(`  a reader failed to set up: ${(err as Error).message}`);
      }
    }
  }));
  const joinMs = performance.now() - t0;
  await delay(5000);
  const joined = await sample(pid, metricsUrl);
  await delay(5000);
  const later = await sample(pid, metricsUrl);
  // They leave as ffmpeg does when it quits: TEARDOWN, then the connection closes.
  await Promise.all(readers.map(async (r) => {
    await r.conn.request("TEARDOWN", relay.url("demo"), { Session: r.session }).catch(() => {});
    await r.close();
  }));
  await delay(AFTER_SECONDS * 1000);
  const after = await sample(pid, metricsUrl);
  const sessionsLeft = parsePrometheus(await (await fetch(metricsUrl)).text()).get("msm_rtsp_sessions")
    ?.samples.reduce((a, s) => a + s.value, 0) ?? NaN;

  const figures = new FigureTable(52);
  const report = figures.report;
  const n = readers.length;
  const perReader = (a: MemorySample, b: MemorySample, k: keyof MemorySample) => (b[k] - a[k]) / n / KiB;
  report("readers playing", n, "", `${failed} failed; joined in ${(joinMs / 1000).toFixed(1)} s`);
  report("relay RSS idle (demo source running)", idle.rss / MiB, "MiB");
  report(
    "relay RSS, readers playing",
    joined.rss / MiB,
    "MiB",
    `5 s later ${(later.rss / MiB).toFixed(1)} MiB`,
  );
  report(
    `relay RSS ${AFTER_SECONDS} s after they left`,
    after.rss / MiB,
    "MiB",
    `${((after.rss - idle.rss) / MiB).toFixed(1)} MiB above idle; sessions left ${sessionsLeft}`,
  );
  report(
    "memory per reader (RSS growth / readers)",
    perReader(idle, joined, "rss"),
    "KiB",
    `5 s later ${perReader(idle, later, "rss").toFixed(1)} KiB`,
  );
  report("  of which anonymous (heaps, buffers)", perReader(idle, joined, "anonymous"), "KiB");
  report("  of which JS heap used", perReader(idle, joined, "heapUsed"), "KiB");
  report("  of which V8 external (ArrayBuffers)", perReader(idle, joined, "external"), "KiB");
  report("  of which file-backed (code)", perReader(idle, joined, "file"), "KiB");
  report(
    "JS heap used: idle / readers / after",
    joined.heapUsed / MiB,
    "MiB",
    `${(idle.heapUsed / MiB).toFixed(1)} / ${(joined.heapUsed / MiB).toFixed(1)} / ${
      (after.heapUsed / MiB).toFixed(1)
    } MiB; external ${(idle.external / MiB).toFixed(1)} / ${(joined.external / MiB).toFixed(1)} / ${
      (after.external / MiB).toFixed(1)
    } MiB`,
  );
  const loadavg = Deno.readTextFileSync("/proc/loadavg").trim();
  console.log(`  load average ${loadavg}`);
  await Deno.mkdir(new URL("./", OUTPUT), { recursive: true });
  await Deno.writeTextFile(
    OUTPUT,
    JSON.stringify(
      {
        at: new Date().toISOString(),
        loadavg,
        READERS,
        WAVE,
        AFTER_SECONDS,
        idle,
        joined,
        later,
        after,
        failed,
      },
      null,
      1,
    ),
  );
  return failed === 0 ? 0 : 1;
}

if (import.meta.main) Deno.exit(await main());
