/**
 * The mesh part of a cut-through route: a track's RTP sent by the fast plane's Worker straight to the relay's
 * mesh children, framed (or sealed) in the Worker, from the relay's mesh port (a socket of the same Worker).
 *
 * The main thread stays the authority, as for UDP readers (route.ts): it names the children the Worker serves
 * (stream id, track, address and incarnation of each) and hands the Worker a sealer of its own
 * ({@linkcode MeshSealSpec}: its own salt, hence its own packet key and nonce sequence, so it never repeats a
 * nonce of the main thread's sealer). The datagrams are those of `src/cluster/mesh_frame.ts` (version 1) and
 * `src/cluster/mesh_seal.ts` (version 3: header, AES-256-GCM with the receiver's incarnation and the header as
 * AAD, tag last); `src/cluster/mesh_fast_route_test.ts` opens what this module writes with the mesh's opener.
 * {@linkcode MeshCopies} builds them in an arena of its own and sends them with sendmmsg: nothing is allocated
 * per packet or per copy.
 * @module
 */
import { ipv4Number } from "../address.ts";
import {
  IOVEC_SIZE,
  MMSGHDR_SIZE,
  MSGHDR_IOV,
  MSGHDR_IOVLEN,
  MSGHDR_NAME,
  MSGHDR_NAMELEN,
  SOCKADDR_IN_SIZE,
  UDP_MAX_PAYLOAD,
  writePointer,
  writeSockaddrIn,
} from "./_libc.ts";
import { GcmSealer, pointerInto } from "./gcm_sealer.ts";
import type { CopyBytes } from "./_digest_writer.ts";

/** A mesh child the Worker may send a track's RTP to. */
export interface PlaneMeshChild {
  /** The relay's egress id (what the Worker serves is told back by id). */
  id: string;
  host: string;
  port: number;
  /** The child's id of the stream. */
  streamId: number;
  track: number;
  /** The child's incarnation (8 bytes) when sealed; ignored otherwise. */
  incarnation: Uint8Array;
}

/** The mesh part of a route as the Worker gets it. */
export interface MeshRouteSpec {
  /** The mesh socket (a socket of the plane) the copies leave from. */
  fd: number;
  /** {@linkcode MESH_DEST_SIZE} bytes per child: sockaddr_in, stream id (BE), track, 3 bytes 0, incarnation. */
  dests: Uint8Array;
}

/** What the Worker seals with: a sealer of its own. */
export interface MeshSealSpec {
  /** Id of the cluster key the packet key comes from. */
  keyId: number;
  /** 16 bytes, drawn for this sealer only. */
  salt: Uint8Array;
  /** The packet key (HKDF of the cluster key and the salt), 32 bytes. */
  key: Uint8Array;
  /** Encrypt payloads (else authenticate only). */
  encrypt: boolean;
}

/** Bytes of one child in {@linkcode MeshRouteSpec.dests}. */
export const MESH_DEST_SIZE = 32;
const DEST_STREAM = 16;
const DEST_TRACK = 20;
const DEST_INCARNATION = 24;
const INCARNATION_SIZE = 8;

/**
 * Packs the IPv4 children of a route; the others stay with the main thread.
 * @returns the packed children and their ids
 */
export function packMeshChildren(children: readonly PlaneMeshChild[]): { dests: Uint8Array; ids: string[] } {
  const ipv4 = children.filter((c) =>
    ipv4Number(c.host) !== null && c.track >= 0 && c.track <= 255 && Number.isInteger(c.track)
  );
  const dests = new Uint8Array(ipv4.length * MESH_DEST_SIZE);
  const view = new DataView(dests.buffer);
  ipv4.forEach((c, i) => {
    const at = i * MESH_DEST_SIZE;
    writeSockaddrIn(view, at, c.host, c.port);
    view.setUint32(at + DEST_STREAM, c.streamId >>> 0);
    dests[at + DEST_TRACK] = c.track;
    if (c.incarnation.length === INCARNATION_SIZE) dests.set(c.incarnation, at + DEST_INCARNATION);
  });
  return { dests, ids: ipv4.map((c) => c.id) };
}

/** True when every child of `next` is one of `current` (and from the same socket): the Worker sends less. */
export function meshRouteNarrows(current: MeshRouteSpec | null, next: MeshRouteSpec | null): boolean {
  if (next === null || next.dests.length === 0) return true;
  if (current === null || current.fd !== next.fd) return false;
  outer: for (let i = 0; i < next.dests.length; i += MESH_DEST_SIZE) {
    for (let j = 0; j < current.dests.length; j += MESH_DEST_SIZE) {
      let same = true;
      for (let k = 0; k < MESH_DEST_SIZE && same; k++) same = current.dests[j + k] === next.dests[i + k];
      if (same) continue outer;
    }
    return false;
  }
  return true;
}

// --- Worker side ------------------------------------------------------------------------------------------------

const SEALED_VERSION = 3;
const SEALED_HEADER = 32;
const FRAME_VERSION = 1;
const FRAME_HEADER = 6;
const TAG = 16;
const FLAG_ENCRYPTED = 1;
/** Packets per salt before the Worker stops sealing (the main thread's sealer draws a new salt there). */
const SALT_PACKET_LIMIT = 2 ** 48;
/** Copies built before they are sent. */
const SLOTS = 64;
/**
 * A slot: the receiver's incarnation (8), the sealed header (32; a plain frame's 6 bytes end at the same place),
 * the payload, the tag; then 16 bytes where the tag is written before it moves behind the payload (a pointer to a
 * position that depends on the length would be made per packet), and a few cache lines.
 */
const BODY_AT = INCARNATION_SIZE + SEALED_HEADER;
const TAG_SCRATCH_AT = BODY_AT + UDP_MAX_PAYLOAD + TAG;
const SLOT_STRIDE = TAG_SCRATCH_AT + TAG + 4 * 64;

/** Sends `n` prepared `mmsghdr`s starting at `hdrs` on `fd`; returns how many left, or -1 (skip one). */
export type SendMmsg = (fd: number, hdrs: Deno.PointerObject, n: number) => number;

/** Counters of the Worker's mesh copies. */
export interface MeshCopyStats {
  sent: number;
  sendErrors: number;
  /** Copies not made: no sealer (yet) for a sealed mesh, or OpenSSL failed. */
  unsealed: number;
}

/** Builds and sends the Worker's copies to mesh children (in the Worker, with libc and libcrypto). */
export class MeshCopies {
  readonly #arena = new ArrayBuffer(SLOTS * SLOT_STRIDE + SLOTS * (MMSGHDR_SIZE + IOVEC_SIZE));
  readonly #bytes = new Uint8Array(this.#arena);
  readonly #view = new DataView(this.#arena);
  readonly #base = Number(Deno.UnsafePointer.value(Deno.UnsafePointer.of(this.#arena)));
  readonly #hdrAt = SLOTS * SLOT_STRIDE;
  readonly #iovAt = this.#hdrAt + SLOTS * MMSGHDR_SIZE;
  readonly #hdrPtrs: Deno.PointerObject[] = [];
  readonly #aadPtrs: Deno.PointerObject[] = [];
  readonly #noncePtrs: Deno.PointerObject[] = [];
  readonly #bodyPtrs: Deno.PointerObject[] = [];
  readonly #tagPtrs: Deno.PointerObject[] = [];
  readonly #send: SendMmsg;
  readonly #copy: CopyBytes;
  #sealer: { gcm: GcmSealer; spec: MeshSealSpec; counter: number } | null = null;
  /** Whether copies are sealed: set with the first sealer, never unset (a sealed mesh never sends in clear). */
  #sealed = false;
  #fd = -1;
  #used = 0;
  readonly stats: MeshCopyStats = { sent: 0, sendErrors: 0, unsealed: 0 };

  /**
   * @param send sendmmsg on the Worker's libc (MSG_DONTWAIT)
   * @param copy memcpy by address (a packet's bytes into a clear copy: no view per packet)
   */
  constructor(send: SendMmsg, copy: CopyBytes) {
    this.#send = send;
    this.#copy = copy;
    for (let k = 0; k < SLOTS; k++) {
      const slot = k * SLOT_STRIDE;
      this.#hdrPtrs.push(pointerInto(this.#arena, this.#hdrAt + k * MMSGHDR_SIZE));
      this.#aadPtrs.push(pointerInto(this.#arena, slot));
      this.#noncePtrs.push(pointerInto(this.#arena, slot + INCARNATION_SIZE + 20));
      this.#bodyPtrs.push(pointerInto(this.#arena, slot + BODY_AT));
      this.#tagPtrs.push(pointerInto(this.#arena, slot + TAG_SCRATCH_AT));
      const hdr = this.#hdrAt + k * MMSGHDR_SIZE;
      this.#view.setUint32(hdr + MSGHDR_NAMELEN, SOCKADDR_IN_SIZE, true);
      writePointer(this.#view, hdr + MSGHDR_IOV, this.#base + this.#iovAt + k * IOVEC_SIZE);
      this.#view.setBigUint64(hdr + MSGHDR_IOVLEN, 1n, true);
    }
  }

  /** Seals with `spec` from now on (its own counter from 0); null before any mesh key: copies go in clear. */
  setSealer(spec: MeshSealSpec | null): void {
    this.#sealer?.gcm.close();
    this.#sealer = null;
    if (spec === null) return;
    this.#sealed = true;
    this.#sealer = { gcm: new GcmSealer(spec.key), spec, counter: 0 };
  }

  /**
   * Frames or seals the RTP packet of `len` bytes at address `from` (in the numbering children get) once per
   * child of `dests` and queues the copies; they leave with {@linkcode flush}, or as soon as the arena is full.
   * @param plain a pointer to the same bytes (the Worker's, made once per receive slot)
   * @param destsAddress the address of `dests`' bytes
   */
  add(
    fd: number,
    from: number,
    plain: Deno.PointerObject,
    len: number,
    dests: Uint8Array,
    destsAddress: number,
  ): void {
    if (len > UDP_MAX_PAYLOAD - SEALED_HEADER - TAG) return void this.stats.sendErrors++;
    if (fd !== this.#fd) this.flush();
    this.#fd = fd;
    const bytes = this.#bytes;
    for (let d = 0; d < dests.length; d += MESH_DEST_SIZE) {
      if (this.#used === SLOTS) this.flush();
      const k = this.#used;
      const slot = k * SLOT_STRIDE;
      let start: number;
      let size: number;
      if (this.#sealed) {
        const sealer = this.#sealer;
        if (sealer === null || sealer.counter >= SALT_PACKET_LIMIT) {
          this.stats.unsealed++;
          continue;
        }
        for (let i = 0; i < INCARNATION_SIZE; i++) bytes[slot + i] = dests[d + DEST_INCARNATION + i]!;
        const h = slot + INCARNATION_SIZE;
        this.#writeIds(h, SEALED_VERSION, dests, d);
        bytes[h + 6] = sealer.spec.keyId;
        const encrypt = sealer.spec.encrypt;
        bytes[h + 7] = encrypt ? FLAG_ENCRYPTED : 0;
        bytes.set(sealer.spec.salt, h + 8);
        const n = sealer.counter++;
        this.#view.setUint32(h + 24, Math.floor(n / 2 ** 32));
        this.#view.setUint32(h + 28, n >>> 0);
        let ok: boolean;
        if (encrypt) {
          ok = sealer.gcm.seal(
            this.#noncePtrs[k]!,
            this.#aadPtrs[k]!,
            BODY_AT,
            plain,
            this.#bodyPtrs[k]!,
            len,
            this.#tagPtrs[k]!,
          );
        } else {
          this.#copy(this.#base + slot + BODY_AT, from, len);
          ok = sealer.gcm.seal(
            this.#noncePtrs[k]!,
            this.#aadPtrs[k]!,
            BODY_AT + len,
            null,
            null,
            0,
            this.#tagPtrs[k]!,
          );
        }
        if (!ok) {
          this.stats.unsealed++;
          continue;
        }
        bytes.copyWithin(slot + BODY_AT + len, slot + TAG_SCRATCH_AT, slot + TAG_SCRATCH_AT + TAG);
        start = h;
        size = SEALED_HEADER + len + TAG;
      } else {
        start = slot + BODY_AT - FRAME_HEADER;
        this.#writeIds(start, FRAME_VERSION, dests, d);
        this.#copy(this.#base + slot + BODY_AT, from, len);
        size = FRAME_HEADER + len;
      }
      const hdr = this.#hdrAt + k * MMSGHDR_SIZE;
      writePointer(this.#view, hdr + MSGHDR_NAME, destsAddress + d);
      const iov = this.#iovAt + k * IOVEC_SIZE;
      writePointer(this.#view, iov, this.#base + start);
      this.#view.setUint32(iov + 8, size, true);
      this.#view.setUint32(iov + 12, 0, true);
      this.#used++;
    }
  }

  /** Sends the queued copies. */
  flush(): void {
    let done = 0;
    const n = this.#used;
    this.#used = 0;
    while (done < n) {
      const sent = this.#send(this.#fd, this.#hdrPtrs[done]!, n - done);
      if (sent < 0) {
        this.stats.sendErrors++;
        done++; // skip the datagram the kernel refused (buffer full, unreachable child)
        continue;
      }
      this.stats.sent += sent;
      done += sent;
    }
  }

  /** Frees the sealer's native context. */
  close(): void {
    this.#sealer?.gcm.close();
    this.#sealer = null;
  }

  /** Version and type (RTP), track and stream id from the child's record. */
  #writeIds(at: number, version: number, dests: Uint8Array, d: number): void {
    const bytes = this.#bytes;
    bytes[at] = version << 4;
    bytes[at + 1] = dests[d + DEST_TRACK]!;
    bytes[at + 2] = dests[d + DEST_STREAM]!;
    bytes[at + 3] = dests[d + DEST_STREAM + 1]!;
    bytes[at + 4] = dests[d + DEST_STREAM + 2]!;
    bytes[at + 5] = dests[d + DEST_STREAM + 3]!;
  }
}
