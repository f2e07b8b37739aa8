/**
 * WHEP's offer and answer (RFC 9725 with RFC 8829's rules, as a receive-only browser sends them): checks a
 * browser's SDP offer, matches each of its media sections with a track of the stream, and writes the relay's
 * answer: ICE-lite with host candidates, DTLS passive (the relay is the DTLS server), one BUNDLE transport with
 * RTCP multiplexed, the codec passed through as the camera sends it (no transcoding). Sans-I/O: text in, text
 * and a plan out.
 * @module
 */
import { parse as parseSdpText } from "sdp-transform";
import type { MediaDescription } from "../rtsp/sdp.ts";

/** A codec the relay can pass to a browser, by the name the stream's SDP gives it. */
const PASSABLE: Record<string, { offerName: string; clockRate: number }> = {
  H264: { offerName: "H264", clockRate: 90000 },
  H265: { offerName: "H265", clockRate: 90000 },
  VP8: { offerName: "VP8", clockRate: 90000 },
  VP9: { offerName: "VP9", clockRate: 90000 },
  AV1: { offerName: "AV1", clockRate: 90000 },
  OPUS: { offerName: "opus", clockRate: 48000 },
  PCMU: { offerName: "PCMU", clockRate: 8000 },
  PCMA: { offerName: "PCMA", clockRate: 8000 },
};

/** The largest offer read (browsers send 5-15 KB). */
export const MAX_OFFER_BYTES = 64 * 1024;

/** One track the relay sends to the browser, in one of its media sections. */
export interface SendPlan {
  /** The section's `a=mid`. */
  mid: string;
  /** Index of the stream's track. */
  trackIndex: number;
  /** Encoding, upper case (`H264`, `OPUS`, ...). */
  encoding: string;
  /** The payload type the browser chose for it. */
  payloadType: number;
  clockRate: number;
  /** The SSRC the relay sends it with. */
  ssrc: number;
  /** The browser asked for NACKs and PLIs (`a=rtcp-fb`). */
  nack: boolean;
  pli: boolean;
}

/** What the relay puts in its answer about itself. */
export interface LocalTransport {
  ufrag: string;
  pwd: string;
  /** `sha-256 AB:CD:...` of the relay's DTLS certificate. */
  fingerprint: string;
  /** Host candidates: the addresses and the port the browser can reach. */
  candidates: Array<{ address: string; port: number }>;
  /** The answer's session id (`o=`). */
  sessionId: string;
}

/** A negotiated session, or why not. */
export type Negotiation =
  | {
    ok: true;
    answer: string;
    plans: SendPlan[];
    /** The browser's ICE username fragment and password. */
    remoteUfrag: string;
    remotePwd: string;
    /** The browser's certificate fingerprints, as `algorithm value`. */
    remoteFingerprints: string[];
    /** The stream's tracks the answer does not carry, as `type/ENCODING` (e.g. `audio/MPEG4-GENERIC`). */
    unsent: string[];
  }
  | { ok: false; status: 400 | 422; reason: string };

/** A media description of the stream with its track's index. */
export interface StreamTrack {
  trackIndex: number;
  media: MediaDescription;
}

type Media = ReturnType<typeof parseSdpText>["media"][number];

/**
 * Checks `offer` and answers it. `tracks` are the stream's; `ssrcOf` gives the SSRC a track is sent with.
 * 400: the offer is not an SDP offer this protocol allows; 422: it is, but shares no codec with the stream.
 */
export function negotiate(
  offer: string,
  tracks: readonly StreamTrack[],
  local: LocalTransport,
  ssrcOf: (trackIndex: number) => number,
): Negotiation {
  try {
    return negotiateOrThrow(offer, tracks, local, ssrcOf);
  } catch (err) {
    // sdp-transform reads any text; an attribute of an unexpected shape must still get an answer, not a 500.
    return { ok: false, status: 400, reason: `The offer could not be read: ${(err as Error).message}` };
  }
}

function negotiateOrThrow(
  offer: string,
  tracks: readonly StreamTrack[],
  local: LocalTransport,
  ssrcOf: (trackIndex: number) => number,
): Negotiation {
  const bad = (reason: string): Negotiation => ({ ok: false, status: 400, reason });
  if (offer.length > MAX_OFFER_BYTES) return bad(`The offer is larger than ${MAX_OFFER_BYTES} bytes`);
  if (!/^v=0\r?\n/.test(offer)) return bad("The offer is not SDP: it must begin with v=0");
  let parsed: ReturnType<typeof parseSdpText>;
  try {
    parsed = parseSdpText(offer);
  } catch (err) {
    return bad(`The offer is not valid SDP: ${(err as Error).message}`);
  }
  const medias = parsed.media ?? [];
  if (medias.length === 0) return bad("The offer has no media section (m=)");
  if (medias.length > 16) return bad("The offer has more than 16 media sections");
  // sdp-transform reads a lone numeric mid as a number.
  const bundle = String(parsed.groups?.find((g) => g.type === "BUNDLE")?.mids ?? "").split(/\s+/).filter(
    Boolean,
  );
  // One transport: the sections of the BUNDLE group, else the first section alone.
  const bundled = (m: Media, i: number) =>
    bundle.length > 0 ? m.mid !== undefined && bundle.includes(String(m.mid)) : i === 0;
  const first = medias.find(bundled);
  if (!first) return bad("The BUNDLE group names no media section of the offer");
  const ufrag = String(first.iceUfrag ?? parsed.iceUfrag ?? "");
  const pwd = String(first.icePwd ?? parsed.icePwd ?? "");
  if (!/^[A-Za-z0-9+/]{4,256}$/.test(ufrag)) {
    return bad("The offer has no valid a=ice-ufrag (4-256 ICE characters)");
  }
  if (!/^[A-Za-z0-9+/]{22,256}$/.test(pwd)) {
    return bad("The offer has no valid a=ice-pwd (22-256 ICE characters)");
  }
  const fingerprints = [first.fingerprint ?? parsed.fingerprint].filter((f) => f !== undefined)
    .map((f) => `${f.type.toLowerCase()} ${f.hash}`);
  if (!fingerprints.some((f) => /^sha-(1|224|256|384|512) [0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2})+$/.test(f))) {
    return bad("The offer has no a=fingerprint of a SHA hash (the browser's DTLS certificate)");
  }
  const setup = String(first.setup ?? parsed.setup ?? "actpass");
  if (setup !== "actpass" && setup !== "active") {
    return bad(`a=setup:${setup} is not supported: the relay is the DTLS server (offer actpass or active)`);
  }

  const used = new Set<number>();
  const mids = new Set<string>();
  const plans: SendPlan[] = [];
  const sections: string[] = [];
  for (let i = 0; i < medias.length; i++) {
    const m = medias[i]!;
    const inTransport = bundled(m, i);
    // JSEP (RFC 8829) gives every section a mid; the answer names the same ones.
    if (m.mid === undefined && inTransport) return bad(`Media section ${i} has no a=mid`);
    const mid = m.mid !== undefined ? String(m.mid) : null;
    if (mid !== null && !/^[A-Za-z0-9_.-]{1,32}$/.test(mid)) {
      return bad(`Media section ${i}: a=mid "${mid}" is not a valid token`);
    }
    if (mid !== null && mids.has(mid)) return bad(`Media sections share a=mid "${mid}"`);
    if (mid !== null) mids.add(mid);
    if (inTransport && m.protocol !== "UDP/TLS/RTP/SAVPF") {
      return bad(`Media section ${mid}: protocol ${m.protocol} is not UDP/TLS/RTP/SAVPF`);
    }
    if (inTransport && m.rtcpMux === undefined) return bad(`Media section ${mid}: no a=rtcp-mux`);
    const receives = m.direction === undefined || m.direction === "recvonly" || m.direction === "sendrecv";
    const choice = inTransport && receives && (m.type === "video" || m.type === "audio")
      ? choose(m, tracks.filter((t) => !used.has(t.trackIndex)))
      : null;
    if (!choice || mid === null) {
      sections.push(rejected(m, mid));
      continue;
    }
    used.add(choice.track.trackIndex);
    const plan: SendPlan = {
      mid,
      trackIndex: choice.track.trackIndex,
      encoding: choice.encoding,
      payloadType: choice.payloadType,
      clockRate: choice.clockRate,
      ssrc: ssrcOf(choice.track.trackIndex),
      nack: feedback(m, choice.payloadType, "nack", undefined),
      pli: feedback(m, choice.payloadType, "nack", "pli"),
    };
    plans.push(plan);
    sections.push(accepted(m, plan, choice, local));
  }
  if (plans.length === 0) {
    const offered = medias.map((m) => `${m.type}: ${m.rtp.map((r) => r.codec).join(", ") || "none"}`).join(
      "; ",
    );
    const has = tracks.map((t) => `${t.media.type} ${t.media.encoding ?? "?"}/${t.media.clockRate}`).join(
      ", ",
    );
    return {
      ok: false,
      status: 422,
      reason: `No codec in common: the offer receives ${offered}; the stream has ${has || "no track"}`,
    };
  }
  const bundleMids = plans.map((p) => p.mid).join(" ");
  const answer = [
    "v=0",
    `o=- ${local.sessionId} 1 IN IP4 0.0.0.0`,
    "s=msm-relay",
    "t=0 0",
    `a=group:BUNDLE ${bundleMids}`,
    "a=ice-lite",
    "a=msid-semantic: WMS",
    ...sections,
  ].join("\r\n") + "\r\n";
  const unsent = tracks.filter((t) => !used.has(t.trackIndex))
    .map((t) => `${t.media.type}/${(t.media.encoding ?? "unknown").toUpperCase()}`);
  return {
    ok: true,
    answer,
    plans,
    remoteUfrag: ufrag,
    remotePwd: pwd,
    remoteFingerprints: fingerprints,
    unsent,
  };
}

interface Choice {
  track: StreamTrack;
  encoding: string;
  payloadType: number;
  clockRate: number;
  channels: number | undefined;
  fmtp: string | undefined;
}

/** The best of the offer's payload types for one of `tracks` of the section's kind, or null. */
function choose(m: Media, tracks: readonly StreamTrack[]): Choice | null {
  for (const track of tracks) {
    if (track.media.type !== m.type) continue;
    const encoding = (track.media.encoding ?? "").toUpperCase();
    const passable = PASSABLE[encoding];
    if (!passable || passable.clockRate !== track.media.clockRate) continue;
    const candidates = m.rtp.filter((r) =>
      r.codec.toUpperCase() === passable.offerName.toUpperCase() && r.rate === passable.clockRate
    );
    let best: Choice | null = null;
    let bestScore = -1;
    for (const r of candidates) {
      const fmtp = m.fmtp.find((f) => f.payload === r.payload)?.config;
      const score = codecScore(encoding, fmtp, track.media.fmtp);
      if (score > bestScore) {
        bestScore = score;
        best = {
          track,
          encoding,
          payloadType: r.payload,
          clockRate: r.rate ?? passable.clockRate,
          channels: r.encoding !== undefined ? Number(r.encoding) : undefined,
          fmtp,
        };
      }
    }
    if (best) return best;
  }
  return null;
}

/**
 * How well an offered payload type fits the stream's codec; negative: not at all. H.264 needs
 * packetization-mode=1 (cameras send FU-A). The profile the camera encodes scores highest; else Main, which
 * browsers that offer no High (Chromium without a platform encoder) still decode High with (their software
 * decoder decodes every profile; the negotiated one is a label).
 */
function codecScore(encoding: string, offered: string | undefined, stream: string | undefined): number {
  if (encoding !== "H264") return 0;
  const mode = /packetization-mode=(\d)/.exec(offered ?? "")?.[1] ?? "0";
  if (mode !== "1") return -1;
  const profile = (s: string | undefined) =>
    /profile-level-id=([0-9a-fA-F]{2})/.exec(s ?? "")?.[1]?.toLowerCase();
  const theirs = profile(offered);
  if (theirs !== undefined && theirs === profile(stream)) return 3;
  return theirs === "4d" ? 2 : 1;
}

function feedback(m: Media, pt: number, type: string, subtype: string | undefined): boolean {
  return (m.rtcpFb ?? []).some((f) =>
    (f.payload === pt || f.payload === "*") && f.type === type && (f.subtype ?? undefined) === subtype
  );
}

/** A section the relay does not send on: port 0 (RFC 8843: rejected, out of the bundle). */
function rejected(m: Media, mid: string | null): string {
  const pts = m.payloads ?? (m.rtp.map((r) => r.payload).join(" ") || "0");
  const lines = [`m=${m.type} 0 ${m.protocol} ${pts}`, "c=IN IP4 0.0.0.0"];
  if (mid !== null) lines.push(`a=mid:${mid}`);
  lines.push("a=inactive");
  return lines.join("\r\n");
}

function accepted(m: Media, plan: SendPlan, choice: Choice, local: LocalTransport): string {
  const pt = plan.payloadType;
  const name = PASSABLE[plan.encoding]!.offerName;
  const lines = [
    `m=${m.type} 9 UDP/TLS/RTP/SAVPF ${pt}`,
    "c=IN IP4 0.0.0.0",
    `a=mid:${plan.mid}`,
    "a=sendonly",
    "a=rtcp-mux",
    `a=ice-ufrag:${local.ufrag}`,
    `a=ice-pwd:${local.pwd}`,
    `a=fingerprint:${local.fingerprint}`,
    "a=setup:passive",
    `a=rtpmap:${pt} ${name}/${plan.clockRate}${choice.channels ? `/${choice.channels}` : ""}`,
  ];
  if (choice.fmtp) lines.push(`a=fmtp:${pt} ${choice.fmtp}`);
  if (plan.nack) lines.push(`a=rtcp-fb:${pt} nack`);
  if (plan.pli) lines.push(`a=rtcp-fb:${pt} nack pli`);
  lines.push(`a=msid:msm-relay ${plan.mid}`, `a=ssrc:${plan.ssrc} cname:msm-relay`);
  local.candidates.forEach((c, i) => {
    lines.push(`a=candidate:${i + 1} 1 udp ${2130706431 - i} ${c.address} ${c.port} typ host`);
  });
  lines.push("a=end-of-candidates");
  return lines.join("\r\n");
}
