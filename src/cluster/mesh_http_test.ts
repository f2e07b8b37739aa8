/**
 * The peer protocol's client and guard over real HTTP: a call between key holders succeeds and its answer is
 * checked; a receiver whose clock is 10 minutes off is reached after one retry on its clock; a caller without the
 * key gets 401; an answer not signed with the key (an impostor) is refused by the caller.
 */
import { equal, ok, rejects } from "node:assert/strict";
import { Hono } from "hono";
import { deriveKeyring, type MeshKeyring } from "./mesh_keys.ts";
import { meshGuard } from "./mesh_guard.ts";
import { MeshHttp, UnsignedAnswerError } from "./mesh_http.ts";

const KEY = deriveKeyring(["cluster-key-a-0123456789"]);
const WRONG = deriveKeyring(["cluster-key-b-0123456789"]);

async function withPeer(
  ring: MeshKeyring | null,
  clockOffsetMs: number,
  fn: (origin: string, refusals: string[]) => Promise<void>,
): Promise<void> {
  const refusals: string[] = [];
  const app = new Hono();
  app.use(
    "*",
    meshGuard({
      ring: () => ring,
      now: () => Date.now() + clockOffsetMs,
      onRefused: (f) => refusals.push(f.reason),
    }),
  );
  app.post("/mesh/v1/join", async (c) => c.json({ echo: await c.req.json() }));
  app.get("/mesh/v1/roots/:path{.+}", (c) => c.json({ path: c.req.param("path") }));
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, app.fetch);
  try {
    await fn(`http://127.0.0.1:${server.addr.port}`, refusals);
  } finally {
    await server.shutdown();
  }
}

Deno.test("MeshHttp and meshGuard: signed both ways, POST with a body and GET of an encoded path", async () => {
  await withPeer(KEY, 0, async (origin, refusals) => {
    const http = new MeshHttp(() => KEY);
    const post = await http.request(origin, "POST", "/mesh/v1/join", { path: "cam 1" }, 2000);
    equal(post.status, 200);
    equal(JSON.parse(post.text).echo.path, "cam 1");
    const get = await http.request(origin, "GET", "/mesh/v1/roots/a%20b/c", undefined, 2000);
    equal(get.status, 200);
    equal(refusals.length, 0);
  });
});

Deno.test("MeshHttp reaches a peer whose clock is 10 minutes ahead or behind after one retry on its clock", async () => {
  for (const offset of [600_000, -600_000]) {
    await withPeer(KEY, offset, async (origin, refusals) => {
      const http = new MeshHttp(() => KEY);
      equal((await http.request(origin, "POST", "/mesh/v1/join", { n: 1 }, 2000)).status, 200);
      equal((await http.request(origin, "POST", "/mesh/v1/join", { n: 2 }, 2000)).status, 200);
      equal(refusals.join(), "stale", "one stale refusal, then the caller used the peer's clock");
    });
  }
});

Deno.test("a caller with the wrong key or none is refused with 401, and the answer is not trusted", async () => {
  await withPeer(KEY, 0, async (origin, refusals) => {
    const wrong = new MeshHttp(() => WRONG);
    await rejects(wrong.request(origin, "POST", "/mesh/v1/join", {}, 2000), UnsignedAnswerError);
    const res = await fetch(`${origin}/mesh/v1/join`, { method: "POST", body: "{}" });
    equal(res.status, 401);
    ok(/mesh key/.test(await res.text()));
    ok(refusals.length === 2 && refusals[1] === "missing", refusals.join());
  });
});

Deno.test("an impostor that answers without the key is refused by the caller", async () => {
  await withPeer(null, 0, async (origin) => {
    const http = new MeshHttp(() => KEY);
    await rejects(http.request(origin, "POST", "/mesh/v1/join", {}, 2000), UnsignedAnswerError);
    // Without keys on either side, the open mesh works as before.
    equal((await new MeshHttp(() => null).request(origin, "POST", "/mesh/v1/join", {}, 2000)).status, 200);
  });
});
