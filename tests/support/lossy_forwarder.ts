/**
 * A lossy, jittery UDP forwarder for RTP/RTCP, to sit between a sender (a camera) and a receiver (the relay)
 * and impair the path in a known, reproducible way.
 *
 * ```
 *  sender --RTP/RTCP--> [in pair]  forwarder  [out pair] --RTP (dropped/delayed), RTCP--> receiver
 *  sender <----RTCP---- [in pair]             [out pair] <-----------RTCP (RR)------------ receiver
 * ```
 * RTP packets are dropped by a rule (every Nth, or a seeded random fraction) and the others delayed by a seeded
 * random amount, uniform in [0, spread]. RTCP is forwarded at once in both directions. Every RTP packet is
 * recorded (sequence number, RTP timestamp, when it arrived, when it was sent on or that it was dropped), and so
 * is every RTCP compound coming back from the receiver, so a test can compute independently what the receiver
 * should measure.
 * @module
 */
import { seededRandom } from "./seeded_random.ts";

/** Which RTP packets the forwarder drops. */
export type DropRule =
  /** Drops packets N, 2N, 3N... counted from the first RTP packet (1-based). */
  | { every: number }
  /** Drops each packet with this probability, from the seeded generator, never the first `spare` (default 0). */
  | { probability: number; spare?: number }
  /** Drops nothing. */
  | { none: true };

/** Options of {@link LossyForwarder.open}. */
export interface LossyForwarderOptions {
  /** Address to bind and to send to. @default "127.0.0.1" */
  hostname?: string;
  /** Drop rule for RTP. @default { none: true } */
  drop?: DropRule;
  /** Each forwarded RTP packet waits uniform [0, delaySpreadMs] ms. @default 0 */
  delaySpreadMs?: number;
  /** Seed of the generator behind delays and random drops. @default 1 */
  seed?: number;
}

/** What became of one RTP packet. */
export interface RtpRecord {
  /** 1-based arrival index at the forwarder. */
  index: number;
  seq: number;
  /** Sequence number extended across wraps, in the forwarder's arrival order (first packet: its seq). */
  extSeq: number;
  rtpTimestamp: number;
  ssrc: number;
  bytes: number;
  /** performance.now() ms when it reached the forwarder. */
  receivedAt: number;
  /** The delay the forwarder chose, ms (0 for drops). */
  delayMs: number;
  /** performance.now() ms when it was sent on to the receiver; null for a dropped or paused packet. */
  sentAt: number | null;
  dropped: boolean;
}

/** An RTCP compound that passed the forwarder. */
export interface RtcpRecord {
  /** performance.now() ms. */
  at: number;
  packet: Uint8Array;
}

/** A bound RTP/RTCP pair of UDP sockets on consecutive ports (RTP even). */
interface Pair {
  rtp: Deno.DatagramConn;
  rtcp: Deno.DatagramConn;
  rtpPort: number;
  rtcpPort: number;
}

function bindPair(hostname: string): Pair {
  for (let attempt = 0; attempt < 200; attempt++) {
    const probe = Deno.listenDatagram({ transport: "udp", hostname, port: 0 });
    const p = (probe.addr as Deno.NetAddr).port;
    probe.close();
    const even = p % 2 === 0 ? p : p + 1;
    if (even + 1 > 65535) continue;
    let rtp: Deno.DatagramConn | null = null;
    try {
      rtp = Deno.listenDatagram({ transport: "udp", hostname, port: even });
      const rtcp = Deno.listenDatagram({ transport: "udp", hostname, port: even + 1 });
      return { rtp, rtcp, rtpPort: even, rtcpPort: even + 1 };
    } catch {
      rtp?.close();
    }
  }
  throw new Error(`Cannot bind a UDP port pair on "${hostname}"`);
}

/** A forwarder for one RTP session (one track). */
export class LossyForwarder implements AsyncDisposable {
  /** Every RTP packet that reached the forwarder, in arrival order. */
  readonly rtp: RtpRecord[] = [];
  /** RTCP compounds from the receiver, in arrival order. */
  readonly rtcpFromReceiver: RtcpRecord[] = [];
  /** RTCP compounds from the sender (forwarded unchanged), in arrival order. */
  readonly rtcpFromSender: RtcpRecord[] = [];
  readonly #in: Pair;
  readonly #out: Pair;
  readonly #hostname: string;
  readonly #drop: DropRule;
  readonly #spread: number;
  readonly #rand: () => number;
  readonly #timers = new Set<ReturnType<typeof setTimeout>>();
  readonly #loops: Promise<void>[] = [];
  #to: { rtp: number; rtcp: number } | null = null;
  #back: { rtcp: number } | null = null;
  #paused = false;
  #closed = false;
  #lastExt = -1;
  #idle: Array<() => void> = [];

  private constructor(options: LossyForwarderOptions) {
    this.#hostname = options.hostname ?? "127.0.0.1";
    this.#drop = options.drop ?? { none: true };
    this.#spread = options.delaySpreadMs ?? 0;
    this.#rand = seededRandom(options.seed ?? 1);
    this.#in = bindPair(this.#hostname);
    this.#out = bindPair(this.#hostname);
    this.#loops.push(
      this.#receive(this.#in.rtp, (p) => this.#onRtp(p)),
      this.#receive(this.#in.rtcp, (p, from) => this.#onSenderRtcp(p, from)),
      this.#receive(this.#out.rtcp, (p) => this.#onReceiverRtcp(p)),
      this.#receive(this.#out.rtp, () => {}), // hole punches from the receiver: ignored
    );
  }

  /** Binds both port pairs. Set the destinations with {@link forwardTo} and {@link replyTo}. */
  static open(options: LossyForwarderOptions = {}): LossyForwarder {
    return new LossyForwarder(options);
  }

  /** Ports the sender sends to (and receives the receiver's RTCP from). */
  get inPorts(): [number, number] {
    return [this.#in.rtpPort, this.#in.rtcpPort];
  }

  /** Ports the receiver gets media from (and sends its RTCP to). */
  get outPorts(): [number, number] {
    return [this.#out.rtpPort, this.#out.rtcpPort];
  }

  /** Sets the receiver's RTP and RTCP ports. */
  forwardTo(rtp: number, rtcp: number): void {
    this.#to = { rtp, rtcp };
  }

  /** Sets the sender's RTCP port, where the receiver's RTCP goes (else learnt from the sender's RTCP). */
  replyTo(rtcp: number): void {
    this.#back = { rtcp };
  }

  /** RTP packets dropped by the rule so far. */
  get dropped(): number {
    return this.rtp.filter((r) => r.dropped).length;
  }

  /** RTP packets sent on so far. */
  get forwarded(): number {
    return this.rtp.filter((r) => r.sentAt !== null).length;
  }

  /**
   * Stops forwarding RTP (packets arriving meanwhile are neither forwarded nor counted as drops) and resolves
   * once the delayed packets in flight are sent: from then on the receiver has seen everything recorded.
   */
  async pause(): Promise<void> {
    this.#paused = true;
    if (this.#timers.size > 0) await new Promise<void>((r) => this.#idle.push(r));
  }

  /** Forwards RTP again. */
  resume(): void {
    this.#paused = false;
  }

  /** Closes the sockets; delayed packets not yet sent are abandoned. */
  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    for (const r of this.#idle.splice(0)) r();
    for (const s of [this.#in.rtp, this.#in.rtcp, this.#out.rtp, this.#out.rtcp]) {
      try {
        s.close();
      } catch { /* closed */ }
    }
    return Promise.allSettled(this.#loops).then(() => {});
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #receive(conn: Deno.DatagramConn, fn: (p: Uint8Array, from: Deno.NetAddr) => void): Promise<void> {
    while (!this.#closed) {
      let packet: Uint8Array;
      let from: Deno.Addr;
      try {
        [packet, from] = await conn.receive();
      } catch {
        if (this.#closed) return;
        continue;
      }
      fn(packet, from as Deno.NetAddr);
    }
  }

  #shouldDrop(index: number): boolean {
    const rule = this.#drop;
    if ("every" in rule) return index % rule.every === 0;
    if ("probability" in rule) {
      const r = this.#rand();
      return index > (rule.spare ?? 0) && r < rule.probability;
    }
    return false;
  }

  #onRtp(packet: Uint8Array): void {
    if (packet.length < 12 || this.#paused || !this.#to) return;
    const receivedAt = performance.now();
    const seq = (packet[2]! << 8) | packet[3]!;
    let ext = seq;
    if (this.#lastExt >= 0) {
      const delta = ((seq - this.#lastExt) << 16) >> 16; // signed 16-bit distance from the previous
      ext = this.#lastExt + delta;
    }
    this.#lastExt = ext;
    const view = new DataView(packet.buffer, packet.byteOffset, packet.byteLength);
    const record: RtpRecord = {
      index: this.rtp.length + 1,
      seq,
      extSeq: ext,
      rtpTimestamp: view.getUint32(4),
      ssrc: view.getUint32(8),
      bytes: packet.length,
      receivedAt,
      delayMs: 0,
      sentAt: null,
      dropped: false,
    };
    this.rtp.push(record);
    // Draw the drop decision first, then the delay: the generator's sequence does not depend on the rule.
    record.dropped = this.#shouldDrop(record.index);
    const delay = this.#rand() * this.#spread;
    if (record.dropped) return;
    record.delayMs = delay;
    const to = this.#to;
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      if (!this.#closed) {
        record.sentAt = performance.now();
        this.#out.rtp.send(packet, { transport: "udp", hostname: this.#hostname, port: to.rtp }).catch(
          () => {},
        );
      }
      if (this.#timers.size === 0) { for (const r of this.#idle.splice(0)) r(); }
    }, delay);
    this.#timers.add(timer);
  }

  #onSenderRtcp(packet: Uint8Array, from: Deno.NetAddr): void {
    this.rtcpFromSender.push({ at: performance.now(), packet });
    this.#back ??= { rtcp: from.port };
    const to = this.#to;
    if (!to) return;
    this.#out.rtcp.send(packet, { transport: "udp", hostname: this.#hostname, port: to.rtcp }).catch(
      () => {},
    );
  }

  #onReceiverRtcp(packet: Uint8Array): void {
    this.rtcpFromReceiver.push({ at: performance.now(), packet });
    const back = this.#back;
    if (!back) return;
    this.#in.rtcp.send(packet, { transport: "udp", hostname: this.#hostname, port: back.rtcp }).catch(
      () => {},
    );
  }
}

/**
 * RFC 3550 A.8 interarrival jitter, in RTP timestamp units, of packets in the order a receiver got them:
 * J += (|D| - J) / 16 with D = (R_j - R_i) - (S_j - S_i), R in seconds times the clock rate, the timestamp
 * difference taken modulo 2^32 as signed. Computed independently of src/metrics.
 * @param arrivals RTP timestamp and arrival time (ms) per packet, in arrival order
 */
export function rfc3550Jitter(
  arrivals: ReadonlyArray<{ rtpTimestamp: number; at: number }>,
  clockRate: number,
): number {
  let j = 0;
  for (let k = 1; k < arrivals.length; k++) {
    const a = arrivals[k - 1]!;
    const b = arrivals[k]!;
    const d = ((b.at - a.at) / 1000) * clockRate - ((b.rtpTimestamp - a.rtpTimestamp) | 0);
    j += (Math.abs(d) - j) / 16;
  }
  return j;
}
