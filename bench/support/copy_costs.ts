/**
 * The fan-out bench's marginal copy costs (bench/mesh.ts), thread group by thread group: what four more UDP readers
 * (phase B) and four mesh children (phase C) add to a root's CPU per packet offered over one reader alone (phase
 * A), per copy. The Worker's share is the data plane's cost of a copy; the main thread's share in phase C is the
 * children's control plane (heartbeats, receiver reports, lease renewals), which a relay pays per child and second,
 * not per packet, so it weighs more at low packet rates.
 * @module
 */
import type { WindowCpu } from "./trial_window.ts";

/** One thread group's marginal cost per copy, µs. */
export interface GroupCopyCost {
  group: string;
  udpCopyUs: number;
  meshCopyUs: number;
}

/** µs of `group`'s CPU (every group when null) per packet offered, over a window of `sent` packets. */
export function groupPerPacket(w: WindowCpu, group: string | null, sent: number): number {
  const seconds = w.groups.filter((g) => group === null || g.group === group).reduce(
    (s, g) => s + g.seconds,
    0,
  );
  return (seconds * 1e6) / Math.max(1, sent);
}

/**
 * Per copy, per thread group and in all (`group` "all"): (B - A) / copies and (C - A) / copies.
 * @param phases each phase's window and the packets offered in it
 */
export function copyCosts(
  a: { w: WindowCpu; sent: number },
  b: { w: WindowCpu; sent: number },
  c: { w: WindowCpu; sent: number },
  copies: number,
): GroupCopyCost[] {
  const groups = [...new Set([a, b, c].flatMap((p) => p.w.groups.map((g) => g.group)))];
  return [null, ...groups].map((group) => {
    const base = groupPerPacket(a.w, group, a.sent);
    return {
      group: group ?? "all",
      udpCopyUs: (groupPerPacket(b.w, group, b.sent) - base) / copies,
      meshCopyUs: (groupPerPacket(c.w, group, c.sent) - base) / copies,
    };
  });
}

/** A phase's CPU of the root per second of wall time. */
const cpuRate = (w: WindowCpu) => w.cpuSeconds / Math.max(1e-9, w.seconds);

/** A mesh copy's cost split into the children's control plane and the data path (see {@linkcode splitMeshCopy}). */
export interface MeshCopySplit {
  /** CPU the root spends per child and second with no media flowing (heartbeats, lease renewals), ms/s. */
  controlMsPerChildSecond: number;
  /** What that control plane adds per copy at the trial's rate, µs. */
  controlPerCopyUs: number;
  /** Per mesh copy without it, µs: the data path (framing or sealing, the send, the kernel's delivery). */
  dataPerCopyUs: number;
}

/**
 * Splits the all-in cost of a mesh copy (phase C over phase A, per copy) with two phases of no media on the same
 * trees: A0 (the root and its reader) and C0 (with its children). The children's control plane is paid per child
 * and second whatever the stream's rate, so at 2,000 packets/s it weighs five times what it weighs at 10,000.
 * @param meshCopyUs the all-in cost per mesh copy, (C - A) / children per packet offered
 * @param packetsPerSecond the rate of phase C
 */
export function splitMeshCopy(
  a0: WindowCpu,
  c0: WindowCpu,
  children: number,
  meshCopyUs: number,
  packetsPerSecond: number,
): MeshCopySplit {
  const controlPerChild = (cpuRate(c0) - cpuRate(a0)) / children; // CPU-s per s
  const controlPerCopyUs = (controlPerChild * 1e6) / Math.max(1, packetsPerSecond);
  return {
    controlMsPerChildSecond: controlPerChild * 1000,
    controlPerCopyUs,
    dataPerCopyUs: meshCopyUs - controlPerCopyUs,
  };
}
