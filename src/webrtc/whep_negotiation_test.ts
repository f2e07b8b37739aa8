import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { parse } from "sdp-transform";
import { parseSdp } from "../rtsp/sdp.ts";
import { type LocalTransport, negotiate, type StreamTrack } from "./whep_negotiation.ts";

const VIDEO_OFFER = Deno.readTextFileSync(new URL("./testdata/chromium_offer_video.sdp", import.meta.url));
const AV_OFFER = Deno.readTextFileSync(new URL("./testdata/chromium_offer_av.sdp", import.meta.url));

const LOCAL: LocalTransport = {
  ufrag: "RelY",
  pwd: "relaypasswordrelaypassw0",
  fingerprint:
    "sha-256 AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99",
  candidates: [{ address: "127.0.0.1", port: 8189 }],
  sessionId: "1",
};

/** A camera's tracks as its RTSP DESCRIBE gives them. */
function camera(...medias: string[]): StreamTrack[] {
  const sdp = ["v=0", "o=- 1 1 IN IP4 127.0.0.1", "s=cam", "t=0 0", ...medias].join("\r\n") + "\r\n";
  return parseSdp(sdp).medias.map((media, trackIndex) => ({ trackIndex, media }));
}
const H264_HIGH = "m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n" +
  "a=fmtp:96 packetization-mode=1;profile-level-id=640028;sprop-parameter-sets=Z2QAKKzZQHgCJ+XARAAAAwAEAAADAMg8YMZY,aOvjyyLA";
const OPUS = "m=audio 0 RTP/AVP 97\r\na=rtpmap:97 opus/48000/2";
const PCMA = "m=audio 0 RTP/AVP 8";
const AAC = "m=audio 0 RTP/AVP 98\r\na=rtpmap:98 MPEG4-GENERIC/48000/2";
const ssrc = (i: number) => 1000 + i;

Deno.test("negotiate() answers Chromium's offer with its H.264 of the camera's profile, ICE-lite, DTLS passive", () => {
  const got = negotiate(VIDEO_OFFER, camera(H264_HIGH), LOCAL, ssrc);
  assert(got.ok, JSON.stringify(got));
  assertEquals(got.plans.length, 1);
  const plan = got.plans[0]!;
  assertEquals([plan.mid, plan.trackIndex, plan.encoding, plan.ssrc, plan.nack, plan.pli], [
    "0",
    0,
    "H264",
    1000,
    true,
    true,
  ]);
  const offered = parse(VIDEO_OFFER).media[0]!;
  const fmtp = offered.fmtp.find((f) => f.payload === plan.payloadType)!.config;
  // This Chromium offers no High profile: Main, which its decoder plays High with.
  assert(/packetization-mode=1/.test(fmtp) && /profile-level-id=4d/.test(fmtp), fmtp);
  const withHigh = VIDEO_OFFER.replace("profile-level-id=f4001f", "profile-level-id=640034");
  const high = negotiate(withHigh, camera(H264_HIGH), LOCAL, ssrc);
  assert(high.ok);
  assertEquals(high.plans[0]!.payloadType, 41, "the camera's own profile first");
  assertEquals(got.remoteUfrag, offered.iceUfrag);
  assert(got.remoteFingerprints[0]!.startsWith("sha-256 "));
  // The answer, read back by sdp-transform: what a browser reads.
  const answer = parse(got.answer);
  assertEquals(answer.icelite, "ice-lite");
  assertEquals(answer.groups?.map((g) => [g.type, String(g.mids)]), [["BUNDLE", "0"]]);
  const m = answer.media[0]!;
  assertEquals([m.direction, m.setup, m.iceUfrag, m.icePwd, String(m.payloads)], [
    "sendonly",
    "passive",
    "RelY",
    LOCAL.pwd,
    String(plan.payloadType),
  ]);
  assertEquals(m.rtcpMux, "rtcp-mux");
  assertEquals(m.candidates?.map((c) => [c.ip, c.port, c.type]), [["127.0.0.1", 8189, "host"]]);
  assertEquals(m.ssrcs?.[0]?.id, 1000);
  assertEquals(m.fingerprint?.hash, LOCAL.fingerprint.split(" ")[1]);
});

Deno.test("negotiate() passes audio through when the browser receives its codec, and rejects the rest of the offer", () => {
  const withOpus = negotiate(AV_OFFER, camera(H264_HIGH, OPUS), LOCAL, ssrc);
  assert(withOpus.ok);
  assertEquals(withOpus.plans.map((p) => [p.mid, p.encoding, p.payloadType]), [[
    "0",
    "H264",
    withOpus.plans[0]!.payloadType,
  ], ["1", "OPUS", 111]]);
  assertEquals(parse(withOpus.answer).groups, [{ type: "BUNDLE", mids: "0 1" }]);
  const withPcma = negotiate(AV_OFFER, camera(H264_HIGH, PCMA), LOCAL, ssrc);
  assert(withPcma.ok);
  assertEquals(withPcma.plans[1]!.payloadType, 8);
  // AAC: WebRTC has no such codec in the browser; the audio section is rejected (port 0), the video plays.
  const withAac = negotiate(AV_OFFER, camera(H264_HIGH, AAC), LOCAL, ssrc);
  assert(withAac.ok);
  assertEquals(withAac.plans.map((p) => p.encoding), ["H264"]);
  assertEquals(withAac.unsent, ["audio/MPEG4-GENERIC"], "what WebRTC does not carry is named");
  assertEquals(withOpus.unsent, []);
  const answer = parse(withAac.answer);
  assertEquals(answer.media.map((m) => [m.mid, m.port, m.direction]), [[0, 9, "sendonly"], [
    1,
    0,
    "inactive",
  ]]);
  assertEquals(answer.groups?.map((g) => [g.type, String(g.mids)]), [["BUNDLE", "0"]]);
});

Deno.test("negotiate() refuses with 422 and both sides' codecs when nothing is common", () => {
  const h265 = camera("m=video 0 RTP/AVP 96\r\na=rtpmap:96 H265/90000");
  const got = negotiate(
    VIDEO_OFFER,
    [...h265, ...camera(AAC).map((t) => ({ ...t, trackIndex: 1 }))],
    LOCAL,
    ssrc,
  );
  assert(!got.ok);
  assertEquals(got.status, 422);
  assert(
    got.reason.includes("No codec in common") && got.reason.includes("H265/90000") &&
      got.reason.includes("VP8"),
    got.reason,
  );
  // H.264 offered only in packetization mode 0: cameras fragment (FU-A), so it is no match.
  const mode0 = VIDEO_OFFER.replace(/packetization-mode=1/g, "packetization-mode=0");
  const none = negotiate(mode0, camera(H264_HIGH), LOCAL, ssrc);
  assert(!none.ok && none.status === 422);
});

Deno.test("negotiate() refuses malformed offers with 400 and the reason", () => {
  const cases: Array<[string, string]> = [
    ["", "must begin with v=0"],
    ["hello", "must begin with v=0"],
    ["v=0\r\ns=x\r\n", "no media section"],
    [VIDEO_OFFER.replace(/a=ice-ufrag:.*\r\n/g, ""), "a=ice-ufrag"],
    [VIDEO_OFFER.replace(/a=ice-pwd:.*\r\n/g, "a=ice-pwd:short\r\n"), "a=ice-pwd"],
    [VIDEO_OFFER.replace(/a=fingerprint:.*\r\n/g, ""), "a=fingerprint"],
    [VIDEO_OFFER.replace(/a=fingerprint:sha-256/g, "a=fingerprint:md5"), "a=fingerprint"],
    [VIDEO_OFFER.replace(/a=setup:actpass/g, "a=setup:passive"), "a=setup:passive"],
    [VIDEO_OFFER.replace(/UDP\/TLS\/RTP\/SAVPF/g, "RTP/AVP"), "is not UDP/TLS/RTP/SAVPF"],
    [VIDEO_OFFER.replace(/a=rtcp-mux\r\n/g, ""), "no a=rtcp-mux"],
    [VIDEO_OFFER.replace(/a=group:BUNDLE 0/, "a=group:BUNDLE 7"), "BUNDLE group names no media section"],
    [
      VIDEO_OFFER.replace(/a=mid:0/g, "a=mid:<script>").replace("BUNDLE 0", "BUNDLE <script>"),
      "not a valid token",
    ],
    ["v=0\r\n" + "m=video 9 UDP/TLS/RTP/SAVPF 96\r\n".repeat(17), "more than 16"],
    [VIDEO_OFFER.replace(/a=mid:0\r\n/g, "").replace(/a=group:BUNDLE 0\r\n/, ""), "has no a=mid"],
    [AV_OFFER.replace(/a=mid:1/g, "a=mid:0"), "share a=mid"],
    ["v=0\r\n" + "a=x\r\n".repeat(20_000), "larger than"],
  ];
  for (const [offer, reason] of cases) {
    const got = negotiate(offer, camera(H264_HIGH), LOCAL, ssrc);
    assert(!got.ok, `accepted: ${offer.slice(0, 60)}`);
    assertEquals(got.status, 400, got.reason);
    assert(got.reason.includes(reason), `${got.reason} (expected "${reason}")`);
  }
});

Deno.test("negotiate() never throws and never answers 5xx, whatever the text", () => {
  const lines = VIDEO_OFFER.split("\r\n");
  let seed = 7;
  const rand = (n: number) => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n;
  for (let i = 0; i < 500; i++) {
    const mutated = [...lines];
    for (let k = 0; k < 3; k++) {
      const at = rand(mutated.length);
      const line = mutated[at]!;
      const cut = rand(line.length + 1);
      mutated[at] = rand(2)
        ? line.slice(0, cut) + String.fromCharCode(rand(128)) + line.slice(cut)
        : line.slice(0, cut);
    }
    const got = negotiate(mutated.join("\r\n"), camera(H264_HIGH), LOCAL, ssrc);
    assert(got.ok || got.status === 400 || got.status === 422);
  }
});
