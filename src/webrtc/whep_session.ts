/**
 * One WHEP viewer (issue 18): ICE-lite connectivity (the browser checks, the relay answers), DTLS-SRTP, and an
 * egress per negotiated track that passes the camera's RTP on as it is, renumbered for the browser, encrypted.
 * Sans-I/O: datagrams from the browser in ({@linkcode WhepSession.receive}), datagrams out through `send`; the
 * DTLS-SRTP machinery is a {@linkcode SecureChannel} (werift's in the relay, src/webrtc/dtls_srtp.ts).
 *
 * - Who may talk to it: a STUN Binding request signed with this session's password (its username fragment in the
 *   USERNAME) selects the browser's address; DTLS and SRTCP are accepted only from the selected address. Nothing
 *   is sent to an address that did not sign a request.
 * - The GOP cache: the egresses attach once DTLS is up, with the burst, so the browser's first picture is the
 *   cached GOP's keyframe, not the camera's next one. Before an H.264 keyframe whose parameter sets the camera
 *   sends only in its SDP, the parameter sets go first (a STAP-A), as browsers need them in band.
 * - Feedback: a NACK is answered from the last {@linkcode RESEND_SLOTS} packets sent, never passed on; a PLI is
 *   counted and not passed on (RTSP has no way to ask a camera for a keyframe; the decoder waits for the next one
 *   as it would from the camera). Receiver reports give what the browser lost and its jitter.
 * - Consent (RFC 7675): a browser that sent no valid Binding request for {@linkcode CONSENT_TIMEOUT_MS} is gone.
 * @module
 */
import type { Egress } from "../relay/egress.ts";
import { H264_FU_A, H264_NAL_IDR, H264_STAP_A } from "../rtp/h264.ts";
import {
  RTP_HEADER_SIZE,
  rtpMarker,
  rtpPayloadEnd,
  rtpPayloadOffset,
  rtpSequence,
  rtpTimestamp,
  setRtpPayloadType,
  setRtpSequence,
  setRtpSsrc,
  writeRtpHeader,
} from "../rtp/packet.ts";
import {
  forEachRtcpPacket,
  parseReceiverReport,
  RTCP_PSFB,
  RTCP_RR,
  RTCP_RTPFB,
  RTCP_SR,
} from "../rtp/rtcp.ts";
import { parseGenericNack, RTCP_FMT_NACK } from "../rtp/rtcp_nack.ts";
import { bindingSuccess, isStun, readBindingRequest } from "./stun.ts";
import type { SendPlan } from "./whep_negotiation.ts";

/** Packets per track kept for NACKs (about 1 s of a 4 Mbit/s camera). */
export const RESEND_SLOTS = 512;
/** No valid Binding request for this long: the browser is gone (RFC 7675 says 30 s). */
export const CONSENT_TIMEOUT_MS = 30_000;
/** The DTLS handshake must finish this long after the answer. */
export const CONNECT_TIMEOUT_MS = 15_000;
/** PLI's feedback message type within PSFB. */
const RTCP_FMT_PLI = 1;

/** Where an egress rewrites a packet before protection (one thread, used and copied out within one call). */
const SCRATCH = new Uint8Array(65_536);

/**
 * DTLS-SRTP as a session needs it (src/webrtc/dtls_srtp.ts). `protectRtp` and `protectRtcp` return new buffers and
 * keep nothing of their argument (an egress's scratch, reused for the next packet).
 */
export interface SecureChannel {
  readonly connected: boolean;
  receive(bytes: Uint8Array): void;
  protectRtp(packet: Uint8Array): Uint8Array | null;
  protectRtcp(packet: Uint8Array): Uint8Array | null;
  unprotectRtcp(packet: Uint8Array): Uint8Array | null;
  close(): void;
}

/** What the browser says it received, per track (its latest receiver report). */
export interface BrowserReport {
  fractionLost: number;
  cumulativeLost: number;
  jitterSeconds: number;
  highestSeq: number;
  /** Wall-clock ms. */
  at: number;
}

/** What a session did so far. */
export interface WhepCounts {
  /** Video pictures sent (RTP markers). */
  pictures: number;
  packets: number;
  bytes: number;
  /** Parameter sets sent ahead of a keyframe. */
  parameterSets: number;
  nacks: number;
  resent: number;
  /** Numbers a NACK asked for that were no longer kept. */
  notResent: number;
  plis: number;
  /** Datagrams refused: unsigned STUN, DTLS or SRTCP from another address, SRTCP that did not authenticate. */
  refused: number;
  /** Packets dropped before DTLS was up. */
  early: number;
}

/** Options of {@linkcode WhepSession}. */
export interface WhepSessionOptions {
  id: string;
  localUfrag: string;
  localPwd: string;
  remoteUfrag: string;
  plans: readonly SendPlan[];
  /** SPS and PPS from the stream's SDP per track index (H.264), to send ahead of keyframes. */
  parameterSets?: ReadonlyMap<number, { sps: Uint8Array; pps: Uint8Array }>;
  /** Sends a datagram to the browser (`to` is the same object for as long as the address stays the same). */
  send(bytes: Uint8Array, to: Deno.NetAddr): void;
  /** Called once DTLS is up: the owner attaches {@linkcode WhepSession.egresses} to their tracks. */
  onConnected(): void;
  /** Called once when the session ends by itself (DTLS failed, consent expired), with why. */
  onEnded(reason: string): void;
}

/** One browser's WHEP session. */
export class WhepSession {
  readonly id: string;
  readonly counts: WhepCounts = {
    pictures: 0,
    packets: 0,
    bytes: 0,
    parameterSets: 0,
    nacks: 0,
    resent: 0,
    notResent: 0,
    plis: 0,
    refused: 0,
    early: 0,
  };
  /** The browser's latest receiver report per track index. */
  readonly reports = new Map<number, BrowserReport>();
  readonly egresses: readonly WhepTrackEgress[];
  readonly #options: WhepSessionOptions;
  #channel: SecureChannel | null = null;
  #address: Deno.NetAddr | null = null;
  #lastConsent: number;
  readonly #createdAt: number;
  #ended = false;

  /** @param nowMs monotonic time the answer went out */
  constructor(options: WhepSessionOptions, nowMs: number) {
    this.id = options.id;
    this.#options = options;
    this.#lastConsent = nowMs;
    this.#createdAt = nowMs;
    this.egresses = options.plans.map((plan) =>
      new WhepTrackEgress(
        `${options.id}-${plan.mid}`,
        plan,
        options.parameterSets?.get(plan.trackIndex) ?? null,
        this,
      )
    );
  }

  /** The local username fragment (the port finds the session of a Binding request by it). */
  get localUfrag(): string {
    return this.#options.localUfrag;
  }

  /** The browser's selected address (`ip:port`), once a signed Binding request came. */
  get remote(): string | null {
    return this.#address ? `${this.#address.hostname}:${this.#address.port}` : null;
  }

  /** The browser's selected address, once a signed Binding request came (one object while it stays). */
  get address(): Deno.NetAddr | null {
    return this.#address;
  }

  /** DTLS is up. */
  get connected(): boolean {
    return this.#channel?.connected ?? false;
  }

  get ended(): boolean {
    return this.#ended;
  }

  /** Gives the session its DTLS-SRTP channel (made once the offer is answered). */
  attachChannel(channel: SecureChannel): void {
    this.#channel = channel;
  }

  /** The DTLS channel says it is up. */
  channelConnected(): void {
    if (!this.#ended) this.#options.onConnected();
  }

  /** Ends the session (DELETE, a kick, the relay stopping, or by itself): nothing more is sent. */
  end(reason: string, byItself = false): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#channel?.close();
    if (byItself) this.#options.onEnded(reason);
  }

  /** Called every second or so: the session ends itself when consent or the handshake expired. */
  tick(nowMs: number): void {
    if (this.#ended) return;
    if (!this.connected && nowMs - this.#createdAt > CONNECT_TIMEOUT_MS) {
      this.end(`no DTLS connection within ${CONNECT_TIMEOUT_MS / 1000} s of the answer`, true);
    } else if (nowMs - this.#lastConsent > CONSENT_TIMEOUT_MS) {
      this.end(`no ICE consent from the browser for ${CONSENT_TIMEOUT_MS / 1000} s`, true);
    }
  }

  /** A datagram from `address`:`port` to this session (the port demultiplexed it). */
  receive(bytes: Uint8Array, address: string, port: number, nowMs: number): void {
    if (this.#ended || bytes.length === 0) return;
    const first = bytes[0]!;
    if (isStun(bytes)) return this.#onStun(bytes, address, port, nowMs);
    const selected = this.#address;
    if (!selected || selected.hostname !== address || selected.port !== port) {
      this.counts.refused++;
      return;
    }
    if (first >= 20 && first <= 63) return this.#channel?.receive(bytes);
    if (first >= 128 && first <= 191) return this.#onSrtcp(bytes);
    this.counts.refused++;
  }

  /** Sends one RTP packet (already in the browser's numbering; not kept) protected, and keeps that for NACKs. */
  sendProtected(packet: Uint8Array, egress: WhepTrackEgress): void {
    if (this.#ended) return;
    const to = this.#address;
    const protectedBytes = to ? this.#channel?.protectRtp(packet) : null;
    if (!to || !protectedBytes) {
      this.counts.early++;
      return;
    }
    egress.keep(rtpSequence(packet), protectedBytes);
    this.counts.packets++;
    this.counts.bytes += protectedBytes.length;
    this.#options.send(protectedBytes, to);
  }

  /** Sends an RTCP packet (a sender report) protected. */
  sendRtcpProtected(packet: Uint8Array): void {
    if (this.#ended) return;
    const to = this.#address;
    const out = to ? this.#channel?.protectRtcp(packet) : null;
    if (to && out) this.#options.send(out, to);
  }

  #onStun(bytes: Uint8Array, address: string, port: number, nowMs: number): void {
    const request = readBindingRequest(bytes, this.#options.localPwd);
    if (
      typeof request === "string" ||
      request.username !== `${this.#options.localUfrag}:${this.#options.remoteUfrag}`
    ) {
      this.counts.refused++;
      return;
    }
    this.#lastConsent = nowMs;
    // The controlling browser nominates; until it does, the first address that checks is the one in use.
    // One address object while the address stays: the fast plane keys its encoded destinations by it.
    const current = this.#address;
    const from: Deno.NetAddr = current !== null && current.hostname === address && current.port === port
      ? current
      : { transport: "udp", hostname: address, port };
    if (request.useCandidate || current === null) this.#address = from;
    if (!/^\d+\.\d+\.\d+\.\d+$/.test(address)) return; // IPv6: not offered, not answered
    this.#options.send(bindingSuccess(request.transactionId, address, port, this.#options.localPwd), from);
  }

  #onSrtcp(bytes: Uint8Array): void {
    const rtcp = this.#channel?.unprotectRtcp(bytes) ?? null;
    if (!rtcp) {
      this.counts.refused++;
      return;
    }
    forEachRtcpPacket(rtcp, (type, pkt, count) => {
      if (type === RTCP_RTPFB && count === RTCP_FMT_NACK) {
        const nack = parseGenericNack(pkt);
        if (typeof nack === "string") return;
        const egress = this.egresses.find((e) => e.plan.ssrc === nack.mediaSsrc);
        if (!egress) return;
        this.counts.nacks++;
        const to = this.#address;
        for (const seq of nack.seqs) {
          const kept = egress.kept(seq);
          if (kept && to) {
            this.counts.resent++;
            this.#options.send(kept, to);
          } else this.counts.notResent++;
        }
      } else if (type === RTCP_PSFB && count === RTCP_FMT_PLI) {
        this.counts.plis++;
      } else if (type === RTCP_RR) {
        const rr = parseReceiverReport(pkt);
        for (const block of rr?.reports ?? []) {
          const egress = this.egresses.find((e) => e.plan.ssrc === block.ssrc);
          if (!egress) continue;
          this.reports.set(egress.plan.trackIndex, {
            fractionLost: block.fractionLost / 256,
            cumulativeLost: block.cumulativeLost,
            jitterSeconds: block.jitter / egress.plan.clockRate,
            highestSeq: block.highestSeq,
            at: Date.now(),
          });
        }
      }
    });
  }
}

/** One negotiated track of a session: an egress of the stream's track. */
export class WhepTrackEgress implements Egress {
  readonly id: string;
  readonly kind = "udp" as const;
  readonly plan: SendPlan;
  readonly #session: WhepSession;
  readonly #stapA: Uint8Array | null;
  /** Its markers end pictures (counted). */
  readonly #video: boolean;
  /** Added to the track's sequence numbers: one more per packet sent ahead of a keyframe. */
  #offset = 0;
  readonly #keptSeq = new Int32Array(RESEND_SLOTS).fill(-1);
  readonly #kept: Array<Uint8Array | null> = new Array(RESEND_SLOTS).fill(null);

  constructor(
    id: string,
    plan: SendPlan,
    sets: { sps: Uint8Array; pps: Uint8Array } | null,
    session: WhepSession,
  ) {
    this.id = id;
    this.plan = plan;
    this.#session = session;
    this.#stapA = plan.encoding === "H264" && sets ? stapA(sets.sps, sets.pps) : null;
    this.#video = plan.clockRate === 90000;
  }

  sendRtp(packet: Uint8Array): boolean {
    const start = rtpPayloadOffset(packet);
    const end = rtpPayloadEnd(packet);
    if (start < 0 || end <= start) return true;
    const seq = rtpSequence(packet);
    if (this.#stapA && startsIdrWithoutSets(packet, start, end)) {
      const sets = new Uint8Array(RTP_HEADER_SIZE + this.#stapA.length);
      writeRtpHeader(sets, 0, {
        payloadType: this.plan.payloadType,
        marker: false,
        sequence: seq + this.#offset,
        timestamp: rtpTimestamp(packet),
        ssrc: this.plan.ssrc,
      });
      sets.set(this.#stapA, RTP_HEADER_SIZE);
      this.#offset++;
      this.#session.counts.parameterSets++;
      this.#session.sendProtected(sets, this);
    }
    // The track's packet is shared: rewritten in a scratch copy (without any padding), which protection copies
    // out of; no allocation here beyond the protected packet itself.
    if (end > SCRATCH.length) return true;
    const out = SCRATCH.subarray(0, end);
    out.set(packet.subarray(0, end));
    if ((packet[0]! & 0x20) !== 0) out[0] = out[0]! & ~0x20;
    setRtpPayloadType(out, this.plan.payloadType);
    setRtpSsrc(out, this.plan.ssrc);
    setRtpSequence(out, (seq + this.#offset) & 0xffff);
    if (this.#video && rtpMarker(out)) this.#session.counts.pictures++;
    this.#session.sendProtected(out, this);
    return true;
  }

  /** Passes the source's sender reports on under this track's SSRC (the browser's lip sync); nothing else. */
  sendRtcp(packet: Uint8Array): boolean {
    if (
      packet.length >= 28 && packet[1] === RTCP_SR &&
      ((packet[2]! << 8) | packet[3]!) * 4 + 4 <= packet.length
    ) {
      const length = (((packet[2]! << 8) | packet[3]!) + 1) * 4;
      const sr = packet.slice(0, Math.min(length, 28)); // the sender info, without report blocks
      sr[0] = 0x80;
      sr[2] = 0;
      sr[3] = 6;
      new DataView(sr.buffer).setUint32(4, this.plan.ssrc);
      this.#session.sendRtcpProtected(sr);
    }
    return true;
  }

  /** Keeps the protected bytes of packet `seq` for a NACK. */
  keep(seq: number, bytes: Uint8Array): void {
    const slot = seq % RESEND_SLOTS;
    this.#keptSeq[slot] = seq;
    this.#kept[slot] = bytes;
  }

  /** The protected bytes of packet `seq`, when still kept. */
  kept(seq: number): Uint8Array | null {
    const slot = seq % RESEND_SLOTS;
    return this.#keptSeq[slot] === seq ? this.#kept[slot]! : null;
  }
}

/** A STAP-A payload of an SPS and a PPS. */
function stapA(sps: Uint8Array, pps: Uint8Array): Uint8Array {
  const out = new Uint8Array(1 + 2 + sps.length + 2 + pps.length);
  out[0] = (sps[0]! & 0x60) | H264_STAP_A;
  out[1] = sps.length >> 8;
  out[2] = sps.length & 0xff;
  out.set(sps, 3);
  out[3 + sps.length] = pps.length >> 8;
  out[4 + sps.length] = pps.length & 0xff;
  out.set(pps, 5 + sps.length);
  return out;
}

/** True when the payload `buf[start, end)` begins an IDR picture with no SPS/PPS ahead of it in this packet. */
function startsIdrWithoutSets(buf: Uint8Array, start: number, end: number): boolean {
  const type = buf[start]! & 0x1f;
  if (type === H264_NAL_IDR) return true;
  if (type === H264_FU_A) {
    return end - start >= 2 && (buf[start + 1]! & 0x80) !== 0 && (buf[start + 1]! & 0x1f) === H264_NAL_IDR;
  }
  if (type === H264_STAP_A && end - start >= 4) {
    return (buf[start + 3]! & 0x1f) === H264_NAL_IDR;
  }
  return false;
}
