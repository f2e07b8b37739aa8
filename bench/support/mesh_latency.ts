/**
 * Per-packet latencies of the mesh bench: what `bench/c/stamp_sink.c` writes (per port, one little-endian double
 * per packet number: ns from the blaster's send stamp to the kernel's arrival stamp, NaN when the packet never
 * came), and the added latency of a hop from it: per packet, the arrival at the deeper reader minus the arrival at
 * the shallower one. Sans-I/O.
 * @module
 */

/** Added latency of one hop over the packets both readers received. */
export interface HopLatency {
  /** Packets both readers received. */
  packets: number;
  /** Median, 99th percentile and maximum of the difference, µs. */
  p50Us: number;
  p99Us: number;
  maxUs: number;
}

/**
 * Splits a stamp sink's output into one array per port.
 * @param bytes the file the sink wrote
 * @param ports ports the sink listened on
 * @param expected EXPECTED given to the sink (packets per port)
 * @throws RangeError when the file does not hold `ports` x `expected` doubles
 */
export function splitLatencies(bytes: Uint8Array, ports: number, expected: number): Float64Array[] {
  if (bytes.byteLength !== ports * expected * 8) {
    throw new RangeError(
      `Latency file of ${bytes.byteLength} bytes, expected ${ports} x ${expected} doubles`,
    );
  }
  const all = new Float64Array(bytes.slice().buffer);
  return Array.from({ length: ports }, (_, p) => all.subarray(p * expected, (p + 1) * expected));
}

/**
 * The added latency from the reader `from` to the reader `to` (one hop below it), per packet both received.
 * @param from ns from send to arrival at the shallower reader, per packet number (NaN: missing)
 * @param to the same at the deeper reader
 */
export function hopLatency(from: Float64Array, to: Float64Array): HopLatency {
  const n = Math.min(from.length, to.length);
  const diffs = new Float64Array(n);
  let k = 0;
  for (let i = 0; i < n; i++) {
    const d = to[i]! - from[i]!;
    if (!Number.isNaN(d)) diffs[k++] = d;
  }
  return stats(diffs.subarray(0, k).sort());
}

/** Latency from send to arrival at one reader (the blaster's stamp is read before its sendmmsg). */
export function sendLatency(at: Float64Array): HopLatency {
  return stats(at.filter((v) => !Number.isNaN(v)).sort());
}

function stats(sorted: Float64Array): HopLatency {
  const q = (p: number) =>
    sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]! / 1000;
  return { packets: sorted.length, p50Us: q(0.5), p99Us: q(0.99), maxUs: q(1) };
}
