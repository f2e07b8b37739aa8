import assert from "node:assert/strict";
import {
  escapeHelp,
  escapeLabelValue,
  formatPrometheusNumber,
  PROMETHEUS_CONTENT_TYPE,
  Registry,
} from "./registry.ts";

Deno.test("registry: counter and gauge exposition", () => {
  const r = new Registry();
  const packets = r.counter("msm_rtp_packets_total", "RTP packets received.", ["path", "kind"]);
  const up = r.gauge("msm_up", "Whether the relay runs.");
  packets.inc({ path: "cam1", kind: "video" });
  packets.inc({ path: "cam1", kind: "video" }, 4);
  packets.inc({ kind: "audio", path: "cam1" }, 2); // order of keys does not matter
  up.set(undefined, 1);
  assert.equal(
    r.expose(),
    [
      "# HELP msm_rtp_packets_total RTP packets received.",
      "# TYPE msm_rtp_packets_total counter",
      'msm_rtp_packets_total{path="cam1",kind="video"} 5',
      'msm_rtp_packets_total{path="cam1",kind="audio"} 2',
      "# HELP msm_up Whether the relay runs.",
      "# TYPE msm_up gauge",
      "msm_up 1",
      "",
    ].join("\n"),
  );
  assert.equal(PROMETHEUS_CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8");
});

Deno.test("registry: label values and help are escaped", () => {
  const r = new Registry();
  const g = r.gauge("x", 'Help with \\ backslash,\nnewline and "quotes".', ["v"]);
  g.set({ v: 'a\\b"c\nd' }, 1);
  const text = r.expose();
  assert.equal(
    text,
    [
      '# HELP x Help with \\\\ backslash,\\nnewline and "quotes".', // quotes stay in HELP
      "# TYPE x gauge",
      'x{v="a\\\\b\\"c\\nd"} 1',
      "",
    ].join("\n"),
  );
  assert.equal(escapeLabelValue('\\"\n'), '\\\\\\"\\n');
  assert.equal(escapeHelp('\\"\n'), '\\\\"\\n');
});

Deno.test("registry: numbers are formatted like Prometheus", () => {
  assert.equal(formatPrometheusNumber(42), "42");
  assert.equal(formatPrometheusNumber(-3), "-3");
  assert.equal(formatPrometheusNumber(0.25), "0.25");
  assert.equal(formatPrometheusNumber(1e21), "1e+21");
  assert.equal(formatPrometheusNumber(Infinity), "+Inf");
  assert.equal(formatPrometheusNumber(-Infinity), "-Inf");
  assert.equal(formatPrometheusNumber(NaN), "NaN");
  assert.equal(formatPrometheusNumber(-0), "0");
  const r = new Registry();
  const g = r.gauge("g", "h", ["k"]);
  g.set({ k: "inf" }, Infinity);
  g.set({ k: "nan" }, NaN);
  g.set({ k: 7 }, 1.5); // numeric label value
  assert.match(r.expose(), /g\{k="inf"\} \+Inf\ng\{k="nan"\} NaN\ng\{k="7"\} 1.5\n$/);
});

Deno.test("registry: bound children for hot paths", () => {
  const r = new Registry();
  const c = r.counter("bytes_total", "Bytes.", ["path"]);
  const child = c.labels({ path: "a" });
  for (let i = 0; i < 10; i++) child.inc(100);
  assert.equal(c.labels({ path: "a" }), child); // same object
  assert.equal(c.get({ path: "a" }), 1000);
  assert.throws(() => child.inc(-1), RangeError);
  const g = r.gauge("sessions", "Sessions.").labels({});
  g.inc();
  g.inc();
  g.dec();
  assert.equal(g.value, 1);
  assert.equal(c.remove({ path: "a" }), true);
  assert.equal(c.remove({ path: "a" }), false);
  assert.equal(r.expose().includes("bytes_total{"), false);
});

Deno.test("registry: label and name validation", () => {
  const r = new Registry();
  const c = r.counter("c_total", "h", ["a"]);
  assert.throws(() => c.inc({} as { a: string }), /missing label "a"/);
  assert.throws(() => c.inc({ a: "x", b: "y" } as { a: string }), /expected labels/);
  assert.throws(() => r.counter("c_total", "h"), /already registered/);
  assert.throws(() => r.counter("bad-name", "h"), /invalid metric name/);
  assert.throws(() => r.gauge("g", "h", ["__reserved"]), /invalid label name/);
  assert.throws(() => r.gauge("g2", "h", ["a", "a"]), /repeated/);
  assert.throws(() => r.histogram("h1", "h", ["le"]), /reserved/);
  assert.throws(() => r.histogram("h2", "h", [], [1, 1]), /ascending/);
  assert.equal(r.get("c_total"), c);
});

Deno.test("registry: collectors run before exposition and can be removed", () => {
  const r = new Registry();
  const g = r.gauge("jitter_seconds", "Jitter.", ["path"]);
  let source = 0.5;
  const remove = r.addCollector(() => g.set({ path: "p" }, source));
  assert.match(r.expose(), /jitter_seconds\{path="p"\} 0.5\n/);
  source = 0.25;
  assert.match(r.expose(), /jitter_seconds\{path="p"\} 0.25\n/);
  remove();
  source = 9;
  assert.match(r.expose(), /jitter_seconds\{path="p"\} 0.25\n/);
});

Deno.test("registry: histogram buckets are cumulative with +Inf, sum and count", () => {
  const r = new Registry();
  const h = r.histogram("latency_seconds", "Latency.", ["op"], [0.1, 1]);
  h.observe({ op: "read" }, 0.05);
  h.observe({ op: "read" }, 0.5);
  h.observe({ op: "read" }, 0.5);
  h.observe({ op: "read" }, 3);
  const plain = r.histogram("size_bytes", "Size.", [], [10]);
  plain.observe(undefined, 10); // on the bound: counted in it (le)
  assert.equal(
    r.expose(),
    [
      "# HELP latency_seconds Latency.",
      "# TYPE latency_seconds histogram",
      'latency_seconds_bucket{op="read",le="0.1"} 1',
      'latency_seconds_bucket{op="read",le="1"} 3',
      'latency_seconds_bucket{op="read",le="+Inf"} 4',
      'latency_seconds_sum{op="read"} 4.05',
      'latency_seconds_count{op="read"} 4',
      "# HELP size_bytes Size.",
      "# TYPE size_bytes histogram",
      'size_bytes_bucket{le="10"} 1',
      'size_bytes_bucket{le="+Inf"} 1',
      "size_bytes_sum 10",
      "size_bytes_count 1",
      "",
    ].join("\n"),
  );
});

Deno.test("registry: a labelled metric without children shows only HELP and TYPE", () => {
  const r = new Registry();
  r.counter("idle_total", "Nothing yet.", ["path"]);
  assert.equal(r.expose(), "# HELP idle_total Nothing yet.\n# TYPE idle_total counter\n");
  assert.equal(new Registry().expose(), "");
});

Deno.test("MetricFamily.removeMatching() drops every series with the given label values", () => {
  const r = new Registry();
  const c = r.counter("x_total", "X.", ["path", "sink"]);
  c.inc({ path: "a", sink: "udp" });
  c.inc({ path: "a", sink: "tcp" });
  c.inc({ path: "b", sink: "udp" });
  assert.equal(c.removeMatching({ path: "a" }), 2);
  assert.equal(c.get({ path: "b", sink: "udp" }), 1);
  assert.equal(r.expose().includes('path="a"'), false);
  assert.equal(c.removeMatching({ sink: "udp" }), 1);
  assert.equal(c.removeMatching({ path: "zzz" }), 0);
});
