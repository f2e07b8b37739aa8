/**
 * The measuring window of one bench trial (Linux /proc): where a relay process spends its CPU, thread by thread,
 * how long the window lasted and how loaded the machine was. Used by `bench/dataplane.ts`.
 * @module
 */
import { threadCpu } from "../../tests/support/proc_stats.ts";

/** CPU of one kind of thread over a window. */
export interface ThreadGroupCpu {
  /** "main", "Worker", "V8 platform", "Tokio", or "other (NAME)". */
  group: string;
  /** Live threads counted in this group at the end of the window. */
  threads: number;
  seconds: number;
}

/** What a window measured. */
export interface WindowCpu {
  /** Wall time of the window, s. */
  seconds: number;
  /** CPU of all the process's threads over the window, s. */
  cpuSeconds: number;
  /** Per kind of thread, biggest first. */
  groups: ThreadGroupCpu[];
}

/** The kind of a thread, from its name (comm) and whether it is the process's first thread. */
export function threadGroup(pid: number, tid: number, comm: string): string {
  if (tid === pid) return "main";
  if (comm.startsWith("worker-")) return "Worker";
  if (comm.startsWith("V8 ")) return "V8 platform";
  if (comm.startsWith("tokio-")) return "Tokio";
  // Threads Rust starts without a name inherit the process's ("deno").
  return `other (${comm})`;
}

/**
 * Starts a window on a process now; `end()` reads every thread again. A thread born in the window counts from
 * zero; one that died in it is lost (none do in the relays measured here: their thread pools are fixed).
 */
export function openWindow(pid: number): { end(): WindowCpu } {
  const t0 = performance.now();
  const before = new Map(threadCpu(pid).map((t) => [t.tid, t.seconds]));
  return {
    end() {
      const after = threadCpu(pid);
      const seconds = (performance.now() - t0) / 1000;
      const groups = new Map<string, ThreadGroupCpu>();
      for (const t of after) {
        const name = threadGroup(pid, t.tid, t.comm);
        const g = groups.get(name) ?? { group: name, threads: 0, seconds: 0 };
        g.threads++;
        g.seconds += t.seconds - (before.get(t.tid) ?? 0);
        groups.set(name, g);
      }
      const list = [...groups.values()].sort((a, b) => b.seconds - a.seconds);
      return { seconds, cpuSeconds: list.reduce((s, g) => s + g.seconds, 0), groups: list };
    },
  };
}

/** The 1, 5 and 15 minute load averages (/proc/loadavg), e.g. "1.52 1.10 0.87". */
export function loadAverage(): string {
  try {
    return Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).join(" ");
  } catch {
    return "?";
  }
}

/**
 * Lines showing a window's CPU per kind of thread: seconds, µs per forwarded packet and % of a core.
 */
export function formatThreads(w: WindowCpu, forwarded: number): string[] {
  return w.groups.map((g) =>
    `      ${`${g.group} (${g.threads})`.padEnd(22)} ${g.seconds.toFixed(2).padStart(7)} s  ${
      (forwarded > 0 ? (g.seconds * 1e6) / forwarded : NaN).toFixed(3).padStart(7)
    } µs/pkt  ${((g.seconds / w.seconds) * 100).toFixed(1).padStart(5)} % of a core`
  );
}
