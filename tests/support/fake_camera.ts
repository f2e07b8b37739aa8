/**
 * A deliberately minimal RTSP camera for the attack tests: it answers what it is told to, including what real
 * cameras get wrong or what a hostile one would send (a SETUP answer without `server_port`, an SDP with
 * thousands of media sections), which no server on this machine can be made to do. Requests are parsed with a
 * small independent parser (not the relay's own) and recorded. Media is the test's business: `onPlay` says
 * where the relay wants it.
 * @module
 */

/** One request as the camera read it. */
export interface CameraRequest {
  method: string;
  url: string;
  headers: Map<string, string>;
}

/** Options of {@linkcode startFakeCamera}. */
export interface FakeCameraOptions {
  /** The SDP answered to DESCRIBE. */
  sdp: string;
  /** Put `server_port` in SETUP answers (UDP). @default true */
  serverPort?: boolean;
  /** Told the relay's client RTP ports, per set-up track, once PLAY is answered. */
  onPlay?: (clientPorts: number[]) => void;
}

/** A running fake camera. */
export interface FakeCamera extends AsyncDisposable {
  readonly port: number;
  /** `rtsp://127.0.0.1:PORT/<path>`. */
  url(path: string): string;
  /** Every request received, in order. */
  readonly requests: CameraRequest[];
  close(): Promise<void>;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Starts a fake camera on 127.0.0.1 (a free port). */
export function startFakeCamera(options: FakeCameraOptions): FakeCamera {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  const requests: CameraRequest[] = [];
  const conns = new Set<Deno.Conn>();
  const serve = async (conn: Deno.Conn) => {
    conns.add(conn);
    const clientPorts: number[] = [];
    let buf = "";
    const chunk = new Uint8Array(65536);
    try {
      for (;;) {
        const n = await conn.read(chunk);
        if (n === null) return;
        buf += dec.decode(chunk.subarray(0, n));
        for (let end = buf.indexOf("\r\n\r\n"); end >= 0; end = buf.indexOf("\r\n\r\n")) {
          const lines = buf.slice(0, end).split("\r\n");
          buf = buf.slice(end + 4);
          const [method = "", url = ""] = lines[0]!.split(" ");
          const headers = new Map<string, string>();
          for (const l of lines.slice(1)) {
            const colon = l.indexOf(":");
            if (colon > 0) headers.set(l.slice(0, colon).trim().toLowerCase(), l.slice(colon + 1).trim());
          }
          requests.push({ method, url, headers });
          const cseq = headers.get("cseq") ?? "0";
          let extra = "";
          let body = "";
          if (method === "DESCRIBE") {
            body = options.sdp;
            extra = `Content-Type: application/sdp\r\nContent-Base: ${url.replace(/\/?$/, "/")}\r\n`;
          } else if (method === "SETUP") {
            const transport = headers.get("transport") ?? "";
            const client = /client_port=(\d+)/.exec(transport);
            if (client) clientPorts.push(Number(client[1]));
            const server = options.serverPort === false || !client
              ? ""
              : `;server_port=${40000 + 2 * clientPorts.length}-${40001 + 2 * clientPorts.length}`;
            extra = `Session: 12345678;timeout=60\r\nTransport: ${transport}${server}\r\n`;
          } else if (method === "PLAY") {
            extra = "Session: 12345678\r\n";
          } else if (method === "OPTIONS") {
            extra = "Public: OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN, GET_PARAMETER\r\n";
          }
          const bytes = enc.encode(body);
          await conn.write(enc.encode(
            `RTSP/1.0 200 OK\r\nCSeq: ${cseq}\r\n${extra}Content-Length: ${bytes.length}\r\n\r\n`,
          ));
          if (bytes.length) await conn.write(bytes);
          if (method === "PLAY") options.onPlay?.(clientPorts.slice());
        }
      }
    } catch {
      // the relay hung up
    } finally {
      conns.delete(conn);
      try {
        conn.close();
      } catch { /* closed */ }
    }
  };
  const accepting = (async () => {
    try {
      for await (const conn of listener) void serve(conn);
    } catch { /* closed */ }
  })();
  const close = async () => {
    try {
      listener.close();
    } catch { /* closed */ }
    for (const c of conns) {
      try {
        c.close();
      } catch { /* closed */ }
    }
    await accepting;
  };
  return {
    port,
    url: (path) => `rtsp://127.0.0.1:${port}/${path}`,
    requests,
    close,
    [Symbol.asyncDispose]: close,
  };
}
