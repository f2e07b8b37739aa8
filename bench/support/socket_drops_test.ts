import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { dropsGrowth, parseUdpDrops } from "./socket_drops.ts";

const TABLE =
  `   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  100: 0100007F:9C40 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 1234 2 0000000000000000 17
  101: 00000000:9C40 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 1235 2 0000000000000000 3
  102: 0100007F:1F90 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 1236 2 0000000000000000 0
`;

Deno.test("kernel drops are summed by local port and their growth by the ports asked for", () => {
  const drops = parseUdpDrops(TABLE);
  assertEquals([...drops], [[40000, 20], [8080, 0]]);
  assertEquals(dropsGrowth(new Map([[40000, 5]]), drops, [40000, 8080, 9]), 15);
});
