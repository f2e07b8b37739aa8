import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { formatPlaneSends, parsePlaneCounts, planeCountsGrowth } from "./plane_counts.ts";

const EXPOSITION = `# HELP msm_dataplane_datagrams_total x
# TYPE msm_dataplane_datagrams_total counter
msm_dataplane_datagrams_total{event="received"} 120
msm_dataplane_datagrams_total{event="sent"} 400
msm_dataplane_datagrams_total{event="cut_through"} 390
msm_rtp_packets_total{path="a"} 7
`;

Deno.test("plane counts are read by event and their growth says who sent what", () => {
  const after = parsePlaneCounts(EXPOSITION);
  assertEquals(after, { received: 120, sent: 400, cut_through: 390 });
  const growth = planeCountsGrowth({ received: 20, sent: 100, cut_through: 100 }, after);
  assertEquals(growth, { received: 100, sent: 300, cut_through: 290 });
  assertEquals(
    formatPlaneSends(growth),
    "sent 300: by the Worker alone 290, handed over by the main thread 10 (3.33 %)",
  );
  assertEquals(formatPlaneSends(parsePlaneCounts("")), "");
});
