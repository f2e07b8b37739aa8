/**
 * What the WHEP session and port tests share: a video send plan, a channel that "encrypts" by copying (what
 * leaves can be read back), a browser's signed Binding request (werift's STUN, not ours) and RTP packets.
 * @module
 */
import { Buffer } from "node:buffer";
import { classes, Message, methods } from "werift";
import { writeRtpHeader } from "../../rtp/packet.ts";
import { type SecureChannel, WhepSession, type WhepSessionOptions } from "../whep_session.ts";
import type { SendPlan } from "../whep_negotiation.ts";

/** The relay's ICE password in the tests. */
export const LOCAL_PWD = "relaypasswordrelaypassw0";

/** An H.264 track sent with NACK and PLI. */
export const VIDEO: SendPlan = {
  mid: "0",
  trackIndex: 0,
  encoding: "H264",
  payloadType: 102,
  clockRate: 90000,
  ssrc: 0xabcdef01,
  nack: true,
  pli: true,
};

/** A channel that "encrypts" by copying, so what leaves can be read back. */
export class ClearChannel implements SecureChannel {
  connected = false;
  received: Uint8Array[] = [];
  receive(bytes: Uint8Array): void {
    this.received.push(bytes.slice());
  }
  protectRtp(p: Uint8Array): Uint8Array | null {
    return this.connected ? p.slice() : null;
  }
  protectRtcp(p: Uint8Array): Uint8Array | null {
    return this.connected ? p.slice() : null;
  }
  unprotectRtcp(p: Uint8Array): Uint8Array | null {
    return this.connected ? p.slice() : null;
  }
  close(): void {}
}

/** A browser's Binding request for `username`, signed with `pwd`, nominating unless `useCandidate` is false. */
export function binding(username: string, pwd: string, useCandidate = true): Uint8Array {
  const m = new Message(methods.BINDING, classes.REQUEST);
  m.setAttribute("USERNAME", username);
  if (useCandidate) m.setAttribute("USE-CANDIDATE", null);
  m.addMessageIntegrity(Buffer.from(pwd));
  m.addFingerprint();
  return new Uint8Array(m.bytes);
}

/** An RTP packet of the camera (payload type 96, SSRC 5). */
export function rtp(seq: number, payload: number[], marker = false): Uint8Array {
  const out = new Uint8Array(12 + payload.length);
  writeRtpHeader(out, 0, { marker, payloadType: 96, sequence: seq, timestamp: 9000, ssrc: 5 });
  out.set(payload, 12);
  return out;
}

/**
 * A session of the relay ("RelY", {@linkcode LOCAL_PWD}) with the browser "brws" sending {@linkcode VIDEO}, on a
 * {@linkcode ClearChannel} (not connected until the test says so); `options` add to or replace those.
 */
export function clearSession(
  options: Pick<WhepSessionOptions, "send" | "onConnected" | "onEnded"> & Partial<WhepSessionOptions>,
): { session: WhepSession; channel: ClearChannel } {
  const session = new WhepSession({
    id: "w1",
    localUfrag: "RelY",
    localPwd: LOCAL_PWD,
    remoteUfrag: "brws",
    plans: [VIDEO],
    ...options,
  }, 0);
  const channel = new ClearChannel();
  session.attachChannel(channel);
  return { session, channel };
}
