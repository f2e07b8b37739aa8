/**
 * Kubernetes objects to the discovery's view, pure: relay Pods to peers (one per node, the ready and newest pod
 * during a rolling update; ports from named container ports), a Node's zone label, and a Service's
 * EndpointSlices to its ready endpoints. {@link ./kubernetes.ts} feeds these from its reflectors' stores.
 * @module
 */

import type { Peer, ServiceEndpoint } from "./discovery.ts";
import type { KubeObject } from "./kube_client.ts";

/** The Node label that names its zone. */
export const ZONE_LABEL = "topology.kubernetes.io/zone";

/** A relay's ports. */
export interface PeerPorts {
  readonly rtsp: number;
  readonly admin: number;
  readonly mesh: number;
}

/** The Pod fields discovery reads. */
export interface PodObject extends KubeObject {
  readonly spec?: {
    readonly nodeName?: string;
    readonly containers?: ReadonlyArray<{
      readonly ports?: ReadonlyArray<{ readonly name?: string; readonly containerPort?: number }>;
    }>;
  };
  readonly status?: {
    readonly podIP?: string;
    readonly conditions?: ReadonlyArray<{ readonly type?: string; readonly status?: string }>;
  };
}

/** The EndpointSlice fields discovery reads (discovery.k8s.io/v1). */
export interface EndpointSliceObject extends KubeObject {
  readonly endpoints?: ReadonlyArray<{
    readonly addresses?: readonly string[];
    readonly nodeName?: string;
    readonly conditions?: { readonly ready?: boolean };
  }>;
  readonly ports?: ReadonlyArray<{ readonly name?: string; readonly port?: number }>;
}

/** True when the pod's `Ready` condition is "True" and it is not being deleted. */
export function podReady(pod: PodObject): boolean {
  if (pod.metadata?.deletionTimestamp) return false;
  return pod.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;
}

/** Ports from the pod's named container ports `rtsp`/`admin`/`mesh`, else `fallback`'s. */
export function podPorts(pod: PodObject, fallback: PeerPorts): PeerPorts {
  const named: Partial<Record<keyof PeerPorts, number>> = {};
  for (const c of pod.spec?.containers ?? []) {
    for (const p of c.ports ?? []) {
      if (
        (p.name === "rtsp" || p.name === "admin" || p.name === "mesh") && typeof p.containerPort === "number"
      ) {
        named[p.name] ??= p.containerPort;
      }
    }
  }
  return {
    rtsp: named.rtsp ?? fallback.rtsp,
    admin: named.admin ?? fallback.admin,
    mesh: named.mesh ?? fallback.mesh,
  };
}

/**
 * The peer a relay pod stands for, or undefined when it has no node or no IP yet.
 * @param zoneOf zone of a node name ("" when unknown)
 */
export function peerFromPod(
  pod: PodObject,
  zoneOf: (node: string) => string,
  selfPorts: PeerPorts,
): Peer | undefined {
  const node = pod.spec?.nodeName;
  const host = pod.status?.podIP;
  if (!node || !host) return undefined;
  const ports = podPorts(pod, selfPorts);
  return {
    node,
    zone: zoneOf(node),
    host,
    rtspPort: ports.rtsp,
    adminPort: ports.admin,
    meshPort: ports.mesh,
    ready: podReady(pod),
  };
}

function createdAt(pod: PodObject): number {
  const t = Date.parse(pod.metadata?.creationTimestamp ?? "");
  return Number.isNaN(t) ? 0 : t;
}

/** Orders two pods on one node: the ready one first, then the newest, then by name (for a stable choice). */
function preferPod(a: PodObject, b: PodObject): number {
  const ready = Number(podReady(b)) - Number(podReady(a));
  if (ready !== 0) return ready;
  const age = createdAt(b) - createdAt(a);
  if (age !== 0) return age;
  const an = a.metadata?.name ?? "";
  const bn = b.metadata?.name ?? "";
  return an < bn ? 1 : an > bn ? -1 : 0;
}

/**
 * The view from relay pods: one peer per node (during a rolling update the ready pod wins, then the newest),
 * pods without node or IP skipped, sorted by node name.
 * @example peersFromPods(pods, (node) => zones.get(node) ?? "", { rtsp: 8554, admin: 8080, mesh: 7000 })
 */
export function peersFromPods(
  pods: Iterable<PodObject>,
  zoneOf: (node: string) => string,
  selfPorts: PeerPorts,
): Peer[] {
  const best = new Map<string, PodObject>();
  for (const pod of pods) {
    const node = pod.spec?.nodeName;
    if (!node || !pod.status?.podIP) continue;
    const current = best.get(node);
    if (current === undefined || preferPod(pod, current) < 0) best.set(node, pod);
  }
  const peers: Peer[] = [];
  for (const pod of best.values()) {
    const peer = peerFromPod(pod, zoneOf, selfPorts);
    if (peer) peers.push(peer);
  }
  return peers.sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : 0));
}

/** The zone label of a Node, or "". */
export function nodeZone(node: KubeObject): string {
  return node.metadata?.labels?.[ZONE_LABEL] ?? "";
}

/**
 * Ready endpoints (`conditions.ready` not false) of a Service's EndpointSlices, one per address, each with its
 * slice's ports, deduplicated and sorted by address.
 */
export function endpointsFromSlices(slices: Iterable<EndpointSliceObject>): ServiceEndpoint[] {
  const out = new Map<string, ServiceEndpoint>();
  for (const slice of slices) {
    const ports = (slice.ports ?? [])
      .filter((p) => typeof p.port === "number")
      .map((p) => ({ name: p.name, port: p.port! }));
    for (const ep of slice.endpoints ?? []) {
      if (ep.conditions?.ready === false) continue;
      for (const address of ep.addresses ?? []) {
        const endpoint: ServiceEndpoint = { address, nodeName: ep.nodeName, ports };
        out.set(JSON.stringify(endpoint), endpoint);
      }
    }
  }
  return [...out.values()].sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0));
}
