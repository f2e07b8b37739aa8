/**
 * Reads Prometheus text exposition with an independent parser (npm `parse-prometheus-text-format`, not the
 * relay's own registry), typed for the tests.
 * @module
 */
import parsePrometheusTextFormat from "parse-prometheus-text-format";

/** One sample of a family: its labels and value. */
export interface PromSample {
  labels: Record<string, string>;
  value: number;
}

/** One metric family as exposed. */
export interface PromFamily {
  name: string;
  help: string;
  type: string;
  samples: PromSample[];
}

interface RawFamily {
  name: string;
  help: string;
  type: string;
  metrics: Array<{ value?: string; labels?: Record<string, string> }>;
}

/** Parses an exposition into families by name (counters, gauges and untyped samples; histograms keep no value). */
export function parsePrometheus(text: string): Map<string, PromFamily> {
  const raw = (parsePrometheusTextFormat as (t: string) => RawFamily[])(text);
  const out = new Map<string, PromFamily>();
  for (const f of raw) {
    out.set(f.name, {
      name: f.name,
      help: f.help,
      type: f.type.toLowerCase(),
      samples: f.metrics
        .filter((m) => m.value !== undefined)
        .map((m) => ({ labels: m.labels ?? {}, value: Number(m.value) })),
    });
  }
  return out;
}

/**
 * The value of the sample of `name` whose labels include `labels`, or undefined when there is none.
 * @throws Error when several samples match
 */
export function sampleValue(
  families: ReadonlyMap<string, PromFamily>,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  const matches = (families.get(name)?.samples ?? []).filter((s) =>
    Object.entries(labels).every(([k, v]) => s.labels[k] === v)
  );
  if (matches.length > 1) {
    throw new Error(`${matches.length} samples of ${name} match ${JSON.stringify(labels)}`);
  }
  return matches[0]?.value;
}
