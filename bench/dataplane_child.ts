/**
 * A forwarder in its own process, for `bench/dataplane.ts` (so its CPU time can be read from /proc/PID).
 *
 * usage: deno run --allow-net bench/dataplane_child.ts PORT DEST_PORT...
 * Prints "ready PORT portable" once forwarding, then runs until its stdin closes; prints its stats as JSON last.
 * @module
 */
import { PortableForwarder } from "./support/portable_forwarder.ts";

const [port, ...dests] = Deno.args;
const fwd = PortableForwarder.start({
  hostname: "127.0.0.1",
  port: Number(port ?? 0),
  destinations: dests.map((p) => ({ hostname: "127.0.0.1", port: Number(p) })),
});
console.log(`ready ${fwd.port} portable`);
// Block until the bench closes our stdin (bounded by the bench's own timeouts).
for await (const _ of Deno.stdin.readable) { /* discard */ }
const stats = fwd.stats();
await fwd.close();
console.log(JSON.stringify(stats));
