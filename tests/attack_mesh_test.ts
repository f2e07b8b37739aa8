/**
 * Attacks on the mesh's peer protocol by an outsider, as issue 13 item 1 filed them: a lone relay exposes no
 * peer protocol; without a mesh key only relays that discovery knows may call, from the address it gives for
 * them, and media goes only to the mesh address discovery gives, never to one a request body names; heartbeats
 * count only from the relay they name; a member cannot push other relays out of a tree.
 * @module
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { delay, freePort } from "./support/processes.ts";
import { type RelayProcess, startRelayProcess } from "./support/relay.ts";
import { encodeHeartbeat } from "../src/cluster/mesh_frame.ts";
import { parsePrometheus, sampleValue } from "./support/prometheus.ts";
import { countDatagrams } from "./support/udp_counter.ts";

const USER = ["--user", "viewer:viewer-secret-1:read"];

/**
 * POSTs `body` as JSON, from `client` if given. (As `text/plain`, what a web page can send cross-origin without
 * asking, a body is refused with 415 before the peer protocol's guard sees it: tests/attack_admin_json_test.ts.)
 */
async function post(
  relay: RelayProcess,
  op: string,
  body: unknown,
  client?: Deno.HttpClient,
  type = "application/json",
): Promise<number> {
  return (await postForAnswer(relay, op, body, client, type)).status;
}

/** As {@linkcode post}, with the answer's JSON. */
async function postForAnswer(
  relay: RelayProcess,
  op: string,
  body: unknown,
  client?: Deno.HttpClient,
  type = "application/json",
): Promise<{ status: number; json: Record<string, unknown> | null }> {
  const res = await fetch(`http://${relay.host}:${relay.adminPort}/mesh/v1/${op}`, {
    method: "POST",
    headers: { "Content-Type": type },
    body: JSON.stringify(body),
    ...(client ? { client } : {}),
  });
  const text = await res.text();
  let json: Record<string, unknown> | null = null;
  try {
    json = JSON.parse(text);
  } catch { /* not JSON */ }
  return { status: res.status, json };
}

Deno.test("attack: a lone relay exposes no peer protocol, so no body can send its media anywhere", async () => {
  await using relay = await startRelayProcess(USER);
  const sink = countDatagrams("127.0.0.1");
  try {
    // Reading the demo needs credentials...
    const describe = await fetch(`http://${relay.host}:${relay.adminPort}/api/v1/streams`);
    await describe.body?.cancel();
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) {
      const from = { node: `fake-${i}`, host: "127.0.0.1", adminPort: 9, meshPort: sink.port };
      statuses.push(await post(relay, "join", { path: "demo", from, readers: 1 }));
      statuses.push(await post(relay, "subscribe", { path: "demo", from, streamId: 1 + i, burst: true }));
    }
    await delay(2000);
    console.log(`lone relay: peer protocol answered ${statuses.join(",")}; ${sink.received} datagrams sent`);
    assert(statuses.every((s) => s === 404), `the peer protocol answered ${statuses.join(",")}`);
    assertEquals(sink.received, 0, "the lone relay sent media to an address a request body named");
  } finally {
    sink.close();
  }
});

Deno.test("attack: an open mesh takes calls only from known relays and sends media only to their addresses", async () => {
  const octet = 20 + Math.floor(Math.random() * 200);
  const hostA = `127.0.0.${octet}`;
  const hostB = `127.0.0.${octet + 1}`;
  const hostC = `127.0.0.${octet + 2}`;
  const adminPort = freePort("tcp", hostA);
  const meshPort = freePort("udp", hostB);
  // Relay B is not running: the test stands at B's addresses and watches what A sends to them.
  await using a = await startRelayProcess(
    [
      ...USER,
      "--node",
      "node-a",
      "--discovery",
      "static",
      "--peer",
      `node-b=${hostB}:${adminPort}:${meshPort}`,
      "--peer",
      `node-c=${hostC}:${adminPort}:${meshPort}`,
    ],
    {},
    { host: hostA, adminPort, meshPort },
  );
  const atB = countDatagrams(hostB, meshPort);
  const attacker = countDatagrams("127.0.0.1");
  const fromB = Deno.createHttpClient({ localAddress: hostB });
  const asB = {
    node: "node-b",
    host: "127.0.0.1",
    adminPort: 9,
    meshPort: attacker.port,
    incarnation: "00000000000000b2",
  };
  try {
    // An outsider (any other address) is refused whatever it claims to be.
    const outsider = [
      await post(a, "join", { path: "demo", from: asB, readers: 1 }),
      await post(a, "subscribe", { path: "demo", from: asB, streamId: 7, burst: true }),
      await post(a, "join", { path: "demo", from: { ...asB, node: "node-c" }, readers: 0, deaf: true }),
    ];
    const roots = await fetch(`http://${hostA}:${adminPort}/mesh/v1/roots/demo`);
    await roots.body?.cancel();
    outsider.push(roots.status);
    assert(outsider.every((s) => s === 403), `an outsider got ${outsider.join(",")}`);

    // A caller at B's address cannot speak for C, nor push C out of a tree (deaf, suspects).
    const forC = await post(
      a,
      "join",
      {
        path: "demo",
        from: { ...asB, node: "node-c" },
        readers: 0,
        deaf: true,
      },
      fromB,
      "application/json",
    );
    assertEquals(forC, 403, "a call from B's address spoke for C");

    // B itself (calling from its address) subscribes, naming the attacker's socket: media goes to B's mesh port.
    const join = await postForAnswer(a, "join", { path: "demo", from: asB, readers: 1 }, fromB);
    assertEquals(join.status, 200);
    const sub = await post(
      a,
      "subscribe",
      { path: "demo", from: asB, streamId: 7, burst: true, epoch: join.json?.epoch },
      fromB,
    );
    assertEquals(sub, 200);
    const hb = Deno.listenDatagram({ transport: "udp", hostname: hostB, port: 0 });
    try {
      // Heartbeats naming node-b from another port of B's host do not keep the child alive.
      const beat = encodeHeartbeat("node-b");
      const until = Date.now() + 5000;
      let sawMedia = false;
      while (Date.now() < until) {
        await hb.send(beat, { transport: "udp", hostname: hostA, port: meshPort });
        if (atB.received > 0) sawMedia = true;
        await delay(150);
      }
      const tree = await a.get<{ children?: string[] }>("/api/v1/tree/demo");
      const peers = parsePrometheus(await (await fetch(`http://${hostA}:${adminPort}/metrics`)).text());
      const refused =
        sampleValue(peers, "msm_mesh_packets_rejected_total", { reason: "unexpected_source" }) ?? 0;
      console.log(
        `open mesh: outsider ${
          outsider.join(",")
        }, for C ${forC}; B's mesh port got ${atB.received} datagrams, ` +
          `the attacker ${attacker.received}; forged heartbeats refused ${refused}; children after 5 s: ` +
          JSON.stringify(tree.body.children ?? []),
      );
      assert(sawMedia, "B's mesh address got no media");
      assertEquals(attacker.received, 0, "media went to the address the body named");
      assertEquals(tree.body.children ?? [], [], "heartbeats from the wrong port kept the child alive");
      assert(refused >= 20, `${refused} forged heartbeats counted`);
    } finally {
      hb.close();
    }
  } finally {
    fromB.close();
    atB.close();
    attacker.close();
  }
});
