/**
 * A wiretap for attack tests: a TCP forwarder on 127.0.0.1 that passes bytes both ways between a client and a
 * server untouched and keeps what the client sent, as an eavesdropper on the path would see it.
 * @module
 */

/** One request head as the tap saw it. */
export interface TappedRequest {
  method: string;
  uri: string;
  /** The `Authorization` header's value, when the request had one. */
  authorization: string | undefined;
}

const REQUEST_HEAD = /(?:^|\n)([A-Z_]+) (\S+) RTSP\/1\.0\r\n([\s\S]*?)\r\n\r\n/g;

/** A running tap. */
export interface TcpTap extends AsyncDisposable {
  /** Port on 127.0.0.1 to point the client at. */
  readonly port: number;
  /** Everything clients sent so far, every connection's bytes appended in arrival order, as latin1 text. */
  clientText(): string;
  /** The requests clients sent (heads only), in order; `$` frames between them are skipped. */
  requests(): TappedRequest[];
  /** Stops listening and closes every forwarded connection. */
  close(): Promise<void>;
}

/**
 * Starts a tap forwarding to `targetHost:targetPort`.
 * @example await using tap = startTcpTap("127.0.0.1", relay.rtspPort);
 */
export function startTcpTap(targetHost: string, targetPort: number): TcpTap {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  const seen: string[] = [];
  const latin1 = new TextDecoder("latin1");
  const conns = new Set<Deno.Conn>();
  const pipes: Promise<void>[] = [];

  const pump = async (from: Deno.Conn, to: Deno.Conn, record: boolean) => {
    const buf = new Uint8Array(64 * 1024);
    try {
      while (true) {
        const n = await from.read(buf);
        if (n === null) break;
        if (record) seen.push(latin1.decode(buf.subarray(0, n)));
        let off = 0;
        while (off < n) off += await to.write(buf.subarray(off, n));
      }
    } catch {
      // either side went away
    } finally {
      for (const c of [from, to]) {
        try {
          c.close();
        } catch { /* closed */ }
        conns.delete(c);
      }
    }
  };

  const accepting = (async () => {
    for await (const client of listener) {
      let server: Deno.Conn;
      try {
        server = await Deno.connect({ hostname: targetHost, port: targetPort });
      } catch {
        client.close();
        continue;
      }
      conns.add(client);
      conns.add(server);
      pipes.push(pump(client, server, true), pump(server, client, false));
    }
  })().catch(() => {});

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
    await Promise.all(pipes);
  };
  return {
    port,
    clientText: () => seen.join(""),
    requests: () =>
      [...seen.join("").matchAll(REQUEST_HEAD)].map((m) => ({
        method: m[1]!,
        uri: m[2]!,
        authorization: /(?:^|\r\n)Authorization:[ \t]*([^\r\n]*)/i.exec(m[3]!)?.[1],
      })),
    close,
    [Symbol.asyncDispose]: close,
  };
}
