/**
 * Starts msm-relay as a child process the way users do (`deno run main.ts` with flags) and reads its admin API.
 * @module
 */
import { join } from "node:path";
import { freePort, type ManagedProcess, REPO_ROOT, spawnProcess, withTimeout } from "./processes.ts";

/** A relay child process. */
export interface RelayProcess extends AsyncDisposable {
  readonly process: ManagedProcess;
  readonly rtspPort: number;
  readonly adminPort: number;
  /** `rtsp://127.0.0.1:PORT/path`. */
  url(path: string): string;
  /** GET an admin route as JSON. */
  get<T = unknown>(route: string): Promise<{ status: number; body: T }>;
  /** The JSON view of one stream, or null (404). */
  stream(path: string): Promise<StreamJson | null>;
  stop(signal?: Deno.Signal): Promise<Deno.CommandStatus>;
}

/** Subset of the admin API's stream view used by tests. */
export interface StreamJson {
  path: string;
  kind: string;
  source: { state: string; error: string | null; sessions: number; [k: string]: unknown };
  readers: number;
  packetsIn: number;
  packetsOut: number;
  tracks: Array<
    { packetsIn: number; packetsOut: number; dropped: Record<string, number>; readerReports: number }
  >;
}

let rangeCursor = 20000 + 2 * Math.floor(Math.random() * 5000);

/** A fresh even UDP range of `size` ports for one relay, so parallel tests do not contend. */
export function nextUdpRange(size = 200): string {
  if (rangeCursor + size > 60000) rangeCursor = 20000;
  const first = rangeCursor;
  rangeCursor += size;
  return `${first}-${first + size - 1}`;
}

/**
 * Starts a relay on free ports of 127.0.0.1 with `args` appended, and waits for /readyz.
 * @example await using relay = await startRelayProcess(["--path", "cam=rtsp://..."]);
 */
export async function startRelayProcess(
  args: string[] = [],
  env: Record<string, string> = {},
): Promise<RelayProcess> {
  const rtspPort = freePort("tcp", "127.0.0.1");
  const adminPort = freePort("tcp", "127.0.0.1");
  const process = spawnProcess([
    Deno.execPath(),
    "run",
    "--allow-net",
    "--allow-read",
    "--allow-env",
    "--allow-sys",
    join(REPO_ROOT, "main.ts"),
    "--listen",
    "127.0.0.1",
    "--rtsp-port",
    String(rtspPort),
    "--admin-port",
    String(adminPort),
    "--udp-port-range",
    nextUdpRange(),
    "--linger",
    "1",
    ...args,
  ], { name: "msm-relay", env, cwd: REPO_ROOT });
  const base = `http://127.0.0.1:${adminPort}`;
  const get = async <T>(route: string) => {
    const res = await fetch(base + route);
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : null) as T };
  };
  await withTimeout(
    (async () => {
      while (true) {
        if (!process.running) throw new Error(`relay exited early:\n${process.output()}`);
        try {
          if ((await get("/readyz")).status === 200) return;
        } catch { /* not listening yet */ }
        await new Promise((r) => setTimeout(r, 100));
      }
    })(),
    20_000,
    "relay did not become ready",
  );
  return {
    process,
    rtspPort,
    adminPort,
    url: (path) => `rtsp://127.0.0.1:${rtspPort}/${path}`,
    get,
    async stream(path) {
      const r = await get<StreamJson>(`/api/v1/streams/${path}`);
      return r.status === 200 ? r.body : null;
    },
    stop: (signal = "SIGTERM") => process.stop(signal, 5000),
    async [Symbol.asyncDispose]() {
      await process.stop("SIGTERM", 5000);
    },
  };
}
