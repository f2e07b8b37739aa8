/**
 * The peer protocol's client and guard over real HTTP: a call between key holders succeeds and its answer is
 * checked; the caller learns the receiver's incarnation on its first call and again after the receiver
 * restarted; a receiver whose clock is 10 minutes off is reached after one retry on its clock; a caller without
 * the key gets 401; a request signed for one relay is refused by another; an answer not signed with the key (an
 * impostor) or whose clock header was altered on the way is refused by the caller.
 */
import { equal, ok, rejects } from "node:assert/strict";
import { Hono } from "hono";
import { MESH_AUTH_HEADER, MESH_TIME_HEADER } from "./mesh_auth.ts";
import { deriveKeyring, type MeshKeyring } from "./mesh_keys.ts";
import { meshGuard } from "./mesh_guard.ts";
import { MeshHttp, UnsignedAnswerError } from "./mesh_http.ts";

const KEY = deriveKeyring(["cluster-key-a-0123456789"]);
const WRONG = deriveKeyring(["cluster-key-b-0123456789"]);

interface PeerOptions {
  node?: string;
  incarnation?: string;
  clockOffsetMs?: number;
  /** @default any free port */
  port?: number;
}

async function withPeer(
  ring: MeshKeyring | null,
  opts: PeerOptions,
  fn: (origin: string, refusals: string[]) => Promise<void>,
): Promise<void> {
  const refusals: string[] = [];
  const app = new Hono();
  app.use(
    "*",
    meshGuard({
      ring: () => ring,
      node: opts.node ?? "node-a",
      incarnation: opts.incarnation ?? "00000000000000a1",
      now: () => Date.now() + (opts.clockOffsetMs ?? 0),
      onRefused: (f) => refusals.push(f.reason),
    }),
  );
  app.post("/mesh/v1/join", async (c) => c.json({ echo: await c.req.json() }));
  app.get("/mesh/v1/roots/:path{.+}", (c) => c.json({ path: c.req.param("path") }));
  const server = Deno.serve({ hostname: "127.0.0.1", port: opts.port ?? 0, onListen: () => {} }, app.fetch);
  try {
    await fn(`http://127.0.0.1:${server.addr.port}`, refusals);
  } finally {
    await server.shutdown();
  }
}

/** An HTTP proxy in front of `origin` that passes everything on, except that `alter` may rewrite answers. */
async function withProxy(
  origin: string,
  alter: (headers: Headers) => void,
  fn: (proxyOrigin: string) => Promise<void>,
): Promise<void> {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const url = new URL(req.url);
    const res = await fetch(`${origin}${url.pathname}`, {
      method: req.method,
      headers: req.headers,
      ...(req.method === "POST" ? { body: await req.arrayBuffer() } : {}),
    });
    const headers = new Headers(res.headers);
    alter(headers);
    return new Response(await res.arrayBuffer(), { status: res.status, headers });
  });
  try {
    await fn(`http://127.0.0.1:${server.addr.port}`);
  } finally {
    await server.shutdown();
  }
}

Deno.test("MeshHttp and meshGuard: signed both ways, POST with a body and GET of an encoded path", async () => {
  await withPeer(KEY, {}, async (origin, refusals) => {
    const http = new MeshHttp(() => KEY);
    const to = { node: "node-a", origin };
    const post = await http.request(to, "POST", "/mesh/v1/join", { path: "cam 1" }, 2000);
    equal(post.status, 200);
    equal(JSON.parse(post.text).echo.path, "cam 1");
    equal(http.incarnationOf(to), "00000000000000a1");
    const get = await http.request(to, "GET", "/mesh/v1/roots/a%20b/c", undefined, 2000);
    equal(get.status, 200);
    equal(refusals.join(), "incarnation", "one first call to learn the incarnation, then none");
  });
});

Deno.test("MeshHttp learns a restarted peer's new incarnation with one retry", async () => {
  const http = new MeshHttp(() => KEY);
  let port = 0;
  // Two runs of one relay at one address.
  for (const incarnation of ["00000000000000a1", "00000000000000a2"]) {
    await withPeer(KEY, { incarnation, port }, async (origin, refusals) => {
      port = Number(new URL(origin).port);
      const to = { node: "node-a", origin };
      equal((await http.request(to, "POST", "/mesh/v1/join", { n: 1 }, 2000)).status, 200);
      equal((await http.request(to, "POST", "/mesh/v1/join", { n: 2 }, 2000)).status, 200);
      equal(refusals.join(), "incarnation");
      equal(http.incarnationOf(to), incarnation);
    });
  }
});

Deno.test("MeshHttp reaches a peer whose clock is 10 minutes ahead or behind after one retry on its clock", async () => {
  for (const offset of [600_000, -600_000]) {
    await withPeer(KEY, { clockOffsetMs: offset }, async (origin, refusals) => {
      const http = new MeshHttp(() => KEY);
      const to = { node: "node-a", origin };
      equal((await http.request(to, "POST", "/mesh/v1/join", { n: 1 }, 2000)).status, 200);
      equal((await http.request(to, "POST", "/mesh/v1/join", { n: 2 }, 2000)).status, 200);
      equal(refusals.join(), "stale", "one stale refusal, then the caller used the peer's clock");
    });
  }
});

Deno.test("a clock header altered on the way makes the caller refuse the answer, not learn a wrong clock", async () => {
  await withPeer(KEY, { clockOffsetMs: 600_000 }, async (origin, refusals) => {
    await withProxy(origin, (headers) => {
      const time = headers.get(MESH_TIME_HEADER);
      if (time) headers.set(MESH_TIME_HEADER, String(Number(time) + 86_400_000)); // a day later
    }, async (proxy) => {
      const http = new MeshHttp(() => KEY);
      await rejects(
        http.request({ node: "node-a", origin: proxy }, "POST", "/mesh/v1/join", { n: 1 }, 2000),
        UnsignedAnswerError,
      );
      equal(refusals.join(), "stale", "no second call on the forged clock");
    });
  });
});

Deno.test("a request signed for one relay is refused by another (401, signed)", async () => {
  await withPeer(KEY, { node: "node-b" }, async (origin, refusals) => {
    const http = new MeshHttp(() => KEY);
    // The caller believes node-a is at this address: what it signs is for node-a.
    const res = await http.request({ node: "node-a", origin }, "POST", "/mesh/v1/join", { n: 1 }, 2000);
    equal(res.status, 401);
    equal(JSON.parse(res.text).error, 'the request is signed for relay "node-a"; this is "node-b"');
    equal(refusals.join(), "wrong_node");
  });
});

Deno.test("a caller with the wrong key or none is refused with 401, and the answer is not trusted", async () => {
  await withPeer(KEY, {}, async (origin, refusals) => {
    const wrong = new MeshHttp(() => WRONG);
    const to = { node: "node-a", origin };
    await rejects(wrong.request(to, "POST", "/mesh/v1/join", {}, 2000), UnsignedAnswerError);
    const res = await fetch(`${origin}/mesh/v1/join`, { method: "POST", body: "{}" });
    equal(res.status, 401);
    equal(res.headers.get(MESH_AUTH_HEADER), null, "no signature for a caller without the key");
    ok(/mesh key/.test(await res.text()));
    ok(refusals.length === 2 && refusals[1] === "missing", refusals.join());
  });
});

Deno.test("an impostor that answers without the key is refused by the caller", async () => {
  await withPeer(null, {}, async (origin) => {
    const http = new MeshHttp(() => KEY);
    const to = { node: "node-a", origin };
    await rejects(http.request(to, "POST", "/mesh/v1/join", {}, 2000), UnsignedAnswerError);
    // Without keys on either side, the open mesh works as before.
    equal((await new MeshHttp(() => null).request(to, "POST", "/mesh/v1/join", {}, 2000)).status, 200);
  });
});
