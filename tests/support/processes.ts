/**
 * Helpers for integration tests that drive real peers (ffmpeg, GStreamer, VLC) on loopback.
 *
 * Every process is started in its own process group and {@link ManagedProcess.stop} signals the whole group, so
 * wrappers such as `runuser` never leave their children behind. Every wait is bounded by a timeout, and every
 * helper that starts something hands back an object with `[Symbol.asyncDispose]`: use `await using`.
 * @module
 */

import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** Which output of a process a line came from. */
export type OutputStream = "stdout" | "stderr";

/** RTP lower transport for readers and publishers. */
export type RtpTransport = "udp" | "tcp";

/** Options of {@link spawnProcess}. */
export interface SpawnOptions {
  /** Extra environment variables (kept even when `user` is set). */
  env?: Record<string, string>;
  /** Working directory. */
  cwd?: string;
  /** Run as this (non-root) user through `runuser -u USER --`. */
  user?: string;
  /** Short name used in diagnostics; default the program's base name. */
  name?: string;
  /** How many lines of each stream to keep; default 2000 for stdout and 400 for stderr. */
  keepLines?: { stdout?: number; stderr?: number };
}

/** Options of {@link ManagedProcess.waitForLine}. */
export interface WaitForLineOptions {
  /** Stream to watch; default `"stdout"`. */
  stream?: OutputStream | "any";
  /** Also match lines already received (default true); false waits for a new line only. */
  includeSeen?: boolean;
}

/** Receives each output line of a {@link ManagedProcess} (without its line ending). */
export type LineListener = (line: string, stream: OutputStream) => void;

/** Lines longer than this are cut in the buffers (VLC prints kilobytes of spaces). */
const MAX_LINE = 4000;

class LineRing {
  readonly #max: number;
  #lines: string[] = [];
  total = 0;
  constructor(max: number) {
    this.#max = Math.max(1, max);
  }
  push(line: string): void {
    this.total++;
    this.#lines.push(line);
    if (this.#lines.length > this.#max * 2) this.#lines = this.#lines.slice(-this.#max);
  }
  lines(): string[] {
    return this.#lines.slice(-this.#max);
  }
}

/** Bounded sleep that keeps no timer alive after it resolves. */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Resolves with `p`'s value, or with null after `ms`. The timer is always cleared (no leaked timer). */
export async function raceTimeout<T>(p: Promise<T>, ms: number): Promise<T | null> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<null>((resolve) => {
    timer = setTimeout(() => resolve(null), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Resolves with `p`, or rejects with `message` after `ms`. The timer is always cleared. */
export async function withTimeout<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${message} (timed out after ${ms} ms)`)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A child process with captured output, started by {@link spawnProcess}.
 *
 * stdout and stderr are read line by line into bounded buffers; `waitForLine` waits for a line matching a regex.
 */
export class ManagedProcess implements AsyncDisposable {
  /** Name used in messages. */
  readonly name: string;
  /** Full command line as run (including `runuser` when a user was given). */
  readonly cmd: readonly string[];
  /** Process id, which is also the process group id. */
  readonly pid: number;
  /** Resolves when the process has exited and its output has been read to the end. */
  readonly exited: Promise<Deno.CommandStatus>;

  readonly #child: Deno.ChildProcess;
  readonly #out: LineRing;
  readonly #err: LineRing;
  readonly #listeners = new Set<LineListener>();
  readonly #readers: ReadableStreamDefaultReader<Uint8Array>[] = [];
  #status: Deno.CommandStatus | null = null;

  /** @internal use {@link spawnProcess}. */
  constructor(cmd: string[], opts: SpawnOptions = {}) {
    const program = cmd[0];
    if (program === undefined) throw new Error("spawnProcess: empty command");
    let full = cmd;
    if (opts.user !== undefined) {
      // runuser resets HOME/USER/...: pass explicit variables through env(1) so they survive.
      const envArgs = Object.entries(opts.env ?? {}).map(([k, v]) => `${k}=${v}`);
      full = ["runuser", "-u", opts.user, "--", ...(envArgs.length > 0 ? ["env", ...envArgs] : []), ...cmd];
    }
    this.cmd = full;
    this.name = opts.name ?? program.split("/").pop() ?? program;
    this.#out = new LineRing(opts.keepLines?.stdout ?? 2000);
    this.#err = new LineRing(opts.keepLines?.stderr ?? 400);
    const command = new Deno.Command(full[0]!, {
      args: full.slice(1),
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      detached: true, // own process group: stop() signals the whole group
      ...(opts.env !== undefined ? { env: opts.env } : {}),
      ...(opts.cwd !== undefined ? { cwd: opts.cwd } : {}),
    });
    this.#child = command.spawn();
    this.pid = this.#child.pid;
    const pumps = [this.#pump(this.#child.stdout, "stdout"), this.#pump(this.#child.stderr, "stderr")];
    this.exited = this.#child.status.then(async (status) => {
      this.#status = status;
      // Output may still be held open by a grandchild that escaped the group: bound the wait.
      const drained = await raceTimeout(Promise.all(pumps), 2000);
      if (drained === null) {
        for (const r of this.#readers) await r.cancel().catch(() => {});
        await Promise.all(pumps);
      }
      return status;
    });
  }

  async #pump(stream: ReadableStream<Uint8Array>, which: OutputStream): Promise<void> {
    const reader = stream.getReader();
    this.#readers.push(reader);
    const decoder = new TextDecoder();
    let pending = "";
    const emit = (line: string) => {
      const cut = line.length > MAX_LINE ? line.slice(0, MAX_LINE) + "..." : line;
      (which === "stdout" ? this.#out : this.#err).push(cut);
      for (const l of [...this.#listeners]) {
        try {
          l(cut, which);
        } catch (e) {
          console.error(`${this.name}: line listener failed:`, e);
        }
      }
    };
    try {
      while (true) {
        const { value, done } = await reader.read();
        if (done) break;
        pending += decoder.decode(value, { stream: true });
        const parts = pending.split(/\r\n|\n|\r/);
        pending = parts.pop() ?? "";
        for (const p of parts) emit(p);
        if (pending.length > 64 * 1024) {
          emit(pending);
          pending = "";
        }
      }
    } catch {
      // cancelled or broken pipe: keep what we have
    } finally {
      pending += decoder.decode();
      if (pending.length > 0) emit(pending);
      reader.releaseLock();
    }
  }

  /** Exit status, or null while running. */
  get status(): Deno.CommandStatus | null {
    return this.#status;
  }

  /** True until the process has exited. */
  get running(): boolean {
    return this.#status === null;
  }

  /** The stdout lines kept so far (the most recent ones when more than `keepLines.stdout` arrived). */
  get stdoutLines(): string[] {
    return this.#out.lines();
  }

  /** The stderr lines kept so far (a ring buffer). */
  get stderrLines(): string[] {
    return this.#err.lines();
  }

  /** Number of lines received on a stream since the start (not bounded by the ring). */
  lineCount(stream: OutputStream = "stdout"): number {
    return stream === "stdout" ? this.#out.total : this.#err.total;
  }

  /** Calls `listener` for every new line; returns a function that unsubscribes it. */
  onLine(listener: LineListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Waits for a line matching `re` and returns the match. Rejects after `timeoutMs`, or as soon as the process
   * exits without printing it; the error message carries the process output.
   */
  waitForLine(re: RegExp, timeoutMs: number, opts: WaitForLineOptions = {}): Promise<RegExpMatchArray> {
    const which = opts.stream ?? "stdout";
    const wants = (s: OutputStream) => which === "any" || which === s;
    if (opts.includeSeen ?? true) {
      for (const s of ["stdout", "stderr"] as const) {
        if (!wants(s)) continue;
        for (const line of s === "stdout" ? this.#out.lines() : this.#err.lines()) {
          const m = line.match(re);
          if (m) return Promise.resolve(m);
        }
      }
    }
    return new Promise((resolve, reject) => {
      let done = false;
      const finish = (fn: () => void) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        unsubscribe();
        fn();
      };
      const unsubscribe = this.onLine((line, s) => {
        if (!wants(s)) return;
        const m = line.match(re);
        if (m) finish(() => resolve(m));
      });
      const timer = setTimeout(
        () =>
          finish(() =>
            reject(new Error(`${this.name}: no line matching ${re} within ${timeoutMs} ms\n${this.output()}`))
          ),
        timeoutMs,
      );
      this.exited.then((st) =>
        finish(() =>
          reject(
            new Error(
              `${this.name}: exited (code ${st.code}) before a line matching ${re}\n${this.output()}`,
            ),
          )
        )
      );
    });
  }

  /** Recent output for diagnostics: the command, the last stderr lines and the last stdout lines. */
  output(maxLines = 60): string {
    const tail = (lines: string[]) => lines.slice(-maxLines).join("\n");
    return [
      `--- ${this.name} (pid ${this.pid}${this.#status ? `, exit ${this.#status.code}` : ""}): ${
        this.cmd.join(" ")
      }`,
      `--- stderr:\n${tail(this.#err.lines())}`,
      `--- stdout:\n${tail(this.#out.lines())}`,
    ].join("\n");
  }

  #signalGroup(signal: Deno.Signal): void {
    try {
      Deno.kill(-this.pid, signal);
    } catch {
      // already gone
    }
  }

  /**
   * Sends `signal` to the process group, waits up to `graceMs`, then SIGKILLs the group.
   * Resolves with the exit status; safe to call several times.
   */
  async stop(signal: Deno.Signal = "SIGTERM", graceMs = 3000): Promise<Deno.CommandStatus> {
    if (this.#status !== null) {
      this.#signalGroup("SIGKILL"); // stragglers left in the group
      return await this.exited;
    }
    this.#signalGroup(signal);
    const st = await raceTimeout(this.exited, graceMs);
    if (st !== null) {
      this.#signalGroup("SIGKILL");
      return st;
    }
    this.#signalGroup("SIGKILL");
    return await withTimeout(this.exited, 5000, `${this.name}: still running after SIGKILL`);
  }

  /** Stops the process (SIGTERM, then SIGKILL). */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}

/**
 * Starts `cmd` (program and arguments) with piped output, in its own process group.
 * With `opts.user` it runs through `runuser -u USER --` (the caller must be root).
 */
export function spawnProcess(cmd: string[], opts: SpawnOptions = {}): ManagedProcess {
  return new ManagedProcess(cmd, opts);
}

/** Closes each of `things` (sockets, listeners, connections), ignoring those already closed. */
export function closeQuietly(...things: Array<{ close(): void }>): void {
  for (const t of things) {
    try {
      t.close();
    } catch { /* already closed */ }
  }
}

/** Runs a command to completion with a timeout; returns exit code and output. Kills it on timeout. */
export async function runCommand(
  cmd: string[],
  timeoutMs: number,
  opts: SpawnOptions = {},
): Promise<{ code: number; stdout: string; stderr: string; timedOut: boolean }> {
  await using p = spawnProcess(cmd, opts);
  const st = await raceTimeout(p.exited, timeoutMs);
  const timedOut = st === null;
  const status = st ?? await p.stop("SIGKILL", 0);
  return {
    code: status.code,
    stdout: p.stdoutLines.join("\n"),
    stderr: p.stderrLines.join("\n"),
    timedOut,
  };
}

/** Waits until a TCP connection to `host:port` succeeds; throws after `timeoutMs`. */
export async function waitForTcpPort(host: string, port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown = null;
  while (Date.now() < deadline) {
    try {
      const conn = await Deno.connect({ hostname: host, port });
      conn.close();
      return;
    } catch (e) {
      last = e;
    }
    await delay(50);
  }
  throw new Error(`nothing listens on ${host}:${port} after ${timeoutMs} ms (${String(last)})`);
}

/**
 * Waits until a socket is in LISTEN state on TCP `port` (any local address), by reading /proc/net/tcp{,6}, without
 * connecting. Use it for one-shot servers such as `ffmpeg -rtsp_flags listen`, which a probe connection would use up.
 */
export async function waitForTcpListen(port: number, timeoutMs: number): Promise<void> {
  const hex = port.toString(16).toUpperCase().padStart(4, "0");
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    for (const f of ["/proc/net/tcp", "/proc/net/tcp6"]) {
      const text = await Deno.readTextFile(f).catch(() => "");
      for (const line of text.split("\n").slice(1)) {
        const cols = line.trim().split(/\s+/);
        if (cols[1]?.endsWith(`:${hex}`) && cols[3] === "0A") return;
      }
    }
    await delay(50);
  }
  throw new Error(`nothing in LISTEN on port ${port} after ${timeoutMs} ms`);
}

/**
 * A port the OS reports free right now (bind port 0, read it, close). `transport` `"both"` checks that the same
 * number is free for TCP and UDP. There is an unavoidable race until the caller binds it.
 */
export function freePort(transport: "tcp" | "udp" | "both" = "tcp", hostname = "0.0.0.0"): number {
  for (let attempt = 0; attempt < 50; attempt++) {
    if (transport === "udp") {
      const s = Deno.listenDatagram({ transport: "udp", hostname, port: 0 });
      const port = (s.addr as Deno.NetAddr).port;
      s.close();
      return port;
    }
    const l = Deno.listen({ transport: "tcp", hostname, port: 0 });
    const port = (l.addr as Deno.NetAddr).port;
    try {
      if (transport === "both") {
        if (!udpFree(port, hostname)) continue;
      }
      return port;
    } finally {
      l.close();
    }
  }
  throw new Error(`freePort: no free ${transport} port found`);
}

function udpFree(port: number, hostname: string): boolean {
  try {
    const s = Deno.listenDatagram({ transport: "udp", hostname, port });
    s.close();
    return true;
  } catch {
    return false;
  }
}

/** An even UDP port `p` such that `p` and `p + 1` are both free now (an RTP/RTCP pair). */
export function freePortPair(hostname = "0.0.0.0"): number {
  for (let attempt = 0; attempt < 200; attempt++) {
    const s = Deno.listenDatagram({ transport: "udp", hostname, port: 0 });
    const port = (s.addr as Deno.NetAddr).port;
    s.close();
    const even = port % 2 === 0 ? port : port + 1;
    if (even + 1 > 65535) continue;
    if (udpFree(even, hostname) && udpFree(even + 1, hostname)) return even;
  }
  throw new Error("freePortPair: no free even/odd UDP pair found");
}

/** A temporary directory removed (recursively) on dispose. */
export interface TempDir extends AsyncDisposable {
  /** Absolute path. */
  readonly path: string;
  /** Removes the directory; safe to call twice. */
  remove(): Promise<void>;
}

/**
 * Creates a temporary directory. With `mode` (e.g. 0o755) the directory is chmod-ed, so that another user (VLC's)
 * can read files in it.
 */
export async function tempDir(opts: { prefix?: string; mode?: number } = {}): Promise<TempDir> {
  const path = await Deno.makeTempDir({ prefix: opts.prefix ?? "msm-test-" });
  if (opts.mode !== undefined) await Deno.chmod(path, opts.mode);
  let removed = false;
  const remove = async () => {
    if (removed) return;
    removed = true;
    await Deno.remove(path, { recursive: true }).catch(() => {});
  };
  return { path, remove, [Symbol.asyncDispose]: remove };
}

/** Directory of this file (tests/support). */
export const SUPPORT_DIR: string = dirname(fileURLToPath(import.meta.url));
/** Repository root. */
export const REPO_ROOT: string = join(SUPPORT_DIR, "..", "..");
/** The 4 s raw H.264 Annex B clip (320x240, 25 fps, GOP 25, 100 frames). */
export const DEMO_H264: string = join(REPO_ROOT, "assets", "demo.h264");
/** Debian's python, which has the GStreamer bindings (a pyenv python on PATH does not). */
export const SYSTEM_PYTHON = "/usr/bin/python3";

// ---------------------------------------------------------------------------------------------------------------
// GStreamer camera

/** Options of {@link startGstCamera}. */
export interface GstCameraOptions {
  /** Address to bind and to put in the URL; default 127.0.0.1. */
  host?: string;
  /** TCP port; default: the OS picks one (reported by the server, no race). */
  port?: number;
  /** Mount path; default `/cam`. */
  path?: string;
  /** Add an audio track: true or `"pcmu"` (PT 0, 8 kHz) or `"opus"` (PT 97, 48 kHz). */
  audio?: boolean | "pcmu" | "opus";
  /** Frame rate; default 25. */
  fps?: number;
  /** Keyframe interval in frames; default = fps. */
  gop?: number;
  /**
   * First RTP sequence number of the video each time the shared pipeline is built (it is rebuilt when a client
   * comes after the last one left), as cameras that count from a fixed number per session do; default random.
   */
  seqnumOffset?: number;
  /** Frame size; default 320x240. */
  width?: number;
  /** Frame size; default 320x240. */
  height?: number;
  /** Require this user (with `password`). */
  user?: string;
  /** Password of `user`. */
  password?: string;
  /** Scheme offered in the 401 challenge; default digest. GstRTSPAuth can offer only one from Python. */
  auth?: "digest" | "basic";
  /** Lower transports the server accepts; default `"udp,tcp"`. */
  protocols?: "udp" | "tcp" | "udp,tcp";
  /** RTSP session timeout in seconds; default 60. */
  sessionTimeout?: number;
  /** How long to wait for READY; default 15000 ms. */
  readyTimeoutMs?: number;
}

/** A running {@link startGstCamera} server. */
export interface GstCamera extends AsyncDisposable {
  /** `rtsp://host:port/path` without credentials. */
  readonly url: string;
  /** The URL with `user:password@` when a user is set, else the same as `url`. */
  readonly authUrl: string;
  /** Bound TCP port. */
  readonly port: number;
  /** The python process. */
  readonly process: ManagedProcess;
  /** RTSP sessions currently in the server's pool (last SESSION_COUNT line). */
  sessions(): number;
  /** RTSP (TCP) connections currently open (last CONNECTION_COUNT line). */
  connections(): number;
  /** Total RTSP connections accepted since start. */
  totalConnections(): number;
  /** How many times the shared pipeline was built (it is torn down when the last client leaves). */
  mediaConfigured(): number;
  /** Waits until `sessions()` satisfies `pred` (e.g. `(n) => n === 1`). */
  waitForSessions(pred: (n: number) => boolean, timeoutMs: number): Promise<void>;
  /** Waits until `connections()` satisfies `pred`. */
  waitForConnections(pred: (n: number) => boolean, timeoutMs: number): Promise<void>;
  /** Stops the server (SIGTERM). */
  stop(): Promise<void>;
}

async function waitUntil(cond: () => boolean, timeoutMs: number, what: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what()}`);
    await delay(25);
  }
}

/**
 * Starts tests/support/gst_camera.py: a GstRtspServer with one shared media (videotestsrc ball, x264 baseline,
 * SPS/PPS before each IDR, no B-frames), optional audio and auth. Waits for its READY line.
 */
export async function startGstCamera(opts: GstCameraOptions = {}): Promise<GstCamera> {
  const host = opts.host ?? "127.0.0.1";
  const path = (opts.path ?? "/cam").startsWith("/") ? (opts.path ?? "/cam") : `/${opts.path}`;
  const args = [SYSTEM_PYTHON, "-u", join(SUPPORT_DIR, "gst_camera.py")];
  args.push("--address", host, "--port", String(opts.port ?? 0), "--path", path);
  if (opts.audio) args.push("--audio", "--audio-codec", opts.audio === "opus" ? "opus" : "pcmu");
  if (opts.fps !== undefined) args.push("--fps", String(opts.fps));
  if (opts.gop !== undefined) args.push("--gop", String(opts.gop));
  if (opts.seqnumOffset !== undefined) args.push("--seqnum-offset", String(opts.seqnumOffset));
  if (opts.width !== undefined) args.push("--width", String(opts.width));
  if (opts.height !== undefined) args.push("--height", String(opts.height));
  if (opts.protocols !== undefined) args.push("--protocols", opts.protocols);
  if (opts.sessionTimeout !== undefined) args.push("--session-timeout", String(opts.sessionTimeout));
  if (opts.user !== undefined) {
    if (opts.password === undefined) throw new Error("startGstCamera: user without password");
    args.push("--user", opts.user, "--password", opts.password, "--auth", opts.auth ?? "digest");
  }
  const proc = spawnProcess(args, { name: `gst-camera${path}` });
  const counts = { sessions: 0, connections: 0, total: 0, configured: 0 };
  proc.onLine((line, stream) => {
    if (stream !== "stdout") return;
    const m = line.match(/^(SESSION_COUNT|CONNECTION_COUNT|MEDIA_CONFIGURED|CLIENT_CONNECTED)\s+(\S+)/);
    if (!m) return;
    const n = Number(m[2]);
    if (m[1] === "SESSION_COUNT") counts.sessions = n;
    else if (m[1] === "CONNECTION_COUNT") counts.connections = n;
    else if (m[1] === "MEDIA_CONFIGURED") counts.configured = n;
    else counts.total++;
  });
  let port: number;
  try {
    const m = await proc.waitForLine(/^READY port=(\d+)/, opts.readyTimeoutMs ?? 15000);
    port = Number(m[1]);
  } catch (e) {
    await proc.stop();
    throw e;
  }
  const url = `rtsp://${host}:${port}${path}`;
  const authUrl = opts.user !== undefined
    ? `rtsp://${encodeURIComponent(opts.user)}:${
      encodeURIComponent(opts.password ?? "")
    }@${host}:${port}${path}`
    : url;
  const stop = async () => {
    await proc.stop("SIGTERM", 3000);
  };
  return {
    url,
    authUrl,
    port,
    process: proc,
    sessions: () => counts.sessions,
    connections: () => counts.connections,
    totalConnections: () => counts.total,
    mediaConfigured: () => counts.configured,
    waitForSessions: (pred, timeoutMs) =>
      waitUntil(() => pred(counts.sessions), timeoutMs, () => `gst camera sessions (now ${counts.sessions})`),
    waitForConnections: (pred, timeoutMs) =>
      waitUntil(
        () => pred(counts.connections),
        timeoutMs,
        () => `gst camera connections (now ${counts.connections})`,
      ),
    stop,
    [Symbol.asyncDispose]: stop,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// VLC camera

/** The unprivileged user VLC runs as (VLC refuses to run as root). */
export const TEST_USER = "msmtest";

/** Creates the system user `name` if missing (idempotent, safe when tests race to create it). */
export async function ensureTestUser(name: string = TEST_USER): Promise<void> {
  const exists = async () => (await runCommand(["id", "-u", name], 5000)).code === 0;
  if (await exists()) return;
  const r = await runCommand(["useradd", "-r", "-M", "-s", "/usr/sbin/nologin", name], 10000);
  if (r.code !== 0 && !(await exists())) throw new Error(`useradd ${name} failed (${r.code}): ${r.stderr}`);
}

/** Options of {@link startVlcCamera}. */
export interface VlcCameraOptions {
  /** Address for the RTSP server and the URL; default 127.0.0.1. */
  host?: string;
  /** TCP port; default a free one. */
  port?: number;
  /** Path; default `v`. */
  path?: string;
  /**
   * A clip to play (copied to a directory VLC's user can read); default {@link cachedTestClip}(60). Keep it longer
   * than the test: at each repeat VLC's RTP timestamps jump back about 1 s.
   */
  clip?: string;
  /** How long to wait for the server to answer ffprobe; default 15000 ms. */
  readyTimeoutMs?: number;
}

/** A running {@link startVlcCamera} server. */
export interface VlcCamera extends AsyncDisposable {
  /** `rtsp://host:port/path` (UDP transport only). */
  readonly url: string;
  /** TCP port. */
  readonly port: number;
  /** The runuser/VLC process group. */
  readonly process: ManagedProcess;
  /** Stops VLC and removes its temp dir. */
  stop(): Promise<void>;
}

/**
 * Starts VLC as an RTSP server (UDP transport only) as user {@link TEST_USER} and waits until ffprobe over UDP sees
 * the video. The clip repeats with `--input-repeat` (not `--loop`: a playlist loop tears the stream down and VLC's
 * RTCP BYE ends ffmpeg readers at every wrap).
 */
export async function startVlcCamera(opts: VlcCameraOptions = {}): Promise<VlcCamera> {
  await ensureTestUser();
  const host = opts.host ?? "127.0.0.1";
  const path = (opts.path ?? "v").replace(/^\/+/, "");
  const dir = await tempDir({ prefix: "msm-vlc-", mode: 0o755 });
  let proc: ManagedProcess | null = null;
  try {
    const clip = join(dir.path, "clip.mp4");
    await Deno.copyFile(opts.clip ?? await cachedTestClip(60), clip);
    await Deno.chmod(clip, 0o644);
    const home = join(dir.path, "home");
    await Deno.mkdir(home, { mode: 0o777 });
    await Deno.chmod(home, 0o777);
    const port = opts.port ?? freePort("tcp");
    const url = `rtsp://${host}:${port}/${path}`;
    const demux = clip.endsWith(".h264") || clip.endsWith(".264")
      ? ["--demux", "h264", "--h264-fps", "25"]
      : [];
    proc = spawnProcess([
      "cvlc",
      "--intf",
      "dummy",
      "--no-dbus",
      "--aout",
      "dummy",
      "--no-audio",
      ...demux,
      clip,
      "--input-repeat=65535",
      "--sout",
      `#rtp{sdp=${url}}`,
    ], { user: TEST_USER, env: { HOME: home }, name: "vlc" });
    const deadline = Date.now() + (opts.readyTimeoutMs ?? 15000);
    await waitForTcpPort(host, port, Math.max(1, deadline - Date.now()));
    let lastErr: unknown = null;
    while (true) {
      if (!proc.running) throw new Error(`vlc exited\n${proc.output()}`);
      try {
        const codecs = await ffprobeCodecs(url, "udp", Math.max(1000, Math.min(8000, deadline - Date.now())));
        if (codecs.includes("h264")) break;
        lastErr = new Error(`codecs ${codecs.join(",")}`);
      } catch (e) {
        lastErr = e;
      }
      if (Date.now() >= deadline) {
        throw new Error(`vlc never served ${url}: ${String(lastErr)}\n${proc.output()}`);
      }
      await delay(200);
    }
    const p = proc;
    const stop = async () => {
      // VLC sits on SIGTERM for seconds; runuser would wait 2 s then SIGKILL it anyway.
      await p.stop("SIGTERM", 500);
      await dir.remove();
    };
    return { url, port, process: p, stop, [Symbol.asyncDispose]: stop };
  } catch (e) {
    await proc?.stop("SIGTERM", 500);
    await dir.remove();
    throw e;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// ffmpeg / ffprobe / gst-launch readers and publishers

/** Result of {@link ffmpegRead}. */
export interface FfmpegReadResult {
  /** Decoded video frames (last `frame=` of `-progress`). */
  frames: number;
  /** Codec names of the input streams as ffmpeg printed them (e.g. `["h264", "pcm_mulaw"]`). */
  codecs: string[];
  /** ffmpeg's exit code (255 after a signal). */
  exitCode: number;
  /** True when the reader was killed at `timeoutMs`. */
  timedOut: boolean;
  /** The last lines of stderr. */
  stderr: string;
}

const STREAM_LINE = /^\s*Stream #0:\d+.*?: (?:Video|Audio|Data|Subtitle): ([A-Za-z0-9_]+)/;

/**
 * Reads `url` with ffmpeg for `seconds` of media time, decoding the video (`-f null`, passthrough frame timing so
 * nothing is duplicated or dropped) and counts decoded frames. Never throws for a failed read: check `frames` and
 * `exitCode`. `timeoutMs` (default seconds * 1000 + 15000) bounds the whole run.
 */
export async function ffmpegRead(
  url: string,
  opts: {
    transport: RtpTransport;
    seconds: number;
    timeoutMs?: number;
    extraInputArgs?: string[];
    /** Sees every stderr line (the result keeps only the last ones). */
    onStderr?: (line: string) => void;
  },
): Promise<FfmpegReadResult> {
  const cmd = [
    "ffmpeg",
    "-hide_banner",
    "-nostdin",
    "-nostats",
    "-progress",
    "pipe:1",
    "-rtsp_transport",
    opts.transport,
    "-timeout",
    "5000000", // socket I/O timeout, microseconds
    ...(opts.extraInputArgs ?? []),
    "-i",
    url,
    "-t",
    String(opts.seconds),
    "-map",
    "0:v",
    "-fps_mode",
    "passthrough",
    "-f",
    "null",
    "-",
  ];
  await using p = spawnProcess(cmd, { name: "ffmpeg-read" });
  const codecs: string[] = [];
  let inputSection = true;
  let frames = 0;
  p.onLine((line, stream) => {
    if (stream === "stdout") {
      const m = line.match(/^frame=(\d+)/);
      if (m) frames = Number(m[1]);
      return;
    }
    opts.onStderr?.(line);
    if (/^(Output #|Stream mapping)/.test(line)) inputSection = false;
    const m = inputSection ? line.match(STREAM_LINE) : null;
    if (m?.[1]) codecs.push(m[1]);
  });
  const timeoutMs = opts.timeoutMs ?? opts.seconds * 1000 + 15000;
  const st = await raceTimeout(p.exited, timeoutMs);
  const status = st ?? await p.stop("SIGINT", 2000); // SIGINT lets ffmpeg flush its last progress block
  return { frames, codecs, exitCode: status.code, timedOut: st === null, stderr: p.stderrLines.join("\n") };
}

/**
 * Codec names of the streams at `url`, in SDP order, from ffprobe. Throws (with ffprobe's stderr) on failure.
 */
export async function ffprobeCodecs(
  url: string,
  transport: RtpTransport,
  timeoutMs = 15000,
): Promise<string[]> {
  const r = await runCommand(
    [
      "ffprobe",
      "-v",
      "error",
      "-rtsp_transport",
      transport,
      "-timeout",
      "5000000",
      "-show_entries",
      "stream=codec_name",
      "-of",
      "csv=p=0",
      url,
    ],
    timeoutMs,
    { name: "ffprobe" },
  );
  if (r.code !== 0 || r.timedOut) {
    throw new Error(
      `ffprobe ${url} over ${transport} failed (code ${r.code}${
        r.timedOut ? ", timed out" : ""
      }): ${r.stderr}`,
    );
  }
  return r.stdout.split("\n").map((s) => s.trim().replace(/,+$/, "")).filter((s) => s.length > 0);
}

/** Options of {@link makeTestClip}. */
export interface TestClipOptions {
  /** File name in `dir`; default `clip.mp4`. */
  name?: string;
  /** Add an AAC sine track (48 kHz mono). */
  audio?: boolean;
  /** Frame rate; default 25. */
  fps?: number;
  /** Keyframe interval; default = fps. */
  gop?: number;
  /** Also put SPS/PPS in-band before every IDR (x264 repeat-headers); default false (SDP only). */
  repeatHeaders?: boolean;
}

/** Encodes an H.264 (baseline-compatible, no B-frames) testsrc clip into `dir` and returns its path. */
export async function makeTestClip(
  dir: string,
  seconds: number,
  opts: TestClipOptions = {},
): Promise<string> {
  const fps = opts.fps ?? 25;
  const out = join(dir, opts.name ?? "clip.mp4");
  const cmd = ["ffmpeg", "-hide_banner", "-nostdin", "-v", "error", "-y"];
  cmd.push("-f", "lavfi", "-i", `testsrc=size=320x240:rate=${fps}`);
  if (opts.audio) cmd.push("-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000");
  cmd.push("-t", String(seconds), "-c:v", "libx264", "-g", String(opts.gop ?? fps), "-bf", "0");
  cmd.push("-pix_fmt", "yuv420p");
  if (opts.repeatHeaders) cmd.push("-x264-params", "repeat-headers=1");
  if (opts.audio) cmd.push("-c:a", "aac", "-b:a", "64k", "-ac", "1");
  cmd.push(out);
  const r = await runCommand(cmd, 60000, { name: "ffmpeg-clip" });
  if (r.code !== 0) throw new Error(`makeTestClip failed (${r.code}): ${r.stderr}`);
  return out;
}

/**
 * A {@link makeTestClip} mp4 (defaults, no audio) of `seconds`, made once per machine and kept in
 * `$TMPDIR/msm-test-cache/` (world-readable). Concurrent callers are safe (write to a unique name, then rename).
 */
export async function cachedTestClip(seconds: number): Promise<string> {
  const dir = join(Deno.env.get("TMPDIR") ?? "/tmp", "msm-test-cache");
  const path = join(dir, `testsrc-320x240-25fps-g25-${seconds}s.mp4`);
  try {
    if ((await Deno.stat(path)).size > 0) return path;
  } catch {
    // not made yet
  }
  await Deno.mkdir(dir, { recursive: true, mode: 0o755 });
  await Deno.chmod(dir, 0o755);
  const name = `.tmp-${Deno.pid}-${crypto.randomUUID()}.mp4`;
  const tmp = await makeTestClip(dir, seconds, { name });
  await Deno.chmod(tmp, 0o644);
  await Deno.rename(tmp, path);
  return path;
}

/**
 * Publishes to `url` with ANNOUNCE/RECORD. `input` is a media file (looped forever, `-re`, `-c copy`) or
 * `lavfi:<graph>` (e.g. `lavfi:testsrc=size=320x240:rate=25`, encoded live with x264, GOP 25, no B-frames).
 * ffmpeg writes `-progress` blocks on stdout once RECORD succeeded: `await p.waitForLine(/^frame=[1-9]/, ms)`
 * (or use {@link waitPublishing}) to know it is streaming. Stop it with `stop("SIGINT")` or dispose.
 */
export function ffmpegPublish(
  input: string,
  url: string,
  transport: RtpTransport,
  opts: { name?: string; extraArgs?: string[] } = {},
): ManagedProcess {
  const cmd = ["ffmpeg", "-hide_banner", "-nostdin", "-nostats", "-progress", "pipe:1", "-re"];
  if (input.startsWith("lavfi:")) {
    cmd.push("-f", "lavfi", "-i", input.slice("lavfi:".length));
    cmd.push("-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "25", "-bf", "0");
    cmd.push("-pix_fmt", "yuv420p", "-x264-params", "repeat-headers=1");
  } else {
    cmd.push("-stream_loop", "-1", "-i", input, "-c", "copy");
  }
  cmd.push(...(opts.extraArgs ?? []), "-f", "rtsp", "-rtsp_transport", transport, url);
  return spawnProcess(cmd, { name: opts.name ?? "ffmpeg-publish" });
}

/** Waits until an {@link ffmpegPublish} process reports frames sent (i.e. RECORD succeeded). */
export async function waitPublishing(p: ManagedProcess, timeoutMs = 10000): Promise<void> {
  await p.waitForLine(/^frame=[1-9]/, timeoutMs);
}

/** Result of {@link gstRead}. */
export interface GstReadResult {
  /** Decoded video buffers that reached the sink. */
  buffers: number;
  /** gst-launch's exit code (non-zero when stopped by the signal after `seconds`, which is the normal case). */
  exitCode: number;
  /** Milliseconds from start to the first decoded buffer, or null if none came. */
  firstBufferMs: number | null;
  /** Diagnostics: last lines of output. */
  output: string;
}

/**
 * Reads H.264 from `url` with GStreamer (`rtspsrc ! rtph264depay ! h264parse ! avdec_h264 ! fakesink`) and counts
 * decoded buffers for `seconds` after the first one arrives (waiting at most `firstBufferTimeoutMs`, default
 * 10000, for it). Counts the fakesink `last-message = chain` notifications that `gst-launch-1.0 -v` prints.
 */
export async function gstRead(
  url: string,
  opts: { transport: RtpTransport; seconds: number; firstBufferTimeoutMs?: number; latencyMs?: number },
): Promise<GstReadResult> {
  const cmd = [
    "gst-launch-1.0",
    "-v",
    "rtspsrc",
    `location=${url}`,
    `protocols=${opts.transport}`,
    `latency=${opts.latencyMs ?? 200}`,
    "!",
    "rtph264depay",
    "!",
    "h264parse",
    "!",
    "avdec_h264",
    "!",
    "fakesink",
    "name=sink",
    "sync=false",
    "silent=false",
  ];
  await using p = spawnProcess(cmd, { name: "gst-read", keepLines: { stdout: 200 } });
  const started = Date.now();
  let buffers = 0;
  let firstBufferMs: number | null = null;
  let first!: () => void;
  const gotFirst = new Promise<void>((resolve) => (first = resolve));
  p.onLine((line, stream) => {
    if (stream === "stdout" && line.includes("GstFakeSink:sink: last-message = chain")) {
      buffers++;
      if (firstBufferMs === null) {
        firstBufferMs = Date.now() - started;
        first();
      }
    }
  });
  const firstTimeout = opts.firstBufferTimeoutMs ?? 10000;
  const arrived = await raceTimeout(
    Promise.race([gotFirst.then(() => true), p.exited.then(() => false)]),
    firstTimeout,
  );
  if (arrived === true) {
    await raceTimeout(p.exited, opts.seconds * 1000);
  }
  const status = await p.stop("SIGINT", 2000);
  return { buffers, exitCode: status.code, firstBufferMs, output: p.output(40) };
}
