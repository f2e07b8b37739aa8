/**
 * DTLS-SRTP for a WHEP session (RFC 5764), from werift (MIT, pure TypeScript): its DTLS server and SRTP/SRTCP
 * contexts, on a datagram transport of ours (werift's own ICE agent opens `node:dgram` sockets, which this project
 * does not use; src/webrtc/webrtc_port.ts is the socket). The relay is the DTLS server (it answers `setup:passive`)
 * and checks the browser's certificate against the fingerprint its offer gave. One self-signed ECDSA P-256
 * certificate per process, made at the first session.
 * Loaded with the first WHEP offer: a relay nobody watches over WebRTC never loads werift.
 * @module
 */
import {
  DtlsServer,
  fingerprint as certificateFingerprint,
  keyLength,
  normalizeFingerprintAlgorithm,
  normalizeFingerprintValue,
  ProtectionProfileAeadAes128Gcm,
  ProtectionProfileAes128CmHmacSha1_80,
  RTCDtlsTransport,
  RtpHeader,
  saltLength,
  SrtcpSession,
  SrtpSession,
} from "werift";
import { Buffer } from "node:buffer";
import { SrtpGcm } from "./srtp_gcm.ts";

type Certificate = Awaited<ReturnType<typeof RTCDtlsTransport.SetupCertificate>>;

/** The SRTP profiles offered and accepted, in preference order (AES-GCM first: libcrypto protects it). */
export const SRTP_PROFILES = [ProtectionProfileAeadAes128Gcm, ProtectionProfileAes128CmHmacSha1_80];

/**
 * werift's DTLS on a datagram path of ours: `transport` goes in its `transport` option, records it writes go to
 * `send`, and `receive` hands it a record from the peer (copied: the handshake reads it across awaits).
 */
export function datagramTransport(send: (bytes: Uint8Array) => void): {
  // deno-lint-ignore no-explicit-any
  transport: any;
  receive(bytes: Uint8Array): void;
} {
  const transport = {
    type: "datagram",
    address: {},
    closed: false,
    onData: (_: Buffer) => {},
    send: (data: Buffer) => {
      send(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
      return Promise.resolve();
    },
    close: () => Promise.resolve(),
  };
  return { transport, receive: (bytes) => transport.onData(Buffer.from(bytes)) };
}
let certificate: Promise<Certificate> | null = null;

/** The process's DTLS certificate and its `sha-256` fingerprint (as the answer's `a=fingerprint` writes it). */
export async function localFingerprint(): Promise<string> {
  const cert = await (certificate ??= RTCDtlsTransport.SetupCertificate());
  const sha256 = cert.getFingerprints().find((f) => f.algorithm === "sha-256");
  if (!sha256) throw new Error("The DTLS certificate has no sha-256 fingerprint");
  return `sha-256 ${sha256.value}`;
}

/** What a session hears from its DTLS server. */
export interface DtlsEvents {
  /** Sends a DTLS record to the browser (its address is the session's). */
  send(bytes: Uint8Array): void;
  /** The handshake finished and the browser's certificate matched its fingerprint: SRTP may flow. */
  connected(): void;
  /** The handshake failed or the browser sent an alert: the session ends. */
  failed(reason: string): void;
}

/** The DTLS server of one session and, once it is connected, its SRTP and SRTCP contexts. */
export class DtlsSrtp {
  readonly #server: InstanceType<typeof DtlsServer>;
  readonly #events: DtlsEvents;
  readonly #remoteFingerprints: string[];
  #srtp: InstanceType<typeof SrtpSession> | null = null;
  #srtcp: InstanceType<typeof SrtcpSession> | null = null;
  /** RTP protection on libcrypto when the profile is AEAD_AES_128_GCM and FFI is allowed (srtp_gcm.ts). */
  #fast: SrtpGcm | null = null;
  #done = false;

  readonly #receive: (bytes: Uint8Array) => void;

  private constructor(
    server: InstanceType<typeof DtlsServer>,
    events: DtlsEvents,
    remote: string[],
    receive: (bytes: Uint8Array) => void,
  ) {
    this.#server = server;
    this.#events = events;
    this.#remoteFingerprints = remote;
    this.#receive = receive;
    server.onConnect.once(() => this.#onConnect());
    server.onError.once((err: unknown) => this.#fail(`DTLS handshake failed: ${String(err)}`));
    server.onClose.once(() => this.#fail("the browser closed DTLS"));
  }

  /**
   * A DTLS server for one browser, which checks its certificate against `remoteFingerprints` (`algorithm value`).
   */
  static async create(events: DtlsEvents, remoteFingerprints: string[]): Promise<DtlsSrtp> {
    const cert = await (certificate ??= RTCDtlsTransport.SetupCertificate());
    const link = datagramTransport(events.send);
    const server = new DtlsServer({
      cert: cert.certPem,
      key: cert.privateKey,
      signatureHash: cert.signatureHash,
      transport: link.transport,
      srtpProfiles: SRTP_PROFILES,
      extendedMasterSecret: true,
      certificateRequest: true,
    });
    return new DtlsSrtp(server, events, remoteFingerprints, link.receive);
  }

  /** SRTP may flow. */
  get connected(): boolean {
    return this.#srtp !== null;
  }

  /** A DTLS record from the browser (copied: `bytes` may be reused once this returns). */
  receive(bytes: Uint8Array): void {
    if (this.#done) return;
    this.#receive(bytes);
  }

  /** `packet` (RTP) encrypted and authenticated for the browser, or null before the handshake finished. */
  protectRtp(packet: Uint8Array): Uint8Array | null {
    if (!this.#srtp) return null;
    if (this.#fast) return this.#fast.protect(packet);
    const buf = Buffer.from(packet.buffer, packet.byteOffset, packet.byteLength);
    const header = RtpHeader.deSerialize(buf);
    const out = this.#srtp.encrypt(buf.subarray(header.payloadOffset), header);
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  }

  /** `packet` (RTCP, a compound) encrypted for the browser, or null before the handshake finished. */
  protectRtcp(packet: Uint8Array): Uint8Array | null {
    if (!this.#srtcp) return null;
    const out = this.#srtcp.encrypt(Buffer.from(packet.buffer, packet.byteOffset, packet.byteLength));
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  }

  /** The RTCP compound of an SRTCP packet from the browser, or null when it does not authenticate. */
  unprotectRtcp(packet: Uint8Array): Uint8Array | null {
    if (!this.#srtcp) return null;
    try {
      const out = this.#srtcp.decrypt(Buffer.from(packet.buffer, packet.byteOffset, packet.byteLength));
      return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
    } catch {
      return null;
    }
  }

  /** Stops: nothing more is read or sent. */
  close(): void {
    this.#done = true;
    this.#srtp = null;
    this.#srtcp = null;
    this.#fast?.close();
    this.#fast = null;
  }

  #onConnect(): void {
    if (this.#done) return;
    const remote = this.#server.remoteCertificate;
    if (!remote) return this.#fail("the browser sent no DTLS certificate");
    const matches = this.#remoteFingerprints.some((f) => {
      const [algorithm, value] = f.split(" ");
      const hash = normalizeFingerprintAlgorithm(algorithm ?? "");
      if (!hash || !value) return false;
      return normalizeFingerprintValue(certificateFingerprint(remote, hash)) ===
        normalizeFingerprintValue(value);
    });
    if (!matches) return this.#fail("the browser's DTLS certificate does not match the offer's fingerprint");
    const profile = this.#server.srtp.srtpProfile;
    if (profile === undefined) return this.#fail("DTLS negotiated no SRTP profile");
    const keys = this.#server.extractSessionKeys(keyLength(profile)!, saltLength(profile)!);
    const config = {
      keys: {
        localMasterKey: keys.localKey,
        localMasterSalt: keys.localSalt,
        remoteMasterKey: keys.remoteKey,
        remoteMasterSalt: keys.remoteSalt,
      },
      profile,
    };
    this.#srtp = new SrtpSession(config);
    this.#srtcp = new SrtcpSession(config);
    if (profile === ProtectionProfileAeadAes128Gcm) {
      const local =
        (this.#srtp as unknown as { localContext: { srtpSessionKey: Buffer; srtpSessionSalt: Buffer } })
          .localContext;
      this.#fast = SrtpGcm.create(
        new Uint8Array(local.srtpSessionKey),
        new Uint8Array(local.srtpSessionSalt),
      );
    }
    this.#events.connected();
  }

  #fail(reason: string): void {
    if (this.#done) return;
    this.#done = true;
    this.#events.failed(reason);
  }
}
