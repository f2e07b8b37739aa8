/**
 * A relay whose mesh UDP port is blocked (every packet to it dropped) while its admin HTTP port still answers: its
 * children must notice and re-parent, their readers keep decoding (gap < 1 s), and the root stops routing through
 * it. Four relays run in network namespaces (one "node" each, same ports), static discovery, fan-out 2, a camera
 * in the root namespace. The block is a policy-routing rule in the blocked relay's namespace (`ip rule pref 5 iif
 * eth0 ipproto udp dport 7000 blackhole`, ahead of the local table): this kernel has no tc actions (`act_gact`,
 * `act_police`) and no `prio` qdisc, so a tc filter cannot drop.
 *
 * The blocked relay notices that its port hears nothing from the two or more peers that should be sending (its
 * parent and its children heartbeat every 150 ms), stops heartbeating its children (they move after 600 ms), asks
 * the root to keep it out of the plan (its heartbeats no longer count) and asks its children to re-join. Once
 * the block is lifted it hears again, joins as before and its own reader resumes.
 * @module
 */
import { ok as assert } from "node:assert/strict";
import { createNetnsLab, type NetnsLab, requireNetnsTools } from "./support/netns.ts";
import { delay, startGstCamera } from "./support/processes.ts";
import { type ProgressReader, startProgressReader } from "./support/progress_reader.ts";
import { type RelayProcess, startRelayProcess } from "./support/relay.ts";
import type { TreeJson } from "./support/tree_scenario.ts";

const RTSP_PORT = 8554;
const ADMIN_PORT = 8080;
const MESH_PORT = 7000;
const COUNT = 4;

function nodeName(i: number): string {
  return `node-${String.fromCharCode(97 + i)}`;
}

async function run(cmd: string[]): Promise<void> {
  const out = await new Deno.Command(cmd[0]!, { args: cmd.slice(1), stdout: "piped", stderr: "piped" })
    .output();
  if (out.code !== 0) {
    throw new Error(`"${cmd.join(" ")}" exited ${out.code}: ${new TextDecoder().decode(out.stderr)}`);
  }
}

/** Starts relay i inside its namespace (same ports on every node) and waits until it is ready. */
function startNsRelay(lab: NetnsLab, i: number, cameraUrl: string): Promise<RelayProcess> {
  const node = lab.nodes[i]!;
  const peers = lab.nodes.filter((n) => n.index !== i).flatMap((n) => [
    "--peer",
    `${nodeName(n.index)}=${n.ip}:${ADMIN_PORT}:${MESH_PORT}@zone-1`,
  ]);
  return startRelayProcess(
    [
      ...["--node", nodeName(i), "--zone", "zone-1", "--discovery", "static", "--fanout", "2", ...peers],
      ...["--path", `cam=${cameraUrl}`, "--pull-transport", "tcp"],
    ],
    {},
    {
      netns: node.netns,
      host: node.ip,
      rtspPort: RTSP_PORT,
      adminPort: ADMIN_PORT,
      meshPort: MESH_PORT,
      name: `relay-${nodeName(i)}`,
    },
  );
}

async function treeAt(lab: NetnsLab, i: number): Promise<TreeJson | null> {
  const res = await fetch(`http://${lab.nodes[i]!.ip}:${ADMIN_PORT}/api/v1/tree/cam`);
  const text = await res.text();
  return res.status === 200 ? JSON.parse(text) : null;
}

Deno.test({
  name:
    "a relay whose mesh UDP port is blocked loses its children to other parents; their readers keep playing",
  // The lab's namespaces, veths and bridge are removed in `finally` (and by the next run if this one crashed).
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    await requireNetnsTools();
    await using lab = await createNetnsLab(COUNT);
    await using camera = await startGstCamera({ host: lab.gateway, fps: 25 });
    const relays: RelayProcess[] = [];
    const readers = new Map<number, ProgressReader>();
    let blocked: string | null = null;
    try {
      relays.push(
        ...await Promise.all([...Array(COUNT).keys()].map((i) => startNsRelay(lab, i, camera.url))),
      );
      for (let i = 0; i < COUNT; i++) {
        const url = `rtsp://${lab.nodes[i]!.ip}:${RTSP_PORT}/cam`;
        readers.set(i, startProgressReader(url, "tcp", `reader-${nodeName(i)}`));
      }
      for (const r of readers.values()) await r.waitForFrames(25, 20_000);
      await delay(2500);
      const trees = await Promise.all([...Array(COUNT).keys()].map((i) => treeAt(lab, i)));
      const root = trees.findIndex((t) => t?.role === "root");
      assert(root >= 0, `no root: ${JSON.stringify(trees)}`);
      console.log(`root ${nodeName(root)}, plan ${JSON.stringify(trees[root]!.plan)}`);
      const middle = trees.findIndex((t, i) => i !== root && (t?.children.length ?? 0) > 0);
      assert(middle >= 0, `no relay in the middle of the tree: ${JSON.stringify(trees)}`);
      const orphans = trees[middle]!.children.map((n) => n.charCodeAt(5) - 97);
      const others = [...readers.keys()].filter((i) => i !== middle);
      const before = new Map(others.map((i) => [i, readers.get(i)!.frames()]));

      // Drop every UDP packet that reaches the middle relay's mesh port from outside; its admin port (TCP) and
      // its own sends are untouched. A policy-routing rule ahead of the local table blackholes them on input.
      const ns = lab.nodes[middle]!.netns;
      await run([
        "ip",
        "-n",
        ns,
        "rule",
        "add",
        "pref",
        "5",
        "iif",
        "eth0",
        "ipproto",
        "udp",
        "dport",
        String(MESH_PORT),
        "blackhole",
      ]);
      blocked = ns;
      await run(["ip", "-n", ns, "rule", "add", "pref", "10", "lookup", "local"]);
      await run(["ip", "-n", ns, "rule", "del", "pref", "0"]);
      const blockedAt = Date.now();
      console.log(
        `blocked UDP to ${nodeName(middle)}:${MESH_PORT}, which fed ${orphans.map(nodeName).join(", ")}`,
      );
      // Watch the root's plan for 8 s: every change is printed (a blocked relay must not get children back).
      let lastPlan = "";
      const plans: string[] = [];
      while (Date.now() - blockedAt < 8000) {
        const plan = JSON.stringify((await treeAt(lab, root))?.plan ?? null);
        if (plan !== lastPlan) plans.push(`+${Date.now() - blockedAt} ms ${plan}`);
        lastPlan = plan;
        await delay(250);
      }
      console.log(`root plan after the block:\n  ${plans.join("\n  ")}`);
      const health = await fetch(`http://${lab.nodes[middle]!.ip}:${ADMIN_PORT}/healthz`);
      await health.body?.cancel();
      assert(health.ok, "the blocked relay's admin port should still answer");
      for (const i of others) {
        const r = readers.get(i)!;
        const gap = r.longestGapMs(blockedAt - 200, Date.now());
        const t = await treeAt(lab, i);
        console.log(
          `reader on ${nodeName(i)}: frames ${before.get(i)} -> ${r.frames()}, longest gap ${gap} ms; ` +
            `parent ${t?.parent ?? "(root)"}`,
        );
        assert(r.process.running, `reader on ${nodeName(i)} exited\n${r.process.output()}`);
        assert(r.frames() >= before.get(i)! + 100, `${nodeName(i)} stalled`);
        assert(gap < 1000, `${nodeName(i)}: media gap ${gap} ms >= 1 s`);
        if (i !== root) {
          assert(t?.parent && t.parent !== nodeName(middle), `${nodeName(i)} still under the blocked relay`);
        }
      }
      const rootTree = await treeAt(lab, root);
      console.log(`plan after the block: ${JSON.stringify(rootTree?.plan)}`);
      for (const i of others) {
        assert(
          rootTree?.plan?.[nodeName(i)] !== nodeName(middle),
          `the root still routes ${nodeName(i)} via the blocked relay`,
        );
      }

      // Lift the block: the relay hears again, is planned in again and its own reader plays again.
      await run(["ip", "-n", ns, "rule", "del", "pref", "5"]);
      blocked = null;
      const middleReader = readers.get(middle)!;
      const framesAtUnblock = middleReader.frames();
      const unblockedAt = Date.now();
      await middleReader.waitForFrames(framesAtUnblock + 50, 10_000);
      const resumeMs = Date.now() - unblockedAt;
      let planned = false;
      while (!planned && Date.now() - unblockedAt < 10_000) {
        planned = (await treeAt(lab, root))?.plan?.[nodeName(middle)] !== undefined;
        if (!planned) await delay(250);
      }
      console.log(
        `after the block was lifted: ${
          nodeName(middle)
        }'s reader played 50 frames more within ${resumeMs} ms`,
      );
      assert(planned, `${nodeName(middle)} is not planned in again after the block was lifted`);
    } finally {
      if (blocked) await run(["ip", "-n", blocked, "rule", "del", "pref", "5"]).catch(() => {});
      await Promise.all([...readers.values()].map((r) => r.stop()));
      await Promise.all(relays.map((r) => r.stop("SIGTERM")));
    }
  },
});
