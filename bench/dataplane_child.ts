/**
 * A forwarder in its own process, for `bench/dataplane.ts` (so its CPU time can be read from /proc/PID).
 *
 * usage: deno run --allow-net --allow-read --allow-ffi bench/dataplane_child.ts fast|portable PORT DEST_PORT...
 * Prints "ready PORT KIND" once forwarding, then runs until its stdin closes; prints its stats as JSON last.
 * @module
 */
import { createForwarder } from "../src/dataplane/forwarder.ts";

const [prefer, port, ...dests] = Deno.args;
if (prefer !== "fast" && prefer !== "portable") throw new Error(`Unknown forwarder "${prefer}"`);
const fwd = await createForwarder({
  prefer,
  hostname: "127.0.0.1",
  port: Number(port ?? 0),
  destinations: dests.map((p) => ({ hostname: "127.0.0.1", port: Number(p) })),
});
console.log(`ready ${fwd.port} ${fwd.kind}`);
// Block until the bench closes our stdin (bounded by the bench's own timeouts).
for await (const _ of Deno.stdin.readable) { /* discard */ }
const stats = fwd.stats();
await fwd.close();
console.log(JSON.stringify(stats));
