/**
 * The relay's WHEP viewers (issue 18): answers an offer for a stream with a {@linkcode WhepSession} on the shared
 * {@linkcode WebrtcPort}, attaches its egresses to the stream's tracks once DTLS is up (with the GOP burst), and
 * ends it on DELETE, a kick, its own timeouts, or a stream that changed. The HTTP routes (src/admin/whep.ts) hold
 * the rights and the `--max-viewers` bound; this holds the sessions. Loaded with the first offer (it loads werift).
 * @module
 */
import type { DatagramPlane } from "./webrtc_port.ts";
import { spropOf } from "../viewer/fmp4_viewer.ts";
import type { Stream } from "../relay/stream.ts";
import type { Track } from "../relay/track.ts";
import type { Logger } from "../log.ts";
import { monotonicMs } from "../clock.ts";
import { contained } from "../contain.ts";
import { DtlsSrtp, localFingerprint } from "./dtls_srtp.ts";
import { WebrtcPort } from "./webrtc_port.ts";
import { WhepSession } from "./whep_session.ts";
import { negotiate, type StreamTrack } from "./whep_negotiation.ts";

/** What the viewers need from the relay. */
export interface WhepViewersOptions {
  /** Where the shared UDP port binds (the relay's listen address) and its number (0: any). */
  bindHost: string;
  port: number;
  /** The fast data plane, when the relay runs one: the port's socket is then its Worker's. */
  plane?: DatagramPlane;
  logger?: Logger;
}

/** One answered offer. */
export interface WhepAnswer {
  id: string;
  answer: string;
  session: WhepSession;
  /** The stream's tracks the answer does not carry (`type/ENCODING`). */
  unsent: string[];
}

/** A refused offer: the HTTP status and why. */
export interface WhepRefusal {
  status: 400 | 422 | 503;
  reason: string;
}

/** What the owner hears about a session's life. */
export interface WhepHooks {
  /** The session plays (DTLS up, egresses attached). */
  playing(session: WhepSession): void;
  /** The session ended (for any reason); its stream reference is the owner's to release. */
  ended(session: WhepSession, reason: string): void;
}

/** The WHEP sessions of this relay. */
export class WhepViewers {
  readonly #options: WhepViewersOptions;
  #port: WebrtcPort | null = null;
  readonly #sessions = new Map<string, { session: WhepSession; stop: (reason: string) => void }>();

  constructor(options: WhepViewersOptions) {
    this.#options = options;
  }

  /** The UDP port in use (opened by the first offer), or null. */
  get port(): number | null {
    return this.#port?.port ?? null;
  }

  /** Sessions open (answered, not ended). */
  get size(): number {
    return this.#sessions.size;
  }

  /**
   * Answers `offer` for `stream` (ready), with host candidates on `addresses`. The session's egresses attach to
   * the stream's tracks once DTLS is up.
   */
  async answer(
    id: string,
    stream: Stream,
    offer: string,
    addresses: readonly string[],
    hooks: WhepHooks,
  ): Promise<WhepAnswer | WhepRefusal> {
    const desc = stream.description;
    if (!desc) return { status: 503, reason: "The stream has no description yet" };
    let port: WebrtcPort;
    try {
      if (!this.#port) {
        this.#port = WebrtcPort.open(this.#options.bindHost, this.#options.port, this.#options.plane ?? null);
        this.#options.logger?.info("webrtc port open", {
          port: this.#port.port,
          socket: this.#port.onPlane ? "fast plane" : "deno",
        });
      }
      port = this.#port;
    } catch (err) {
      return {
        status: 503,
        reason: `The WebRTC UDP port ${this.#options.port} cannot be opened (--webrtc-port): ${
          (err as Error).message
        }`,
      };
    }
    const tracks: StreamTrack[] = [];
    for (const t of stream.tracks) {
      const media = desc.medias[t.index];
      if (media) tracks.push({ trackIndex: t.index, media });
    }
    const ufrag = randomToken(8);
    const pwd = randomToken(24);
    const ssrcs = new Map(
      tracks.map((t) => [t.trackIndex, crypto.getRandomValues(new Uint32Array(1))[0]! >>> 0]),
    );
    const negotiated = negotiate(offer, tracks, {
      ufrag,
      pwd,
      fingerprint: await localFingerprint(),
      candidates: addresses.map((address) => ({ address, port: port.port })),
      sessionId: String(Date.now()),
    }, (i) => ssrcs.get(i)!);
    if (!negotiated.ok) return { status: negotiated.status, reason: negotiated.reason };
    const sets = new Map<number, { sps: Uint8Array; pps: Uint8Array }>();
    for (const plan of negotiated.plans) {
      const media = desc.medias[plan.trackIndex];
      const sprop = plan.encoding === "H264" && media ? spropOf(media) : null;
      if (sprop) sets.set(plan.trackIndex, sprop);
    }
    const attached: Track[] = [];
    let watch: ReturnType<typeof setInterval> | undefined;
    const stop = () => {
      clearInterval(watch);
      for (const track of attached) for (const e of session.egresses) track.removeEgress(e.id);
      attached.length = 0;
      port.remove(session);
      this.#sessions.delete(id);
    };
    const session: WhepSession = new WhepSession({
      id,
      localUfrag: ufrag,
      localPwd: pwd,
      remoteUfrag: negotiated.remoteUfrag,
      plans: negotiated.plans,
      parameterSets: sets,
      send: (bytes, to) => port.send(bytes, to),
      onConnected: () =>
        contained("whep connected", () => {
          for (const egress of session.egresses) {
            const track = stream.tracks.find((t) => t.index === egress.plan.trackIndex);
            if (!track) continue;
            track.addEgress(egress, { burst: true });
            attached.push(track);
          }
          // A stream described again with other tracks leaves the egresses on tracks that get nothing.
          watch = setInterval(() => {
            if (stream.closed || attached.some((t) => !stream.tracks.includes(t))) {
              this.end(id, "the stream changed; play again");
            }
          }, 2000);
          hooks.playing(session);
        }),
      onEnded: (reason) => {
        stop();
        hooks.ended(session, reason);
      },
    }, monotonicMs());
    const channel = await DtlsSrtp.create({
      send: (bytes) => {
        const to = session.address;
        // A copy: the fast plane takes a buffer it was just given as a repeat of the same bytes, and werift's
        // records are not ours to know immutable (the handshake's few datagrams only).
        if (to) port.send(bytes.slice(), to);
      },
      connected: () => session.channelConnected(),
      failed: (reason) => session.end(reason, true),
    }, negotiated.remoteFingerprints);
    session.attachChannel(channel);
    port.add(session);
    this.#sessions.set(id, {
      session,
      stop: (reason) => {
        stop();
        hooks.ended(session, reason);
      },
    });
    this.#options.logger?.debug("whep session answered", { id, plans: negotiated.plans.length });
    return { id, answer: negotiated.answer, session, unsent: negotiated.unsent };
  }

  /** The session `id`, if open. */
  get(id: string): WhepSession | null {
    return this.#sessions.get(id)?.session ?? null;
  }

  /** Ends session `id` (DELETE, a kick). @returns false when there is none */
  end(id: string, reason = "ended"): boolean {
    const entry = this.#sessions.get(id);
    if (!entry) return false;
    entry.session.end(reason);
    entry.stop(reason);
    return true;
  }

  /** Ends every session and closes the port (the relay stops). */
  close(): void {
    for (const id of [...this.#sessions.keys()]) this.end(id, "the relay stopped");
    this.#port?.close();
    this.#port = null;
  }
}

/** `n` random characters of the ICE alphabet (RFC 8839: ALPHA / DIGIT / "+" / "/"). */
function randomToken(n: number): string {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const bytes = crypto.getRandomValues(new Uint8Array(n));
  let out = "";
  for (const b of bytes) out += alphabet[b & 63];
  return out;
}
