/**
 * The seeded byte mutator of the fuzz slices and `deno task bench:fuzz`, and the RTSP corpus it starts from: a
 * few valid inputs glued together, then 1-8 mutations (bit flips, byte inserts and deletes, repeated slices,
 * truncation, bytes where parsers slip). The same seed gives the same input, so a failure is replayed from its
 * seed alone.
 * @module
 */

const enc = new TextEncoder();

/**
 * Valid RTSP traffic the mutations start from: requests (with a Digest Authorization and an SDP body), a
 * response with a body, a `$`-interleaved RTP frame.
 */
export const RTSP_CORPUS: readonly Uint8Array[] = [
  "OPTIONS rtsp://cam/live RTSP/1.0\r\nCSeq: 1\r\n\r\n",
  "DESCRIBE rtsp://relay/cam1 RTSP/1.0\r\nCSeq: 2\r\nAccept: application/sdp\r\nAuthorization: Digest " +
  'username="u", realm="r", nonce="n", uri="rtsp://relay/cam1", response="0123"\r\n\r\n',
  "ANNOUNCE rtsp://relay/p RTSP/1.0\r\nCSeq: 3\r\nContent-Type: application/sdp\r\nContent-Length: 20\r\n\r\n" +
  "v=0\r\ns=x\r\nt=0 0\r\n\r\n",
  "SETUP rtsp://relay/p/trackID=0 RTSP/1.0\r\nCSeq: 4\r\nTransport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n\r\n",
  "RTSP/1.0 200 OK\r\nCSeq: 5\r\nSession: 12345678;timeout=60\r\nContent-Length: 5\r\n\r\nhello",
  "$\x00\x00\x08\x80\x60\x00\x01\x00\x00\x00\x01",
  "PLAY rtsp://relay/p RTSP/1.0\r\nCSeq: 6\r\nSession: 12345678\r\nRange: npt=0.000-\r\n\r\n",
].map((s) => enc.encode(s));

/** Bytes where text protocols slip: `$`, CR, LF, `:`, space, NUL, 0xff, DEL. */
export const RTSP_SPECIAL_BYTES: readonly number[] = [0x24, 0x0d, 0x0a, 0x3a, 0x20, 0x00, 0xff, 0x7f];

/** Bytes where binary headers slip: zero, all ones, the sign bits, small counts and version nibbles. */
export const BINARY_SPECIAL_BYTES: readonly number[] = [0x00, 0xff, 0x80, 0x7f, 0x01, 0x10, 0x20, 0xc0];

/** Options of {@linkcode mutate}. */
export interface MutateOptions {
  /** Most corpus entries glued together before mutating. @default 3 */
  maxGlued?: number;
  /** Most mutations applied. @default 8 */
  maxMutations?: number;
  /** Bytes inserted by the "special byte" mutation (8 of them are drawn from). @default RTSP_SPECIAL_BYTES */
  specials?: readonly number[];
}

/**
 * One input: 1..`maxGlued` corpus entries glued together, then 1..`maxMutations` mutations, drawn from `r`.
 * @param corpus valid inputs (not modified)
 * @param r a generator uniform in [0, 1), e.g. `seededRandom(seed)`
 * @param options how much to glue and mutate, and which special bytes to insert
 * @returns a fresh array
 * @example mutate(RTSP_CORPUS, seededRandom(42))
 */
export function mutate(
  corpus: readonly Uint8Array[],
  r: () => number,
  options: MutateOptions = {},
): Uint8Array {
  if (corpus.length === 0) throw new RangeError("mutate() needs a corpus of at least one input");
  const specials = options.specials ?? RTSP_SPECIAL_BYTES;
  const int = (n: number) => Math.floor(r() * n);
  let bytes: number[] = [];
  for (let k = 1 + int(options.maxGlued ?? 3); k > 0; k--) {
    for (const b of corpus[int(corpus.length)]!) bytes.push(b);
  }
  for (let m = 1 + int(options.maxMutations ?? 8); m > 0; m--) {
    const at = int(bytes.length + 1);
    switch (int(6)) {
      case 0: // bit flip
        if (bytes.length) bytes[at % bytes.length]! ^= 1 << int(8);
        break;
      case 1: // insert a random byte
        bytes.splice(at, 0, int(256));
        break;
      case 2: // delete 1-8 bytes
        bytes.splice(at, 1 + int(8));
        break;
      case 3: { // repeat a slice (long headers, many headers)
        const repeated = bytes.slice(at, at + 1 + int(64)).flatMap((b) => Array(1 + int(4)).fill(b));
        bytes = bytes.slice(0, at).concat(repeated, bytes.slice(at));
        break;
      }
      case 4: // truncate
        bytes = bytes.slice(0, at);
        break;
      default: // special bytes where parsers slip
        bytes.splice(at, 0, specials[int(specials.length)]!);
    }
  }
  return Uint8Array.from(bytes);
}

/** Hex of at most `max` bytes of `bytes` (for failure reports), with the total length when cut. */
export function hex(bytes: Uint8Array, max = 4096): string {
  let s = "";
  const n = Math.min(bytes.length, max);
  for (let i = 0; i < n; i++) s += bytes[i]!.toString(16).padStart(2, "0");
  return n < bytes.length ? `${s}… (${bytes.length} bytes)` : s;
}
