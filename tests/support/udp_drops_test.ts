/**
 * udpDrops() reads the kernel's per-socket drop counter: a socket nobody reads, sent more than its receive buffer
 * holds, shows drops; another port does not.
 * @module
 */
import { ok as assert } from "node:assert/strict";
import { udpDrops } from "./udp_drops.ts";

Deno.test({
  name: "udpDrops() counts datagrams dropped at a socket that is not read",
  ignore: Deno.build.os !== "linux",
  async fn() {
    const deaf = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
    const sender = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
    try {
      const port = (deaf.addr as Deno.NetAddr).port;
      const before = udpDrops([port]);
      const payload = new Uint8Array(1200);
      // Far more than any default receive buffer (net.core.rmem_default is at most a few MiB).
      for (let i = 0; i < 20_000; i++) {
        await sender.send(payload, { transport: "udp", hostname: "127.0.0.1", port });
      }
      const dropped = udpDrops([port]) - before;
      assert(dropped > 0, `no drops counted at port ${port}`);
      assert(udpDrops([(sender.addr as Deno.NetAddr).port]) === 0, "drops counted at the sender's port");
    } finally {
      deaf.close();
      sender.close();
    }
  },
});
