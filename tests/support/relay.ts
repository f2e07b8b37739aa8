/**
 * Starts msm-relay as a child process the way users do (`deno run main.ts` with flags) and reads its admin API.
 * @module
 */
import { join } from "node:path";
import { freePort, type ManagedProcess, REPO_ROOT, spawnProcess, withTimeout } from "./processes.ts";
import { RELAY_RUNTIME_FLAGS } from "../../scripts/compile.ts";

/** A relay child process. */
export interface RelayProcess extends AsyncDisposable {
  readonly process: ManagedProcess;
  readonly host: string;
  readonly rtspPort: number;
  readonly adminPort: number;
  readonly meshPort: number;
  /** `rtsp://HOST:PORT/path`. */
  url(path: string): string;
  /** GET an admin route as JSON. */
  get<T = unknown>(route: string): Promise<{ status: number; body: T }>;
  /** The JSON view of one stream, or null (404). */
  stream(path: string): Promise<StreamJson | null>;
  stop(signal?: Deno.Signal): Promise<Deno.CommandStatus>;
}

/** Where a relay process listens (defaults: 127.0.0.1 and free ports). */
export interface RelayProcessOptions {
  /** Listen address: relays of one test share ports on distinct 127.0.0.x addresses, as on separate nodes. */
  host?: string;
  rtspPort?: number;
  adminPort?: number;
  meshPort?: number;
  /** Process name in diagnostics. */
  name?: string;
  /** Extra `deno run` permission flags, e.g. `["--allow-ffi"]` for `--data-plane fast`. */
  permissions?: string[];
  /** Run inside this network namespace (`ip netns exec`); give `host` (its address) and the ports. */
  netns?: string;
  /**
   * The `deno` executable to run the relay with (default: this process's). A private copy keeps the relay's code
   * pages its own, as in a pod, where the kernel can page out what start-up alone used.
   */
  runtime?: string;
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

/** The command that runs the relay with `args` the way users do (`deno run` with its permissions, main.ts). */
export function relayCommand(
  args: string[],
  opts: Pick<RelayProcessOptions, "permissions" | "netns" | "runtime"> = {},
): string[] {
  return [
    ...(opts.netns ? ["ip", "netns", "exec", opts.netns] : []),
    opts.runtime ?? Deno.execPath(),
    "run",
    "--allow-net",
    "--allow-read",
    "--allow-env",
    "--allow-sys",
    ...(opts.permissions ?? []),
    // The flags `deno task start` and the compiled binary run with (scripts/compile.ts).
    ...RELAY_RUNTIME_FLAGS,
    // MSM_TEST_DATA_PLANE=fast runs every relay of the suite on the fast data plane (`auto` picks it with FFI).
    // A test that passes its own permissions keeps exactly those.
    ...(Deno.env.get("MSM_TEST_DATA_PLANE") === "fast" && opts.permissions === undefined
      ? ["--allow-ffi"]
      : []),
    join(REPO_ROOT, "main.ts"),
    ...args,
  ];
}

/**
 * Runs a relay that must refuse to start (a configuration error) on free ports of 127.0.0.1 with `args`.
 * @returns its exit code and everything it printed
 * @throws Error when it is still running after 20 s
 */
export async function relayRefusal(
  args: readonly string[],
  env: Record<string, string> = {},
): Promise<{ code: number; output: string }> {
  const relay = spawnProcess(
    relayCommand([
      "--listen",
      "127.0.0.1",
      "--rtsp-port",
      String(freePort("tcp", "127.0.0.1")),
      "--admin-port",
      String(freePort("tcp", "127.0.0.1")),
      "--mesh-port",
      String(freePort("udp", "127.0.0.1")),
      ...args,
    ]),
    { name: "msm-relay-refusal", env, cwd: REPO_ROOT },
  );
  try {
    const status = await withTimeout(
      relay.exited,
      20_000,
      "the relay started (expected a configuration error)",
    );
    return { code: status.code, output: [...relay.stdoutLines, ...relay.stderrLines].join("\n") };
  } finally {
    await relay.stop("SIGTERM", 3000);
  }
}

/**
 * Starts a relay on free ports of 127.0.0.1 with `args` appended, and waits for /readyz.
 * @example await using relay = await startRelayProcess(["--path", "cam=rtsp://..."]);
 */
export async function startRelayProcess(
  args: string[] = [],
  env: Record<string, string> = {},
  opts: RelayProcessOptions = {},
): Promise<RelayProcess> {
  const host = opts.host ?? "127.0.0.1";
  const rtspPort = opts.rtspPort ?? freePort("tcp", host);
  const adminPort = opts.adminPort ?? freePort("tcp", host);
  const meshPort = opts.meshPort ?? freePort("udp", host);
  const process = spawnProcess(
    relayCommand([
      "--listen",
      host,
      "--rtsp-port",
      String(rtspPort),
      "--admin-port",
      String(adminPort),
      "--mesh-port",
      String(meshPort),
      "--udp-port-range",
      nextUdpRange(),
      "--linger",
      "1",
      // WebRTC viewers' shared port: any free one (the default 8189 would be one port for the suite's relays).
      "--webrtc-port",
      "0",
      ...args,
    ], opts),
    { name: opts.name ?? "msm-relay", env, cwd: REPO_ROOT },
  );
  const base = `http://${host}:${adminPort}`;
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
    host,
    rtspPort,
    adminPort,
    meshPort,
    url: (path) => `rtsp://${host}:${rtspPort}/${path}`,
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
