/**
 * `deno task bench:fuzz`: a million inputs (by default) into every fuzz target of tests/support/fuzz_targets.ts
 * (the RTSP parser, the mesh framing, the RTP readers, the track's per-packet path, RTCP, SDP and the RTSP header
 * parsers) and tests/support/fuzz_targets_relay.ts (the peer protocol, open and keyed, as the admin app serves
 * it; SDPs with many media sections installed on a stream). Most inputs are seeded mutations of each target's corpus (tests/support/mutator.ts); a share comes
 * from fast-check generators. Prints per target the inputs, refused/accepted, the most bytes held, the heap
 * before and after (after a forced GC, asserted bounded), the time and the rate. Exits 1 on any unexpected throw
 * or broken invariant, after printing the seed, the input's index and its hex (and a command that replays it).
 *
 * ```sh
 * deno task bench:fuzz                                  # random seed, 1 000 000 inputs per target
 * deno task bench:fuzz --seed 42 --count 200000 --target mesh-frame,rtp-packet
 * deno task bench:fuzz --seed 42 --target sdp --from 123456 --count 1   # replay one mutated input
 * deno task bench:fuzz --target sdp --hex 763d300d0a...                 # replay bytes
 * MSM_FUZZ_SEED=42 MSM_FUZZ_COUNT=100000 deno task bench:fuzz
 * ```
 * @module
 */
import v8 from "node:v8";
import vm from "node:vm";
import { parseArgs } from "node:util";
import fc from "fast-check";
import { createFuzzTargets, type FuzzResult, type FuzzTarget } from "../tests/support/fuzz_targets.ts";
import { type AsyncFuzzTarget, createRelayFuzzTargets } from "../tests/support/fuzz_targets_relay.ts";
import { hex, mutate } from "../tests/support/mutator.ts";
import { seededRandom } from "../tests/support/seeded_random.ts";

/** Heap the targets may keep after a forced GC, over what the process held before them. */
const MAX_HEAP_GROWTH = 32 * 1024 * 1024;
/** Inputs between two samples of the heap (and between two resets of a stateful target). */
const SAMPLE_EVERY = 10_000;

// A forced GC makes "heap after" mean what is still reachable (node's documented way to get `gc` at run time).
v8.setFlagsFromString("--expose-gc");
const forceGc = vm.runInNewContext("gc") as () => void;

const { values: args } = parseArgs({
  args: Deno.args,
  options: {
    seed: { type: "string" },
    count: { type: "string" },
    target: { type: "string" },
    from: { type: "string" },
    hex: { type: "string" },
    help: { type: "boolean", short: "h" },
  },
});

if (args.help) {
  console.log(
    "deno task bench:fuzz [--seed N] [--count N] [--target a,b] [--from K] [--hex BYTES]\n" +
      "env: MSM_FUZZ_SEED, MSM_FUZZ_COUNT",
  );
  Deno.exit(0);
}

function intArg(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined || value === "") return fallback;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 0) {
    console.error(`Invalid ${name} ${JSON.stringify(value)}: expected a non-negative integer`);
    Deno.exit(2);
  }
  return n;
}

const seed = intArg(
  args.seed ?? Deno.env.get("MSM_FUZZ_SEED"),
  "seed",
  crypto.getRandomValues(new Uint32Array(1))[0]!,
) >>> 0;
const count = intArg(args.count ?? Deno.env.get("MSM_FUZZ_COUNT"), "count", 1_000_000);
const from = intArg(args.from, "from", 0);
const all: Array<FuzzTarget | AsyncFuzzTarget> = [...createFuzzTargets(), ...createRelayFuzzTargets()];
const wanted = args.target?.split(",").map((s) => s.trim()).filter(Boolean);
const unknown = wanted?.filter((n) => !all.some((t) => t.name === n)) ?? [];
if (unknown.length) {
  console.error(
    `Unknown target ${unknown.map((n) => JSON.stringify(n)).join(", ")}; targets: ${
      all.map((t) => t.name).join(", ")
    }`,
  );
  Deno.exit(2);
}
const targets = wanted ? all.filter((t) => wanted.includes(t.name)) : all;

/** FNV-1a of a name: each target draws from its own seed space. */
function nameHash(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/** Seed of mutated input `k` of `target`: replayable from the run's seed and `k` alone. */
function inputSeed(target: FuzzTarget | AsyncFuzzTarget, k: number): number {
  return (Math.imul(seed ^ nameHash(target.name), 0x9e3779b1) + k) >>> 0;
}

/** What went wrong with one input. */
interface Failure {
  how: string;
  input: Uint8Array;
  error: unknown;
  replay: string;
}

/** Figures of one target. */
interface TargetFigures {
  name: string;
  inputs: number;
  mutated: number;
  generated: number;
  refused: number;
  accepted: number;
  maxHeld: number;
  heapBefore: number;
  heapPeak: number;
  heapAfter: number;
  seconds: number;
  failure: Failure | null;
}

async function runTarget(target: FuzzTarget | AsyncFuzzTarget): Promise<TargetFigures> {
  const share = target.arbitrary ? (target.arbitraryShare ?? 0.2) : 0;
  const generated = args.hex !== undefined || args.from !== undefined ? 0 : Math.round(count * share);
  const mutated = args.hex !== undefined ? 1 : count - generated;
  const figures: TargetFigures = {
    name: target.name,
    inputs: 0,
    mutated: 0,
    generated: 0,
    refused: 0,
    accepted: 0,
    maxHeld: 0,
    heapBefore: 0,
    heapPeak: 0,
    heapAfter: 0,
    seconds: 0,
    failure: null,
  };
  target.reset?.();
  forceGc();
  figures.heapBefore = figures.heapPeak = Deno.memoryUsage().heapUsed;
  const t0 = performance.now();
  const tally = (res: FuzzResult) => {
    figures.inputs++;
    if (res.accepted) figures.accepted++;
    else figures.refused++;
    if (res.held > figures.maxHeld) figures.maxHeld = res.held;
    if (res.held > target.maxHeldBytes) {
      throw new Error(`held ${res.held} bytes, more than the bound of ${target.maxHeldBytes}`);
    }
    if (figures.inputs % SAMPLE_EVERY === 0) {
      figures.heapPeak = Math.max(figures.heapPeak, Deno.memoryUsage().heapUsed);
      target.reset?.();
    }
  };

  // 1. Mutations of the corpus (or the one input given with --hex).
  for (let k = from; k < from + mutated; k++) {
    const s = inputSeed(target, k);
    const input = args.hex !== undefined
      ? fromHex(args.hex)
      : mutate(target.corpus, seededRandom(s), target.mutateOptions);
    const kept = input.slice();
    try {
      tally(await target.run(input, seededRandom(s ^ 0x9e3779b9)));
      figures.mutated++;
    } catch (error) {
      figures.failure = {
        how: args.hex !== undefined ? "the --hex input" : `mutated input #${k} (input seed ${s})`,
        input: kept,
        error,
        replay: args.hex !== undefined
          ? `deno task bench:fuzz --target ${target.name} --hex ${hex(kept, Infinity)}`
          : `deno task bench:fuzz --seed ${seed} --target ${target.name} --from ${k} --count 1`,
      };
      break;
    }
  }

  // 2. fast-check generated inputs (fast-check shrinks a failing one before reporting it).
  if (!figures.failure && target.arbitrary && generated > 0) {
    let k = 0;
    const details = await fc.check(
      fc.asyncProperty(target.arbitrary, async (input) => {
        const s = (seed + k++) >>> 0;
        tally(await target.run(input.slice(), seededRandom(s)));
        figures.generated++;
      }),
      { seed: seed | 0, numRuns: generated },
    );
    if (details.failed) {
      const input = (details.counterexample?.[0] as Uint8Array | undefined) ?? new Uint8Array(0);
      figures.failure = {
        how:
          `fast-check input (seed ${details.seed}, path ${details.counterexamplePath}, shrunk ${details.numShrinks}x)`,
        input,
        error: details.errorInstance,
        replay: `deno task bench:fuzz --target ${target.name} --hex ${hex(input, Infinity)}`,
      };
    }
  }
  figures.seconds = (performance.now() - t0) / 1000;
  target.reset?.();
  if ("close" in target) await target.close();
  forceGc();
  figures.heapAfter = Deno.memoryUsage().heapUsed;
  return figures;
}

function fromHex(s: string): Uint8Array {
  const clean = s.replace(/[^0-9a-f]/gi, "");
  const out = new Uint8Array(clean.length >> 1);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.slice(2 * i, 2 * i + 2), 16);
  return out;
}

const mib = (n: number) => `${(n / 2 ** 20).toFixed(1)} MiB`;
const num = (n: number) => n.toLocaleString("en-US");

console.log(
  `bench:fuzz seed ${seed}, ${num(count)} inputs per target (${targets.map((t) => t.name).join(", ")}), ` +
    `Deno ${Deno.version.deno}, V8 ${Deno.version.v8}`,
);
console.log(`replay the whole run: deno task bench:fuzz --seed ${seed} --count ${count}`);
const results: TargetFigures[] = [];
let failed = false;
for (const target of targets) {
  const f = await runTarget(target);
  results.push(f);
  const growth = f.heapAfter - f.heapBefore;
  console.log(
    `${f.name.padEnd(13)} ${num(f.inputs).padStart(9)} inputs (${num(f.mutated)} mutated, ${
      num(f.generated)
    } ` +
      `generated): ${num(f.refused)} refused, ${num(f.accepted)} accepted; max held ${num(f.maxHeld)} B ` +
      `(bound ${num(target.maxHeldBytes)}); heap ${mib(f.heapBefore)} -> peak ${mib(f.heapPeak)} -> ` +
      `${mib(f.heapAfter)} after GC; ${f.seconds.toFixed(1)} s, ${
        num(Math.round(f.inputs / f.seconds))
      } inputs/s`,
  );
  if (f.failure) {
    failed = true;
    const e = f.failure.error;
    console.error(
      `\nFAIL ${f.name}: ${f.failure.how}, run seed ${seed}\n` +
        `error: ${e instanceof Error ? `${e.name}: ${e.message}\n${e.stack ?? ""}` : String(e)}\n` +
        `input (${f.failure.input.length} bytes, hex): ${hex(f.failure.input, 8192)}\n` +
        `input as text: ${JSON.stringify(new TextDecoder().decode(f.failure.input.subarray(0, 2048)))}\n` +
        `replay: ${f.failure.replay}\n`,
    );
  }
  if (growth > MAX_HEAP_GROWTH) {
    failed = true;
    console.error(
      `FAIL ${f.name}: the heap grew by ${mib(growth)} (bound ${mib(MAX_HEAP_GROWTH)}), seed ${seed}`,
    );
  }
}
const total = results.reduce((n, f) => n + f.inputs, 0);
const seconds = results.reduce((n, f) => n + f.seconds, 0);
console.log(
  `total: ${num(total)} inputs in ${seconds.toFixed(1)} s; ${
    failed ? "FAILED" : "no unexpected throw"
  } (seed ${seed})`,
);
if (failed) Deno.exit(1);
