/**
 * Pull source: the relay's one session to a camera. DESCRIBE/SETUP/PLAY over UDP (falling back to TCP
 * interleaved when no RTP arrives within 3 s) or TCP, keepalive, RTCP receiver reports to the camera, and
 * reconnect with capped exponential backoff. Readers keep their sessions through reconnects; they see a gap.
 * @module
 */
import type { Logger } from "../../log.ts";
import { RtspClientConnection } from "../../rtsp/client.ts";
import type { RtspResponse } from "../../rtsp/message.ts";
import { parseSession } from "../../rtsp/headers/session.ts";
import { formatTransport, parseTransport, type Transport } from "../../rtsp/headers/transport.ts";
import { parseSdp } from "../../rtsp/sdp.ts";
import { resolveControl, withoutCredentials } from "../../rtsp/url.ts";
import { buildReceiverReportCompound } from "../../rtp/rtcp.ts";
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
}

/** Where a track's RTCP receiver reports go: a UDP port of the camera, or an interleaved channel. */
export type RtcpRoute = { kind: "udp"; port: number } | { kind: "tcp"; channel: number } | null;

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
  #wake: (() => void) | null = null;
  #activeTransport: "udp" | "tcp" | null = null;
  #loop: Promise<void> | null = null;
  /** SSRC of the relay as a receiver in the camera's RTP sessions. */
  readonly #ssrc = crypto.getRandomValues(new Uint32Array(1))[0]!;
  #reportsSent = 0;

  /** @param options stream, camera URL and timings */
  constructor(options: PullSourceOptions) {
    this.#o = {
      udpFallbackMs: 3000,
      mediaTimeoutMs: 10_000,
      backoffInitialMs: 500,
      backoffMaxMs: 10_000,
      rtcpIntervalMs: 5000,
      cname: "msm-relay",
      ...options,
    };
    this.#useTcp = options.transport === "tcp";
  }

  /** @inheritdoc */
  start(): void {
    if (this.#running || this.#stopped) return;
    this.#running = true;
    this.#loop = this.#run();
  }

  /** @inheritdoc */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#wake?.();
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
      url: withoutCredentials(this.#o.url),
      transport: this.#activeTransport,
      mode: this.#o.transport,
      reconnects: Math.max(0, this.#o.stream.sourceSessions - 1),
      receiverReportsSent: this.#reportsSent,
    };
  }

  async #run(): Promise<void> {
    const stream = this.#o.stream;
    const log = this.#o.logger;
    while (!this.#stopped) {
      stream.setState("connecting");
      let wasReadyAt = 0;
      try {
        wasReadyAt = await this.#session();
      } catch (err) {
        if (err instanceof FallbackToTcp) {
          log.warn("no RTP over UDP, falling back to TCP", { path: stream.path });
          this.#useTcp = true;
          continue;
        }
        if (!this.#stopped) {
          stream.setState("error", (err as Error).message);
          log.warn("camera session failed", { path: stream.path, error: (err as Error).message });
        }
      } finally {
        this.#client?.close();
        this.#client = null;
        this.#activeTransport = null;
      }
      if (this.#stopped) break;
      if (wasReadyAt && performance.now() - wasReadyAt > 10_000) this.#attempt = 0;
      if (stream.state === "ready") stream.setState("connecting", "camera connection lost");
      const delay = backoffDelay(this.#attempt++, this.#o.backoffInitialMs, this.#o.backoffMaxMs);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, delay);
        this.#wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.#wake = null;
    }
    this.#running = false;
  }

  /** Runs one camera session until it ends. @returns when it was ready (performance.now ms), or 0 */
  async #session(): Promise<number> {
    const { url, stream } = this.#o;
    const client = await RtspClientConnection.connect(url);
    this.#client = client;
    if (this.#stopped) return 0;

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
    const rtcpRoutes: RtcpRoute[] = [];
    /** Interleaved channel -> track index and whether it carries RTCP. */
    const channels = new Map<number, { index: number; rtcp: boolean }>();
    for (let i = 0; i < desc.medias.length; i++) {
      const control = resolveControl(base, desc.medias[i]!.control ?? "");
      const pair = stream.pairs[i]!;
      const offer: Transport = tcp
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
        rtcpRoutes[i] = t?.serverPort ? { kind: "udp", port: t.serverPort[1] } : null;
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
    stream.setState("ready");
    this.#o.logger.info("camera session playing", {
      path: stream.path,
      url: withoutCredentials(url),
      transport: tcp ? "tcp" : "udp",
      tracks: desc.medias.length,
    });

    const keepaliveMs = Math.max(1000, (timeoutSeconds * 1000) / 2);
    let lastKeepalive = performance.now();
    // RFC 3550 §6.2: the first report after half the interval.
    let nextReport = readyAt + this.#o.rtcpIntervalMs / 2;
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
      if (now >= nextReport) {
        nextReport = now + this.#o.rtcpIntervalMs;
        this.#sendReceiverReports(client, host, rtcpRoutes);
      }
    }
    return readyAt;
  }

  /**
   * Sends the camera one RTCP compound per track: an RR with the track's report block (none before the source
   * is validated) and an SDES CNAME. UDP goes from the track's RTCP port to the camera's server RTCP port; TCP
   * goes on the track's RTCP channel, queued behind the requests.
   */
  #sendReceiverReports(client: RtspClientConnection, host: string, routes: readonly RtcpRoute[]): void {
    const stream = this.#o.stream;
    for (let i = 0; i < routes.length; i++) {
      const route = routes[i];
      const track = stream.tracks[i];
      if (!route || !track) continue;
      const block = track.receiverReportBlock();
      const packet = buildReceiverReportCompound(this.#ssrc, this.#o.cname, block ? [block] : []);
      if (route.kind === "tcp") {
        if (!client.sendFrame(route.channel, packet)) continue;
      } else {
        const pair = stream.pairs[i];
        if (!pair) continue;
        pair.sendRtcp(packet, { transport: "udp", hostname: host, port: route.port });
      }
      this.#reportsSent++;
    }
  }
}

function expectOk(res: RtspResponse, method: string): void {
  if (res.status !== 200) throw new Error(`Camera answered ${method} with ${res.status} ${res.reason}`);
}
