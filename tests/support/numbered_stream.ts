/**
 * A numbered RTP stream for mesh tests: packet `i` carries `i` in its payload, so a reader can tell whether it
 * got every packet once and in order, and whether it got one that did not come from the publisher (an index at
 * or above {@linkcode FORGED}).
 * @module
 */
import { ok as assert } from "node:assert/strict";
import { writeRtpHeader } from "../../src/rtp/packet.ts";
import { delay } from "./processes.ts";

/** SDP of the stream: one H.264 track. */
export const NUMBERED_SDP = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=sec\r\nt=0 0\r\nm=video 0 RTP/AVP 96\r\n" +
  "a=rtpmap:96 H264/90000\r\na=control:trackID=0\r\n";

/** Payload index of injected packets: a reader that sees it got a packet that did not come from the publisher. */
export const FORGED = 0xfffffff0;

/** Packet `i` of the publisher, its index in the payload; `size` bytes in all. */
export function numberedPacket(i: number, size = 200): Uint8Array {
  const p = new Uint8Array(size);
  writeRtpHeader(p, 0, {
    marker: true,
    payloadType: 96,
    sequence: i & 0xffff,
    timestamp: i * 30,
    ssrc: 0x5ec,
  });
  new DataView(p.buffer).setUint32(12, i);
  p[16] = 0x41;
  return p;
}

/** What a reader saw, by payload index. */
export class Seen {
  readonly indexes: number[] = [];
  forged = 0;
  record = (p: Uint8Array): void => {
    if (p.length < 16) return;
    const i = new DataView(p.buffer, p.byteOffset).getUint32(12);
    if (i >= FORGED) this.forged++;
    else this.indexes.push(i);
  };

  /**
   * Every packet from the first one received to `last`, once and in order, except at most `kernelDrops` missing:
   * datagrams the kernel counted dropped at a socket on the way (a busy machine's full buffer, see
   * tests/support/udp_drops.ts), never a repeat or a packet out of order.
   */
  assertInOrder(name: string, last: number, kernelDrops: number): void {
    assert(this.indexes.length > 0, `${name}: nothing received`);
    let missing = last - this.indexes.at(-1)!;
    for (let k = 1; k < this.indexes.length; k++) {
      const step = this.indexes[k]! - this.indexes[k - 1]!;
      if (step < 1) {
        throw new Error(`${name}: packet ${this.indexes[k - 1]} was followed by ${this.indexes[k]}`);
      }
      missing += step - 1;
    }
    assert(
      missing <= kernelDrops,
      `${name}: ${missing} packets missing, ${kernelDrops} dropped by the kernel`,
    );
    if (missing > 0) {
      console.log(`${name}: ${missing} packets missing, all dropped by the kernel at a socket`);
    }
  }
}

/** Sends `count` numbered packets, one per ms (in small bursts), calling `during(i)` now and then. */
export async function publishNumbered(
  pub: { send(p: Uint8Array): Promise<void> },
  count: number,
  during?: (i: number) => void,
): Promise<void> {
  const start = performance.now();
  for (let i = 0; i < count; i++) {
    await pub.send(numberedPacket(i));
    if (i % 10 === 9) {
      during?.(i);
      const ahead = start + i + 1 - performance.now();
      if (ahead > 0) await delay(ahead);
    }
  }
}
