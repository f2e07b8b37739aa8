/**
 * The fuzz targets of `deno task bench:fuzz` (bench/fuzz.ts) and of the CI-sized fuzz slices: every part of the
 * relay that reads bytes or text a peer controls, each as a {@linkcode FuzzTarget} with a corpus of valid
 * inputs to mutate (tests/support/mutator.ts), optional fast-check generators, and a `run` that feeds one input
 * and checks what came out. `run` catches the errors the code documents (a refusal) and lets anything else
 * escape: an escaping throw is a bug.
 *
 * Adding a target is a few lines in {@linkcode createFuzzTargets}; a new mesh decoder with the contract of
 * `decodeMeshPacket` (a packet or a reason) is one call of {@linkcode meshFrameTarget}.
 * @module
 */
import fc from "fast-check";
import { deriveKeyring } from "../../src/cluster/mesh_keys.ts";
import { incarnationBytes } from "../../src/cluster/mesh_incarnation.ts";
import { isMeshReject, MeshOpener, MeshSealer } from "../../src/cluster/mesh_seal.ts";
import { RtspParser } from "../../src/rtsp/parser.ts";
import type { RtspEvent } from "../../src/rtsp/message.ts";
import { RtspProtocolError } from "../../src/rtsp/errors.ts";
import { RTSP_MAX_BODY_BYTES, RTSP_MAX_FRAME_BYTES, RTSP_MAX_HEAD_BYTES } from "../../src/rtsp/limits.ts";
import {
  decodeMeshPacket,
  encodeHeartbeat,
  encodeMeshPacket,
  heartbeatNode,
  MESH_HEADER_SIZE,
  type MeshPacket,
} from "../../src/cluster/mesh_frame.ts";
import {
  isRtcpPacket,
  isRtpPacket,
  rtpMarker,
  rtpPayloadEnd,
  rtpPayloadOffset,
  rtpPayloadType,
  rtpSequence,
  rtpSsrc,
  rtpTimestamp,
  writeRtpHeader,
} from "../../src/rtp/packet.ts";
import {
  buildReceiverReportCompound,
  forEachRtcpPacket,
  isValidRtcpCompound,
  marshalBye,
  marshalReceiverReport,
  marshalSdesCname,
  marshalSenderReport,
  parseBye,
  parseReceiverReport,
  parseSenderReport,
  type ReportBlock,
  RTCP_BYE,
  RTCP_RR,
  RTCP_SR,
} from "../../src/rtp/rtcp.ts";
import { H264Packetizer, isKeyframeRtpPayload, splitAnnexB } from "../../src/rtp/h264.ts";
import { isH265KeyframeRtpPayload } from "../../src/rtp/h265.ts";
import { mediaControlUrl, parseSdp, rewriteSdpForServing, sessionControlUrl } from "../../src/rtsp/sdp.ts";
import { formatRange, parseRange } from "../../src/rtsp/headers/range.ts";
import { formatRtpInfo, parseRtpInfo } from "../../src/rtsp/headers/rtp_info.ts";
import { formatSession, parseSession } from "../../src/rtsp/headers/session.ts";
import { formatTransports, parseTransports } from "../../src/rtsp/headers/transport.ts";
import { parseAuthorization, parseChallenges } from "../../src/rtsp/auth/mod.ts";
import { parseRtspUrl, splitTrackUrl, streamPathOf } from "../../src/rtsp/url.ts";
import { rewriteUpstreamRtcp } from "../../src/relay/rtcp_rewrite.ts";
import { encodeGenericNack, parseGenericNack } from "../../src/rtp/rtcp_nack.ts";
import { readerReportsOf } from "../../src/rtp/reader_reports.ts";
import { Track } from "../../src/relay/track.ts";
import { GopCache } from "../../src/relay/gop_cache.ts";
import type { Egress } from "../../src/relay/egress.ts";
import { BINARY_SPECIAL_BYTES, hex, type MutateOptions, RTSP_CORPUS, RTSP_SPECIAL_BYTES } from "./mutator.ts";

/** What one input did: refused (a documented error or a "no"), or accepted; and the most bytes it held. */
export interface FuzzResult {
  /** True when the code under test accepted the input (parsed it, forwarded it...). */
  accepted: boolean;
  /** Most bytes the code under test buffered while handling the input (0 when it buffers nothing). */
  held: number;
}

/** One fuzz target. */
export interface FuzzTarget {
  /** Short name, used on the command line (`--target`). */
  readonly name: string;
  /** What is fed and what is checked, one line. */
  readonly what: string;
  /** Valid inputs the mutations start from. */
  readonly corpus: readonly Uint8Array[];
  /** How the mutator glues and mutates the corpus. */
  readonly mutateOptions?: MutateOptions;
  /** fast-check generated inputs, for {@linkcode FuzzTarget.arbitraryShare} of the count. */
  readonly arbitrary?: fc.Arbitrary<Uint8Array>;
  /** Share of the count given to `arbitrary` (0..1). @default 0.2 */
  readonly arbitraryShare?: number;
  /** Bound on {@linkcode FuzzResult.held}; checked by the driver. */
  readonly maxHeldBytes: number;
  /**
   * Feeds one input and checks the outcome; throws on anything the code does not document (a bug).
   * @param input the bytes (the target may keep or modify them)
   * @param r a seeded generator for the target's own choices (how to split the input...)
   */
  run(input: Uint8Array, r: () => number): FuzzResult;
  /** Forgets state carried from input to input (stateful targets); the driver calls it between batches. */
  reset?(): void;
}

/** An invariant the code under test broke. */
export class FuzzInvariantError extends Error {
  /** @param message what was wrong, with the values */
  constructor(message: string) {
    super(message);
    this.name = "FuzzInvariantError";
  }
}

function check(cond: boolean, message: () => string): asserts cond {
  if (!cond) throw new FuzzInvariantError(message());
}

import { Fmp4Viewer } from "../../src/viewer/fmp4_viewer.ts";
import type { MediaDescription } from "../../src/rtsp/sdp.ts";
import { negotiate } from "../../src/webrtc/whep_negotiation.ts";
import { parse as parseSdpTransform } from "sdp-transform";

const enc = new TextEncoder();
const latin1 = new TextDecoder("latin1");
const utf8 = new TextDecoder();
const REFUSED: FuzzResult = { accepted: false, held: 0 };
const ACCEPTED: FuzzResult = { accepted: true, held: 0 };

/** Text of a string of char codes 0..255 as bytes, one byte per char (so arbitrary bytes can be built as text). */
function bytesOf(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i) & 0xff;
  return out;
}

/** A documented refusal: an RtspProtocolError with a 4xx/5xx status. */
function isRefusal(e: unknown, statuses?: readonly number[]): e is RtspProtocolError {
  if (!(e instanceof RtspProtocolError)) return false;
  return statuses ? statuses.includes(e.status) : e.status >= 400 && e.status <= 599;
}

// ---------------------------------------------------------------------------------------------------------------
// RTSP parser

/** Most bytes the RTSP parser may hold when fed chunks of at most 200 bytes with `next()` drained after each. */
export const RTSP_PARSER_MAX_HELD = RTSP_MAX_HEAD_BYTES + RTSP_MAX_BODY_BYTES + RTSP_MAX_FRAME_BYTES + 4 +
  200;

const METHOD = /^[A-Z0-9_-]+$/;

/** Events of one parse, as comparable text, and how it ended. */
interface ParseTrace {
  events: string[];
  /** Status of the RtspProtocolError that ended the parse, or 0 when none did. */
  refusal: number;
  held: number;
}

function traceEvent(ev: RtspEvent): string {
  if (ev.kind === "frame") {
    check(
      ev.payload.length <= RTSP_MAX_FRAME_BYTES && ev.channel >= 0 && ev.channel <= 255,
      () => `frame of ${ev.payload.length} bytes on channel ${ev.channel}`,
    );
    return `$${ev.channel}:${hex(ev.payload, Infinity)}`;
  }
  const length = ev.headers.get("Content-Length");
  check(
    ev.body.length === (length === undefined ? 0 : Number(length)),
    () => `body of ${ev.body.length} bytes for Content-Length ${length}`,
  );
  check(ev.body.length <= RTSP_MAX_BODY_BYTES, () => `body of ${ev.body.length} bytes`);
  let start: string;
  if (ev.kind === "request") {
    check(METHOD.test(ev.method), () => `method ${JSON.stringify(ev.method)}`);
    check(ev.url.length > 0 && !/\s/.test(ev.url), () => `url ${JSON.stringify(ev.url)}`);
    start = `${ev.method} ${ev.url}`;
  } else {
    // RFC 2326 §7.1.1: any 3DIGIT is a status (extension-code), 000 included.
    check(Number.isInteger(ev.status) && ev.status >= 0 && ev.status <= 999, () => `status ${ev.status}`);
    start = `${ev.status} ${ev.reason}`;
  }
  return JSON.stringify([start, [...ev.headers.entries()], hex(ev.body, Infinity)]);
}

/** Parses `input` pushed in pieces of `sizes()` bytes, draining after each push. */
function traceParse(input: Uint8Array, size: () => number): ParseTrace {
  const parser = new RtspParser();
  const trace: ParseTrace = { events: [], refusal: 0, held: 0 };
  for (let off = 0; off < input.length;) {
    const n = size();
    parser.push(input.subarray(off, off + n));
    off += n;
    trace.held = Math.max(trace.held, parser.buffered);
    try {
      for (let ev = parser.next(); ev !== null; ev = parser.next()) trace.events.push(traceEvent(ev));
    } catch (e) {
      if (!isRefusal(e)) throw e;
      check(parser.poisoned, () => "the parser threw but is not poisoned");
      let again: unknown = null;
      try {
        parser.next();
      } catch (e2) {
        again = e2;
      }
      check(again === e, () => "a poisoned parser did not throw the same error again");
      trace.refusal = e.status;
      return trace;
    }
  }
  return trace;
}

/**
 * Feeds `input` to a fresh {@linkcode RtspParser} in random chunks of 1..200 bytes, draining `next()` after each.
 * Only an RtspProtocolError with a 4xx/5xx status may escape the parser, after which it stays poisoned; every
 * event must be well formed (method token, body of its Content-Length, frame within its 16-bit length); and the
 * split must not matter: the same events and the same refusal as when the input is pushed in one piece.
 */
export function runRtspParser(input: Uint8Array, r: () => number): FuzzResult {
  const chunked = traceParse(input, () => 1 + Math.floor(r() * 200));
  const whole = traceParse(input, () => input.length);
  check(
    chunked.refusal === whole.refusal && chunked.events.length === whole.events.length &&
      chunked.events.every((e, i) => e === whole.events[i]),
    () =>
      `chunked and whole parses differ: ${chunked.events.length} events then ${chunked.refusal || "no"} ` +
      `refusal, against ${whole.events.length} then ${whole.refusal || "no"}; first difference: ` +
      `${chunked.events.find((e, i) => e !== whole.events[i]) ?? "(none)"}`,
  );
  return { accepted: chunked.refusal === 0, held: chunked.held };
}

/** Any char code 0..255 (built into text, written as one byte each). */
const byteChar = fc.integer({ min: 0, max: 255 }).map((c) => String.fromCharCode(c));
const asciiChar = fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c));

const rtspHeaderName = fc.oneof(
  {
    arbitrary: fc.constantFrom(
      "CSeq",
      "Content-Length",
      "content-length",
      "Transport",
      "Session",
      "Range",
      "Authorization",
      "Content-Type",
      "Accept",
      "Require",
      "Content-Base",
      "RTP-Info",
    ),
    weight: 3,
  },
  { arbitrary: fc.string({ unit: asciiChar, maxLength: 24 }), weight: 2 },
  { arbitrary: fc.string({ unit: byteChar, maxLength: 24 }), weight: 1 },
);

const rtspHeaderValue = fc.oneof(
  { arbitrary: fc.string({ unit: asciiChar, maxLength: 80 }), weight: 4 },
  { arbitrary: fc.string({ unit: byteChar, maxLength: 80 }), weight: 2 },
  // UTF-8 text, written as its bytes
  {
    arbitrary: fc.string({ unit: "grapheme", maxLength: 40 }).map((s) => latin1.decode(enc.encode(s))),
    weight: 1,
  },
  { arbitrary: fc.oneof(fc.nat(), fc.bigInt({ min: 0n, max: 10n ** 30n })).map(String), weight: 2 },
  // long lines: up to 2.5 times the head limit
  { arbitrary: fc.nat({ max: 20_000 }).map((n) => "a".repeat(n)), weight: 1 },
);

const rtspLineEnd = fc.constantFrom("\r\n", "\r\n", "\r\n", "\n", "\r", "");

const rtspMessage = fc.record({
  start: fc.oneof(
    fc.tuple(
      fc.oneof(
        fc.constantFrom(
          "OPTIONS",
          "DESCRIBE",
          "SETUP",
          "PLAY",
          "ANNOUNCE",
          "RECORD",
          "TEARDOWN",
          "GET_PARAMETER",
        ),
        fc.string({ unit: asciiChar, maxLength: 12 }),
      ),
      fc.oneof(
        fc.constantFrom("rtsp://relay/cam1", "*", "rtsp://relay/p/trackID=0", "/x"),
        fc.string({ unit: byteChar, maxLength: 60 }),
        fc.nat({ max: 12_000 }).map((n) => `rtsp://h/${"p".repeat(n)}`),
      ),
      fc.constantFrom("RTSP/1.0", "RTSP/1.0", "RTSP/2.0", "HTTP/1.1", "RTSP/1.00", ""),
    ).map(([m, u, v]) => `${m} ${u} ${v}`),
    fc.tuple(fc.integer({ min: 0, max: 1200 }), fc.string({ unit: byteChar, maxLength: 20 }))
      .map(([s, reason]) => `RTSP/1.0 ${s} ${reason}`),
  ),
  headers: fc.array(fc.tuple(rtspHeaderName, fc.constantFrom(": ", ":", " : ", "", ":\t"), rtspHeaderValue), {
    maxLength: 80,
  }),
  eol: rtspLineEnd,
  body: fc.uint8Array({ maxLength: 300 }),
}).map(({ start, headers, eol, body }) => {
  const head = bytesOf(start + "\r\n" + headers.map(([n, sep, v]) => n + sep + v + eol).join("") + "\r\n");
  const out = new Uint8Array(head.length + body.length);
  out.set(head);
  out.set(body, head.length);
  return out;
});

const interleavedFrame = fc.tuple(
  fc.integer({ min: 0, max: 255 }),
  fc.integer({ min: 0, max: 0xffff }),
  fc.uint8Array({ maxLength: 400 }),
).map(([ch, len, payload]) => Uint8Array.from([0x24, ch, len >> 8, len & 0xff, ...payload]));

/** Streams of generated RTSP messages (arbitrary header names and values, long lines), `$` frames and bytes. */
export const rtspArbitrary: fc.Arbitrary<Uint8Array> = fc.oneof(
  {
    arbitrary: fc.array(fc.oneof(rtspMessage, interleavedFrame), { minLength: 1, maxLength: 4 }).map(concat),
    weight: 3,
  },
  { arbitrary: fc.uint8Array({ maxLength: 2048 }), weight: 1 },
);

function concat(parts: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  n = 0;
  for (const p of parts) {
    out.set(p, n);
    n += p.length;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Mesh framing

/** Valid mesh frames: RTP and RTCP of several streams and tracks, heartbeats of several node names, a NACK. */
export function meshCorpus(): Uint8Array[] {
  const rtp = new Uint8Array(40);
  writeRtpHeader(rtp, 0, { marker: true, payloadType: 96, sequence: 7, timestamp: 3600, ssrc: 0xdeadbeef });
  rtp[12] = 0x65;
  const rr = buildReceiverReportCompound(0x1234, "relay-a", []);
  return [
    encodeMeshPacket("rtp", 1, 0, rtp),
    encodeMeshPacket("rtp", 0xffffffff, 255, rtp.subarray(0, 13)),
    encodeMeshPacket("rtcp", 42, 1, rr),
    encodeMeshPacket(
      "nack",
      42,
      0,
      encodeGenericNack({ senderSsrc: 0, mediaSsrc: 0xdeadbeef, seqs: [7, 9, 30] }),
    ),
    encodeHeartbeat("node-a"),
    encodeHeartbeat("kind-worker-ä1"),
    encodeHeartbeat("n".repeat(253)),
  ];
}

/** Options of {@linkcode meshFrameTarget}. */
export interface MeshFrameTargetOptions {
  /**
   * True when a decoded payload is a view into the datagram (the plain framing); false for decoders that produce
   * a new buffer (decryption). @default true
   */
  payloadInInput?: boolean;
  /**
   * Re-frames a decoded packet; when given, the result must equal the datagram byte for byte (a plain decoder
   * accepts exactly what the encoder writes).
   * @default encodeMeshPacket
   */
  reencode?: ((p: MeshPacket) => Uint8Array) | null;
  /** fast-check inputs; default: random bytes and frames with random header fields. */
  arbitrary?: fc.Arbitrary<Uint8Array>;
}

const meshArbitrary: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.uint8Array({ maxLength: 1500 }),
  fc.tuple(
    fc.oneof(fc.constantFrom(0x10, 0x11, 0x12), fc.integer({ min: 0, max: 255 })),
    fc.integer({ min: 0, max: 255 }),
    fc.integer({ min: 0, max: 0xffffffff }),
    fc.oneof(fc.uint8Array({ maxLength: 300 }), fc.string({ maxLength: 300 }).map((s) => enc.encode(s))),
  ).map(([b0, track, id, payload]) => {
    const out = new Uint8Array(MESH_HEADER_SIZE + payload.length);
    out[0] = b0;
    out[1] = track;
    new DataView(out.buffer).setUint32(2, id);
    out.set(payload, MESH_HEADER_SIZE);
    return out;
  }),
);

/**
 * A target for a mesh datagram decoder with the contract of `decodeMeshPacket` (or of `MeshOpener.open`, whose
 * refusal is an object with a `reason`): it never throws and returns a reason (non-empty) or a packet whose type is rtp/rtcp/heartbeat/nack/gone, track 0..255, stream id 0..2^32-1,
 * payload non-empty for RTP and RTCP and (plain framing) the bytes after the header, by view; `heartbeatNode`
 * of it is null or a non-empty name of at most 253 UTF-8 bytes (and null for anything but a heartbeat).
 * @param name target name
 * @param corpus valid datagrams of this decoder
 * @param decode the decoder under test
 * @param options see {@linkcode MeshFrameTargetOptions}
 * @example meshFrameTarget("mesh-sealed", sealedCorpus, (d) => opener.open(d), { payloadInInput: false, reencode: null })
 */
export function meshFrameTarget(
  name: string,
  corpus: readonly Uint8Array[],
  decode: (datagram: Uint8Array) => MeshPacket | string | { readonly reason: string },
  options: MeshFrameTargetOptions = {},
): FuzzTarget {
  const inInput = options.payloadInInput ?? true;
  const reencode = options.reencode === undefined
    ? (p: MeshPacket) => encodeMeshPacket(p.type, p.streamId, p.track, p.payload)
    : options.reencode;
  return {
    name,
    what: `${
      name === "mesh-frame" ? "decodeMeshPacket + heartbeatNode" : name
    }: packet or reason, fields in range`,
    corpus,
    mutateOptions: { specials: BINARY_SPECIAL_BYTES, maxGlued: 2 },
    arbitrary: options.arbitrary ?? meshArbitrary,
    maxHeldBytes: 0,
    run(input) {
      const p = decode(input);
      if (typeof p === "string" || "reason" in p) {
        const reason = typeof p === "string" ? p : p.reason;
        check(typeof reason === "string" && reason.length > 0, () => "an empty reason");
        return REFUSED;
      }
      check(
        p.type === "rtp" || p.type === "rtcp" || p.type === "heartbeat" || p.type === "nack" ||
          p.type === "gone",
        () => `type ${String(p.type)}`,
      );
      check(Number.isInteger(p.track) && p.track >= 0 && p.track <= 255, () => `track ${p.track}`);
      check(
        Number.isInteger(p.streamId) && p.streamId >= 0 && p.streamId <= 0xffffffff,
        () => `stream id ${p.streamId}`,
      );
      check(p.type === "heartbeat" || p.payload.length > 0, () => `empty ${p.type} payload accepted`);
      if (inInput) {
        check(
          p.payload.buffer === input.buffer &&
            p.payload.byteOffset === input.byteOffset + MESH_HEADER_SIZE &&
            p.payload.length === input.length - MESH_HEADER_SIZE,
          () => `payload (offset ${p.payload.byteOffset}, ${p.payload.length} bytes) is not the input's tail`,
        );
      }
      if (reencode) {
        const again = reencode(p);
        check(
          again.length === input.length && again.every((b, i) => b === input[i]),
          () => "re-encoding the decoded packet does not give the datagram back",
        );
      }
      if (p.type === "nack") {
        const nack = parseGenericNack(p.payload);
        check(typeof nack === "string" || nack.seqs.length <= 1024, () => "a NACK read past its cap");
      }
      const node = heartbeatNode(p);
      if (p.type !== "heartbeat") check(node === null, () => `heartbeatNode of a ${p.type} packet`);
      else if (node !== null) {
        const size = enc.encode(node).length;
        check(node.length > 0 && size <= 253, () => `node name of ${size} bytes`);
      }
      return ACCEPTED;
    },
  };
}

/**
 * Sealed mesh packets (`MeshOpener.open`, the framing with a mesh key): the generic decoder checks, plus the point
 * of sealing: no datagram is accepted unless it is byte for byte one the sealer wrote (every input is opened by a
 * fresh opener, so a corpus datagram is new each time and anything else is a forgery).
 */
export function meshSealedTarget(): FuzzTarget {
  const ring = deriveKeyring(["fuzz-cluster-key-0123456789abcdef"]);
  const to = incarnationBytes("f0e1d2c3b4a59687");
  const sealer = new MeshSealer(ring);
  const corpus = meshCorpus().map((framed) => {
    const p = decodeMeshPacket(framed) as MeshPacket;
    return sealer.seal(p.type, p.streamId, p.track, p.payload, to);
  });
  const sealed = new Set(corpus.map((d) => d.join(",")));
  const target = meshFrameTarget("mesh-sealed", corpus, (datagram) => {
    const copy = datagram.slice();
    const result = new MeshOpener(ring, to).open(datagram);
    check(
      isMeshReject(result) || sealed.has(copy.join(",")),
      () => "a datagram the sealer never wrote was accepted",
    );
    return result;
  }, { payloadInInput: false, reencode: null });
  return {
    ...target,
    what: "MeshOpener.open: only what the sealer wrote opens; packet or reason, fields in range",
  };
}

// ---------------------------------------------------------------------------------------------------------------
// RTP

let demoPackets: Uint8Array[] | null = null;

/** The first packets of the demo clip (assets/demo.h264) packetized as RTP H.264: SPS, PPS, SEI, FU-A, P. */
function demoRtpPackets(): Uint8Array[] {
  if (demoPackets) return demoPackets;
  const clip = Deno.readFileSync(new URL("../../assets/demo.h264", import.meta.url));
  const nals = splitAnnexB(clip).slice(0, 8);
  const pk = new H264Packetizer({ payloadType: 96, ssrc: 0x1234abcd, initialSequence: 65530, mtu: 400 });
  const out: Uint8Array[] = [];
  nals.forEach((nal, i) => pk.packetize([nal], i * 3600, (p) => out.push(p)));
  // Keep a few of each kind: the first (SPS, PPS, SEI, FU-A start), the middle and the last.
  demoPackets = [...out.slice(0, 6), ...out.slice(-4)];
  return demoPackets;
}

/** RTP corpus: demo H.264 packets, H.265 AP and FU, CSRCs, a header extension, padding. */
export function rtpCorpus(): Uint8Array[] {
  const make = (b0: number, extra: number[], payload: number[]) => {
    const p = new Uint8Array(12 + extra.length + payload.length);
    writeRtpHeader(p, 0, { marker: true, payloadType: 97, sequence: 100, timestamp: 9000, ssrc: 0x1234abcd });
    p[0] = b0;
    p.set(extra, 12);
    p.set(payload, 12 + extra.length);
    return p;
  };
  return [
    ...demoRtpPackets(),
    make(0x80, [], [0x60, 0x01, 0x00, 0x04, 0x40, 0x01, 0x0c, 0x01, 0x00, 0x03, 0x26, 0x01, 0xaf]), // H.265 AP: VPS, IDR
    make(0x80, [], [0x62, 0x01, 0x93, 0xaf, 0x00]), // H.265 FU start of an IDR_N_LP
    make(0x82, [0, 0, 0, 1, 0, 0, 0, 2], [0x41, 0x9a]), // CC=2
    make(0x90, [0xbe, 0xde, 0x00, 0x01, 0x10, 0xaa, 0x00, 0x00], [0x65, 0x88]), // X: one-byte header extension
    make(0xa0, [], [0x41, 0x9a, 0x00, 0x00, 0x03]), // P: 3 bytes of padding
    make(0x80, [], [0x18, 0x00, 0x02, 0x67, 0x42, 0x00, 0x02, 0x68, 0xce]), // STAP-A: SPS, PPS
  ];
}

const rtpArbitrary: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.uint8Array({ maxLength: 1500 }),
  fc.record({
    b0: fc.integer({ min: 0, max: 255 }).map((b) => (b & 0x3f) | 0x80),
    b1: fc.integer({ min: 0, max: 255 }),
    rest: fc.uint8Array({ minLength: 10, maxLength: 10 }),
    extra: fc.uint8Array({ maxLength: 80 }),
    payload: fc.oneof(
      fc.uint8Array({ maxLength: 300 }),
      fc.tuple(fc.constantFrom(24, 28, 0x7c, 0x5c, 0x65, 0x67), fc.uint8Array({ maxLength: 60 }))
        .map(([h, t]) => Uint8Array.from([h, ...t])),
    ),
  }).map(({ b0, b1, rest, extra, payload }) => Uint8Array.from([b0, b1, ...rest, ...extra, ...payload])),
);

/**
 * The RTP header readers of src/rtp/packet.ts and the keyframe and Annex B scanners of h264.ts/h265.ts: never
 * throw; offsets stay inside the packet; accessors give integers in range; scanners give views of the input.
 */
export function runRtpPacket(input: Uint8Array): FuzzResult {
  const n = input.length;
  const off = rtpPayloadOffset(input);
  const end = rtpPayloadEnd(input);
  const ok = isRtpPacket(input);
  check(ok === off >= 0 && (off < 0) === (end < 0), () => `isRtpPacket ${ok}, offset ${off}, end ${end}`);
  const rtcp = isRtcpPacket(input);
  check(!rtcp || n >= 4, () => "isRtcpPacket of fewer than 4 bytes");
  if (!ok) return REFUSED;
  check(off >= 12 && off <= end && end <= n, () => `payload ${off}..${end} of ${n} bytes`);
  const seq = rtpSequence(input);
  const ts = rtpTimestamp(input);
  const ssrc = rtpSsrc(input);
  const pt = rtpPayloadType(input);
  check(seq >= 0 && seq <= 0xffff && Number.isInteger(seq), () => `sequence ${seq}`);
  check(ts >= 0 && ts <= 0xffffffff && Number.isInteger(ts), () => `timestamp ${ts}`);
  check(ssrc >= 0 && ssrc <= 0xffffffff && Number.isInteger(ssrc), () => `ssrc ${ssrc}`);
  check(pt >= 0 && pt <= 127, () => `payload type ${pt}`);
  check(typeof rtpMarker(input) === "boolean", () => "marker");
  const payload = input.subarray(off, end);
  check(typeof isKeyframeRtpPayload(payload) === "boolean", () => "isKeyframeRtpPayload");
  check(typeof isH265KeyframeRtpPayload(payload) === "boolean", () => "isH265KeyframeRtpPayload");
  for (const nal of splitAnnexB(payload)) {
    check(
      nal.buffer === input.buffer && nal.byteOffset >= input.byteOffset + off &&
        nal.byteOffset + nal.length <= input.byteOffset + end && nal.length > 0,
      () => "splitAnnexB gave a unit outside the payload",
    );
  }
  return ACCEPTED;
}

/** A counting egress for the track target: checks what the track sends. */
class CheckingEgress implements Egress {
  readonly id = "fuzz";
  readonly kind = "tcp" as const;
  rtp = 0;
  rtcp = 0;
  constructor(readonly ssrc: number) {}
  sendRtp(packet: Uint8Array): boolean {
    check(
      isRtpPacket(packet) && rtpSsrc(packet) === this.ssrc,
      () => "the track sent a packet it should not",
    );
    this.rtp++;
    return true;
  }
  sendRtcp(packet: Uint8Array): boolean {
    check(isValidRtcpCompound(packet), () => "the track forwarded a malformed RTCP compound");
    this.rtcp++;
    return true;
  }
}

/** Output SSRC of the track target. */
const TRACK_SSRC = 0x0badcafe;
const GOP_BYTES = 64 * 1024;

/**
 * The per-packet data path: a {@linkcode Track} with an H.264 GOP cache and one checking egress, kept from input
 * to input (so sequence jumps, SSRC changes and keyframes interact), ingests each input as an RTP datagram (or,
 * when it looks like RTCP, as an RTCP compound). Checks: counters add up, only valid RTP with the output SSRC
 * and only valid RTCP compounds are sent, the GOP cache stays within its bound, the receiver statistics and the
 * report block stay finite and in range, and the block marshals.
 */
/**
 * A browser viewer of one H.264 track (src/viewer/fmp4_viewer.ts), state kept across inputs: each input one RTP
 * packet. What it sends must be a text init message naming an `avc1` MIME type, the initialization segment
 * (`ftyp` first), then whole `moof` + `mdat` pairs whose sizes add up to the message.
 */
export function viewerTarget(): FuzzTarget & { fragments(): number } {
  let viewer: Fmp4Viewer;
  let state: "init" | "segment" | "fragments";
  let fragments = 0;
  const sink = {
    text(message: string) {
      check(state === "init", () => `a text message after the init: ${message}`);
      const m = JSON.parse(message) as { type?: string; mime?: string; width?: number; height?: number };
      check(
        m.type === "init" && /^video\/mp4; codecs="avc1\.[0-9a-f]{6}"$/.test(m.mime ?? "") &&
          (m.width ?? 0) > 0 && (m.height ?? 0) > 0,
        () => `init message ${message}`,
      );
      state = "segment";
    },
    binary(bytes: Uint8Array) {
      const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      const type = (at: number) => latin1.decode(bytes.subarray(at + 4, at + 8));
      if (state === "segment") {
        check(type(0) === "ftyp", () => `init segment starts with ${type(0)}`);
        state = "fragments";
        return;
      }
      check(state === "fragments", () => "a fragment before the init segment");
      const moof = v.getUint32(0);
      check(type(0) === "moof" && type(moof) === "mdat", () => `fragment boxes ${type(0)}, ${type(moof)}`);
      check(
        moof + v.getUint32(moof) === bytes.length,
        () => `boxes ${moof} + ${v.getUint32(moof)} of ${bytes.length}`,
      );
      fragments++;
    },
    buffered: () => 0,
  };
  const media = {
    type: "video",
    control: undefined,
    payloadType: 96,
    encoding: "H264",
    clockRate: 90000,
    fmtp: undefined,
    raw: {} as MediaDescription["raw"],
  };
  const reset = () => {
    viewer = new Fmp4Viewer({ id: "fuzz", sink, media });
    state = "init";
  };
  reset();
  return {
    name: "h264-viewer",
    what:
      "RTP packets into a browser viewer (depacketizer, SPS reader, fMP4): whole boxes only, never a throw",
    corpus: rtpCorpus(),
    mutateOptions: { specials: BINARY_SPECIAL_BYTES, maxGlued: 1, maxMutations: 3 },
    arbitrary: rtpArbitrary,
    maxHeldBytes: 0,
    reset,
    run(input) {
      viewer.sendRtp(input);
      return isRtpPacket(input) ? ACCEPTED : REFUSED;
    },
    fragments: () => fragments,
  };
}

function trackTarget(): FuzzTarget {
  let clock = 0;
  let track: Track;
  let gop: GopCache;
  let egress: CheckingEgress;
  let fed = 0;
  const reset = () => {
    gop = new GopCache("H264", GOP_BYTES);
    track = new Track({
      index: 0,
      clockRate: 90000,
      outputSsrc: TRACK_SSRC,
      now: () => clock,
      gopCache: gop,
    });
    egress = new CheckingEgress(TRACK_SSRC);
    track.addEgress(egress);
    fed = 0;
  };
  reset();
  const rr = new Uint8Array(64);
  return {
    name: "rtp-track",
    what: "Track.ingestRtp/ingestRtcp + GOP cache + RFC 3550 stats, state kept across inputs",
    corpus: [...rtpCorpus(), ...rtcpCorpus()],
    mutateOptions: { specials: BINARY_SPECIAL_BYTES, maxGlued: 1, maxMutations: 3 },
    arbitrary: rtpArbitrary,
    maxHeldBytes: GOP_BYTES,
    reset,
    run(input, r) {
      clock += r() * 0.05;
      const before = track.counters.packetsIn;
      const invalidBefore = track.counters.dropped.invalid_rtp;
      const asRtcp = isRtcpPacket(input);
      if (asRtcp) track.ingestRtcp(input);
      else {
        fed++;
        track.ingestRtp(input);
      }
      const c = track.counters;
      check(
        c.packetsIn + c.dropped.invalid_rtp === fed,
        () => `${c.packetsIn} in + ${c.dropped.invalid_rtp} invalid != ${fed}`,
      );
      check(
        egress.rtp === c.forwarded.tcp && egress.rtp === c.packetsIn,
        () => `sent ${egress.rtp}, in ${c.packetsIn}`,
      );
      check(gop.bytes <= GOP_BYTES, () => `GOP cache holds ${gop.bytes} bytes`);
      if ((fed & 63) === 0 && gop.packets.length > 0) {
        // What a joining reader is replayed: valid RTP of the output SSRC, starting at a keyframe.
        let bytes = 0;
        for (const p of gop.packets) {
          check(
            isRtpPacket(p) && rtpSsrc(p) === TRACK_SSRC,
            () => "the GOP cache holds a packet readers must not get",
          );
          bytes += p.length;
        }
        const first = gop.packets[0]!;
        check(bytes === gop.bytes, () => `GOP cache says ${gop.bytes} bytes, holds ${bytes}`);
        check(
          isKeyframeRtpPayload(first.subarray(rtpPayloadOffset(first), rtpPayloadEnd(first))),
          () => "the GOP cache does not start at a keyframe",
        );
      }
      const snap = track.receiverStats.snapshot();
      check(
        Number.isFinite(snap.jitterSeconds) && snap.jitterSeconds >= 0 && Number.isFinite(snap.missing) &&
          Number.isFinite(snap.lost) && snap.missing >= 0,
        () => `statistics ${JSON.stringify(snap)}`,
      );
      const block = track.receiverReportBlock();
      if (block) checkBlock(block, rr);
      const accepted = asRtcp ? true : c.packetsIn > before && c.dropped.invalid_rtp === invalidBefore;
      return { accepted, held: gop.bytes };
    },
  };
}

function checkBlock(block: ReportBlock, scratch: Uint8Array): void {
  check(
    Number.isInteger(block.fractionLost) && block.fractionLost >= 0 && block.fractionLost <= 255 &&
      Number.isInteger(block.cumulativeLost) && Number.isInteger(block.highestSeq) && block.highestSeq >= 0 &&
      block.highestSeq <= 0xffffffff && Number.isFinite(block.jitter) && block.jitter >= 0,
    () => `report block ${JSON.stringify(block)}`,
  );
  const size = marshalReceiverReport(scratch, 0, { ssrc: 1, reports: [block] });
  const back = parseReceiverReport(scratch.subarray(0, size));
  check(back !== null && back.reports.length === 1, () => "a marshalled report block does not parse back");
}

// ---------------------------------------------------------------------------------------------------------------
// RTCP

/** RTCP corpus: SR+SDES, RR+SDES, BYE with a reason, APP, PLI, a padded last packet. */
export function rtcpCorpus(): Uint8Array[] {
  const block: ReportBlock = {
    ssrc: TRACK_SSRC,
    fractionLost: 12,
    cumulativeLost: -3,
    highestSeq: 0x1_0005,
    jitter: 120,
    lsr: 0x1234_5678,
    dlsr: 0x10000,
  };
  const sr = new Uint8Array(200);
  let n = marshalSenderReport(sr, 0, {
    ssrc: 0x1234abcd,
    ntpSec: 0xe000_0000,
    ntpFrac: 0x8000_0000,
    rtpTimestamp: 90000,
    packetCount: 10,
    octetCount: 12000,
    reports: [block],
  });
  n += marshalSdesCname(sr, n, 0x1234abcd, "cam@10.0.0.5");
  const bye = new Uint8Array(16);
  const byeLen = marshalBye(bye, 0, [0x1234abcd, 7]);
  const byeWithReason = Uint8Array.from([
    0x81,
    RTCP_BYE,
    0,
    3,
    0x12,
    0x34,
    0xab,
    0xcd,
    6,
    ...enc.encode("gone!!"),
    0,
  ]);
  const app = Uint8Array.from([0x80, 204, 0, 3, 0, 0, 0, 1, ...enc.encode("msm!"), 1, 2, 3, 4]);
  const pli = Uint8Array.from([0x81, 206, 0, 2, 0, 0, 0, 1, 0x12, 0x34, 0xab, 0xcd]);
  const padded = Uint8Array.from([0xa0, RTCP_RR, 0, 2, 0, 0, 0, 9, 0, 0, 0, 4]);
  return [
    sr.slice(0, n),
    buildReceiverReportCompound(0x55, "reader", [block, { ...block, ssrc: 1 }]),
    bye.slice(0, byeLen),
    byeWithReason,
    app,
    pli,
    concat([buildReceiverReportCompound(0x55, "r", []), padded]),
  ];
}

const rtcpArbitrary: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.uint8Array({ maxLength: 600 }),
  fc.array(
    fc.tuple(
      fc.integer({ min: 0, max: 255 }),
      fc.constantFrom(RTCP_SR, RTCP_RR, 202, RTCP_BYE, 204, 205, 206, 207),
      fc.integer({ min: 0, max: 40 }),
      fc.uint8Array({ minLength: 160, maxLength: 160 }),
    ).map(([b0, type, words, body]) =>
      // The length field matches the body: the walk reaches the per-type parsers.
      Uint8Array.from([(b0 & 0x1f) | 0x80, type, words >> 8, words & 0xff, ...body.subarray(0, words * 4)])
    ),
    { minLength: 1, maxLength: 4 },
  ).map(concat),
);

/**
 * RTCP compounds (src/rtp/rtcp.ts) as the relay meets them from cameras and readers: the compound walk and the
 * SR, RR and BYE parsers never throw and stay inside the input; the upstream rewrite (`rewriteUpstreamRtcp`)
 * only ever yields a valid compound; reader reports (`readerReportsOf`) come out finite.
 */
export function runRtcp(input: Uint8Array): FuzzResult {
  const valid = isValidRtcpCompound(input);
  let seen = 0;
  const walked = forEachRtcpPacket(input, (type, pkt, count) => {
    check(pkt.buffer === input.buffer && pkt.length >= 4 && count >= 0 && count <= 31, () => "a packet view");
    seen += pkt.length;
    if (type === RTCP_SR) {
      const sr = parseSenderReport(pkt);
      if (sr) check(sr.reports.length === count, () => `SR with ${sr.reports.length} of ${count} blocks`);
    } else if (type === RTCP_RR) {
      const rr = parseReceiverReport(pkt);
      if (rr) check(rr.reports.length === count, () => `RR with ${rr.reports.length} of ${count} blocks`);
    } else if (type === RTCP_BYE) {
      const bye = parseBye(pkt);
      if (bye) check(bye.ssrcs.length === count, () => `BYE with ${bye.ssrcs.length} of ${count} sources`);
    }
  });
  check(walked === valid, () => `forEachRtcpPacket ${walked}, isValidRtcpCompound ${valid}`);
  check(!valid || seen === input.length, () => `the walk covered ${seen} of ${input.length} bytes`);
  const out = rewriteUpstreamRtcp(input, { inSsrc: 0x1234abcd, outSsrc: TRACK_SSRC, tsDelta: 12345 });
  if (out !== null) {
    check(isValidRtcpCompound(out), () => "rewriteUpstreamRtcp produced a malformed compound");
  }
  check(valid || out === null, () => "rewriteUpstreamRtcp accepted a malformed compound");
  const reports = readerReportsOf(input, [{ outputSsrc: TRACK_SSRC, clockRate: 90000 }, undefined], 0, 0);
  check((reports !== null) === valid, () => "readerReportsOf disagrees with isValidRtcpCompound");
  for (const rep of reports?.values() ?? []) {
    check(
      Number.isFinite(rep.jitterSeconds) && rep.fractionLost >= 0 && rep.fractionLost < 1 &&
        Number.isInteger(rep.cumulativeLost),
      () => `reader report ${JSON.stringify(rep)}`,
    );
  }
  return valid ? ACCEPTED : REFUSED;
}

// ---------------------------------------------------------------------------------------------------------------
// SDP

/** SDP corpus: the demo's, ffmpeg's (with audio), a GStreamer-like one, a camera's with absolute controls. */
export function sdpCorpus(): Uint8Array[] {
  return [
    [
      "v=0",
      "o=- 0 0 IN IP4 127.0.0.1",
      "s=msm-relay demo",
      "c=IN IP4 0.0.0.0",
      "t=0 0",
      "m=video 0 RTP/AVP 96",
      "a=rtpmap:96 H264/90000",
      "a=fmtp:96 packetization-mode=1;profile-level-id=42c00d;sprop-parameter-sets=Z0LADdkBQfsBEAAAAwAQAAADAyDxQqSA,aMuMsg==",
      "a=framerate:25",
      "a=control:trackID=0",
      "",
    ],
    [
      "v=0",
      "o=- 0 0 IN IP4 127.0.0.1",
      "s=No Name",
      "c=IN IP4 127.0.0.1",
      "t=0 0",
      "a=tool:libavformat 59.27.100",
      "m=video 0 RTP/AVP 96",
      "b=AS:200",
      "a=rtpmap:96 H264/90000",
      "a=fmtp:96 packetization-mode=1",
      "a=control:streamid=0",
      "m=audio 0 RTP/AVP 97",
      "b=AS:64",
      "a=rtpmap:97 MPEG4-GENERIC/44100/2",
      "a=fmtp:97 profile-level-id=1;mode=AAC-hbr;sizelength=13;indexlength=3;indexdeltalength=3; config=121056E500",
      "a=control:streamid=1",
      "",
    ],
    [
      "v=0",
      "o=- 1188340656180883 1 IN IP4 127.0.0.1",
      "s=Session streamed with GStreamer",
      "i=rtsp-server",
      "t=0 0",
      "a=tool:GStreamer",
      "a=type:broadcast",
      "a=range:npt=now-",
      "a=control:rtsp://127.0.0.1:8554/cam",
      "m=video 0 RTP/AVP 96",
      "c=IN IP4 0.0.0.0",
      "a=rtpmap:96 H265/90000",
      "a=control:rtsp://127.0.0.1:8554/cam/stream=0",
      "m=audio 0 RTP/AVP 0",
      "a=control:stream=1",
      "",
    ],
  ].map((lines) => enc.encode(lines.join("\r\n")));
}

const sdpLine = fc.oneof(
  fc.constantFrom(
    "v=0",
    "o=- 0 0 IN IP4 127.0.0.1",
    "s=x",
    "t=0 0",
    "c=IN IP4 0.0.0.0",
    "m=video 0 RTP/AVP 96",
    "m=audio 0 RTP/AVP 0 8",
    "m=application 0 RTP/AVP 107",
    "a=rtpmap:96 H264/90000",
    "a=rtpmap:97 opus/48000/2",
    "a=fmtp:96 packetization-mode=1",
    "a=control:trackID=1",
    "a=control:*",
    "a=range:npt=0-",
    "a=rtcp:9 IN IP4 0.0.0.0",
    "b=AS:500",
  ),
  fc.tuple(fc.constantFrom(..."vosiuepcbtrzkam"), fc.string({ unit: asciiChar, maxLength: 60 }))
    .map(([k, v]) => `${k}=${v}`),
  fc.tuple(
    fc.constantFrom(
      "a=rtpmap:",
      "a=fmtp:",
      "a=control:",
      "m=",
      "o=",
      "c=",
      "a=rtcp:",
      "a=framerate:",
      "a=range:",
    ),
    fc.string({ unit: byteChar, maxLength: 60 }),
  ).map(([k, v]) => k + v),
);

const sdpArbitrary: fc.Arbitrary<Uint8Array> = fc.tuple(
  fc.boolean(),
  fc.array(sdpLine, { maxLength: 30 }),
  fc.constantFrom("\r\n", "\n"),
).map(([v0, lines, eol]) => bytesOf((v0 ? ["v=0", ...lines] : lines).join(eol) + eol));

/**
 * The SDP of an ANNOUNCE (src/rtsp/sdp.ts): `parseSdp` refuses with an RtspProtocolError 400/415 or gives media
 * with a payload type 0..127 and a positive integer clock rate; then every media has a control URL, the
 * relay's rewrite for readers does not throw and its output parses again with the same media.
 */
export function runSdp(input: Uint8Array): FuzzResult {
  const text = utf8.decode(input);
  let desc;
  try {
    desc = parseSdp(text);
  } catch (e) {
    if (isRefusal(e, [400, 415])) return REFUSED;
    throw e;
  }
  check(desc.medias.length > 0, () => "no media");
  const base = "rtsp://relay:8554/p";
  sessionControlUrl(desc, base);
  desc.medias.forEach((m, i) => {
    check(m.payloadType >= 0 && m.payloadType <= 127, () => `payload type ${m.payloadType}`);
    check(Number.isSafeInteger(m.clockRate) && m.clockRate > 0, () => `clock rate ${m.clockRate}`);
    check(typeof mediaControlUrl(desc, i, base) === "string", () => "control URL");
  });
  const served = rewriteSdpForServing(desc, { sessionName: "p", originAddress: "10.0.0.1" });
  let again;
  try {
    again = parseSdp(served);
  } catch (e) {
    throw new FuzzInvariantError(`the SDP served to readers does not parse: ${e}\n${served}`);
  }
  check(
    again.medias.length === desc.medias.length,
    () => `served ${again.medias.length} of ${desc.medias.length} media`,
  );
  again.medias.forEach((m, i) =>
    check(m.control === `trackID=${i}`, () => `served media ${i} has control ${JSON.stringify(m.control)}`)
  );
  return ACCEPTED;
}

// ---------------------------------------------------------------------------------------------------------------
// WHEP offers

/** Chromium's receive-only offers (video; video and audio), as src/webrtc/ tests keep them. */
export function whepOfferCorpus(): Uint8Array[] {
  return ["chromium_offer_video.sdp", "chromium_offer_av.sdp"].map((name) =>
    Deno.readFileSync(new URL(`../../src/webrtc/testdata/${name}`, import.meta.url))
  );
}

const whepLine = fc.oneof(
  fc.constantFrom(
    "v=0",
    "o=- 1 2 IN IP4 127.0.0.1",
    "s=-",
    "t=0 0",
    "a=group:BUNDLE 0 1",
    "a=group:BUNDLE 0",
    "m=video 9 UDP/TLS/RTP/SAVPF 96 97",
    "m=audio 9 UDP/TLS/RTP/SAVPF 111 0 8",
    "c=IN IP4 0.0.0.0",
    "a=mid:0",
    "a=mid:1",
    "a=recvonly",
    "a=sendrecv",
    "a=rtcp-mux",
    "a=ice-ufrag:abcd",
    "a=ice-pwd:abcdefghijklmnopqrstuvwx",
    "a=fingerprint:sha-256 AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99",
    "a=setup:actpass",
    "a=rtpmap:96 H264/90000",
    "a=rtpmap:97 VP8/90000",
    "a=rtpmap:111 opus/48000/2",
    "a=fmtp:96 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
    "a=rtcp-fb:96 nack",
    "a=rtcp-fb:96 nack pli",
    "a=rtcp-fb:* nack",
  ),
  fc.tuple(
    fc.constantFrom(
      "a=rtpmap:",
      "a=fmtp:",
      "a=mid:",
      "a=group:BUNDLE ",
      "m=",
      "a=ice-ufrag:",
      "a=fingerprint:",
    ),
    fc.string({ unit: byteChar, maxLength: 40 }),
  ).map(([k, v]) => k + v),
);

const whepArbitrary: fc.Arbitrary<Uint8Array> = fc.array(whepLine, { maxLength: 40 })
  .map((lines) => bytesOf(["v=0", ...lines].join("\r\n") + "\r\n"));

/**
 * WHEP offers into `negotiate` (src/webrtc/whep_negotiation.ts) against a camera with H.264 and Opus: it refuses
 * with 400 or 422 and a reason, or answers with an SDP that parses again, a BUNDLE of exactly the sections it
 * sends on, each with a payload type the offer had for that codec. Never a throw.
 */
export function whepOfferTarget(): FuzzTarget {
  const tracks = parseSdp(
    "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=cam\r\nt=0 0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n" +
      "a=fmtp:96 packetization-mode=1;profile-level-id=42e01f\r\nm=audio 0 RTP/AVP 97\r\na=rtpmap:97 opus/48000/2\r\n",
  ).medias.map((media, trackIndex) => ({ trackIndex, media }));
  const local = {
    ufrag: "RelY",
    pwd: "relaypasswordrelaypassw0",
    fingerprint: "sha-256 AA:BB",
    candidates: [{ address: "127.0.0.1", port: 8189 }],
    sessionId: "1",
  };
  return {
    name: "whep-offer",
    what:
      "WHEP offers into negotiate(): 400/422 with a reason, or an answer that parses, bundles what it sends",
    corpus: whepOfferCorpus(),
    mutateOptions: { specials: RTSP_SPECIAL_BYTES, maxGlued: 1, maxMutations: 4 },
    arbitrary: whepArbitrary,
    arbitraryShare: 0.3,
    maxHeldBytes: 0,
    run(input) {
      const offer = utf8.decode(input);
      const got = negotiate(offer, tracks, local, (i) => 1000 + i);
      if (!got.ok) {
        check(
          (got.status === 400 || got.status === 422) && got.reason.length > 0,
          () => `refusal ${got.status}`,
        );
        return REFUSED;
      }
      const answer = parseSdpTransform(got.answer);
      const bundle = String(answer.groups?.find((g) => g.type === "BUNDLE")?.mids ?? "").split(" ");
      check(
        JSON.stringify(bundle) === JSON.stringify(got.plans.map((p) => p.mid)),
        () => `BUNDLE ${bundle} for plans ${got.plans.map((p) => p.mid)}`,
      );
      const offered = parseSdpTransform(offer).media;
      for (const plan of got.plans) {
        const section = offered.find((m) => String(m.mid) === plan.mid);
        check(
          section?.rtp.some((r) => r.payload === plan.payloadType) === true,
          () => `payload type ${plan.payloadType} of ${plan.mid} is not the offer's`,
        );
      }
      return ACCEPTED;
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// RTSP header values and URLs

/** Header values and URLs a request carries. */
export function headerCorpus(): Uint8Array[] {
  return [
    "RTP/AVP;unicast;client_port=5000-5001",
    "RTP/AVP/TCP;unicast;interleaved=0-1;mode=record",
    'RTP/AVP;multicast;destination=239.0.0.1;port=5000-5001;ttl=16, RTP/AVP/UDP;unicast;client_port=4588-4589;x="a,b"',
    "12345678;timeout=60",
    "npt=0.000-",
    "clock=19961108T143720Z-19961108T143730.25Z",
    "smpte=10:07:00-10:07:33:05.01",
    "url=rtsp://relay/p/trackID=0;seq=312;rtptime=3450012,url=rtsp://relay/p/trackID=1;seq=1",
    'Digest username="u", realm="r", nonce="n", uri="rtsp://relay/cam1", response="0123", algorithm=SHA-256',
    "Basic dTpw",
    'Digest realm="cam", nonce="abc", qop="auth", stale=TRUE, Basic realm="cam"',
    "rtsp://admin:p%40ss@[fe80::1]:8554/cam?x=1",
    "rtsp://h:8554/cam1/trackID=3",
  ].map((s) => enc.encode(s));
}

const headerArbitrary: fc.Arbitrary<Uint8Array> = fc.array(
  fc.oneof(
    fc.constantFrom(
      "RTP/AVP",
      "/TCP",
      ";",
      "=",
      "-",
      ",",
      '"',
      "\\",
      "client_port",
      "interleaved",
      "ttl",
      "ssrc",
      "mode",
      "npt",
      "clock",
      "smpte",
      "now",
      "Digest ",
      "Basic ",
      "username",
      "realm",
      "nonce",
      "url",
      "seq",
      "rtptime",
      "rtsp://",
      "@",
      ":",
      "[",
      "]",
      "%",
      "/",
      "?",
      "trackID=",
      "timeout",
    ),
    fc.nat({ max: 1e12 }).map(String),
    fc.string({ unit: byteChar, maxLength: 8 }),
  ),
  { maxLength: 30 },
).map((parts) => bytesOf(parts.join("")));

/** Runs `parse` on `value`: true when it accepts, false on a documented refusal; rethrows anything else. */
function tryParse(parse: () => unknown, statuses?: readonly number[]): boolean {
  try {
    parse();
    return true;
  } catch (e) {
    if (isRefusal(e, statuses)) return false;
    throw e;
  }
}

/**
 * Every header parser and URL rule of a request (Transport, Session, Range, RTP-Info, Authorization,
 * WWW-Authenticate, RTSP URLs and track URLs): only their documented RtspProtocolError escapes, and what
 * parses formats back without throwing and parses again.
 */
export function runHeaders(input: Uint8Array): FuzzResult {
  const value = utf8.decode(input);
  let accepted = false;
  accepted = tryParse(() => {
    const t = parseTransports(value);
    const again = parseTransports(formatTransports(t));
    check(again.length === t.length, () => "Transport does not parse back");
  }, [461]) || accepted;
  accepted = tryParse(() => {
    const s = parseSession(value);
    parseSession(formatSession(s));
  }, [400]) || accepted;
  accepted = tryParse(() => {
    const r = parseRange(value);
    parseRange(formatRange(r));
  }, [400]) || accepted;
  accepted = tryParse(() => {
    const entries = parseRtpInfo(value);
    const again = parseRtpInfo(formatRtpInfo(entries));
    check(again.length === entries.length, () => "RTP-Info does not parse back");
  }, [400]) || accepted;
  accepted = tryParse(() => parseAuthorization(value), [400]) || accepted;
  accepted = tryParse(() => parseChallenges([value]), [400]) || accepted;
  accepted = tryParse(() => {
    const u = parseRtspUrl(value);
    check(u.port >= 1 && u.port <= 65535 && u.host.length > 0, () => `URL ${JSON.stringify(u)}`);
  }, [400]) || accepted;
  accepted = tryParse(() => streamPathOf(value), [400]) || accepted;
  accepted = tryParse(() => {
    const { trackId } = splitTrackUrl(value);
    check(trackId === null || (Number.isSafeInteger(trackId) && trackId >= 0), () => `track ${trackId}`);
  }, [400]) || accepted;
  return accepted ? ACCEPTED : REFUSED;
}

// ---------------------------------------------------------------------------------------------------------------

/**
 * Every target, in the order the bench runs them. Built on demand (the corpora read the demo clip).
 * @example for (const t of createFuzzTargets()) console.log(t.name, t.corpus.length)
 */
export function createFuzzTargets(): FuzzTarget[] {
  return [
    {
      name: "rtsp-parser",
      what: "RtspParser fed in random chunks: only 4xx/5xx RtspProtocolError, bounded buffer",
      corpus: RTSP_CORPUS,
      mutateOptions: { specials: RTSP_SPECIAL_BYTES },
      arbitrary: rtspArbitrary,
      maxHeldBytes: RTSP_PARSER_MAX_HELD,
      run: runRtspParser,
    },
    meshFrameTarget("mesh-frame", meshCorpus(), decodeMeshPacket),
    meshSealedTarget(),
    {
      name: "rtp-packet",
      what: "RTP header readers, H.264/H.265 keyframe and Annex B scanners",
      corpus: rtpCorpus(),
      mutateOptions: { specials: BINARY_SPECIAL_BYTES, maxGlued: 2 },
      arbitrary: rtpArbitrary,
      maxHeldBytes: 0,
      run: runRtpPacket,
    },
    trackTarget(),
    viewerTarget(),
    {
      name: "rtcp",
      what: "RTCP compound walk, SR/RR/BYE parsers, upstream rewrite, reader reports",
      corpus: rtcpCorpus(),
      mutateOptions: { specials: BINARY_SPECIAL_BYTES, maxMutations: 3 },
      arbitrary: rtcpArbitrary,
      arbitraryShare: 0.4,
      maxHeldBytes: 0,
      run: runRtcp,
    },
    {
      name: "sdp",
      what: "parseSdp (400/415 only), control URLs, the served SDP parses again",
      corpus: sdpCorpus(),
      mutateOptions: { specials: RTSP_SPECIAL_BYTES, maxGlued: 2 },
      arbitrary: sdpArbitrary,
      maxHeldBytes: 0,
      run: runSdp,
    },
    whepOfferTarget(),
    {
      name: "rtsp-headers",
      what: "Transport/Session/Range/RTP-Info/auth header parsers and URL rules: documented errors only",
      corpus: headerCorpus(),
      mutateOptions: { specials: [...RTSP_SPECIAL_BYTES, 0x22, 0x3b, 0x2c, 0x3d] },
      arbitrary: headerArbitrary,
      maxHeldBytes: 0,
      run: runHeaders,
    },
  ];
}
