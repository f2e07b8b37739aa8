/**
 * The relays `bench/dataplane.ts` measures, each started as its own process: the C reference, the plain Deno
 * loop (`bench/dataplane_child.ts`) and msm-relay itself on its portable and fast data planes.
 * @module
 */
import { fileURLToPath } from "node:url";
import { type RtspReader, startRtspPublisher, startRtspReader } from "../../tests/support/rtsp_peers.ts";
import { startRelayProcess } from "../../tests/support/relay.ts";
import { rssBytes } from "../../tests/support/proc_stats.ts";
import { freeUdpPair, freeUdpPorts, Lines } from "./dataplane_procs.ts";
import { privateRuntime } from "../../tests/support/private_runtime.ts";
import { STARTUP_CODE_SETTLE_MS } from "../../src/dataplane/startup_code.ts";

const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** A forwarder under test. */
export type Impl = "c" | "portable" | "msm-relay" | "msm-relay-fast";

/** A running relay process. */
export interface Relay {
  pid: number;
  port: number;
  /** Source port the blaster must send from (the relay checks its publisher's client_port). */
  sourcePort?: number;
  /** RSS once started, before any stream, bytes. */
  idleRss: number;
  stop(): Promise<string>;
}

const SDP = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=bench\r\nt=0 0\r\nm=video 0 RTP/AVP 96\r\n" +
  "a=rtpmap:96 H264/90000\r\na=control:trackID=0\r\n";

/**
 * The relay itself as the forwarder: a child `deno run main.ts`, an RTSP publisher session over UDP (the blaster
 * sends from its client_port to the relay's server port) and one RTSP UDP reader per sink port.
 */
async function startMsmRelay(dests: number[], fast = false): Promise<Relay> {
  const relay = await startRelayProcess(
    ["--no-gop-cache", "--no-demo", "--session-timeout", "300", ...(fast ? ["--data-plane", "fast"] : [])],
    {},
    // BENCH_RELAY_FLAGS adds `deno run` flags to the relay, e.g. `--v8-flags=--prof` to profile it.
    {
      permissions: [
        ...(fast ? ["--allow-ffi"] : []),
        ...(Deno.env.get("BENCH_RELAY_FLAGS")?.split(" ").filter((f) => f !== "") ?? []),
      ],
      runtime: await privateRuntime(),
    },
  );
  // Idle: started, no session yet, the start-up code paged out and 2 s for what the idle relay runs to come back.
  await new Promise((r) => setTimeout(r, STARTUP_CODE_SETTLE_MS + 2000));
  const idleRss = rssBytes(relay.process.pid);
  const url = relay.url("bench");
  // The blaster sends from the publisher's client port, the sink receives on the readers' client ports (bound
  // only while a trial runs: the source must not be one of them).
  const source = freeUdpPair(dests);
  const publisher = await startRtspPublisher(url, SDP, { transport: "udp", clientPort: source });
  const serverPort = publisher.serverPort!;
  const readers: RtspReader[] = [];
  for (const d of dests) readers.push(await startRtspReader(url, { transport: "udp", clientPort: d }));
  return {
    pid: relay.process.pid,
    port: serverPort,
    sourcePort: source,
    idleRss,
    async stop() {
      const view = await relay.stream("bench");
      for (const r of readers) await r.close();
      publisher.close();
      await relay.stop();
      return JSON.stringify({
        packetsIn: view?.packetsIn,
        packetsOut: view?.packetsOut,
        dropped: view?.tracks[0]?.dropped,
      });
    },
  };
}

/** Starts `impl` forwarding to `dests` (ports on 127.0.0.1); resolves once it forwards. */
export async function startRelay(impl: Impl, bin: string, dests: number[]): Promise<Relay> {
  if (impl === "msm-relay" || impl === "msm-relay-fast") {
    return await startMsmRelay(dests, impl === "msm-relay-fast");
  }
  const [port] = freeUdpPorts(1) as [number];
  const cmd = impl === "c"
    ? new Deno.Command(`${bin}/relay`, {
      args: [String(port), "600000", ...dests.map(String)],
      stdout: "piped",
      stdin: "null",
    })
    : new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-net",
        `${REPO_ROOT}bench/dataplane_child.ts`,
        String(port),
        ...dests.map(String),
      ],
      cwd: REPO_ROOT,
      stdout: "piped",
      stdin: "piped",
    });
  const child = cmd.spawn();
  const lines = new Lines(child.stdout);
  const ready = await lines.next(20_000);
  if (!ready?.startsWith("ready")) throw new Error(`Relay "${impl}" did not start: ${ready}`);
  if (impl !== "c" && !ready.endsWith(impl)) throw new Error(`Relay "${impl}" started as "${ready}"`);
  return {
    pid: child.pid,
    port,
    idleRss: rssBytes(child.pid),
    async stop() {
      if (impl === "c") child.kill("SIGTERM");
      else await child.stdin.close();
      const last = (await lines.next(10_000)) ?? "";
      await child.status;
      return last;
    },
  };
}
