import assert from "node:assert/strict";
import { RtspProtocolError } from "./errors.ts";
import {
  countMediaSections,
  mediaControlUrl,
  mediaCount,
  type MediaDescription,
  parseSdp,
  rewriteSdpForServing,
  sessionControlUrl,
} from "./sdp.ts";

const crlf = (lines: string[]) => lines.join("\r\n") + "\r\n";

/** In the style of gst-rtsp-server: absolute session control, `stream=N` media controls, H.264 + AAC. */
const gstSdp = crlf([
  "v=0",
  "o=- 1188340656180883 1 IN IP4 192.168.1.20",
  "s=Session streamed with GStreamer",
  "i=rtsp-server",
  "t=0 0",
  "a=tool:GStreamer",
  "a=type:broadcast",
  "a=control:rtsp://192.168.1.20:8554/test/",
  "a=range:npt=now-",
  "m=video 0 RTP/AVP 96",
  "c=IN IP4 192.168.1.20",
  "b=AS:2000",
  "a=rtpmap:96 H264/90000",
  "a=framerate:30",
  "a=fmtp:96 packetization-mode=1;sprop-parameter-sets=Z0LAH9kAUAW7ARAAAAMAEAAAAwPA8UKSAA==,aMuMsg==;profile-level-id=42c01f",
  "a=control:stream=0",
  "a=ts-refclk:local",
  "a=mediaclk:sender",
  "m=audio 0 RTP/AVP 97",
  "c=IN IP4 192.168.1.20",
  "a=rtpmap:97 MPEG4-GENERIC/48000/2",
  "a=fmtp:97 streamtype=5;profile-level-id=2;mode=AAC-hbr;config=1190;sizelength=13;indexlength=3;indexdeltalength=3",
  "a=control:stream=1",
]);

/** In the style of an ffmpeg `-f rtsp` ANNOUNCE: LF line ends, `streamid=N` controls, no range. */
const ffmpegSdp = [
  "v=0",
  "o=- 0 0 IN IP4 127.0.0.1",
  "s=No Name",
  "c=IN IP4 192.168.1.5",
  "t=0 0",
  "a=tool:libavformat 61.7.100",
  "m=video 0 RTP/AVP 96",
  "b=AS:1500",
  "a=rtpmap:96 H264/90000",
  "a=fmtp:96 packetization-mode=1; sprop-parameter-sets=Z2QAKKzZQHgCJ+WEAAADAAQAAAMA8Dxgxlg=,aOvjyyLA; profile-level-id=640028",
  "a=control:streamid=0",
  "m=audio 0 RTP/AVP 97",
  "b=AS:128",
  "a=rtpmap:97 MPEG4-GENERIC/44100/2",
  "a=fmtp:97 profile-level-id=1;mode=AAC-hbr;sizelength=13;indexlength=3;indexdeltalength=3; config=1210",
  "a=control:streamid=1",
  "",
].join("\n");

/** In the style of live555: `a=control:*` session, `trackN` controls, static PCMU audio without rtpmap. */
const live555Sdp = crlf([
  "v=0",
  "o=- 1700000000123456 1 IN IP4 10.0.0.7",
  "s=H.264 Video, streamed by the LIVE555 Media Server",
  "i=cam.264",
  "u=rtsp://10.0.0.7/cam.264",
  "t=0 0",
  "a=tool:LIVE555 Streaming Media v2023.11.07",
  "a=type:broadcast",
  "a=control:*",
  "a=range:npt=0-",
  "a=x-qt-text-nam:H.264 Video, streamed by the LIVE555 Media Server",
  "a=x-qt-text-inf:cam.264",
  "m=video 0 RTP/AVP 96",
  "c=IN IP4 0.0.0.0",
  "b=AS:500",
  "a=rtpmap:96 H264/90000",
  "a=fmtp:96 packetization-mode=1;profile-level-id=4D4029;sprop-parameter-sets=Z01AKZpmBQHtgLUBAQFAAAD6AAAw1DoYACYWAACYlgu8uNDAATCwAATEsF3lwoA=,aO48gA==",
  "a=control:track1",
  "m=audio 0 RTP/AVP 0",
  "c=IN IP4 0.0.0.0",
  "a=rtcp:6971 IN IP4 10.0.0.7",
  "a=control:track2",
]);

type Summary = Omit<MediaDescription, "raw">;
const summary = ({ raw: _raw, ...rest }: MediaDescription): Summary => rest;

const fixtures: Array<[string, string, string | undefined, Summary[]]> = [
  ["a gst-rtsp-server SDP", gstSdp, "rtsp://192.168.1.20:8554/test/", [
    {
      type: "video",
      control: "stream=0",
      payloadType: 96,
      encoding: "H264",
      clockRate: 90000,
      fmtp:
        "packetization-mode=1;sprop-parameter-sets=Z0LAH9kAUAW7ARAAAAMAEAAAAwPA8UKSAA==,aMuMsg==;profile-level-id=42c01f",
    },
    {
      type: "audio",
      control: "stream=1",
      payloadType: 97,
      encoding: "MPEG4-GENERIC",
      clockRate: 48000,
      channels: 2,
      fmtp:
        "streamtype=5;profile-level-id=2;mode=AAC-hbr;config=1190;sizelength=13;indexlength=3;indexdeltalength=3",
    },
  ]],
  ["an ffmpeg ANNOUNCE SDP", ffmpegSdp, undefined, [
    {
      type: "video",
      control: "streamid=0",
      payloadType: 96,
      encoding: "H264",
      clockRate: 90000,
      fmtp:
        "packetization-mode=1; sprop-parameter-sets=Z2QAKKzZQHgCJ+WEAAADAAQAAAMA8Dxgxlg=,aOvjyyLA; profile-level-id=640028",
    },
    {
      type: "audio",
      control: "streamid=1",
      payloadType: 97,
      encoding: "MPEG4-GENERIC",
      clockRate: 44100,
      channels: 2,
      fmtp: "profile-level-id=1;mode=AAC-hbr;sizelength=13;indexlength=3;indexdeltalength=3; config=1210",
    },
  ]],
  ["a live555 SDP", live555Sdp, "*", [
    {
      type: "video",
      control: "track1",
      payloadType: 96,
      encoding: "H264",
      clockRate: 90000,
      fmtp:
        "packetization-mode=1;profile-level-id=4D4029;sprop-parameter-sets=Z01AKZpmBQHtgLUBAQFAAAD6AAAw1DoYACYWAACYlgu8uNDAATCwAATEsF3lwoA=,aO48gA==",
    },
    {
      type: "audio",
      control: "track2",
      payloadType: 0,
      encoding: "PCMU",
      clockRate: 8000,
      channels: 1,
      fmtp: undefined,
    },
  ]],
];

for (const [name, text, control, medias] of fixtures) {
  Deno.test(`parseSdp reads controls, payload types, codecs and clock rates of ${name}`, () => {
    const desc = parseSdp(text);
    assert.equal(desc.control, control);
    assert.deepEqual(desc.medias.map(summary), medias);
    assert.equal(mediaCount(desc), medias.length);
  });
}

const controlUrls: Array<[string, string, string, string[]]> = [
  ["gst-rtsp-server (absolute session control)", gstSdp, "rtsp://ignored/", [
    "rtsp://192.168.1.20:8554/test/stream=0",
    "rtsp://192.168.1.20:8554/test/stream=1",
  ]],
  ["ffmpeg (no session control)", ffmpegSdp, "rtsp://relay:8554/cam1", [
    "rtsp://relay:8554/cam1/streamid=0",
    "rtsp://relay:8554/cam1/streamid=1",
  ]],
  ["live555 (session control *)", live555Sdp, "rtsp://10.0.0.7/cam.264/", [
    "rtsp://10.0.0.7/cam.264/track1",
    "rtsp://10.0.0.7/cam.264/track2",
  ]],
];

for (const [name, text, base, want] of controlUrls) {
  Deno.test(`mediaControlUrl resolves media controls of ${name}`, () => {
    const desc = parseSdp(text);
    assert.deepEqual(desc.medias.map((_, i) => mediaControlUrl(desc, i, base)), want);
  });
}

Deno.test("sessionControlUrl prefers an absolute session control over the base", () => {
  assert.equal(sessionControlUrl(parseSdp(gstSdp), "rtsp://x/"), "rtsp://192.168.1.20:8554/test/");
  assert.equal(sessionControlUrl(parseSdp(live555Sdp), "rtsp://x/a"), "rtsp://x/a");
  assert.equal(sessionControlUrl(parseSdp(ffmpegSdp), "rtsp://x/a"), "rtsp://x/a");
  assert.throws(() => mediaControlUrl(parseSdp(ffmpegSdp), 2, "rtsp://x/"), RangeError);
});

const fallbacks: Array<[string, string, Partial<Summary>]> = [
  ["PCMA without rtpmap", "m=audio 0 RTP/AVP 8", { encoding: "PCMA", clockRate: 8000, channels: 1 }],
  ["MPA without rtpmap", "m=audio 0 RTP/AVP 14", { encoding: "MPA", clockRate: 90000 }],
  ["JPEG without rtpmap", "m=video 0 RTP/AVP 26", { encoding: "JPEG", clockRate: 90000 }],
  ["MP2T without rtpmap", "m=video 0 RTP/AVP 33", { encoding: "MP2T", clockRate: 90000 }],
  ["dynamic video without rtpmap", "m=video 0 RTP/AVP 96", { encoding: undefined, clockRate: 90000 }],
  ["dynamic audio without rtpmap", "m=audio 0 RTP/AVP 98", { encoding: undefined, clockRate: 8000 }],
  ["dynamic application without rtpmap", "m=application 0 RTP/AVP 107", {
    encoding: undefined,
    clockRate: 8000,
  }],
  [
    "rtpmap of the first of several payload types",
    "m=audio 0 RTP/AVP 97 0\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:97 opus/48000/2\r\na=fmtp:0 x=1\r\na=fmtp:97 stereo=1",
    { payloadType: 97, encoding: "opus", clockRate: 48000, channels: 2, fmtp: "stereo=1" },
  ],
  ["audio rtpmap without channels", "m=audio 0 RTP/AVP 96\r\na=rtpmap:96 L16/16000", { channels: 1 }],
  ["ONVIF metadata", "m=application 0 RTP/AVP 107\r\na=rtpmap:107 vnd.onvif.metadata/90000", {
    type: "application",
    encoding: "vnd.onvif.metadata",
    clockRate: 90000,
  }],
  ["numeric-looking control", "m=video 0 RTP/AVP 96\r\na=control:1", { control: "1" }],
];

for (const [name, media, want] of fallbacks) {
  Deno.test(`parseSdp derives encoding and clock rate for ${name}`, () => {
    const desc = parseSdp(crlf(["v=0", "o=- 1 1 IN IP4 1.2.3.4", "s=x", "t=0 0", media]));
    const got = summary(desc.medias[0] as MediaDescription);
    for (const [k, v] of Object.entries(want)) assert.deepEqual(got[k as keyof Summary], v, k);
  });
}

const rejects: Array<[string, string, number]> = [
  ["an empty body", "", 415],
  ["HTML", "<html></html>", 415],
  ["SDP of another version", "v=1\r\ns=x\r\nm=video 0 RTP/AVP 96\r\n", 415],
  ["SDP without media", crlf(["v=0", "o=- 1 1 IN IP4 1.2.3.4", "s=x", "t=0 0"]), 400],
  ["a media without a numeric payload type", crlf(["v=0", "s=x", "m=application 9 TCP/BFCP *"]), 400],
  ["a payload type over 127", crlf(["v=0", "s=x", "m=video 0 RTP/AVP 200"]), 400],
];

for (const [name, text, status] of rejects) {
  Deno.test(`parseSdp rejects ${name} with ${status}`, () => {
    assert.throws(() => parseSdp(text), (e) => e instanceof RtspProtocolError && e.status === status);
  });
}

Deno.test("parseSdp accepts a leading BOM and blank lines", () => {
  assert.equal(parseSdp("\uFEFF\r\n" + gstSdp).medias.length, 2);
});

Deno.test("rewriteSdpForServing sets track controls, port 0, a wildcard c= and the given o= and s=", () => {
  const out = rewriteSdpForServing(parseSdp(gstSdp), { sessionName: "cam1", originAddress: "10.0.0.2" });
  assert.ok(out.endsWith("\r\n"));
  assert.ok(!/[^\r]\n/.test(out), "every line ends with CRLF");
  const lines = out.split("\r\n");
  assert.equal(lines[0], "v=0");
  assert.ok(lines.includes("o=- 1188340656180883 1 IN IP4 10.0.0.2"));
  assert.ok(lines.includes("s=cam1"));
  assert.deepEqual(lines.filter((l) => l.startsWith("c=")), ["c=IN IP4 0.0.0.0"]);
  assert.deepEqual(lines.filter((l) => l.startsWith("a=control:")), [
    "a=control:*",
    "a=control:trackID=0",
    "a=control:trackID=1",
  ]);
  assert.deepEqual(lines.filter((l) => l.startsWith("m=")), ["m=video 0 RTP/AVP 96", "m=audio 0 RTP/AVP 97"]);
  assert.deepEqual(lines.filter((l) => l.startsWith("a=range")), ["a=range:npt=now-"]);
  for (
    const kept of [
      "a=rtpmap:96 H264/90000",
      "a=framerate:30",
      "a=rtpmap:97 MPEG4-GENERIC/48000/2",
      "b=AS:2000",
      "a=tool:GStreamer",
      "a=ts-refclk:local",
      "a=mediaclk:sender",
    ]
  ) {
    assert.ok(lines.includes(kept), kept);
  }
  assert.ok(!out.includes("192.168.1.20"), "no publisher address left");
  // Media sections come after the session section, in order, and their attributes stay inside them.
  assert.ok(lines.indexOf("a=control:*") < lines.indexOf("m=video 0 RTP/AVP 96"));
  assert.ok(lines.indexOf("a=control:trackID=1") > lines.indexOf("m=audio 0 RTP/AVP 97"));
});

Deno.test("rewriteSdpForServing output parses back with the same media", () => {
  for (const [, text] of fixtures) {
    const desc = parseSdp(text);
    const again = parseSdp(rewriteSdpForServing(desc));
    assert.equal(again.control, "*");
    assert.deepEqual(
      again.medias.map(({ raw: _raw, control: _control, ...m }) => m),
      desc.medias.map(({ raw: _raw, control: _control, ...m }) => m),
    );
    assert.deepEqual(again.medias.map((m) => m.control), desc.medias.map((_, i) => `trackID=${i}`));
  }
});

Deno.test("rewriteSdpForServing adds a=range:npt=0- only when absent", () => {
  const ffmpeg = rewriteSdpForServing(parseSdp(ffmpegSdp));
  assert.deepEqual(ffmpeg.split("\r\n").filter((l) => l.startsWith("a=range")), ["a=range:npt=0-"]);
  const live555 = rewriteSdpForServing(parseSdp(live555Sdp));
  assert.deepEqual(live555.split("\r\n").filter((l) => l.startsWith("a=range")), ["a=range:npt=0-"]);
  const mediaRange = crlf(["v=0", "s=x", "t=0 0", "m=video 0 RTP/AVP 96", "a=range:npt=now-"]);
  assert.deepEqual(
    rewriteSdpForServing(parseSdp(mediaRange)).split("\r\n").filter((l) => l.startsWith("a=range")),
    ["a=range:npt=now-"],
  );
});

Deno.test("rewriteSdpForServing drops publisher addresses and u= and keeps the publisher's s= by default", () => {
  const out = rewriteSdpForServing(parseSdp(live555Sdp));
  assert.ok(!out.includes("10.0.0.7"), out);
  assert.ok(!out.includes("a=rtcp:"));
  assert.ok(!/^u=/m.test(out));
  assert.ok(out.includes("\r\ns=H.264 Video, streamed by the LIVE555 Media Server\r\n"));
  assert.ok(out.includes("\r\no=- 1700000000123456 1 IN IP4 127.0.0.1\r\n"));
  assert.ok(out.includes("\r\na=x-qt-text-inf:cam.264\r\n"));
});

Deno.test("rewriteSdpForServing fills in o=, s= and t= that the publisher left out and uses IP6 for IPv6", () => {
  const out = rewriteSdpForServing(parseSdp("v=0\nm=video 0 RTP/AVP 96\na=rtpmap:96 H265/90000\n"), {
    originAddress: "::1",
  });
  assert.equal(
    out,
    crlf([
      "v=0",
      "o=- 0 0 IN IP6 ::1",
      "s=Stream",
      "c=IN IP4 0.0.0.0",
      "t=0 0",
      "a=control:*",
      "a=range:npt=0-",
      "m=video 0 RTP/AVP 96",
      "a=rtpmap:96 H265/90000",
      "a=control:trackID=0",
    ]),
  );
});

Deno.test("rewriteSdpForServing does not modify its input", () => {
  const desc = parseSdp(gstSdp);
  const before = JSON.stringify(desc);
  rewriteSdpForServing(desc, { sessionName: "x" });
  assert.equal(JSON.stringify(desc), before);
});

Deno.test("countMediaSections() counts m= lines whatever the line ends, as the parser splits them", () => {
  const sdp =
    "v=0\r\no=- 0 0 IN IP4 0.0.0.0\r\ns=x\r\nt=0 0\r\nm=audio 0 RTP/AVP 0\r\nm=audio 0 RTP/AVP 0\nm=audio 0 RTP/AVP 0\rm=audio 0 RTP/AVP 8\r\n";
  assert.equal(countMediaSections(sdp), 4);
  assert.equal(parseSdp(sdp).medias.length, 4);
  assert.equal(countMediaSections("v=0\r\na=x:m=1\r\n"), 0);
});
