/**
 * The peer protocol's root lookup (`GET /mesh/v1/roots/{path}`) with paths that hold a `%`. RTSP paths are not
 * percent-decoded, so `cam%25x` and `x%zz` are paths like any other; the asking relay percent-encodes the path
 * into the URL once. A root that decoded it twice found `cam%25x` as `cam%x` (a reader on another relay got 404
 * for a live publisher) and threw on `x%zz` (500, and an error line in its log, for every DESCRIBE an outsider
 * sends to any relay of the mesh).
 * @module
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { type RelayCluster, startRelayCluster } from "./support/mesh.ts";
import { RawRtspConnection } from "./support/raw_rtsp.ts";
import type { RelayProcess } from "./support/relay.ts";
import { startRtspPublisher } from "./support/rtsp_peers.ts";
import { NUMBERED_SDP, numberedPacket } from "./support/numbered_stream.ts";

async function describe(relay: RelayProcess, path: string): Promise<number | null> {
  await using conn = await RawRtspConnection.open(relay.rtspPort, relay.host);
  const res = await conn.request(`DESCRIBE ${relay.url(path)} RTSP/1.0\r\nCSeq: 1\r\n\r\n`, 10_000);
  return res?.status ?? null;
}

Deno.test("attack: paths with '%' are looked up among peers as they are: no 500, no error log, a live path found", async () => {
  await using cluster: RelayCluster = await startRelayCluster({
    count: 2,
    zoneOf: () => "z",
    discovery: "static",
  });
  const [a, b] = cluster.relays as [RelayProcess, RelayProcess];
  await using pub = await startRtspPublisher(b.url("cam%25x"), NUMBERED_SDP, { transport: "tcp" });
  for (let i = 0; i < 5; i++) await pub.send(numberedPacket(i));

  const live = await describe(a, "cam%25x");
  const outsider: Array<number | null> = [];
  for (const path of ["x%zz", "x%E0%A4%A", "y%", "%%"]) outsider.push(await describe(a, path));
  const failed = b.process.stderrLines.filter((l) => l.includes("admin request failed"));
  console.log(
    `DESCRIBE of a path published on b, at a: ${live}; paths with stray '%' at a: ${outsider.join(",")}; ` +
      `error lines at b: ${failed.length}`,
  );
  assertEquals(live, 200, "a path with %25 published on b was not found from a");
  assertEquals(outsider, [404, 404, 404, 404]);
  assert(failed.length === 0, `b failed on the lookups:\n${failed.join("\n")}`);
});
