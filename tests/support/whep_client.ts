/**
 * A headless WHEP viewer for benches: it offers what Chromium offers (its recorded offer, with this client's own
 * ICE credentials and certificate fingerprint), checks connectivity to the relay's candidate with signed STUN
 * Binding requests (again every 5 s: consent), does the DTLS handshake as the client (werift's DtlsClient, the
 * library the relay's server side comes from, so only the roles differ), then counts the SRTP datagrams that
 * arrive without decrypting or decoding them: what a viewer costs the relay, without a browser's decoder on the
 * same two cores. The browser tests use Chromium itself.
 * @module
 */
import { Buffer } from "node:buffer";
import { classes, DtlsClient, Message, methods, RTCDtlsTransport } from "werift";
import { datagramTransport, SRTP_PROFILES } from "../../src/webrtc/dtls_srtp.ts";

const OFFER = Deno.readTextFileSync(
  new URL("../../src/webrtc/testdata/chromium_offer_av.sdp", import.meta.url),
);

/** A connected viewer. */
export interface WhepClient {
  /** SRTP/SRTCP datagrams received. */
  readonly datagrams: number;
  readonly bytes: number;
  close(): Promise<void>;
}

function token(n: number): string {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  return [...crypto.getRandomValues(new Uint8Array(n))].map((b) => alphabet[b % alphabet.length]).join("");
}

/** Opens a WHEP session for `path` on the relay at `base` (`http://host:port`); resolves once DTLS is up. */
export async function startWhepClient(base: string, path: string, timeoutMs = 10_000): Promise<WhepClient> {
  const cert = await RTCDtlsTransport.SetupCertificate();
  const fingerprint = cert.getFingerprints().find((f) => f.algorithm === "sha-256")!.value;
  const ufrag = token(8);
  const pwd = token(24);
  const offer = OFFER.replace(/a=ice-ufrag:.*/g, `a=ice-ufrag:${ufrag}`)
    .replace(/a=ice-pwd:.*/g, `a=ice-pwd:${pwd}`)
    .replace(/a=fingerprint:.*/g, `a=fingerprint:sha-256 ${fingerprint}`);
  const res = await fetch(`${base}/whep/${path}`, {
    method: "POST",
    headers: { "Content-Type": "application/sdp" },
    body: offer,
  });
  const answer = await res.text();
  if (res.status !== 201) throw new Error(`WHEP offer refused: ${res.status} ${answer}`);
  const resource = new URL(res.headers.get("location")!, base).href;
  const candidate = /a=candidate:\S+ 1 udp \d+ (\S+) (\d+) typ host/.exec(answer)!;
  const relayUfrag = /a=ice-ufrag:(\S+)/.exec(answer)![1]!;
  const relayPwd = /a=ice-pwd:(\S+)/.exec(answer)![1]!;
  const to: Deno.NetAddr = { transport: "udp", hostname: candidate[1]!, port: Number(candidate[2]) };
  const socket = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const send = (bytes: Uint8Array) => socket.send(bytes, to).catch(() => 0);
  const check = () => {
    const m = new Message(methods.BINDING, classes.REQUEST);
    m.setAttribute("USERNAME", `${relayUfrag}:${ufrag}`);
    m.setAttribute("USE-CANDIDATE", null);
    m.setAttribute("ICE-CONTROLLING", BigInt(1));
    m.addMessageIntegrity(Buffer.from(relayPwd));
    m.addFingerprint();
    void send(new Uint8Array(m.bytes));
  };
  const link = datagramTransport((bytes) => void send(bytes.slice()));
  const dtls = new DtlsClient({
    cert: cert.certPem,
    key: cert.privateKey,
    signatureHash: cert.signatureHash,
    transport: link.transport,
    srtpProfiles: SRTP_PROFILES,
    extendedMasterSecret: true,
  });
  const stats = { datagrams: 0, bytes: 0 };
  let closed = false;
  const receiving = (async () => {
    const buffer = new Uint8Array(65536);
    while (!closed) {
      let bytes: Uint8Array;
      try {
        [bytes] = await socket.receive(buffer);
      } catch {
        return;
      }
      const first = bytes[0]!;
      if (first >= 20 && first <= 63) link.receive(bytes);
      else if (first >= 128 && first <= 191) {
        stats.datagrams++;
        stats.bytes += bytes.length;
      }
    }
  })();
  check();
  const consent = setInterval(check, 5000);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const connected = new Promise<void>((resolve, reject) => {
    dtls.onConnect.once(() => resolve());
    dtls.onError.once((e: unknown) => reject(new Error(`DTLS: ${e}`)));
    timer = setTimeout(() => reject(new Error("DTLS did not connect in time")), timeoutMs);
  }).finally(() => clearTimeout(timer));
  await new Promise((r) => setTimeout(r, 50)); // the relay selects the address on the first check
  await dtls.connect();
  const close = async () => {
    if (closed) return;
    closed = true;
    clearInterval(consent);
    await fetch(resource, { method: "DELETE" }).then((r) => r.body?.cancel()).catch(() => {});
    socket.close();
    await receiving;
  };
  try {
    await connected;
  } catch (err) {
    await close();
    throw err;
  }
  return {
    get datagrams() {
      return stats.datagrams;
    },
    get bytes() {
      return stats.bytes;
    },
    close,
  };
}
