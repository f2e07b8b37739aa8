import assert from "node:assert/strict";
import { RtspProtocolError } from "./errors.ts";
import { RTSP_MAX_PATH_BYTES } from "./limits.ts";
import {
  parseRtspUrl,
  redactUrl,
  redactUrls,
  requestTarget,
  resolveControl,
  type RtspUrl,
  rtspUrlProblem,
  splitTrackUrl,
  streamPathOf,
  withoutCredentials,
} from "./url.ts";

const parseCases: Array<[string, RtspUrl]> = [
  ["rtsp://cam.local/live", { scheme: "rtsp", host: "cam.local", port: 554, path: "/live", query: "" }],
  ["RTSP://Cam.Local:8554", { scheme: "rtsp", host: "Cam.Local", port: 8554, path: "/", query: "" }],
  ["rtsps://h/a/b/", { scheme: "rtsps", host: "h", port: 322, path: "/a/b/", query: "" }],
  ["rtsp://10.0.0.5:554/Streaming/Channels/101?transportmode=unicast&profile=Profile_1", {
    scheme: "rtsp",
    host: "10.0.0.5",
    port: 554,
    path: "/Streaming/Channels/101",
    query: "transportmode=unicast&profile=Profile_1",
  }],
  ["rtsp://admin:secret@10.0.0.5/s", {
    scheme: "rtsp",
    host: "10.0.0.5",
    port: 554,
    path: "/s",
    user: "admin",
    password: "secret",
    query: "",
  }],
  ["rtsp://us%20er:p%40ss%3Aword@h:1/", {
    scheme: "rtsp",
    host: "h",
    port: 1,
    path: "/",
    user: "us er",
    password: "p@ss:word",
    query: "",
  }],
  ["rtsp://admin:p@ss@h/x", {
    scheme: "rtsp",
    host: "h",
    port: 554,
    path: "/x",
    user: "admin",
    password: "p@ss",
    query: "",
  }],
  ["rtsp://viewer@h/x", { scheme: "rtsp", host: "h", port: 554, path: "/x", user: "viewer", query: "" }],
  ["rtsp://u:@h/x", { scheme: "rtsp", host: "h", port: 554, path: "/x", user: "u", password: "", query: "" }],
  ["rtsp://[::1]:8554/cam?x=1#frag", { scheme: "rtsp", host: "::1", port: 8554, path: "/cam", query: "x=1" }],
  ["rtsps://[fe80::1:2]/cam", { scheme: "rtsps", host: "fe80::1:2", port: 322, path: "/cam", query: "" }],
  ["rtsp://h:/x", { scheme: "rtsp", host: "h", port: 554, path: "/x", query: "" }],
  ["rtsp://h?only=query", { scheme: "rtsp", host: "h", port: 554, path: "/", query: "only=query" }],
];

for (const [url, want] of parseCases) {
  Deno.test(`parseRtspUrl parses ${url}`, () => {
    assert.deepEqual(parseRtspUrl(url), want);
  });
}

const invalidUrls = [
  "http://h/x",
  "rtsp:/h/x",
  "rtspu://h/x",
  "rtsp:///x",
  "rtsp://h:0/x",
  "rtsp://h:65536/x",
  "rtsp://h:80a/x",
  "rtsp://h x/",
  "rtsp://h/a b",
  "rtsp://h/\r\n",
  "rtsp://[::1/x",
  "rtsp://[::1]x/",
  "rtsp://[zz]/",
  "rtsp://u:%zz@h/",
  "rtsp://u@/x",
  "",
];

Deno.test("parseRtspUrl throws RtspProtocolError 400 on invalid URLs", () => {
  for (const url of invalidUrls) {
    assert.throws(() => parseRtspUrl(url), (e) => e instanceof RtspProtocolError && e.status === 400, url);
  }
});

Deno.test("parseRtspUrl keeps the password out of its error message", () => {
  assert.throws(
    () => parseRtspUrl("rtsp://admin:hunter2@h:99999/"),
    (e: Error) => !e.message.includes("hunter2"),
  );
});

const streamPaths: Array<[string, string]> = [
  ["rtsp://h:8554/cam1/", "cam1"],
  ["rtsp://h/a/b?x=1", "a/b"],
  ["rtsp://user:pw@h/a/b/", "a/b"],
  ["rtsp://h", ""],
  ["rtsp://h/", ""],
  ["rtsp://h//cam1//", "cam1"],
  ["rtsp://[::1]:554/live/cam#x", "live/cam"],
  ["/cam1/?x", "cam1"],
  ["*", ""],
];

for (const [url, want] of streamPaths) {
  Deno.test(`streamPathOf maps ${url} to ${JSON.stringify(want)}`, () => {
    assert.equal(streamPathOf(url), want);
  });
}

Deno.test("streamPathOf throws 400 on a relative or non-RTSP Request-URI", () => {
  for (const url of ["cam1", "http://h/cam1", "/a b"]) {
    assert.throws(() => streamPathOf(url), RtspProtocolError, url);
  }
});

Deno.test("streamPathOf and splitTrackUrl answer 414 for a path over RTSP_MAX_PATH_BYTES, counted in UTF-8", () => {
  const at = "a".repeat(RTSP_MAX_PATH_BYTES);
  assert.equal(streamPathOf(`rtsp://h/${at}/`), at);
  assert.equal(streamPathOf(`/${at}?${"q".repeat(4000)}`), at, "the query does not count");
  assert.equal(streamPathOf(`rtsp://h/${"/".repeat(4000)}cam`), "cam", "nor do the slashes around the path");
  assert.deepEqual(splitTrackUrl(`rtsp://h/${at.slice(10)}/trackID=0`), { path: at.slice(10), trackId: 0 });
  const over = [
    `rtsp://h/${at}x`,
    `/${at}x`,
    `rtsp://h/${"é".repeat(RTSP_MAX_PATH_BYTES / 2 + 1)}`, // 258 bytes in 129 characters
    `rtsp://user:secret@h/site-${"-".repeat(2800)}x`,
  ];
  for (const url of over) {
    for (const f of [streamPathOf, splitTrackUrl]) {
      assert.throws(() => f(url), (e: unknown) => {
        assert.ok(e instanceof RtspProtocolError);
        assert.equal(e.status, 414);
        assert.equal(e.limit, RTSP_MAX_PATH_BYTES);
        assert.match(e.message, /^Request-URI path is longer than 256 bytes/);
        assert.ok(e.message.length < 200 && !e.message.includes("secret"), e.message);
        return true;
      });
    }
  }
  assert.throws(() => splitTrackUrl(`rtsp://h/${at}/trackID=0`), /longer than 256/, "the control counts");
});

Deno.test("requestTarget keeps the path and query that name a resource, whatever the host", () => {
  const cases: Array<[string, string | null]> = [
    ["rtsp://h:8554/cam", "/cam"],
    ["RTSP://user:pw@[::1]/cam?x=1#frag", "/cam?x=1"],
    ["rtsp://h", "/"],
    ["rtsp://h/cam?", "/cam"],
    ["/cam", "/cam"],
    ["/cam?x=1#f", "/cam?x=1"],
    ["/cam/?x", "/cam/?x"],
    ["*", "*"],
    ["cam", null],
    ["http://h/cam", null],
    ["rtsp://h/a b", null],
  ];
  for (const [url, want] of cases) assert.equal(requestTarget(url), want, url);
  assert.notEqual(requestTarget("rtsp://h/cam/"), requestTarget("rtsp://h/cam"), "the path as written");
});

const trackCases: Array<[string, { path: string; trackId: number | null }]> = [
  ["rtsp://h/cam1/trackID=1", { path: "cam1", trackId: 1 }],
  ["rtsp://h/cam1/trackID=0/", { path: "cam1", trackId: 0 }],
  ["rtsp://h/a/b/trackid=12", { path: "a/b", trackId: 12 }],
  ["rtsp://h/cam1", { path: "cam1", trackId: null }],
  ["rtsp://h/cam1/", { path: "cam1", trackId: null }],
  ["rtsp://h/trackID=2", { path: "", trackId: 2 }],
  ["rtsp://h/cam1/trackID=1?x=1", { path: "cam1", trackId: 1 }],
  ["rtsp://h/cam1?token=abc/trackID=3", { path: "cam1", trackId: 3 }],
  ["rtsp://h/cam1/xtrackID=1", { path: "cam1/xtrackID=1", trackId: null }],
  ["rtsp://h/cam1/trackID=", { path: "cam1/trackID=", trackId: null }],
  ["rtsp://h/cam1/trackID=1234567890", { path: "cam1/trackID=1234567890", trackId: null }],
];

for (const [url, want] of trackCases) {
  Deno.test(`splitTrackUrl splits ${url}`, () => {
    assert.deepEqual(splitTrackUrl(url), want);
  });
}

const controlCases: Array<[string, string, string]> = [
  ["rtsp://cam/live", "*", "rtsp://cam/live"],
  ["rtsp://cam/live/", "", "rtsp://cam/live/"],
  ["rtsp://cam/live", "rtsp://other:8554/x/track1", "rtsp://other:8554/x/track1"],
  ["rtsp://cam/live", "rtsps://other/x", "rtsps://other/x"],
  ["rtsp://cam/live", "trackID=1", "rtsp://cam/live/trackID=1"],
  ["rtsp://cam/live/", "trackID=1", "rtsp://cam/live/trackID=1"],
  ["rtsp://cam/live.sdp", "stream=0", "rtsp://cam/live.sdp/stream=0"],
  ["rtsp://cam/live/", "/track1", "rtsp://cam/live/track1"],
  ["rtsp://cam/live", "/track1", "rtsp://cam/live/track1"],
  ["rtsp://cam/live", " streamid=0 ", "rtsp://cam/live/streamid=0"],
];

for (const [base, control, want] of controlCases) {
  Deno.test(`resolveControl resolves ${JSON.stringify(control)} against ${base}`, () => {
    assert.equal(resolveControl(base, control), want);
  });
}

const credentialCases: Array<[string, string]> = [
  ["rtsp://admin:secret@10.0.0.5:554/stream", "rtsp://10.0.0.5:554/stream"],
  ["rtsp://admin:p@ss@h/x?a=b@c", "rtsp://h/x?a=b@c"],
  ["rtsp://viewer@[::1]/x", "rtsp://[::1]/x"],
  ["rtsp://h/x@y", "rtsp://h/x@y"],
  ["rtsp://h", "rtsp://h"],
  ["not a url", "not a url"],
  ["*", "*"],
];

for (const [url, want] of credentialCases) {
  Deno.test(`withoutCredentials strips userinfo from ${JSON.stringify(url)}`, () => {
    assert.equal(withoutCredentials(url), want);
  });
}

/** Input, then the redacted form: secrets become `***`, everything else stays as written. */
const redactCases: Array<[string, string]> = [
  ["rtsp://user:pass@10.0.0.9:554/live", "rtsp://user:***@10.0.0.9:554/live"],
  ["rtsp://user:p@ss:w@rd@cam/x", "rtsp://user:***@cam/x"], // the last '@' of the authority ends the user info
  ["rtsps://admin:@cam", "rtsps://admin:***@cam"],
  ["rtsp://user@cam/x", "rtsp://user@cam/x"], // no password
  ["rtsp://cam.local/a@b", "rtsp://cam.local/a@b"], // '@' in the path is not user info
  ["rtsp://h:8554/a@b", "rtsp://h:8554/a@b"],
  ["rtsp://[::1]:8554/demo", "rtsp://[::1]:8554/demo"],
  [
    "rtsp://cam/x?channel=1&token=abc&Password=p&api_key=k",
    "rtsp://cam/x?channel=1&token=***&Password=***&api_key=***",
  ],
  ["rtsp://u:p@cam?sig=1", "rtsp://u:***@cam?sig=***"],
  ["rtsp://cam/x?to%6Ben=abc&codec=h264", "rtsp://cam/x?to%6Ben=***&codec=h264"], // name percent-decoded
  ["rtsp://cam/x?%zz=1&session=s", "rtsp://cam/x?%zz=1&session=***"], // bad escape: name tested as written
  ["rtsp://cam/x?token=abc/trackID=1", "rtsp://cam/x?token=***"], // a control appended after the query
  ["rtsp://cam/x#access_token=abc&view=2", "rtsp://cam/x#access_token=***&view=2"],
  ["rtsp://cam/x?flag&token=", "rtsp://cam/x?flag&token=***"],
  ["rtsp://admin:p@ss@h/x?a=b@c", "rtsp://admin:***@h/x?a=b@c"],
  // A password with an unescaped '/', '?' or '#' ends the authority early: none of it shows.
  ["rtsp://u:pa/ss@cam:554/x?token=t", "rtsp://u:***@cam:554/x?token=***"],
  ["rtsp://u:pa?ss@cam/x", "rtsp://u:***@cam/x"],
  ["rtsp://u:pa#ss@cam/x", "rtsp://u:***@cam/x"],
  ["not a url", "not a url"],
  ["*", "*"],
];

for (const [url, want] of redactCases) {
  Deno.test(`redactUrl hides the secrets of ${JSON.stringify(url)}`, () => {
    assert.equal(redactUrl(url), want);
  });
}

Deno.test("redactUrls() hides the secrets of every URL inside a text and keeps the text around them", () => {
  assert.equal(
    redactUrls("DESCRIBE rtsp://h:1/cam?token=SECRET123&channel=1 timed out after 5000 ms"),
    "DESCRIBE rtsp://h:1/cam?token=***&channel=1 timed out after 5000 ms",
  );
  assert.equal(
    redactUrls('Invalid RTSP URL "rtsp://u:pw@h/x?key=k": bad; see http://a:b@c/d?sig=1.'),
    'Invalid RTSP URL "rtsp://u:***@h/x?key=***": bad; see http://a:***@c/d?sig=***', // the final '.' is taken for the value
  );
  assert.equal(redactUrls("no url here: token=abc"), "no url here: token=abc");
});

Deno.test("parseRtspUrl() errors quote the URL without its password or secret query values", () => {
  for (const url of ["rtsp://u:PASS/WORD@h:1/x?token=SECRET", "rtsp://u:PASSWORD@h:99999/x?token=SECRET"]) {
    assert.throws(() => parseRtspUrl(url), (err: Error) => {
      assert.ok(err instanceof RtspProtocolError);
      assert.doesNotMatch(err.message, /PASS|WORD|SECRET/, err.message);
      assert.match(err.message, /token=\*\*\*/);
      return true;
    });
  }
});

Deno.test("rtspUrlProblem() says why a URL is refused without quoting it", () => {
  assert.equal(rtspUrlProblem("rtsp://u:p%40ss@cam:554/x?token=t"), null);
  assert.equal(rtspUrlProblem("rtsp://u:pa/ss@cam/x"), "malformed port");
  assert.equal(rtspUrlProblem("rtsp://cam:99999/x"), "port out of range");
  assert.equal(rtspUrlProblem("http://cam/x"), "scheme is not rtsp:// or rtsps://");
  assert.equal(rtspUrlProblem("rtsp://cam/a b"), "whitespace or control character");
});
