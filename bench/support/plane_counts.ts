/**
 * The fast plane's datagram counts of a relay, read from its `/metrics` (`msm_dataplane_datagrams_total`), so a
 * bench can say how much of a relay's forwarding its Worker did on its own (`cut_through`) and how much the main
 * thread handed it (`sent` minus `cut_through`).
 * @module
 */

/** Cumulative counts by event (`received`, `sent`, `cut_through`, ...); empty on the portable plane. */
export type PlaneCounts = Record<string, number>;

/** Reads the counts from the metrics at `http://host:adminPort/metrics`. */
export async function readPlaneCounts(host: string, adminPort: number): Promise<PlaneCounts> {
  const text = await (await fetch(`http://${host}:${adminPort}/metrics`)).text();
  return parsePlaneCounts(text);
}

/** The counts in a Prometheus exposition. */
export function parsePlaneCounts(text: string): PlaneCounts {
  const counts: PlaneCounts = {};
  for (const m of text.matchAll(/^msm_dataplane_datagrams_total\{event="([a-z_]+)"\} (\d+(?:\.\d+)?)$/gm)) {
    counts[m[1]!] = Number(m[2]);
  }
  return counts;
}

/** What grew from `before` to `after`, by event. */
export function planeCountsGrowth(before: PlaneCounts, after: PlaneCounts): PlaneCounts {
  const growth: PlaneCounts = {};
  for (const [event, value] of Object.entries(after)) growth[event] = value - (before[event] ?? 0);
  return growth;
}

/**
 * One line of a relay's sends in a window: all, by its Worker alone, and handed over by the main thread (the
 * copies that paid two thread hand-offs); "" when the relay has no fast plane.
 */
export function formatPlaneSends(growth: PlaneCounts): string {
  if (growth.sent === undefined) return "";
  const own = growth.cut_through ?? 0;
  const byMain = growth.sent - own;
  const share = growth.sent > 0 ? ((byMain / growth.sent) * 100).toFixed(2) : "0.00";
  return `sent ${growth.sent}: by the Worker alone ${own}, handed over by the main thread ${byMain} (${share} %)`;
}
