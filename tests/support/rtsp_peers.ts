/**
 * Lightweight RTSP peers of our own for tests and benches that need packet-level access (timing, sequence
 * numbers, payloads) which ffmpeg does not give: a reader of a stream's first video track and a publisher,
 * each over UDP or TCP interleaved, built on the relay's own RTSP client.
 * @module
 */
import { RtspClientConnection } from "../../src/rtsp/client.ts";

/** Transport of a peer's media. */
export type PeerTransport = "udp" | "tcp";

/** Options of {@linkcode startRtspReader}. */
export interface RtspReaderOptions {
  transport: PeerTransport;
  /** Sees every RTP packet of the track (not with `clientPort`: then someone else receives). */
  onRtp?: (packet: Uint8Array) => void;
  /** UDP: the client RTP port to SETUP (even; RTCP on +1) when another process receives; no socket is opened. */
  clientPort?: number;
  /** UDP: the address the reader's socket binds (the relay sends to the connection's source address). @default 127.0.0.1 */
  udpHost?: string;
}

/** A reader set up and playing. */
export interface RtspReader extends AsyncDisposable {
  readonly conn: RtspClientConnection;
  /** performance.now() when the PLAY reply arrived. */
  readonly playReplyAt: number;
  /** The RTSP session id (for a TEARDOWN). */
  readonly session: string;
  /** The local RTP port of a UDP reader that opened its own socket (null over TCP). */
  readonly clientPort: number | null;
  close(): Promise<void>;
}

/** The SETUP URL of the first video track of a DESCRIBE answer (Content-Base, then the request URL). */
export function videoTrackUrl(url: string, contentBase: string | undefined, sdp: string): string {
  const video = sdp.indexOf("m=video");
  const control = sdp.slice(video < 0 ? 0 : video).match(/^a=control:(\S+)/m)?.[1] ?? "trackID=0";
  if (/^rtsps?:\/\//.test(control)) return control;
  const base = contentBase ?? `${url}/`;
  return base.endsWith("/") ? base + control : `${base}/${control}`;
}

/**
 * The Transport header of a SETUP, and the UDP socket opened for it: none over TCP, or when the caller names
 * the client port (another process uses it).
 */
function setupTransport(
  options: { transport: PeerTransport; clientPort?: number | undefined; udpHost?: string | undefined },
  suffix: string,
): { transport: string; sock: Deno.DatagramConn | null } {
  if (options.transport === "tcp") {
    return { transport: `RTP/AVP/TCP;unicast;interleaved=0-1${suffix}`, sock: null };
  }
  let sock: Deno.DatagramConn | null = null;
  let port = options.clientPort;
  if (port === undefined) {
    sock = Deno.listenDatagram({ transport: "udp", hostname: options.udpHost ?? "127.0.0.1", port: 0 });
    port = (sock.addr as Deno.NetAddr).port;
  }
  return { transport: `RTP/AVP;unicast;client_port=${port}-${port + 1}${suffix}`, sock };
}

function sessionOf(
  res: { status: number; headers: { get(name: string): string | undefined } },
  what: string,
) {
  const session = res.headers.get("Session")?.split(";")[0];
  if (res.status !== 200 || !session) throw new Error(`${what} answered ${res.status}`);
  return session;
}

/** DESCRIBE, SETUP of the first video track over `transport`, PLAY. */
export async function startRtspReader(url: string, options: RtspReaderOptions): Promise<RtspReader> {
  const c = await RtspClientConnection.connect(url);
  let sock: Deno.DatagramConn | null = null;
  let loop: Promise<void> = Promise.resolve();
  try {
    const desc = await c.request("DESCRIBE", url, { Accept: "application/sdp" });
    if (desc.status !== 200) throw new Error(`DESCRIBE answered ${desc.status}`);
    const trackUrl = videoTrackUrl(
      url,
      desc.headers.get("Content-Base"),
      new TextDecoder().decode(desc.body),
    );
    let transport: string;
    ({ transport, sock } = setupTransport(options, ""));
    const session = sessionOf(await c.request("SETUP", trackUrl, { Transport: transport }), "SETUP");
    const onRtp = options.onRtp;
    if (onRtp && options.transport === "tcp") {
      c.onFrame = (channel, payload) => {
        if (channel === 0) onRtp(payload);
      };
    }
    const play = await c.request("PLAY", url, { Session: session, Range: "npt=0.000-" });
    if (play.status !== 200) throw new Error(`PLAY answered ${play.status}`);
    const playReplyAt = performance.now();
    if (sock && onRtp) {
      const s = sock;
      loop = (async () => {
        const buf = new Uint8Array(4096);
        for (;;) {
          try {
            const [p] = await s.receive(buf);
            onRtp(p);
          } catch {
            return; // closed
          }
        }
      })();
    }
    const close = async () => {
      sock?.close();
      sock = null;
      await loop;
      c.close();
    };
    const clientPort = sock ? (sock.addr as Deno.NetAddr).port : null;
    return { conn: c, playReplyAt, session, clientPort, close, [Symbol.asyncDispose]: close };
  } catch (err) {
    sock?.close();
    c.close();
    throw err;
  }
}

/** Options of {@linkcode startRtspPublisher}. */
export interface RtspPublisherOptions {
  transport: PeerTransport;
  /** UDP: the client port pair to SETUP when another process sends from it; no socket is opened. */
  clientPort?: number;
}

/** A publisher in RECORD. */
export interface RtspPublisher extends AsyncDisposable {
  readonly conn: RtspClientConnection;
  /** UDP: the relay's server RTP port the packets go to. */
  readonly serverPort: number | null;
  /**
   * Sends one RTP packet of the first track (UDP from the client port, or a `$` frame). A TCP packet is queued by
   * reference until written: pass a fresh buffer each time.
   */
  send(packet: Uint8Array): Promise<void>;
  close(): void;
}

/** ANNOUNCE `sdp` (one track, `a=control:trackID=0`), SETUP in record mode over `transport`, RECORD. */
export async function startRtspPublisher(
  url: string,
  sdp: string,
  options: RtspPublisherOptions,
): Promise<RtspPublisher> {
  const c = await RtspClientConnection.connect(url);
  let sock: Deno.DatagramConn | null = null;
  try {
    const ann = await c.request(
      "ANNOUNCE",
      url,
      { "Content-Type": "application/sdp" },
      new TextEncoder().encode(sdp),
    );
    if (ann.status !== 200) throw new Error(`ANNOUNCE answered ${ann.status}`);
    let transport: string;
    ({ transport, sock } = setupTransport(options, ";mode=record"));
    const setup = await c.request("SETUP", `${url}/trackID=0`, { Transport: transport });
    const session = sessionOf(setup, "SETUP");
    const serverPort = Number(setup.headers.get("Transport")?.match(/server_port=(\d+)/)?.[1]) || null;
    const rec = await c.request("RECORD", url, { Session: session, Range: "npt=0.000-" });
    if (rec.status !== 200) throw new Error(`RECORD answered ${rec.status}`);
    const to: Deno.NetAddr | null = serverPort
      ? { transport: "udp", hostname: new URL(url.replace(/^rtsp/, "http")).hostname, port: serverPort }
      : null;
    const close = () => {
      sock?.close();
      sock = null;
      c.close();
    };
    return {
      conn: c,
      serverPort,
      async send(packet) {
        if (options.transport === "tcp") c.sendFrame(0, packet);
        else if (sock && to) await sock.send(packet, to);
        else throw new Error("This publisher does not send its own packets (clientPort was given)");
      },
      close,
      [Symbol.asyncDispose]: () => Promise.resolve(close()),
    };
  } catch (err) {
    sock?.close();
    c.close();
    throw err;
  }
}
