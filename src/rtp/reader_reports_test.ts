/**
 * Tests of {@linkcode readerReportsOf}: readers' RTCP receiver reports become per-track reports with jitter in
 * seconds, matched to tracks by the SSRC they name.
 * @module
 */
import assert from "node:assert/strict";
import {
  buildReceiverReportCompound,
  marshalSenderReport,
  type ReportBlock,
  senderReportSize,
} from "./rtcp.ts";
import { readerReportOf, readerReportsOf, summarizeReaderReports } from "./reader_reports.ts";

const VIDEO = { outputSsrc: 0xaaaa0001, clockRate: 90_000 };
const AUDIO = { outputSsrc: 0xaaaa0002, clockRate: 48_000 };
const AT = 1_700_000_000_000;

function block(b: Partial<ReportBlock> & { ssrc: number }): ReportBlock {
  return { fractionLost: 0, cumulativeLost: 0, highestSeq: 0, jitter: 0, lsr: 0, dlsr: 0, ...b };
}

Deno.test("readerReportOf() converts fraction to 0..1 and jitter to seconds with the clock rate", () => {
  assert.deepEqual(
    readerReportOf(
      block({ ssrc: 1, fractionLost: 255, cumulativeLost: -3, jitter: 4800, highestSeq: 65_540 }),
      48_000,
      AT,
    ),
    { fractionLost: 255 / 256, cumulativeLost: -3, jitterSeconds: 0.1, highestSeq: 65_540, at: AT },
  );
});

Deno.test("readerReportsOf() maps the blocks of an RR to the tracks whose SSRC they name", () => {
  const rr = buildReceiverReportCompound(0x1234, "ffmpeg", [
    block({ ssrc: AUDIO.outputSsrc, fractionLost: 64, cumulativeLost: 7, jitter: 480, highestSeq: 99 }),
    block({ ssrc: VIDEO.outputSsrc, cumulativeLost: 0x7fffff, jitter: 9000 }),
  ]);
  const got = readerReportsOf(rr, [VIDEO, AUDIO], 0, AT);
  assert.deepEqual(
    got,
    new Map([
      [1, { fractionLost: 0.25, cumulativeLost: 7, jitterSeconds: 0.01, highestSeq: 99, at: AT }],
      [0, { fractionLost: 0, cumulativeLost: 0x7fffff, jitterSeconds: 0.1, highestSeq: 0, at: AT }],
    ]),
  );
});

Deno.test("readerReportsOf() reads the blocks of an SR (a reader that also sends)", () => {
  const sr = new Uint8Array(senderReportSize(1));
  marshalSenderReport(sr, 0, {
    ssrc: 9,
    ntpSec: 1,
    ntpFrac: 2,
    rtpTimestamp: 3,
    packetCount: 4,
    octetCount: 5,
    reports: [block({ ssrc: VIDEO.outputSsrc, cumulativeLost: 2, jitter: 90 })],
  });
  assert.deepEqual(readerReportsOf(sr, [VIDEO, AUDIO], 1, AT)?.get(0)?.jitterSeconds, 0.001);
});

Deno.test("readerReportsOf() gives a block naming an unknown SSRC to the track it arrived on", () => {
  const rr = buildReceiverReportCompound(0x1234, "x", [block({ ssrc: 0, cumulativeLost: 5 })]);
  assert.equal(readerReportsOf(rr, [VIDEO, AUDIO], 1, AT)?.get(1)?.cumulativeLost, 5);
  assert.equal(readerReportsOf(rr, [VIDEO, AUDIO], 7, AT)?.size, 0); // no such track: dropped
  assert.equal(readerReportsOf(rr, [undefined, AUDIO], 0, AT)?.size, 0);
});

Deno.test("readerReportsOf() returns an empty map for an RR without blocks and null for a malformed compound", () => {
  const empty = buildReceiverReportCompound(0x1234, "x", []);
  assert.equal(readerReportsOf(empty, [VIDEO], 0, AT)?.size, 0);
  // v=2, p=0, count=1, RR, length=7 words: 32 bytes announced, 8 present
  assert.equal(readerReportsOf(new Uint8Array([0x81, 201, 0, 7, 0, 0, 0, 1]), [VIDEO], 0, AT), null);
  // v=1
  assert.equal(readerReportsOf(new Uint8Array([0x40, 201, 0, 1, 0, 0, 0, 1]), [VIDEO], 0, AT), null);
  // An RR whose count claims a block its length does not hold is skipped, the rest of the compound is read.
  const bad = new Uint8Array([0x81, 201, 0, 1, 0, 0, 0, 1]);
  assert.equal(readerReportsOf(bad, [VIDEO], 0, AT)?.size, 0);
});

Deno.test("summarizeReaderReports() sums loss (negative as 0) and takes the worst jitter", () => {
  const r = (cumulativeLost: number, jitterSeconds: number) => ({
    fractionLost: 0,
    cumulativeLost,
    jitterSeconds,
    highestSeq: 0,
    at: AT,
  });
  assert.deepEqual(summarizeReaderReports([r(3, 0.01), r(-2, 0.05), r(4, 0.002)]), {
    lost: 7,
    jitterSeconds: 0.05,
    count: 3,
  });
  assert.deepEqual(summarizeReaderReports([]), { lost: 0, jitterSeconds: 0, count: 0 });
});
