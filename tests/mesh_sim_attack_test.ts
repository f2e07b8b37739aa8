/**
 * The cluster simulation attacked: the mesh broken on purpose must make it fail, with a trace that replays. A
 * simulation that could not fail would prove nothing.
 *
 * - A scratch copy of the repository whose planner gives every relay one child too many: tests/mesh_sim_test.ts run
 *   there fails, naming the relay with more than k children and printing `replay: MSM_SIM_SEED=...`.
 * - In this process: duplicate suppression switched off (SeqWindow accepts everything, and so does the in-order hold
 *   of per-hop retransmission) makes readers see sequence
 *   numbers repeat or go back after re-parents; the failure detector switched off (no re-parent when a parent falls
 *   silent) leaves readers without media for longer than 3 s after a SIGKILL.
 */
import { ok as assert } from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { MeshSource } from "../src/cluster/mesh_source.ts";
import { SeqWindow } from "../src/cluster/seq_window.ts";
import { RepairHold } from "../src/cluster/repair_hold.ts";
import { runSimulation } from "./support/sim/simulation.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));

Deno.test("mesh simulation attacked: a planner that gives k + 1 children fails the test with a replayable trace", async () => {
  const scratch = await Deno.makeTempDir({ prefix: "msm-sim-attack-" });
  try {
    const copy = new Deno.Command("cp", {
      args: ["-r", `${ROOT}src`, `${ROOT}tests`, `${ROOT}deno.json`, `${ROOT}deno.lock`, scratch],
    });
    assert((await copy.output()).success, "copying the repository");
    const planner = `${scratch}/src/cluster/planner.ts`;
    const text = await Deno.readTextFile(planner);
    assert(text.includes("const k = input.fanout;"), "the planner changed: update this attack");
    await Deno.writeTextFile(planner, text.replace("const k = input.fanout;", "const k = input.fanout + 1;"));
    const run = await new Deno.Command(Deno.execPath(), {
      args: ["test", "-A", "--no-check", "tests/mesh_sim_test.ts"],
      cwd: scratch,
      env: { MSM_SIM_SEEDS: "1-12", NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const out = new TextDecoder().decode(run.stdout) + new TextDecoder().decode(run.stderr);
    assert(!run.success, `the attacked simulation passed:\n${out.slice(-3000)}`);
    assert(/children > k = \d/.test(out), `no k violation reported:\n${out.slice(-3000)}`);
    assert(/replay: MSM_SIM_SEED=\d+ deno test -A tests\/mesh_sim_test\.ts/.test(out), "no replay line");
    const seed = out.match(/replay: MSM_SIM_SEED=(\d+)/)![1];
    console.log(
      `the k + 1 planner fails; first failing seed ${seed}, e.g. "${
        out.match(/[^\n]*children > k[^\n]*/)![0]
      }"`,
    );
  } finally {
    await Deno.remove(scratch, { recursive: true });
  }
});

Deno.test("mesh simulation attacked: without duplicate suppression readers see numbers repeat or go back", async () => {
  const check = SeqWindow.prototype.check;
  SeqWindow.prototype.check = function (this: SeqWindow, seq: number, ssrc?: number) {
    check.call(this, seq, ssrc);
    return true;
  };
  // Per-hop retransmission's in-order hold drops what comes behind the delivered numbers too: off as well.
  const push = RepairHold.prototype.push;
  RepairHold.prototype.push = function (
    this: RepairHold,
    seq: number,
    packet: Uint8Array,
    forwarded: boolean,
    now: number,
  ) {
    push.call(this, seq, packet, forwarded, now);
    return "now" as const;
  };
  try {
    const found: string[] = [];
    for (let seed = 1; seed <= 40 && found.length === 0; seed++) {
      // Slow links (60 ms between zones): the overlap of a make-before-break re-parent carries pictures.
      const r = await runSimulation({
        seed,
        relays: 20,
        steps: 2,
        holdMs: 3000,
        links: { insideMs: 20, acrossMs: 60, jitterMs: 10 },
        kinds: ["readersJoin", "readersLeave", "kill", "restart"],
      });
      found.push(...r.violations.filter((v) => /sequence number (\d+ repeated|went back)/.test(v)));
    }
    assert(found.length > 0, "no reader saw a repeated or backward sequence number");
    console.log(`e.g. ${found[0]}`);
  } finally {
    SeqWindow.prototype.check = check;
    RepairHold.prototype.push = push;
  }
});

Deno.test("mesh simulation attacked: without the failure detector readers starve after a SIGKILL", async () => {
  const checkParent = MeshSource.prototype.checkParent;
  MeshSource.prototype.checkParent = () => {};
  try {
    const found: string[] = [];
    for (let seed = 1; seed <= 20 && found.length === 0; seed++) {
      // Members still move when the root re-plans around the dead relay, once its lease has expired (4 s): within
      // 3 s of the SIGKILL only the failure detector moves them.
      const r = await runSimulation({ seed, relays: 20, steps: 1, settleMs: 3000, kinds: ["kill"] });
      found.push(...r.violations.filter((v) => /got no media|does not reach the root|no root/.test(v)));
    }
    assert(found.length > 0, "every reader was served though no relay re-parents");
    console.log(`e.g. ${found[0]}`);
  } finally {
    MeshSource.prototype.checkParent = checkParent;
  }
});
