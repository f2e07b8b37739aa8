/**
 * Tests of the browser viewer on the demo clip's packets: the init message and segment first, then a fragment per
 * picture; behind its own backlog or all viewers' together it skips pictures and comes back at a keyframe once
 * the backlog has halved; parameter sets come from the SDP or from the stream.
 * @module
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { H264Packetizer, splitAnnexB, spropParameterSets } from "../rtp/h264.ts";
import { accessUnits, loadDemoClip } from "../relay/sources/demo.ts";
import type { MediaDescription } from "../rtsp/sdp.ts";
import { Fmp4Viewer } from "./fmp4_viewer.ts";

/** The demo clip's pictures as RTP packets, and its parameter sets. */
async function demo() {
  const nals = splitAnnexB(await loadDemoClip());
  const sps = nals.find((n) => (n[0]! & 0x1f) === 7)!;
  const pps = nals.find((n) => (n[0]! & 0x1f) === 8)!;
  const packetizer = new H264Packetizer({ payloadType: 96, ssrc: 5, initialSequence: 1 });
  const pictures = accessUnits(nals);
  const packets: Uint8Array[][] = pictures.map((units, i) => {
    const out: Uint8Array[] = [];
    packetizer.packetize(units, 3600 * i, (p) => out.push(p));
    return out;
  });
  const keyframes = pictures.map((units) => units.some((n) => (n[0]! & 0x1f) === 5));
  return { sps, pps, packets, keyframes };
}

const media = (fmtp?: string): MediaDescription => ({
  type: "video",
  control: undefined,
  payloadType: 96,
  encoding: "H264",
  clockRate: 90000,
  fmtp,
  raw: {} as MediaDescription["raw"],
});

function sink() {
  const s = {
    texts: [] as string[],
    binaries: [] as Uint8Array[],
    backlog: 0,
    text: (m: string) => void s.texts.push(m),
    binary: (b: Uint8Array) => void s.binaries.push(b),
    buffered: () => s.backlog,
  };
  return s;
}

Deno.test("Fmp4Viewer: the init message and segment, then one fragment per picture", async () => {
  const { packets, sps, pps } = await demo();
  for (
    const fmtp of [undefined, `packetization-mode=1;sprop-parameter-sets=${spropParameterSets(sps, pps)}`]
  ) {
    const out = sink();
    const v = new Fmp4Viewer({ id: "v", sink: out, media: media(fmtp) });
    for (const picture of packets) for (const p of picture) v.sendRtp(p);
    assertEquals(out.texts.length, 1);
    assertEquals(JSON.parse(out.texts[0]!).mime, 'video/mp4; codecs="avc1.42c00d"');
    // The packetizer marks each picture's last packet, so every picture is sent at once: the segment and one each.
    assertEquals(out.binaries.length, 1 + packets.length);
    assertEquals(v.counts.pictures, packets.length);
    assertEquals([v.counts.skipped, v.counts.undecodable], [0, 0]);
  }
});

Deno.test("Fmp4Viewer skips pictures while behind (its own backlog or everyone's) and comes back at a keyframe", async () => {
  const { packets, keyframes } = await demo();
  const firstKey = keyframes.indexOf(true, 1);
  assert(firstKey > 10, `the demo clip's second keyframe is at ${firstKey}`);
  for (const totalBound of [false, true]) {
    const out = sink();
    let total = 0;
    const v = new Fmp4Viewer({
      id: "v",
      sink: out,
      media: media(),
      maxBufferedBytes: totalBound ? 1 << 30 : 1000,
      ...(totalBound ? { total: { buffered: () => total, maxBytes: 1000 } } : {}),
    });
    const feed = (i: number) => packets[i]!.forEach((p) => v.sendRtp(p));
    for (let i = 0; i < 5; i++) feed(i);
    const sent = v.counts.pictures;
    // Behind: nothing is sent, whatever comes, until the backlog halves and a keyframe arrives.
    if (totalBound) total = 5000;
    else out.backlog = 5000;
    for (let i = 5; i < firstKey + 1; i++) feed(i);
    assertEquals(v.counts.pictures, sent, "sent while behind");
    if (totalBound) total = 400;
    else out.backlog = 400;
    for (let i = firstKey + 1; i < packets.length; i++) feed(i);
    assert(v.counts.pictures > sent, "never came back");
    assert(v.counts.skipped > 0, "nothing counted as skipped");
  }
});
