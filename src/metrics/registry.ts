/**
 * A small typed Prometheus registry: counters, gauges and histograms with labels, bound children
 * for hot paths, pull collectors, and exposition in the text format 0.0.4.
 *
 * ```ts
 * const registry = new Registry();
 * const packets = registry.counter("msm_rtp_packets_total", "RTP packets received.", ["path"]);
 * const child = packets.labels({ path: "cam1" }); // look up once
 * child.inc(); // per packet: no map lookup, no allocation
 * registry.addCollector(() => gauge.set({ path: "cam1" }, stats.snapshot().jitterSeconds));
 * const body = registry.expose(); // serve with PROMETHEUS_CONTENT_TYPE
 * ```
 * @module
 */

/** Content-Type of {@link Registry.expose}'s output. */
export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** Default histogram buckets (seconds), as in the Prometheus client libraries. */
export const DEFAULT_BUCKETS: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Label values of a metric with label names `L`; numbers are written in decimal. */
export type LabelValues<L extends string> = { readonly [K in L]: string | number };

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** A sample value as Prometheus writes it: `+Inf`, `-Inf`, `NaN`, integers without a decimal point. */
export function formatPrometheusNumber(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  return String(v);
}

/** Escapes a label value: backslash, double quote and newline. */
export function escapeLabelValue(v: string): string {
  return v.replace(/[\\"\n]/g, (c) => (c === "\\" ? "\\\\" : c === '"' ? '\\"' : "\\n"));
}

/** Escapes HELP text: backslash and newline. */
export function escapeHelp(v: string): string {
  return v.replace(/[\\\n]/g, (c) => (c === "\\" ? "\\\\" : "\\n"));
}

/** A counter child bound to one set of label values. */
export class CounterChild {
  #value = 0;

  /** Adds `n` (default 1). @throws RangeError when `n` is negative or NaN */
  inc(n = 1): void {
    if (!(n >= 0)) throw new RangeError(`counter increment ${n} must be >= 0`);
    this.#value += n;
  }

  /** Current value. */
  get value(): number {
    return this.#value;
  }
}

/** A gauge child bound to one set of label values. */
export class GaugeChild {
  #value = 0;

  /** Sets the value. */
  set(v: number): void {
    this.#value = v;
  }

  /** Adds `n` (default 1). */
  inc(n = 1): void {
    this.#value += n;
  }

  /** Subtracts `n` (default 1). */
  dec(n = 1): void {
    this.#value -= n;
  }

  /** Current value. */
  get value(): number {
    return this.#value;
  }
}

/** A histogram child bound to one set of label values. */
export class HistogramChild {
  readonly #bounds: readonly number[];
  readonly #counts: Float64Array;
  #sum = 0;
  #count = 0;

  /**
   * Creates an empty child (use {@link Histogram.labels} instead).
   * @param bounds upper bounds, ascending, without +Inf
   */
  constructor(bounds: readonly number[]) {
    this.#bounds = bounds;
    this.#counts = new Float64Array(bounds.length);
  }

  /** Records one observation. */
  observe(v: number): void {
    const bounds = this.#bounds;
    for (let i = 0; i < bounds.length; i++) {
      if (v <= bounds[i]!) {
        this.#counts[i]!++;
        break;
      }
    }
    this.#sum += v;
    this.#count++;
  }

  /** Number of observations. */
  get count(): number {
    return this.#count;
  }

  /** Sum of observations. */
  get sum(): number {
    return this.#sum;
  }

  /** Cumulative count per bucket, aligned with the bounds (+Inf is {@link count}). */
  cumulativeCounts(): number[] {
    let acc = 0;
    return Array.from(this.#counts, (c) => (acc += c));
  }
}

/** A child of a {@link MetricFamily} with its label set rendered for exposition. */
export interface MetricChildEntry<C> {
  /** The bound child. */
  readonly child: C;
  /** Pre-escaped `name="value"` pairs joined by commas, "" without labels. */
  readonly labelText: string;
  /** The label values, in the order of the family's label names. */
  readonly values: readonly string[];
}

/**
 * Shared machinery of labelled metrics: validation of names, children per label set, exposition.
 * Subclassed by {@link Counter}, {@link Gauge} and {@link Histogram}.
 */
export abstract class MetricFamily<L extends string, C> {
  /** Metric name. */
  readonly name: string;
  /** HELP text. */
  readonly help: string;
  /** Label names, in exposition order. */
  readonly labelNames: readonly L[];
  readonly #children = new Map<string, MetricChildEntry<C>>();

  /**
   * Validates the metric and label names.
   * @throws Error on an invalid or repeated name
   */
  constructor(name: string, help: string, labelNames: readonly L[]) {
    if (!METRIC_NAME.test(name)) throw new Error(`invalid metric name "${name}"`);
    const seen = new Set<string>();
    for (const l of labelNames) {
      if (!LABEL_NAME.test(l) || l.startsWith("__")) throw new Error(`invalid label name "${l}" on ${name}`);
      if (seen.has(l)) throw new Error(`label "${l}" repeated on ${name}`);
      seen.add(l);
    }
    this.name = name;
    this.help = help;
    this.labelNames = [...labelNames];
  }

  /** Prometheus type keyword. */
  abstract readonly type: "counter" | "gauge" | "histogram";

  /** Creates a child for a new label set. */
  protected abstract create(): C;

  /** Appends this family's sample lines (without HELP/TYPE). */
  abstract writeSamples(lines: string[]): void;

  #values(values: LabelValues<L> | undefined): string[] {
    const v = (values ?? {}) as Record<string, string | number | undefined>;
    const out: string[] = [];
    for (const l of this.labelNames) {
      const x = v[l];
      if (x === undefined) throw new Error(`${this.name}: missing label "${l}"`);
      out.push(String(x));
    }
    const given = Object.keys(v).length;
    if (given !== this.labelNames.length) {
      throw new Error(`${this.name}: expected labels [${this.labelNames.join(", ")}], got ${given}`);
    }
    return out;
  }

  /**
   * The child for these label values, created on first use. Keep it for hot paths: its methods
   * do no map lookup. @throws Error when a label is missing or unknown
   */
  labels(values: LabelValues<L>): C {
    const vals = this.#values(values);
    const key = JSON.stringify(vals);
    let e = this.#children.get(key);
    if (!e) {
      const labelText = vals.map((x, i) => `${this.labelNames[i]}="${escapeLabelValue(x)}"`).join(",");
      e = { child: this.create(), labelText, values: vals };
      this.#children.set(key, e);
    }
    return e.child;
  }

  /** Drops the child for these label values (a stream that ended). @returns whether it existed */
  remove(values: LabelValues<L>): boolean {
    return this.#children.delete(JSON.stringify(this.#values(values)));
  }

  /**
   * Drops every child whose labels include `match` (e.g. every series of one path).
   * @returns how many were dropped
   * @example packets.removeMatching({ path: "cam1" })
   */
  removeMatching(match: Partial<LabelValues<L>>): number {
    const want = this.labelNames.map((l) => {
      const v = (match as Record<string, string | number | undefined>)[l];
      return v === undefined ? undefined : String(v);
    });
    let dropped = 0;
    for (const [key, e] of this.#children) {
      if (want.every((v, i) => v === undefined || e.values[i] === v)) {
        this.#children.delete(key);
        dropped++;
      }
    }
    return dropped;
  }

  /** Drops every child. */
  clear(): void {
    this.#children.clear();
  }

  /** Children in creation order, with their pre-escaped label text. */
  protected entries(): IterableIterator<MetricChildEntry<C>> {
    return this.#children.values();
  }

  /** The child of `values`, or of the empty label set when omitted. */
  protected childFor(values: LabelValues<L> | undefined): C {
    return this.labels((values ?? {}) as LabelValues<L>);
  }
}

function sampleLine(name: string, labelText: string, value: number): string {
  return labelText === ""
    ? `${name} ${formatPrometheusNumber(value)}`
    : `${name}{${labelText}} ${formatPrometheusNumber(value)}`;
}

/** A monotonically increasing counter. */
export class Counter<L extends string = never> extends MetricFamily<L, CounterChild> {
  /** Always "counter". */
  readonly type = "counter" as const;

  /** Creates a child (use {@link Registry.counter} instead). */
  protected create(): CounterChild {
    return new CounterChild();
  }

  /** Adds `n` (default 1) to the child of `labels` (omit them for a metric without labels). */
  inc(labels?: LabelValues<L>, n = 1): void {
    this.childFor(labels).inc(n);
  }

  /** Current value of the child of `labels`. */
  get(labels?: LabelValues<L>): number {
    return this.childFor(labels).value;
  }

  /** Appends `name{labels} value` lines. */
  writeSamples(lines: string[]): void {
    for (const e of this.entries()) lines.push(sampleLine(this.name, e.labelText, e.child.value));
  }
}

/** A value that can go up and down. */
export class Gauge<L extends string = never> extends MetricFamily<L, GaugeChild> {
  /** Always "gauge". */
  readonly type = "gauge" as const;

  /** Creates a child (use {@link Registry.gauge} instead). */
  protected create(): GaugeChild {
    return new GaugeChild();
  }

  /** Sets the child of `labels` to `v`. */
  set(labels: LabelValues<L> | undefined, v: number): void {
    this.childFor(labels).set(v);
  }

  /** Adds `n` (default 1) to the child of `labels`. */
  inc(labels?: LabelValues<L>, n = 1): void {
    this.childFor(labels).inc(n);
  }

  /** Subtracts `n` (default 1) from the child of `labels`. */
  dec(labels?: LabelValues<L>, n = 1): void {
    this.childFor(labels).dec(n);
  }

  /** Current value of the child of `labels`. */
  get(labels?: LabelValues<L>): number {
    return this.childFor(labels).value;
  }

  /** Appends `name{labels} value` lines. */
  writeSamples(lines: string[]): void {
    for (const e of this.entries()) lines.push(sampleLine(this.name, e.labelText, e.child.value));
  }
}

/** A histogram with fixed buckets, exposed as `_bucket{le=...}`, `_sum` and `_count`. */
export class Histogram<L extends string = never> extends MetricFamily<L, HistogramChild> {
  /** Always "histogram". */
  readonly type = "histogram" as const;
  /** Upper bounds, ascending, without +Inf. */
  readonly buckets: readonly number[];

  /** Use {@link Registry.histogram} instead. */
  constructor(name: string, help: string, labelNames: readonly L[], buckets: readonly number[]) {
    super(name, help, labelNames);
    if ((labelNames as readonly string[]).includes("le")) throw new Error(`${name}: "le" is reserved`);
    const b = buckets.filter((x) => x !== Infinity);
    for (let i = 0; i < b.length; i++) {
      if (Number.isNaN(b[i]!) || (i > 0 && !(b[i]! > b[i - 1]!))) {
        throw new Error(`${name}: buckets must be strictly ascending numbers`);
      }
    }
    this.buckets = b;
  }

  /** Creates a child (use {@link Registry.histogram} instead). */
  protected create(): HistogramChild {
    return new HistogramChild(this.buckets);
  }

  /** Records `v` in the child of `labels`. */
  observe(labels: LabelValues<L> | undefined, v: number): void {
    this.childFor(labels).observe(v);
  }

  /** Appends `_bucket`, `_sum` and `_count` lines. */
  writeSamples(lines: string[]): void {
    const les = this.buckets.map((b) => `le="${formatPrometheusNumber(b)}"`);
    for (const e of this.entries()) {
      const sep = e.labelText === "" ? "" : `${e.labelText},`;
      const cum = e.child.cumulativeCounts();
      for (let i = 0; i < les.length; i++) {
        lines.push(`${this.name}_bucket{${sep}${les[i]}} ${formatPrometheusNumber(cum[i]!)}`);
      }
      lines.push(`${this.name}_bucket{${sep}le="+Inf"} ${formatPrometheusNumber(e.child.count)}`);
      lines.push(sampleLine(`${this.name}_sum`, e.labelText, e.child.sum));
      lines.push(sampleLine(`${this.name}_count`, e.labelText, e.child.count));
    }
  }
}

/** Any metric a {@link Registry} holds. */
export type Metric = Counter<string> | Gauge<string> | Histogram<string>;

/**
 * A set of metrics exposed together. Metrics appear in registration order, children in creation
 * order. A metric without labels has its single sample from the start (value 0).
 */
export class Registry {
  readonly #metrics = new Map<string, Metric>();
  readonly #collectors: Array<() => void> = [];

  #add<M extends Metric>(m: M): M {
    if (this.#metrics.has(m.name)) throw new Error(`metric "${m.name}" is already registered`);
    this.#metrics.set(m.name, m);
    return m;
  }

  /** Registers a counter. @throws Error on a bad or duplicate name */
  counter<L extends string = never>(name: string, help: string, labelNames: readonly L[] = []): Counter<L> {
    const c = new Counter<L>(name, help, labelNames);
    if (labelNames.length === 0) c.labels({} as LabelValues<L>);
    return this.#add(c);
  }

  /** Registers a gauge. @throws Error on a bad or duplicate name */
  gauge<L extends string = never>(name: string, help: string, labelNames: readonly L[] = []): Gauge<L> {
    const g = new Gauge<L>(name, help, labelNames);
    if (labelNames.length === 0) g.labels({} as LabelValues<L>);
    return this.#add(g);
  }

  /** Registers a histogram with `buckets` (default {@link DEFAULT_BUCKETS}). @throws Error on bad input */
  histogram<L extends string = never>(
    name: string,
    help: string,
    labelNames: readonly L[] = [],
    buckets: readonly number[] = DEFAULT_BUCKETS,
  ): Histogram<L> {
    const h = new Histogram<L>(name, help, labelNames, buckets);
    if (labelNames.length === 0) h.labels({} as LabelValues<L>);
    return this.#add(h);
  }

  /** The metric registered under `name`. */
  get(name: string): Metric | undefined {
    return this.#metrics.get(name);
  }

  /**
   * Adds a callback run at the start of every {@link expose}, to pull values (gauges of stream
   * statistics) into metrics. An exception in a collector propagates out of `expose`.
   * @returns a function that removes the collector
   */
  addCollector(fn: () => void): () => void {
    this.#collectors.push(fn);
    return () => {
      const i = this.#collectors.indexOf(fn);
      if (i >= 0) this.#collectors.splice(i, 1);
    };
  }

  /** Runs the collectors, then renders every metric in the Prometheus text format 0.0.4. */
  expose(): string {
    for (const fn of [...this.#collectors]) fn();
    const lines: string[] = [];
    for (const m of this.#metrics.values()) {
      lines.push(`# HELP ${m.name} ${escapeHelp(m.help)}`);
      lines.push(`# TYPE ${m.name} ${m.type}`);
      m.writeSamples(lines);
    }
    return lines.length === 0 ? "" : `${lines.join("\n")}\n`;
  }
}
