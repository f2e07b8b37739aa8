/**
 * Linux network namespaces as test "nodes", and pod sandboxes inside them.
 *
 * {@linkcode createNetnsLab} builds, in the root namespace, a bridge `msmtb<id>` with address `10.213.X.1/24`
 * (X random, checked unused) and N network namespaces `msmtest-<pid>-<id>-<i>`, each joined to the bridge by a
 * veth pair (`msmtv<id><i>` on the bridge, `eth0` inside with `10.213.X.(10+i)/24`, `lo` up, default route via
 * the bridge address). Nothing is routed off the machine: no NAT, and IPv4 forwarding is off on the bridge, so
 * a packet from a namespace to any other address is dropped by the root namespace. `close()` (or `await
 * using`) kills what still runs in the namespaces, deletes them, the veths and the bridge; creation failures
 * undo what was made. Leftovers of a crashed run (same prefix, owner process gone) are removed first.
 *
 * {@linkcode podCommand} wraps a command so it runs in one namespace and in a private mount (and UTS)
 * namespace, with files bind-mounted at the paths a kubelet would mount them (a path that does not exist on
 * the host gets an overlay over its nearest existing ancestor, whose writable layer is a tmpfs of the
 * sandbox: nothing is written to the host), an optionally read-only root, tmpfs mounts, a hostname, a user
 * with no capabilities and no_new_privs, and exactly the given environment.
 *
 * Needs root, `ip` (iproute2), `unshare`, `setpriv`, `mount` (util-linux) and `sh`;
 * {@linkcode requireNetnsTools} says clearly what is missing.
 * @module
 */

import { dirname, join, posix } from "node:path";

/** The prefix of every namespace this module creates. */
export const NETNS_PREFIX = "msmtest-";
/** The prefix of every link (bridge, veth) this module creates. */
export const LINK_PREFIX = "msmt";
/** Link alias marking a link as this module's, with the creating process id. */
const ALIAS_PREFIX = "msmtest owner-pid=";

/** One namespace ("node") of a {@linkcode NetnsLab}. */
export interface NetnsNode {
  /** 0-based. */
  readonly index: number;
  /** Network namespace name (`ip netns exec NAME`). */
  readonly netns: string;
  /** Its address on the bridge (`eth0` inside). */
  readonly ip: string;
  /** The root-namespace end of its veth pair. */
  readonly hostVeth: string;
}

/** A bridge and its namespaces. Close it with {@linkcode NetnsLab.close} or `await using`. */
export interface NetnsLab extends AsyncDisposable {
  /** Random part of every name of this lab. */
  readonly id: string;
  /** Bridge name in the root namespace. */
  readonly bridge: string;
  /** The bridge's address, `10.213.X.1`: the root namespace as the nodes see it. */
  readonly gateway: string;
  /** `10.213.X.0/24`. */
  readonly subnet: string;
  readonly nodes: readonly NetnsNode[];
  /**
   * Kills what runs in the namespaces, deletes them, the veths and the bridge. Safe to call twice.
   * @returns what could not be removed (empty when all went)
   */
  close(): Promise<string[]>;
}

/** Options of {@linkcode createNetnsLab}. */
export interface NetnsLabOptions {
  /** First two octets of the subnet. @default "10.213" */
  subnetPrefix?: string;
}

const decoder = new TextDecoder();

/** Runs a command to completion (bounded), returning its code and output. */
async function run(
  cmd: string[],
  timeoutMs = 10_000,
): Promise<{ code: number; stdout: string; stderr: string }> {
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command(cmd[0]!, {
      args: cmd.slice(1),
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(timeoutMs),
    }).output();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new Error(`"${cmd.join(" ")}" failed: ${cmd[0]} is not installed`);
    }
    throw new Error(`"${cmd.join(" ")}" failed: ${e instanceof Error ? e.message : String(e)}`);
  }
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr).trim() };
}

/** Runs a command; throws with its stderr when it fails. */
async function must(cmd: string[]): Promise<string> {
  const r = await run(cmd);
  if (r.code !== 0) throw new Error(`"${cmd.join(" ")}" exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

/** Absolute path of an executable on PATH (or in the sbin directories, which root's PATH may lack). */
export function which(name: string): string | undefined {
  const dirs = [...(Deno.env.get("PATH") ?? "").split(":"), "/usr/sbin", "/sbin", "/usr/bin", "/bin"];
  for (const dir of dirs) {
    if (!dir) continue;
    try {
      const info = Deno.statSync(join(dir, name));
      if (info.isFile && ((info.mode ?? 0o111) & 0o111) !== 0) return join(dir, name);
    } catch {
      // not here
    }
  }
  return undefined;
}

/** The tools this module runs, with the Debian package of each. */
const TOOLS: ReadonlyArray<readonly [string, string]> = [
  ["ip", "iproute2"],
  ["unshare", "util-linux"],
  ["setpriv", "util-linux"],
  ["mount", "mount"],
  ["hostname", "hostname"],
  ["sh", "dash"],
  ["env", "coreutils"],
  ["mkdir", "coreutils"],
  ["touch", "coreutils"],
];

/**
 * Checks that this process can build namespaces: root, the tools on PATH, and a kernel that allows a
 * bridge, a network namespace and an overlay mount.
 * @throws Error naming what is missing and how to get it
 */
export async function requireNetnsTools(): Promise<void> {
  if (Deno.uid() !== 0) {
    throw new Error(`network-namespace tests need root (uid 0), this process runs as uid ${Deno.uid()}`);
  }
  const missing = TOOLS.filter(([tool]) => which(tool) === undefined);
  if (missing.length > 0) {
    throw new Error(
      `network-namespace tests need ${missing.map(([t]) => t).join(", ")}: install the Debian package(s) ${
        [...new Set(missing.map(([, p]) => p))].join(" ")
      } (.ci/run lists them)`,
    );
  }
  const filesystems = await Deno.readTextFile("/proc/filesystems").catch(() => "");
  for (const fs of ["overlay", "tmpfs"]) {
    if (!new RegExp(`\\t${fs}$`, "m").test(filesystems)) {
      throw new Error(`network-namespace tests need the "${fs}" filesystem (not in /proc/filesystems)`);
    }
  }
}

function processAlive(pid: number): boolean {
  try {
    Deno.statSync(`/proc/${pid}`);
    return true;
  } catch {
    return false;
  }
}

async function listNetns(): Promise<string[]> {
  const out = await must(["ip", "-j", "netns", "list"]);
  if (out.trim() === "") return [];
  return (JSON.parse(out) as Array<{ name: string }>).map((n) => n.name);
}

async function listLinks(): Promise<Array<{ ifname: string; ifalias?: string }>> {
  const out = await must(["ip", "-j", "link", "show"]);
  return out.trim() === "" ? [] : JSON.parse(out) as Array<{ ifname: string; ifalias?: string }>;
}

/** Namespaces of this module (all runs, or those whose name contains `id`). */
export async function ownNamespaces(id?: string): Promise<string[]> {
  return (await listNetns()).filter((n) =>
    n.startsWith(NETNS_PREFIX) && (id === undefined || n.includes(id))
  );
}

/** Links of this module (all runs, or those whose name contains `id`). */
export async function ownLinks(id?: string): Promise<string[]> {
  return (await listLinks())
    .filter((l) => l.ifname.startsWith(LINK_PREFIX) && (l.ifalias ?? "").startsWith(ALIAS_PREFIX))
    .filter((l) => id === undefined || l.ifname.includes(id))
    .map((l) => l.ifname);
}

/** Kills every process in namespace `netns` (they are the test's: the namespace is) and deletes it. */
async function deleteNetns(netns: string): Promise<void> {
  const pids = (await run(["ip", "netns", "pids", netns])).stdout.split(/\s+/).filter((p) => /^\d+$/.test(p));
  for (const pid of pids) {
    try {
      Deno.kill(Number(pid), "SIGKILL");
    } catch {
      // already gone
    }
  }
  await run(["ip", "netns", "delete", netns]);
}

/**
 * Removes namespaces and links left by runs of this module whose process is gone (a crash, a SIGKILL). Those
 * of live processes (a parallel run) are left alone. @returns what was removed
 */
export async function removeStaleNetns(): Promise<string[]> {
  const removed: string[] = [];
  for (const netns of await ownNamespaces()) {
    const pid = Number(netns.slice(NETNS_PREFIX.length).split("-")[0]);
    if (!Number.isInteger(pid) || pid <= 0 || processAlive(pid)) continue;
    await deleteNetns(netns);
    removed.push(netns);
  }
  for (const link of await listLinks()) {
    if (!link.ifname.startsWith(LINK_PREFIX) || !(link.ifalias ?? "").startsWith(ALIAS_PREFIX)) continue;
    const pid = Number(link.ifalias!.slice(ALIAS_PREFIX.length));
    if (!Number.isInteger(pid) || pid <= 0 || processAlive(pid)) continue;
    await run(["ip", "link", "delete", link.ifname]);
    removed.push(link.ifname);
  }
  return removed;
}

/** Third octets whose 10.213.X.0/24 overlaps an address or route already on the machine. */
async function usedThirdOctets(prefix: string): Promise<Set<number>> {
  const used = new Set<number>();
  const text = (await must(["ip", "-4", "-o", "addr", "show"])) + "\n" +
    (await must(["ip", "-4", "route", "show", "table", "all"]));
  const re = /\b(\d+)\.(\d+)\.(\d+)\.(\d+)(?:\/(\d+))?/g;
  const [p1, p2] = prefix.split(".").map(Number);
  for (const m of text.matchAll(re)) {
    const [a, b, c, len] = [Number(m[1]), Number(m[2]), Number(m[3]), m[5] === undefined ? 32 : Number(m[5])];
    if (len === 0) continue; // the default route overlaps everything and is not an address in use
    if (len <= 16) {
      // A wider route covering the whole prefix: every third octet is taken.
      const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
      const net = ((a << 24) | (b << 16) | (c << 8)) >>> 0;
      const ours = ((p1! << 24) | (p2! << 16)) >>> 0;
      if (((net & mask) >>> 0) === ((ours & mask) >>> 0)) { for (let x = 0; x < 256; x++) used.add(x); }
    } else if (a === p1 && b === p2) {
      const span = len >= 24 ? 1 : 1 << (24 - len);
      const first = c - (c % span);
      for (let x = first; x < first + span; x++) used.add(x);
    }
  }
  return used;
}

function randomId(length: number): string {
  const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
  const bytes = crypto.getRandomValues(new Uint8Array(length));
  return [...bytes].map((b) => alphabet[b % alphabet.length]).join("");
}

/**
 * Creates a bridge and `count` (1-10) namespaces joined to it (see the module doc). Call
 * {@linkcode requireNetnsTools} first for a clear message on an unfit machine.
 * @throws when a command fails (what was made is removed first)
 */
export async function createNetnsLab(count: number, options: NetnsLabOptions = {}): Promise<NetnsLab> {
  if (!Number.isInteger(count) || count < 1 || count > 10) {
    throw new Error(`createNetnsLab: count must be 1-10, got ${count}`);
  }
  await removeStaleNetns();
  const prefix = options.subnetPrefix ?? "10.213";
  const used = await usedThirdOctets(prefix);
  const free = [...Array(254).keys()].map((x) => x + 1).filter((x) => !used.has(x));
  if (free.length === 0) throw new Error(`createNetnsLab: every ${prefix}.X.0/24 is in use on this machine`);
  const third = free[Math.floor(Math.random() * free.length)]!;
  const id = randomId(6);
  const bridge = `${LINK_PREFIX}b${id}`; // 11 characters (IFNAMSIZ allows 15)
  const alias = `${ALIAS_PREFIX}${Deno.pid}`;
  const gateway = `${prefix}.${third}.1`;
  const nodes: NetnsNode[] = [...Array(count).keys()].map((i) => ({
    index: i,
    netns: `${NETNS_PREFIX}${Deno.pid}-${id}-${i}`,
    ip: `${prefix}.${third}.${10 + i}`,
    hostVeth: `${LINK_PREFIX}v${id}${i}`, // 12 characters
  }));
  let closed = false;
  const close = async (): Promise<string[]> => {
    if (closed) return [];
    closed = true;
    for (const node of nodes) await deleteNetns(node.netns);
    for (const link of [...nodes.map((n) => n.hostVeth), bridge]) {
      if ((await ownLinks(id)).includes(link)) await run(["ip", "link", "delete", link]);
    }
    return [...await ownNamespaces(id), ...await ownLinks(id)];
  };
  try {
    await must(["ip", "link", "add", bridge, "type", "bridge"]);
    await must(["ip", "link", "set", "dev", bridge, "alias", alias]);
    // Forwarding off for packets arriving from the bridge: nothing from a namespace leaves the machine.
    await Deno.writeTextFile(`/proc/sys/net/ipv4/conf/${bridge}/forwarding`, "0");
    await must(["ip", "addr", "add", `${gateway}/24`, "dev", bridge]);
    await must(["ip", "link", "set", "dev", bridge, "up"]);
    for (const node of nodes) {
      await must(["ip", "netns", "add", node.netns]);
      await must([
        "ip",
        "link",
        "add",
        node.hostVeth,
        "type",
        "veth",
        "peer",
        "name",
        "eth0",
        "netns",
        node.netns,
      ]);
      await must(["ip", "link", "set", "dev", node.hostVeth, "alias", alias]);
      await must(["ip", "link", "set", "dev", node.hostVeth, "master", bridge]);
      await must(["ip", "link", "set", "dev", node.hostVeth, "up"]);
      await must(["ip", "-n", node.netns, "link", "set", "dev", "lo", "up"]);
      await must(["ip", "-n", node.netns, "addr", "add", `${node.ip}/24`, "dev", "eth0"]);
      await must(["ip", "-n", node.netns, "link", "set", "dev", "eth0", "up"]);
      await must(["ip", "-n", node.netns, "route", "add", "default", "via", gateway]);
    }
  } catch (e) {
    await close().catch(() => {});
    throw e;
  }
  const lab: NetnsLab = {
    id,
    bridge,
    gateway,
    subnet: `${prefix}.${third}.0/24`,
    nodes,
    close,
    async [Symbol.asyncDispose]() {
      const left = await close();
      if (left.length > 0) throw new Error(`netns lab ${id}: could not remove ${left.join(", ")}`);
    },
  };
  return lab;
}

// ---------------------------------------------------------------------------------------------------------------
// Pod sandboxes

/** A file or directory of the host made visible at `target` inside the sandbox. */
export interface SandboxMount {
  /** Host path (file or directory). */
  source: string;
  /** Absolute path inside the sandbox (symlinks along it are followed, as a kubelet's mount would). */
  target: string;
  /** @default true */
  readOnly?: boolean;
}

/** Options of {@linkcode podCommand}. */
export interface PodSandboxOptions {
  /** Network namespace to run in. */
  netns: string;
  /**
   * An empty host directory that this sandbox mounts its scratch tmpfs on (the overlays' writable layers);
   * the host sees it empty. Remove it after the process ended.
   */
  scratchDir: string;
  /** Hostname in a private UTS namespace. @default the host's */
  hostname?: string;
  /** Bind mounts, in order. */
  mounts?: readonly SandboxMount[];
  /** tmpfs mounts (an emptyDir with `medium: Memory` or a container's writable /tmp), made last. */
  tmpfs?: ReadonlyArray<{ target: string; sizeBytes?: number }>;
  /** Remount `/` read-only (and the overlays), as `readOnlyRootFilesystem: true`. @default false */
  readOnlyRoot?: boolean;
  /** Run as this user and group, with no supplementary groups. @default root */
  user?: { uid: number; gid: number };
  /** Drop every capability (bounding, inheritable, ambient; effective and permitted go with a non-root uid). */
  dropAllCapabilities?: boolean;
  /** Set no_new_privs, as `allowPrivilegeEscalation: false`. */
  noNewPrivileges?: boolean;
  /** Exactly the environment of the process (nothing is inherited). */
  env: Readonly<Record<string, string>>;
  /** Working directory inside the sandbox. @default "/" */
  cwd?: string;
}

/** Quotes a string for sh. */
export function shellQuote(s: string): string {
  return `'${s.replaceAll("'", `'"'"'`)}'`;
}

/** The nearest existing ancestor of an absolute path, with symlinks resolved, and the missing rest. */
function resolveTarget(target: string): { real: string; existing: string; missing: string[] } {
  if (!posix.isAbsolute(target)) throw new Error(`podCommand: mount target "${target}" is not absolute`);
  const parts = posix.normalize(target).split("/").filter((p) => p !== "");
  let current = "/";
  for (let i = 0; i < parts.length; i++) {
    const next = posix.join(current, parts[i]!);
    let info: Deno.FileInfo;
    try {
      info = Deno.lstatSync(next);
    } catch {
      const missing = parts.slice(i);
      return { real: posix.join(current, ...missing), existing: current, missing };
    }
    current = info.isSymlink ? Deno.realPathSync(next) : next;
  }
  return { real: current, existing: current, missing: [] };
}

/**
 * The argv that runs `cmd` in a sandbox (see the module doc): `ip netns exec NS unshare --mount --uts
 * --propagation private sh -c SCRIPT`, the script mounting, then exec-ing `env -i ... setpriv ... cmd`.
 * `cmd[0]` must be an absolute path visible in the sandbox.
 */
export function podCommand(cmd: readonly string[], options: PodSandboxOptions): string[] {
  const q = shellQuote;
  const lines = ["set -eu"];
  const scratch = options.scratchDir;
  lines.push(`mount -t tmpfs -o mode=0700,size=64m msmtest-scratch ${q(scratch)}`);
  const overlays: string[] = [];
  const readOnlyTargets: string[] = [];
  for (const m of options.mounts ?? []) {
    const { real, existing, missing } = resolveTarget(m.target);
    if (missing.length > 0 && !overlays.includes(existing)) {
      if (existing === "/") {
        throw new Error(`podCommand: "${m.target}" would need an overlay over "/": choose a deeper path`);
      }
      const layer = `${scratch}/overlay-${overlays.length}`;
      lines.push(`mkdir ${q(layer)} ${q(`${layer}/upper`)} ${q(`${layer}/work`)}`);
      lines.push(
        `mount -t overlay msmtest-overlay -o ${
          q(`lowerdir=${existing},upperdir=${layer}/upper,workdir=${layer}/work`)
        } ${q(existing)}`,
      );
      overlays.push(existing);
    }
    let isDir: boolean;
    try {
      isDir = Deno.statSync(m.source).isDirectory;
    } catch (e) {
      throw new Error(`podCommand: mount source "${m.source}" cannot be read: ${e}`);
    }
    if (missing.length > 0) {
      if (isDir) lines.push(`mkdir -p ${q(real)}`);
      else lines.push(`mkdir -p ${q(dirname(real))}`, `touch ${q(real)}`);
    }
    lines.push(`mount --bind ${q(m.source)} ${q(real)}`);
    if (m.readOnly ?? true) readOnlyTargets.push(real);
  }
  // Per-mount flags only ("remount,bind"): the host's mounts, which share the superblocks, stay writable.
  for (const t of readOnlyTargets) lines.push(`mount -o remount,bind,ro ${q(t)}`);
  if (options.readOnlyRoot) {
    lines.push(`mount -o remount,bind,ro /`);
    for (const o of overlays) lines.push(`mount -o remount,bind,ro ${q(o)}`);
  }
  for (const t of options.tmpfs ?? []) {
    const size = t.sizeBytes === undefined ? "" : `,size=${t.sizeBytes}`;
    lines.push(`mount -t tmpfs -o mode=1777${size} msmtest-tmpfs ${q(t.target)}`);
  }
  if (options.hostname !== undefined) lines.push(`hostname ${q(options.hostname)}`);
  lines.push(`cd ${q(options.cwd ?? "/")}`);
  const envArgs = Object.entries(options.env).map(([k, v]) => {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw new Error(`podCommand: bad environment name "${k}"`);
    return q(`${k}=${v}`);
  });
  const priv: string[] = [];
  if (options.user || options.dropAllCapabilities || options.noNewPrivileges) {
    priv.push(q(which("setpriv") ?? "setpriv"));
    if (options.user) {
      priv.push(`--reuid=${options.user.uid}`, `--regid=${options.user.gid}`, "--clear-groups");
    }
    if (options.dropAllCapabilities) {
      priv.push("--inh-caps=-all", "--ambient-caps=-all", "--bounding-set=-all");
    }
    if (options.noNewPrivileges) priv.push("--no-new-privs");
    priv.push("--");
  }
  lines.push(
    `exec ${q(which("env") ?? "env")} -i ${envArgs.join(" ")} ${priv.join(" ")} ${cmd.map(q).join(" ")}`,
  );
  return [
    which("ip") ?? "ip",
    "netns",
    "exec",
    options.netns,
    which("unshare") ?? "unshare",
    "--mount",
    "--uts",
    "--propagation",
    "private",
    "sh",
    "-c",
    lines.join("\n"),
  ];
}
