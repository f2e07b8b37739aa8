import { deepStrictEqual as assertEquals, match } from "node:assert/strict";
import { socketBufferWarning } from "./socket_buffers.ts";

const MiB = 1024 * 1024;

Deno.test("the full grant (reported doubled) says nothing", () => {
  assertEquals(socketBufferWarning({ receive: 16 * MiB, send: 16 * MiB }, 8 * MiB), null);
});

Deno.test("a stock kernel's caps without CAP_NET_ADMIN are named with the sysctls that raise them", () => {
  const warning = socketBufferWarning({ receive: 2 * 212992, send: 2 * 212992 }, 8 * MiB)!;
  match(warning, /receive 208 KiB \(net\.core\.rmem_max\), send 208 KiB \(net\.core\.wmem_max\)/);
  match(warning, /sysctl -w net\.core\.rmem_max=8388608 net\.core\.wmem_max=8388608/);
});

Deno.test("only the short direction is named", () => {
  const warning = socketBufferWarning({ receive: 16 * MiB, send: 1 * MiB }, 8 * MiB)!;
  assertEquals(warning.includes("receive"), false);
  match(warning, /send 512 KiB/);
});
