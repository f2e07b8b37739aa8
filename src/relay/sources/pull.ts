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
 *
 * This file is the thin shell: the decisions are {@linkcode PullMachine}'s (sans-I/O); here are the RTSP client
 * connection, real timers, the clock, and the stream's sockets the machine's outputs are performed with.
 * @module
 */
import { type Clock, monotonicMs } from "../../clock.ts";
import { contained, reportContained } from "../../contain.ts";
import type { Logger } from "../../log.ts";
import { RtspClientConnection } from "../../rtsp/client.ts";
import type { AuthSchemeName } from "../../rtsp/auth/mod.ts";
import { redactUrl } from "../../rtsp/url.ts";
import type { StreamSource } from "../stream.ts";
import type { PullEvent, PullOutput, PullTimer } from "./pull_events.ts";
import { PullMachine } from "./pull_machine.ts";
import { MediaWatch } from "./pull_media_watch.ts";
import { DEFAULT_PULL_CNAME, type PullTimings, pullTimings, type PullTransport } from "./pull_options.ts";
import type { PullSink } from "./pull_sink.ts";

export type { PullTransport } from "./pull_options.ts";

/** Options of {@linkcode PullSource}: the stream, the camera, and any timings other than the defaults. */
export interface PullSourceOptions extends Partial<PullTimings> {
  /** The stream the camera's media goes to (the relay's `Stream`, or anything as narrow as {@linkcode PullSink}). */
  stream: PullSink;
  /** The camera URL; its credentials answer challenges and are never shown. */
  url: string;
  /** UDP, TCP, or UDP falling back to TCP. */
  transport: PullTransport;
  /** Where the pull's lines go (outages, fall backs, sessions playing). */
  logger: Logger;
  /** CNAME in the receiver reports to the camera (SDES). @default "msm-relay" */
  cname?: string;
  /** Monotonic clock in milliseconds. @default {@linkcode monotonicMs} */
  now?: Clock;
  /** Schemes the camera's credentials may be sent with (`--pull-auth`, whose default is the config's). */
  authSchemes: readonly AuthSchemeName[];
}

/** A connection the machine asked for. */
interface Connection {
  readonly id: number;
  /** Set once connected. */
  client: RtspClientConnection | null;
  /** Given up by the machine: a client still connecting is closed as soon as it arrives. */
  closed: boolean;
}

/** Pulls one camera for one stream. */
export class PullSource implements StreamSource {
  readonly kind = "pull" as const;
  readonly #sink: PullSink;
  readonly #url: string;
  readonly #mode: PullTransport;
  readonly #logger: Logger;
  readonly #now: Clock;
  readonly #authSchemes: readonly AuthSchemeName[];
  readonly #machine: PullMachine;
  readonly #timers = new Map<PullTimer, ReturnType<typeof setTimeout>>();
  #conn: Connection | null = null;
  /** Settles when the latest connect settled (a stop waits for it, so no connection outlives the source). */
  #connecting: Promise<void> = Promise.resolve();
  #media: MediaWatch | null = null;
  #reportsSent = 0;
  #stopped: PromiseWithResolvers<void> | null = null;

  /** @param options stream, camera URL and timings */
  constructor(options: PullSourceOptions) {
    this.#sink = options.stream;
    this.#url = options.url;
    this.#mode = options.transport;
    this.#logger = options.logger;
    this.#now = options.now ?? monotonicMs;
    this.#authSchemes = options.authSchemes;
    this.#machine = new PullMachine(options.stream, {
      ...pullTimings(options),
      url: options.url,
      transport: options.transport,
      authSchemes: this.#authSchemes,
      cname: options.cname ?? DEFAULT_PULL_CNAME,
    });
  }

  /**
   * Starts pulling (idempotent). Called again (a new reader) while waiting to retry an unreachable camera, it
   * brings the retry forward to at most {@linkcode PullSourceOptions.waitingRetryMs} after the last attempt.
   */
  start(): void {
    this.#dispatch({ kind: "start", now: this.#now() });
  }

  /** @inheritdoc */
  async stop(): Promise<void> {
    if (!this.#stopped) {
      this.#stopped = Promise.withResolvers<void>();
      this.#dispatch({ kind: "stop", now: this.#now() });
      // A machine that failed to take the stop must not leave the caller waiting.
      if (this.#machine.phase !== "stopping" && this.#machine.phase !== "stopped") this.#halt();
    }
    await this.#stopped.promise;
    await this.#connecting;
  }

  /** @inheritdoc */
  info(): Record<string, unknown> {
    const retryAt = this.#machine.retryAt;
    return {
      url: redactUrl(this.#url),
      transport: this.#machine.transport,
      mode: this.#mode,
      reconnects: Math.max(0, this.#sink.sourceSessions - 1),
      receiverReportsSent: this.#reportsSent,
      failures: this.#machine.failures,
      retryInMs: retryAt === null ? null : Math.max(0, Math.round(retryAt - this.#now())),
    };
  }

  /** Feeds the machine one event and performs what it asks; nothing thrown reaches a timer or a promise. */
  #dispatch(event: PullEvent): void {
    let outputs: PullOutput[];
    try {
      outputs = this.#machine.handle(event);
    } catch (err) {
      reportContained("pull machine", err);
      return;
    }
    for (const output of outputs) contained("pull shell", () => this.#perform(output));
  }

  #perform(out: PullOutput): void {
    switch (out.kind) {
      case "connect":
        return this.#connect(out.conn, out.url);
      case "request":
        return this.#request(out);
      case "close":
        return this.#close(out.conn);
      case "setTimer":
        return this.#arm(out.timer, out.at);
      case "cancelTimer":
        clearTimeout(this.#timers.get(out.timer));
        this.#timers.delete(out.timer);
        return;
      case "watchMedia":
        this.#media = new MediaWatch(this.#sink, out.channels, this.#now);
        return;
      case "sendRtcp":
        return this.#sendRtcp(out);
      case "log":
        return this.#logger[out.level](out.msg, out.fields);
      case "stopped":
        return this.#halt();
    }
  }

  #connect(id: number, url: string): void {
    const conn: Connection = { id, client: null, closed: false };
    this.#conn = conn;
    this.#connecting = RtspClientConnection.connect(url, { authSchemes: this.#authSchemes }).then(
      (client) => {
        if (conn.closed) return client.close();
        conn.client = client;
        client.onFrame = (channel, payload) => this.#media?.frame(channel, payload);
        client.closed.then(() => {
          if (!conn.closed) this.#dispatch({ kind: "closed", conn: id, now: this.#now() });
        });
        this.#dispatch({ kind: "connected", conn: id, host: client.remote.hostname, now: this.#now() });
      },
      (error: unknown) => {
        if (!conn.closed) this.#dispatch({ kind: "connectFailed", conn: id, error, now: this.#now() });
      },
    );
  }

  #request(out: Extract<PullOutput, { kind: "request" }>): void {
    const client = this.#conn?.id === out.conn ? this.#conn.client : null;
    const answer = client
      ? client.request(out.method, out.url, out.headers)
      : Promise.reject(new Error(`Cannot send ${out.method}: not connected`));
    answer.then(
      (response) => this.#dispatch({ kind: "response", id: out.id, response, now: this.#now() }),
      (error: unknown) => this.#dispatch({ kind: "requestFailed", id: out.id, error, now: this.#now() }),
    );
  }

  #close(id: number): void {
    const conn = this.#conn;
    if (conn?.id !== id) return;
    conn.closed = true;
    conn.client?.close();
    this.#conn = null;
    this.#media = null;
  }

  /** Fires `timer` at `at`; the media that arrived since the last timer is reported first. */
  #arm(timer: PullTimer, at: number): void {
    clearTimeout(this.#timers.get(timer));
    const delay = Math.max(0, Math.ceil(at - this.#now()));
    this.#timers.set(
      timer,
      setTimeout(() => {
        this.#timers.delete(timer);
        const now = this.#now();
        let arrivals: ReturnType<MediaWatch["arrivals"]> = [];
        contained("pull media watch", () => arrivals = this.#media?.arrivals(now) ?? []);
        for (const { track, at } of arrivals) this.#dispatch({ kind: "media", track, at, now });
        this.#dispatch({ kind: "timer", timer, now });
      }, delay),
    );
  }

  #sendRtcp(out: Extract<PullOutput, { kind: "sendRtcp" }>): void {
    const route = out.route;
    let sent: boolean;
    if (route.kind === "udp") {
      const pair = this.#sink.pairOf(out.track);
      pair?.sendRtcp(out.packet, { transport: "udp", hostname: route.host, port: route.port });
      sent = pair !== undefined;
    } else {
      sent = this.#conn?.client?.sendFrame(route.channel, out.packet) ?? false;
    }
    if (sent) this.#reportsSent++;
  }

  /** Stopped: no timer left, no connection, and the stop may return. */
  #halt(): void {
    for (const timer of this.#timers.values()) clearTimeout(timer);
    this.#timers.clear();
    if (this.#conn) this.#close(this.#conn.id);
    this.#stopped?.resolve();
  }
}
