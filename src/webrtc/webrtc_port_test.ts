import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { Buffer } from "node:buffer";
import { classes, parseMessage } from "werift";
import { rtpSequence } from "../rtp/packet.ts";
import { FastUdpPlane } from "../dataplane/shared_udp.ts";
import { WebrtcPort } from "./webrtc_port.ts";
import { binding, clearSession, LOCAL_PWD, rtp } from "./testdata/session_fixtures.ts";

/** Receives on `sock` until `n` datagrams came or 5 s passed. */
async function receiveSome(sock: Deno.DatagramConn, n: number): Promise<Array<[Uint8Array, Deno.NetAddr]>> {
  const got: Array<[Uint8Array, Deno.NetAddr]> = [];
  const deadline = setTimeout(() => sock.close(), 5000);
  try {
    while (got.length < n) {
      const [bytes, from] = await sock.receive();
      got.push([bytes, from as Deno.NetAddr]);
    }
  } catch {
    // closed at the deadline: the caller sees how many came
  } finally {
    clearTimeout(deadline);
  }
  return got;
}

/**
 * A browser on a socket of its own checks the port (a signed Binding request), gets the success answer from the
 * port's own address, then the session's packets; an outsider's datagram is counted and answered by nothing.
 */
async function browserThroughPort(port: WebrtcPort): Promise<void> {
  const { session, channel } = clearSession({
    send: (bytes, to) => port.send(bytes, to),
    onConnected: () => {},
    onEnded: () => {},
  });
  port.add(session);
  const browser = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const outsider = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const relay: Deno.NetAddr = { transport: "udp", hostname: "127.0.0.1", port: port.port };
  try {
    await outsider.send(new Uint8Array([0x80, 96, 0, 1]), relay);
    await browser.send(binding("RelY:brws", LOCAL_PWD), relay);
    const answers = await receiveSome(browser, 1);
    assertEquals(answers.length, 1, "the check was answered");
    const [answer, from] = answers[0]!;
    assertEquals(from.port, port.port, "the answer comes from the port the browser checked");
    assert(parseMessage(Buffer.from(answer))?.messageClass === classes.RESPONSE);
    assertEquals(session.remote, `127.0.0.1:${(browser.addr as Deno.NetAddr).port}`);

    channel.connected = true;
    const egress = session.egresses[0]!;
    for (let seq = 10; seq < 74; seq++) egress.sendRtp(rtp(seq, [0x41, seq]));
    const packets = await receiveSome(browser, 64);
    assertEquals(packets.length, 64, "every packet of the session arrived");
    assert(packets.every(([, f]) => f.port === port.port), "all from the port the browser checked");
    const seqs = packets.map(([p]) => rtpSequence(p));
    assertEquals(new Set(seqs).size, 64, "64 distinct packets");
    assertEquals(port.unknown, 1, "the outsider's datagram is counted, and nothing answered it");
  } finally {
    browser.close();
    outsider.close();
    port.remove(session);
  }
}

Deno.test("WebrtcPort on Deno's socket: a browser's check is answered from the port, its packets follow", async () => {
  const port = WebrtcPort.open("127.0.0.1", 0);
  try {
    assert(!port.onPlane);
    await browserThroughPort(port);
  } finally {
    port.close();
  }
});

Deno.test("WebrtcPort on the fast plane: the Worker's socket answers the check and sends the packets", async () => {
  const plane = new FastUdpPlane();
  try {
    const port = WebrtcPort.open("127.0.0.1", 0, plane);
    try {
      assert(port.onPlane, "the port is the plane's");
      assert(port.port > 0, "the plane says which port the kernel chose");
      await browserThroughPort(port);
    } finally {
      port.close();
    }
  } finally {
    await plane.close();
  }
});
