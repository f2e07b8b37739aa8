/**
 * Pull source: the relay's one session to a camera. DESCRIBE/SETUP/PLAY over UDP (falling back to TCP
 * interleaved when no RTP arrives within 3 s) or TCP, keepalive, RTCP receiver reports to the camera, and
 * reconnect with capped exponential backoff. Readers keep their sessions through reconnects; they see a gap.
 *
 * A camera that cannot be reached is retried with the backoff (at most {@linkcode PullSourceOptions.waitingRetryMs}
 * apart while readers wait for it, and at once when a new reader arrives); the backoff starts over once a session
 * played for {@linkcode PullSourceOptions.stableMs}. The failure is logged once at warn, retries at debug with a
 * reminder every 5 minutes, and the recovery at info.
 *
 * The camera URL may carry secrets (a password, `?token=`): everything this source shows (its `info()`, log
 * fields, the error it leaves on the stream, which the admin API, readers' 503 answers and peers see) goes
 * through `redactUrl`/`redactUrls`.
 *
 * The URL's credentials answer Digest challenges; Basic ones only when {@linkcode PullSourceOptions.authSchemes}
 * allows it (anything answering on the camera's address would read the password). A camera offering only Basic
 * fails with an error that names `--pull-auth`.
 * @module
 */
import { type Clock, monotonicMs } from "../../clock.ts";
import type { Logger } from "../../log.ts";
import { RtspClientConnection } from "../../rtsp/client.ts";
import type { RtspResponse } from "../../rtsp/message.ts";
import { type AuthSchemeName, UnusableChallengesError } from "../../rtsp/auth/mod.ts";
import { parseSession } from "../../rtsp/headers/session.ts";
import { formatTransport, parseTransport, type Transport } from "../../rtsp/headers/transport.ts";
import { parseSdp } from "../../rtsp/sdp.ts";
import { redactUrl, redactUrls, resolveControl } from "../../rtsp/url.ts";
import { ReceiverReporter, type ReportRoute, type ReportSender } from "../receiver_reporter.ts";
import type { Stream, StreamSource } from "../stream.ts";

/** How to pull: `auto` tries UDP first and falls back to TCP. */
export type PullTransport = "auto" | "udp" | "tcp";

/** Options of {@linkcode PullSource}. */
export interface PullSourceOptions {
  stream: Stream;
  url: string;
  transport: PullTransport;
  logger: Logger;
  /** No RTP within this after PLAY over UDP switches to TCP (auto). @default 3000 */
  udpFallbackMs?: number;
  /** No media for this long means the camera is gone: reconnect. @default 10000 */
  mediaTimeoutMs?: number;
  /** First reconnect delay. @default 500 */
  backoffInitialMs?: number;
  /** Largest reconnect delay. @default 10000 */
  backoffMaxMs?: number;
  /** Interval of the RTCP receiver reports sent to the camera per track; the first goes after half. @default 5000 */
  rtcpIntervalMs?: number;
  /** CNAME in those reports (SDES). @default "msm-relay" */
  cname?: string;
  /** Longest delay between attempts while readers wait for the camera (a DESCRIBE in progress). @default 500 */
  waitingRetryMs?: number;
  /** A session that played this long starts the backoff over. @default 10000 */
  stableMs?: number;
  /** While the camera stays unreachable, the warning is repeated this often. @default 300000 */
  reminderMs?: number;
  /** Monotonic clock in milliseconds. @default {@linkcode monotonicMs} */
  now?: Clock;
  /** Schemes the camera's credentials may be sent with (`--pull-auth`). @default ["digest"] */
  authSchemes?: readonly AuthSchemeName[];
}

/** Delay before reconnect attempt `attempt` (0-based): doubling from `initial`, capped at `max`. */
export function backoffDelay(attempt: number, initial: number, max: number): number {
  return Math.min(max, initial * 2 ** Math.min(attempt, 30));
}

class FallbackToTcp extends Error {}

/** Pulls one camera for one stream. */
export class PullSource implements StreamSource {
  readonly kind = "pull" as const;
  readonly #o: Required<PullSourceOptions>;
  #running = false;
  #stopped = false;
  #client: RtspClientConnection | null = null;
  #useTcp: boolean;
  #attempt = 0;
  /** The pending backoff: when it began and ends (monotonic ms), and how to end it early. */
  #sleep: { from: number; until: number; timer: ReturnType<typeof setTimeout>; resolve: () => void } | null =
    null;
  /** When the current session started playing (monotonic ms), or 0. */
  #readyAt = 0;
  /** Consecutive failed attempts since the camera last played, and since when it fails. */
  #failures = 0;
  #failingSince = 0;
  #lastWarnAt = 0;
  #retryInMs = 0;
  #activeTransport: "udp" | "tcp" | null = null;
  #loop: Promise<void> | null = null;
  /** The relay's receiver reports to the camera (created with the options). */
  readonly #reporter: ReceiverReporter;

  /** @param options stream, camera URL and timings */
  constructor(options: PullSourceOptions) {
    this.#o = {
      udpFallbackMs: 3000,
      mediaTimeoutMs: 10_000,
      backoffInitialMs: 500,
      backoffMaxMs: 10_000,
      rtcpIntervalMs: 5000,
      cname: "msm-relay",
      waitingRetryMs: 500,
      stableMs: 10_000,
      reminderMs: 300_000,
      now: monotonicMs,
      authSchemes: ["digest"],
      ...options,
    };
    this.#useTcp = options.transport === "tcp";
    this.#reporter = new ReceiverReporter({ intervalMs: this.#o.rtcpIntervalMs, cname: this.#o.cname });
  }

  /**
   * Starts pulling (idempotent). Called again (a new reader) while waiting to retry an unreachable camera, it
   * brings the retry forward to at most {@linkcode PullSourceOptions.waitingRetryMs} after the last attempt.
   */
  start(): void {
    if (this.#stopped) return;
    if (this.#running) {
      this.#hurry();
      return;
    }
    this.#running = true;
    this.#loop = this.#run();
  }

  /** @inheritdoc */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#wakeNow();
    const client = this.#client;
    if (client) {
      // Best effort: tell the camera we are leaving.
      await Promise.race([
        client.request("TEARDOWN", this.#o.url).catch(() => {}),
        new Promise((r) => setTimeout(r, 300)),
      ]);
      client.close();
    }
    await this.#loop;
  }

  /** @inheritdoc */
  info(): Record<string, unknown> {
    return {
      url: redactUrl(this.#o.url),
      transport: this.#activeTransport,
      mode: this.#o.transport,
      reconnects: Math.max(0, this.#o.stream.sourceSessions - 1),
      receiverReportsSent: this.#reporter.sent,
      failures: this.#failures,
      retryInMs: this.#sleep ? Math.max(0, Math.round(this.#sleep.until - this.#o.now())) : null,
    };
  }

  /** Sleeps `ms` before the next attempt; {@linkcode start} may shorten it, {@linkcode stop} ends it. */
  #backoff(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const from = this.#o.now();
      const done = () => {
        if (this.#sleep) clearTimeout(this.#sleep.timer);
        this.#sleep = null;
        resolve();
      };
      this.#sleep = { from, until: from + ms, timer: setTimeout(done, ms), resolve: done };
    });
  }

  #wakeNow(): void {
    this.#sleep?.resolve();
  }

  /** A reader arrived while the camera is down: retry no later than `waitingRetryMs` after the last attempt. */
  #hurry(): void {
    const sleep = this.#sleep;
    if (!sleep) return;
    const until = Math.min(sleep.until, sleep.from + this.#o.waitingRetryMs);
    if (until >= sleep.until) return;
    clearTimeout(sleep.timer);
    sleep.until = until;
    sleep.timer = setTimeout(sleep.resolve, Math.max(0, until - this.#o.now()));
  }

  /** Logs a failed attempt: warn when the camera becomes unreachable and every reminder, debug otherwise. */
  #logFailure(error: string, retryInMs: number): void {
    const now = this.#o.now();
    const fields = {
      path: this.#o.stream.path,
      url: redactUrl(this.#o.url),
      error,
      retryInMs: Math.round(retryInMs),
    };
    if (this.#failures === 1) {
      this.#failingSince = now;
      this.#lastWarnAt = now;
      this.#o.logger.warn("camera unreachable; retrying with backoff", fields);
    } else if (now - this.#lastWarnAt >= this.#o.reminderMs) {
      this.#lastWarnAt = now;
      this.#o.logger.warn("camera still unreachable; retrying with backoff", {
        ...fields,
        failingForS: Math.round((now - this.#failingSince) / 1000),
        failures: this.#failures,
      });
    } else {
      this.#o.logger.debug("camera still unreachable", { ...fields, failures: this.#failures });
    }
  }

  async #run(): Promise<void> {
    const stream = this.#o.stream;
    const log = this.#o.logger;
    while (!this.#stopped) {
      // Retries of an unreachable camera stay in "error" (the last error shown, no state change per attempt).
      if (stream.state !== "error") stream.setState("connecting");
      this.#readyAt = 0;
      let error: string | null = null;
      try {
        await this.#session();
      } catch (err) {
        if (err instanceof FallbackToTcp) {
          log.warn("no RTP over UDP, falling back to TCP", { path: stream.path });
          this.#useTcp = true;
          continue;
        }
        // Messages quote Request-URIs (the camera URL, its Content-Base): never keep a secret of theirs.
        error = redactUrls(
          err instanceof UnusableChallengesError
            ? refusedAuthMessage(err, this.#o.authSchemes)
            : (err as Error).message,
        );
      } finally {
        this.#client?.close();
        this.#client = null;
        this.#activeTransport = null;
      }
      if (this.#stopped) break;
      const played = this.#readyAt > 0;
      // A session that played long enough: the camera was up, the next failure starts the backoff over.
      if (played && this.#o.now() - this.#readyAt >= this.#o.stableMs) this.#attempt = 0;
      let delay = backoffDelay(this.#attempt++, this.#o.backoffInitialMs, this.#o.backoffMaxMs);
      // Readers are waiting (DESCRIBE, a mesh join): keep trying often enough to catch the camera coming up.
      if (stream.waiting > 0) delay = Math.min(delay, this.#o.waitingRetryMs);
      if (played) {
        this.#failures = 0;
        log.warn("camera session ended; reconnecting", {
          path: stream.path,
          url: redactUrl(this.#o.url),
          error: error ?? "ended",
          retryInMs: Math.round(delay),
        });
      } else {
        this.#failures++;
        this.#logFailure(error ?? "ended", delay);
      }
      stream.setState("error", error ?? "camera connection lost");
      await this.#backoff(delay);
    }
    this.#running = false;
  }

  /** Runs one camera session until it ends, or throws why it ended; sets `#readyAt` once playing. */
  async #session(): Promise<void> {
    const { url, stream } = this.#o;
    const client = await RtspClientConnection.connect(url, { authSchemes: this.#o.authSchemes });
    this.#client = client;
    if (this.#stopped) return;

    const describe = await client.request("DESCRIBE", url, { Accept: "application/sdp" });
    expectOk(describe, "DESCRIBE");
    const base = describe.headers.get("Content-Base") ?? describe.headers.get("Content-Location") ?? url;
    const desc = parseSdp(new TextDecoder().decode(describe.body));
    stream.setDescription(desc);

    const tcp = this.#useTcp;
    this.#activeTransport = tcp ? "tcp" : "udp";
    let sessionId: string | undefined;
    let timeoutSeconds = 60;
    const host = client.remote.hostname;
    const rtcpRoutes: (ReportRoute | null)[] = [];
    /** Interleaved channel -> track index and whether it carries RTCP. */
    const channels = new Map<number, { index: number; rtcp: boolean }>();
    for (let i = 0; i < desc.medias.length; i++) {
      const control = resolveControl(base, desc.medias[i]!.control ?? "");
      // UDP ports are bound for a track only now, when the camera is asked to send there.
      const pair = tcp ? null : stream.pairFor(i);
      const offer: Transport = tcp || !pair
        ? {
          protocol: "RTP/AVP",
          lowerTransport: "TCP",
          delivery: "unicast",
          interleaved: [2 * i, 2 * i + 1],
          other: [],
        }
        : {
          protocol: "RTP/AVP",
          lowerTransport: "UDP",
          delivery: "unicast",
          clientPort: [pair.rtpPort, pair.rtcpPort],
          other: [],
        };
      const headers: Record<string, string> = { Transport: formatTransport(offer) };
      if (sessionId) headers.Session = sessionId;
      const res = await client.request("SETUP", control, headers);
      if (res.status === 461 && !tcp && this.#o.transport === "auto") throw new FallbackToTcp();
      expectOk(res, "SETUP");
      const session = res.headers.get("Session");
      if (session) {
        const parsed = parseSession(session);
        sessionId = parsed.id;
        if (parsed.timeout) timeoutSeconds = parsed.timeout;
      }
      const reply = res.headers.get("Transport");
      const t = reply ? parseTransport(reply) : undefined;
      stream.setUdpSource(
        i,
        tcp ? null : {
          host,
          ...(t?.serverPort ? { rtpPort: t.serverPort[0], rtcpPort: t.serverPort[1] } : {}),
        },
      );
      if (tcp) {
        // The camera may answer other channels than offered.
        const [rtpCh, rtcpCh] = t?.interleaved ?? offer.interleaved!;
        channels.set(rtpCh, { index: i, rtcp: false });
        channels.set(rtcpCh, { index: i, rtcp: true });
        rtcpRoutes[i] = { kind: "tcp", channel: rtcpCh };
      } else {
        rtcpRoutes[i] = t?.serverPort ? { kind: "udp", host, port: t.serverPort[1] } : null;
      }
    }

    let lastMedia = performance.now();
    const before = stream.tracks.map((t) => t.counters.packetsIn);
    const mediaArrived = () => stream.tracks.some((t, i) => t.counters.packetsIn !== before[i]);
    if (tcp) {
      client.onFrame = (channel, payload) => {
        const route = channels.get(channel);
        const track = route && stream.tracks[route.index];
        if (!track) return;
        lastMedia = performance.now();
        // The parser's view dies with the next read: the track keeps (and rewrites) a copy.
        if (route.rtcp) track.ingestRtcp(payload.slice());
        else track.ingestRtp(payload.slice());
      };
    }

    const play = await client.request("PLAY", base, { Session: sessionId ?? "", Range: "npt=0.000-" });
    expectOk(play, "PLAY");
    const readyAt = performance.now();
    this.#readyAt = this.#o.now();
    stream.setState("ready");
    this.#o.logger.info("camera session playing", {
      path: stream.path,
      url: redactUrl(url),
      transport: tcp ? "tcp" : "udp",
      tracks: desc.medias.length,
      ...(this.#failures > 0
        ? {
          afterFailures: this.#failures,
          downS: Math.round((this.#readyAt - this.#failingSince) / 100) / 10,
        }
        : {}),
    });
    this.#failures = 0;

    const keepaliveMs = Math.max(1000, (timeoutSeconds * 1000) / 2);
    let lastKeepalive = performance.now();
    this.#reporter.start(readyAt);
    const sendReport: ReportSender = {
      udp: (i, packet, hostname, port) => {
        const pair = stream.pairOf(i);
        pair?.sendRtcp(packet, { transport: "udp", hostname, port });
        return pair !== undefined;
      },
      tcp: (channel, packet) => client.sendFrame(channel, packet),
    };
    let counts = stream.tracks.map((t) => t.counters.packetsIn);
    while (!this.#stopped) {
      const ended = await Promise.race([
        client.closed.then(() => true),
        new Promise<false>((r) => setTimeout(() => r(false), 250)),
      ]);
      if (ended) throw new Error("Camera closed the connection");
      const now = performance.now();
      const nowCounts = stream.tracks.map((t) => t.counters.packetsIn);
      if (nowCounts.some((c, i) => c !== counts[i])) lastMedia = now;
      counts = nowCounts;
      if (!tcp && this.#o.transport === "auto" && !mediaArrived() && now - readyAt > this.#o.udpFallbackMs) {
        client.request("TEARDOWN", base, { Session: sessionId ?? "" }).catch(() => {});
        throw new FallbackToTcp();
      }
      if (now - lastMedia > this.#o.mediaTimeoutMs) {
        throw new Error(`No media from the camera for ${Math.round((now - lastMedia) / 1000)} s`);
      }
      if (now - lastKeepalive > keepaliveMs) {
        lastKeepalive = now;
        client.request("GET_PARAMETER", base, { Session: sessionId ?? "" }).catch(() => {});
      }
      this.#reporter.poll(now, stream.tracks, rtcpRoutes, sendReport);
    }
  }
}

/** Why the camera's challenge was not answered, naming the flag that decides it. */
function refusedAuthMessage(err: UnusableChallengesError, allowed: readonly AuthSchemeName[]): string {
  if (err.offered.length === 0) return `Camera offers no supported authentication scheme`;
  const flag = `--pull-auth ${allowed.join(",")}`;
  if (err.offered.includes("Basic") && !allowed.includes("basic")) {
    return `Camera offers only Basic authentication, which would send its password in clear: refused by ${flag} ` +
      `(--pull-auth digest,basic allows it)`;
  }
  return `Camera offers only ${err.offered.join(" and ")} authentication, not allowed by ${flag}`;
}

function expectOk(res: RtspResponse, method: string): void {
  if (res.status !== 200) throw new Error(`Camera answered ${method} with ${res.status} ${res.reason}`);
}
