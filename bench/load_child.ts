/**
 * A share of the readers of `bench/load.ts`, in its own process so that the readers' CPU is measured apart
 * from the relay and can use a core of its own: it opens its readers (TCP interleaved or UDP, DESCRIBE / SETUP /
 * PLAY with `tests/support/rtsp_peers.ts`) in waves of bounded concurrency, counts every packet by the
 * publisher's own counter (payload bytes 2..5, path index at 6, magic at 7), records the worst gap between
 * consecutive packets while measuring, and sends an RTCP receiver report every 5 s per reader (as ffmpeg does),
 * which is also what keeps its session alive.
 *
 * Protocol: the first stdin line is a {@linkcode ChildConfig} as JSON; then one command per line:
 * `start` (begin measuring gaps), `stop` (end measuring), `report {"windows":[[c0,c1],...],"pacing":{...}}` (counts received
 * in each path's counter window), `close`. Every answer is one JSON line on stdout. The child also exits by
 * itself at its deadline or when stdin closes.
 *
 * usage: deno run --allow-net --allow-read bench/load_child.ts  (spawned by bench/load.ts)
 * @module
 */
import { rtpPayloadOffset, rtpSequence, rtpSsrc } from "../src/rtp/packet.ts";
import { type RtspReader, startRtspReader } from "../tests/support/rtsp_peers.ts";

/** Marks the publisher's payloads (byte 7): anything else is counted as invalid. */
export const LOAD_MAGIC = 0xa5;

/** One reader a child opens. */
export interface ReaderSpec {
  id: number;
  path: string;
  pathIndex: number;
  transport: "tcp" | "udp";
}

/** What the parent tells a child on its first stdin line. */
export interface ChildConfig {
  child: number;
  host: string;
  rtspPort: number;
  readers: ReaderSpec[];
  /** Readers of this child being set up at the same time. */
  concurrency: number;
  /** Client UDP ports this child may bind (even RTP port, RTCP on +1). */
  portFirst: number;
  portLast: number;
  /** The child exits by itself after this many ms, whatever happens. */
  deadlineMs: number;
  /** Packets per GOP: the publisher's counter of every GOP's first packet is a multiple of it. */
  gopPackets: number;
}

/** Per-reader figures of a report. */
export interface ReaderResult {
  id: number;
  path: string;
  transport: "tcp" | "udp";
  ok: boolean;
  error: string | null;
  setupMs: number;
  /** From the start of the setup to the first packet; -1 when none came. */
  firstPacketMs: number;
  /** Distinct packets of the path's counter window received. */
  inWindow: number;
  /** The first counter received (the cached GOP's first packet when the join burst arrived whole). */
  minCounter: number;
  /** From the start of the GOP the reader joined in (its burst) to the window: packets expected, received. */
  joinExpected: number;
  joinReceived: number;
  /** The GOP cache burst alone: from the GOP's start to the packet live at PLAY (estimated from the pacing). */
  burstExpected: number;
  burstReceived: number;
  received: number;
  duplicates: number;
  wrongPath: number;
  invalid: number;
  /** Worst time between consecutive packets while measuring (the tail up to `stop` included). */
  maxGapMs: number;
  /** When that gap ended: wall-clock ms (performance.timeOrigin + now), comparable across processes. */
  maxGapEndMs: number;
  /** The RTSP connection ended before `close` (ms since the start of setup), or -1. */
  closedAtMs: number;
  reportsSent: number;
}

/** Receive-side state of one reader; `onPacket` is the hot path. */
class ReaderState {
  readonly spec: ReaderSpec;
  /**
   * When this reader's setup started (its connect), set by {@linkcode openReader}: readers waiting for a slot of
   * their wave are not timed.
   */
  t0 = 0;
  bits = new Uint8Array(8192);
  received = 0;
  duplicates = 0;
  wrongPath = 0;
  invalid = 0;
  firstAt = -1;
  lastAt = -1;
  maxGap = 0;
  maxGapAt = 0;
  maxCounter = -1;
  minCounter = -1;
  lastSeq = 0;
  ssrc = 0;
  setupMs = -1;
  closedAt = -1;
  error: string | null = null;
  reportsSent = 0;
  reader: RtspReader | null = null;
  rtp: Deno.DatagramConn | null = null;
  rtcp: Deno.DatagramConn | null = null;
  serverRtcp: Deno.NetAddr | null = null;
  loops: Promise<void>[] = [];

  constructor(spec: ReaderSpec) {
    this.spec = spec;
  }

  onPacket(p: Uint8Array, now: number): void {
    const off = rtpPayloadOffset(p);
    if (off < 0 || p.length < off + 8 || p[off + 7] !== LOAD_MAGIC) {
      this.invalid++;
      return;
    }
    if (p[off + 6] !== this.spec.pathIndex) {
      this.wrongPath++;
      return;
    }
    const counter = ((p[off + 2]! << 24) | (p[off + 3]! << 16) | (p[off + 4]! << 8) | p[off + 5]!) >>> 0;
    const byte = counter >>> 3;
    if (byte >= this.bits.length) {
      let size = this.bits.length * 2;
      while (byte >= size) size *= 2;
      const grown = new Uint8Array(size);
      grown.set(this.bits);
      this.bits = grown;
    }
    const mask = 1 << (counter & 7);
    if ((this.bits[byte]! & mask) !== 0) {
      this.duplicates++;
      return;
    }
    this.bits[byte]! |= mask;
    this.received++;
    if (counter > this.maxCounter) this.maxCounter = counter;
    if (this.minCounter < 0 || counter < this.minCounter) this.minCounter = counter;
    this.lastSeq = rtpSequence(p);
    this.ssrc = rtpSsrc(p);
    if (this.firstAt < 0) this.firstAt = now;
    if (measureFrom >= 0) {
      const gap = now - Math.max(this.lastAt, measureFrom);
      if (gap > this.maxGap) {
        this.maxGap = gap;
        this.maxGapAt = now;
      }
    }
    this.lastAt = now;
  }

  /** Distinct packets whose counter is in [c0, c1). */
  countWindow(c0: number, c1: number): number {
    let n = 0;
    for (let c = c0; c < c1; c++) {
      const b = this.bits[c >>> 3];
      if (b !== undefined && (b & (1 << (c & 7))) !== 0) n++;
    }
    return n;
  }

  /** An RTCP receiver report (RR with one report block) on this reader's reception so far. */
  receiverReport(): Uint8Array {
    const rr = new Uint8Array(32);
    const v = new DataView(rr.buffer);
    v.setUint8(0, 0x81); // V=2, P=0, RC=1
    v.setUint8(1, 201); // RR
    v.setUint16(2, 7); // length: 8 words - 1
    v.setUint32(4, 0x10000 + this.spec.id); // reporter SSRC
    v.setUint32(8, this.ssrc); // source SSRC (the relay's output SSRC)
    const expected = this.maxCounter < 0 ? 0 : this.maxCounter - this.minCounter + 1;
    const lost = Math.max(0, Math.min(0x7fffff, expected - this.received));
    v.setUint32(12, lost); // fraction lost 0, cumulative lost
    v.setUint32(16, this.lastSeq); // extended highest sequence number (cycles not tracked)
    // jitter, LSR, DLSR: 0
    return rr;
  }
}

/** Period of the event-loop lag probe. */
const LAG_TICK_MS = 20;

/** performance.now() when measuring started, or -1 when not measuring. */
let measureFrom = -1;

/** Binds an even/odd UDP port pair in [first, last], skipping ports in use; null when none is free. */
function bindPair(
  first: number,
  last: number,
  cursor: { next: number },
): [Deno.DatagramConn, Deno.DatagramConn] {
  for (let tries = 0; tries < (last - first) / 2 + 1; tries++) {
    if (cursor.next + 1 > last) cursor.next = first;
    const port = cursor.next;
    cursor.next += 2;
    let rtp: Deno.DatagramConn | null = null;
    try {
      rtp = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port });
      const rtcp = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: port + 1 });
      return [rtp, rtcp];
    } catch {
      rtp?.close();
    }
  }
  throw new Error(`No free UDP port pair in ${first}-${last}`);
}

/** Reads datagrams until the socket closes or the deadline passes. */
async function receiveLoop(
  sock: Deno.DatagramConn,
  deadline: number,
  onPacket: (p: Uint8Array, from: Deno.NetAddr) => void,
): Promise<void> {
  const buf = new Uint8Array(2048);
  while (performance.now() < deadline) {
    let got: [Uint8Array, Deno.Addr];
    try {
      got = await sock.receive(buf);
    } catch {
      return; // closed
    }
    onPacket(got[0], got[1] as Deno.NetAddr);
  }
}

async function openReader(s: ReaderState, cfg: ChildConfig, cursor: { next: number }, deadline: number) {
  s.t0 = performance.now();
  const url = `rtsp://${cfg.host}:${cfg.rtspPort}/${s.spec.path}`;
  try {
    if (s.spec.transport === "udp") {
      const [rtp, rtcp] = bindPair(cfg.portFirst, cfg.portLast, cursor);
      s.rtp = rtp;
      s.rtcp = rtcp;
      s.loops.push(receiveLoop(rtp, deadline, (p, from) => {
        s.serverRtcp ??= { transport: "udp", hostname: from.hostname, port: from.port + 1 };
        s.onPacket(p, performance.now());
      }));
      s.loops.push(receiveLoop(rtcp, deadline, () => {})); // the relay's sender reports: drained, ignored
      s.reader = await startRtspReader(url, {
        transport: "udp",
        clientPort: (rtp.addr as Deno.NetAddr).port,
      });
    } else {
      s.reader = await startRtspReader(url, {
        transport: "tcp",
        onRtp: (p) => s.onPacket(p, performance.now()),
      });
    }
    s.setupMs = s.reader.playReplyAt - s.t0;
    void s.reader.conn.closed.then(() => {
      if (s.closedAt < 0) s.closedAt = performance.now() - s.t0;
    });
  } catch (err) {
    s.error = (err as Error).message;
    s.setupMs = performance.now() - s.t0;
    s.rtp?.close();
    s.rtcp?.close();
    s.rtp = s.rtcp = null;
  }
}

/** The publisher's pacing, to tell which counter was live at a given time. */
export interface Pacing {
  /** Wall-clock ms of frame 0. */
  t0Ms: number;
  periodMs: number;
  perFrame: number;
}

function result(
  s: ReaderState,
  window: [number, number] | undefined,
  gopPackets: number,
  pacing: Pacing,
): ReaderResult {
  const gopStart = s.minCounter < 0 ? 0 : s.minCounter - (s.minCounter % gopPackets);
  const windowStart = window?.[0] ?? 0;
  const playAt = s.reader ? performance.timeOrigin + s.reader.playReplyAt : 0;
  const liveAtPlay = (Math.floor((playAt - pacing.t0Ms) / pacing.periodMs) + 1) * pacing.perFrame;
  const burstEnd = Math.max(gopStart, Math.min(windowStart, liveAtPlay));
  return {
    id: s.spec.id,
    path: s.spec.path,
    transport: s.spec.transport,
    ok: s.reader !== null,
    error: s.error,
    setupMs: s.setupMs,
    firstPacketMs: s.firstAt < 0 ? -1 : s.firstAt - s.t0,
    inWindow: window ? s.countWindow(window[0], window[1]) : 0,
    minCounter: s.minCounter,
    joinExpected: Math.max(0, windowStart - gopStart),
    joinReceived: s.countWindow(gopStart, windowStart),
    burstExpected: burstEnd - gopStart,
    burstReceived: s.countWindow(gopStart, burstEnd),
    received: s.received,
    duplicates: s.duplicates,
    wrongPath: s.wrongPath,
    invalid: s.invalid,
    maxGapMs: s.maxGap,
    maxGapEndMs: performance.timeOrigin + s.maxGapAt,
    closedAtMs: s.closedAt,
    reportsSent: s.reportsSent,
  };
}

/** Lines of stdin, one at a time; null at the end. */
async function* stdinLines(): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let buf = "";
  for await (const chunk of Deno.stdin.readable) {
    buf += decoder.decode(chunk, { stream: true });
    for (let i = buf.indexOf("\n"); i >= 0; i = buf.indexOf("\n")) {
      yield buf.slice(0, i);
      buf = buf.slice(i + 1);
    }
  }
}

function send(msg: unknown): void {
  Deno.stdout.writeSync(new TextEncoder().encode(JSON.stringify(msg) + "\n"));
}

async function main(): Promise<void> {
  const lines = stdinLines();
  const first = await lines.next();
  if (first.done) return;
  const cfg = JSON.parse(first.value) as ChildConfig;
  const deadline = performance.now() + cfg.deadlineMs;
  // Whatever the parent does, this process ends by its deadline.
  const hardStop = setTimeout(() => Deno.exit(3), cfg.deadlineMs + 5000);
  const states = cfg.readers.map((spec) => new ReaderState(spec));
  const cursor = { next: cfg.portFirst };

  // Receiver reports: each reader every 5 s, a fifth of them per 1 s tick.
  let tick = 0;
  const rr = setInterval(() => {
    tick++;
    for (const s of states) {
      if (s.reader === null || s.ssrc === 0 || (s.spec.id + tick) % 5 !== 0) continue;
      const packet = s.receiverReport();
      if (s.spec.transport === "tcp") {
        if (s.reader.conn.sendFrame(1, packet)) s.reportsSent++;
      } else if (s.rtcp && s.serverRtcp) {
        s.rtcp.send(packet, s.serverRtcp).then(() => s.reportsSent++, () => {});
      }
    }
  }, 1000);

  // This process's own event-loop lag while measuring: a stall here is a gap for all its readers.
  const lag = { max: 0, events: [] as Array<[number, number]>, last: performance.now() };
  const lagTimer = setInterval(() => {
    const now = performance.now();
    const late = now - lag.last - LAG_TICK_MS;
    lag.last = now;
    if (measureFrom < 0) return;
    if (late > lag.max) lag.max = late;
    if (late > 50 && lag.events.length < 200) {
      lag.events.push([Math.round(performance.timeOrigin + now), Math.round(late)]);
    }
  }, LAG_TICK_MS);

  // Waves: `concurrency` setups in flight, each worker taking the next reader.
  let next = 0;
  const worker = async () => {
    while (next < states.length && performance.now() < deadline) {
      const s = states[next++]!;
      await openReader(s, cfg, cursor, deadline);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, cfg.concurrency) }, worker));
  // The control flow: path 0's packets sent by the publisher straight to this process over UDP, past the relay.
  // A gap here too says the pause was not the relay's.
  const control = new ReaderState({ id: -1 - cfg.child, path: "control", pathIndex: 0, transport: "udp" });
  control.rtp = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  control.loops.push(receiveLoop(control.rtp, deadline, (p) => control.onPacket(p, performance.now())));
  send({
    type: "joined",
    ok: states.filter((s) => s.reader).length,
    failed: states.filter((s) => !s.reader).length,
    controlPort: (control.rtp.addr as Deno.NetAddr).port,
  });

  for (let line = await lines.next(); !line.done; line = await lines.next()) {
    const [cmd, ...rest] = line.value.split(" ");
    if (cmd === "start") {
      measureFrom = performance.now();
      for (const s of [...states, control]) s.maxGap = 0;
      lag.max = 0;
      lag.events = [];
      send({ type: "started" });
    } else if (cmd === "stop") {
      const now = performance.now();
      for (const s of [...states, control]) {
        if (s.reader === null && s !== control) continue;
        const tail = now - Math.max(s.lastAt, measureFrom);
        if (tail > s.maxGap) {
          s.maxGap = tail;
          s.maxGapAt = now;
        }
      }
      measureFrom = -1;
      send({ type: "stopped" });
    } else if (cmd === "report") {
      const { windows, pacing } = JSON.parse(rest.join(" ")) as {
        windows: Array<[number, number]>;
        pacing: Pacing;
      };
      send({
        type: "report",
        lagMaxMs: lag.max,
        lagEvents: lag.events,
        readers: states.map((s) => result(s, windows[s.spec.pathIndex], cfg.gopPackets, pacing)),
        control: result(control, windows[0], cfg.gopPackets, pacing),
      });
    } else if (cmd === "close") {
      break;
    }
  }
  clearInterval(rr);
  clearInterval(lagTimer);
  for (const s of [...states, control]) {
    s.rtp?.close();
    s.rtcp?.close();
    s.reader?.conn.close();
  }
  // Bounded: the loops end once their sockets closed, or at the deadline.
  await Promise.race([
    Promise.all([...states, control].flatMap((s) => s.loops)),
    new Promise((r) => setTimeout(r, 2000)),
  ]);
  send({ type: "closed" });
  clearTimeout(hardStop);
}

if (import.meta.main) {
  await main();
  Deno.exit(0);
}
