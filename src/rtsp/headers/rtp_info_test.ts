import assert from "node:assert/strict";
import { RtspProtocolError } from "../errors.ts";
import { formatRtpInfo, parseRtpInfo, type RtpInfoEntry } from "./rtp_info.ts";

const cases: Array<{ name: string; input: string; output: string; parsed: RtpInfoEntry[] }> = [
  {
    name: "one stream",
    input: "url=rtsp://h/s/trackID=0;seq=17;rtptime=123456",
    output: "url=rtsp://h/s/trackID=0;seq=17;rtptime=123456",
    parsed: [{ url: "rtsp://h/s/trackID=0", seq: 17, rtptime: 123456 }],
  },
  {
    name: "two streams as in RFC 2326",
    input: "url=rtsp://foo.com/bar.avi/streamid=0;seq=45102, url=rtsp://foo.com/bar.avi/streamid=1;seq=30211",
    output: "url=rtsp://foo.com/bar.avi/streamid=0;seq=45102,url=rtsp://foo.com/bar.avi/streamid=1;seq=30211",
    parsed: [
      { url: "rtsp://foo.com/bar.avi/streamid=0", seq: 45102 },
      { url: "rtsp://foo.com/bar.avi/streamid=1", seq: 30211 },
    ],
  },
  {
    name: "url only, extremes of the numbers",
    input: "url=rtsp://h/a,url=rtsp://h/b;seq=65535;rtptime=4294967295,url=rtsp://h/c;seq=0;rtptime=0",
    output: "url=rtsp://h/a,url=rtsp://h/b;seq=65535;rtptime=4294967295,url=rtsp://h/c;seq=0;rtptime=0",
    parsed: [
      { url: "rtsp://h/a" },
      { url: "rtsp://h/b", seq: 65535, rtptime: 4294967295 },
      { url: "rtsp://h/c", seq: 0, rtptime: 0 },
    ],
  },
  {
    name: "spaces, upper-case names, rtptime first",
    input: " URL = rtsp://h/a ; RTPTIME = 9 ; Seq = 3 ",
    output: "url=rtsp://h/a;seq=3;rtptime=9",
    parsed: [{ url: "rtsp://h/a", seq: 3, rtptime: 9 }],
  },
  {
    name: "comma and semicolon inside a url",
    input: "url=rtsp://h/live?ch=1,2;sub=1;seq=5;rtptime=6,url=rtsp://h/b;seq=7",
    output: "url=rtsp://h/live?ch=1,2;sub=1;seq=5;rtptime=6,url=rtsp://h/b;seq=7",
    parsed: [{ url: "rtsp://h/live?ch=1,2;sub=1", seq: 5, rtptime: 6 }, { url: "rtsp://h/b", seq: 7 }],
  },
  {
    name: "RFC 7826 quoted url and ssrc ignored",
    input: 'url="rtsp://h/s/track1";ssrc=0A13C760;seq=45102;rtptime=12345678',
    output: "url=rtsp://h/s/track1;seq=45102;rtptime=12345678",
    parsed: [{ url: "rtsp://h/s/track1", seq: 45102, rtptime: 12345678 }],
  },
  {
    name: "trailing comma and empty parameters",
    input: "url=rtsp://h/a;;seq=1;,",
    output: "url=rtsp://h/a;seq=1",
    parsed: [{ url: "rtsp://h/a", seq: 1 }],
  },
];

Deno.test("RTP-Info: parse and format", async (t) => {
  for (const c of cases) {
    await t.step(c.name, () => {
      const parsed = parseRtpInfo(c.input);
      assert.deepEqual(parsed, c.parsed);
      assert.equal(formatRtpInfo(parsed), c.output);
      assert.deepEqual(parseRtpInfo(c.output), c.parsed);
    });
  }
});

const errors: Array<{ name: string; input: string; message: RegExp }> = [
  { name: "empty", input: " ", message: /^RTP-Info " " is empty$/ },
  { name: "no url", input: "seq=1;rtptime=2", message: /^Stream "seq=1;rtptime=2" has no url/ },
  { name: "empty url", input: "url=;seq=1", message: /has no url/ },
  { name: "two urls", input: "url=a;url=b", message: /more than one url/ },
  {
    name: "seq too large",
    input: "url=a;seq=65536",
    message: /^Invalid seq "65536" in RTP-Info "url=a;seq=65536"$/,
  },
  { name: "seq not a number", input: "url=a;seq=x", message: /seq "x"/ },
  { name: "rtptime too large", input: "url=a;rtptime=4294967296", message: /^Invalid rtptime "4294967296"/ },
  { name: "negative rtptime", input: "url=a;rtptime=-1", message: /rtptime "-1"/ },
];

Deno.test("RTP-Info: parse errors are 400 and quote the value", async (t) => {
  for (const c of errors) {
    await t.step(c.name, () => {
      assert.throws(() => parseRtpInfo(c.input), (e: unknown) => {
        assert.ok(e instanceof RtspProtocolError);
        assert.equal(e.status, 400);
        assert.match(e.message, c.message);
        return true;
      });
    });
  }
});
