/**
 * What a process costs, read from /proc (Linux): CPU time over all its threads and resident memory. Used by the
 * benchmarks and the tests that bound the relay's memory.
 * @module
 */

/**
 * CPU seconds of a process: the sum over its threads of /proc/PID/task/TID/schedstat's run time (ns
 * resolution; V8 and Tokio threads included). Falls back to /proc/PID/stat (10 ms ticks).
 */
export function cpuSeconds(pid: number | "self"): number {
  try {
    let ns = 0;
    for (const t of Deno.readDirSync(`/proc/${pid}/task`)) {
      try {
        ns += Number(Deno.readTextFileSync(`/proc/${pid}/task/${t.name}/schedstat`).split(" ")[0]);
      } catch { /* the thread exited meanwhile */ }
    }
    return ns / 1e9;
  } catch {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    // utime and stime: fields 14 and 15, i.e. 12 and 13 after the parenthesised command name.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100;
  }
}

/** CPU time of one thread of a process, from /proc/PID/task/TID. */
export interface ThreadCpu {
  tid: number;
  /** The thread's name (/proc/PID/task/TID/comm), e.g. "deno", "worker-1", "V8 DefaultWorke", "tokio-runtime-w". */
  comm: string;
  /** Run time so far (schedstat, ns resolution), in seconds. */
  seconds: number;
}

/**
 * CPU seconds of each live thread of a process. A thread that exited is missing (its time is still in
 * /proc/PID/stat's process totals, not here).
 */
export function threadCpu(pid: number): ThreadCpu[] {
  const out: ThreadCpu[] = [];
  for (const t of Deno.readDirSync(`/proc/${pid}/task`)) {
    try {
      const dir = `/proc/${pid}/task/${t.name}`;
      const seconds = Number(Deno.readTextFileSync(`${dir}/schedstat`).split(" ")[0]) / 1e9;
      out.push({ tid: Number(t.name), comm: Deno.readTextFileSync(`${dir}/comm`).trim(), seconds });
    } catch { /* the thread exited meanwhile */ }
  }
  return out;
}

/** Resident memory of a process in bytes (VmRSS). */
export function rssBytes(pid: number | "self"): number {
  const m = Deno.readTextFileSync(`/proc/${pid}/status`).match(/VmRSS:\s+(\d+) kB/);
  if (!m) throw new Error(`No VmRSS for process ${pid}`);
  return Number(m[1]) * 1024;
}
