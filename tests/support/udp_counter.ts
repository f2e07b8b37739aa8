/**
 * A UDP socket that only counts what it receives: where an attack test watches whether the relay sends media.
 * @module
 */

/** A counting socket. */
export interface UdpCounter extends Disposable {
  /** The bound port. */
  readonly port: number;
  /** Datagrams received so far. */
  readonly received: number;
  close(): void;
}

/** Binds `hostname`:`port` (0: any free port) and counts the datagrams that arrive. */
export function countDatagrams(hostname: string, port = 0): UdpCounter {
  const sock = Deno.listenDatagram({ transport: "udp", hostname, port });
  let received = 0;
  void (async () => {
    const buf = new Uint8Array(65536);
    try {
      for (;;) {
        await sock.receive(buf);
        received++;
      }
    } catch { /* closed */ }
  })();
  const close = () => {
    try {
      sock.close();
    } catch { /* closed */ }
  };
  return {
    port: (sock.addr as Deno.NetAddr).port,
    get received() {
      return received;
    },
    close,
    [Symbol.dispose]: close,
  };
}
