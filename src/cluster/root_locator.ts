/**
 * Where a stream enters the mesh (its root relay), decided the same way by every relay from the same view, so no
 * election is needed. Only relays configured with the path are candidates (a relay that has never heard of a
 * camera cannot pull it); among them:
 * 1. a camera URL whose host is a Kubernetes Service (`name.namespace.svc[.cluster.local]`): the relay on the
 *    node of the Service's ready endpoint (EndpointSlice `nodeName`), so the camera is pulled on its own node;
 * 2. a camera URL whose host is a relay's address: that relay (a camera on the host network of that node, or
 *    several relays on one machine, one 127.0.0.x address each);
 * 3. any other camera URL (outside the cluster): the live relay with the highest rendezvous hash of
 *    (path, node), so the choice moves only when that relay goes away.
 * Publishers are not located here: the relay a publisher pushes to is the root, and peers ask each other.
 * Sans-I/O.
 * @module
 */
import { hostForUrl } from "../address.ts";
import type { Peer, ServiceEndpoint } from "./discovery.ts";

/** The outcome of {@linkcode locateRoot}. */
export type RootLocation =
  | { kind: "root"; node: string; rule: "service" | "host" | "hash" }
  /** The Service has no ready endpoint on a live relay's node (yet): wait or report 503. */
  | { kind: "pending"; reason: string }
  /** No live relay at all. */
  | { kind: "none"; reason: string };

/** Inputs of {@linkcode locateRoot}. */
export interface LocateInput {
  path: string;
  /** The configured camera URL. */
  url: string;
  /** Live relays (ready, not suspected), self included. */
  live: readonly Peer[];
  /** EndpointSlice lookup; null when there is no Kubernetes API (static discovery). */
  serviceEndpoints: (namespace: string, name: string) => readonly ServiceEndpoint[] | null;
  /** The relays configured with the path (see path_config.ts); absent: every live relay is. */
  configured?: ReadonlySet<string>;
}

const SERVICE_HOST =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?)\.([a-z0-9]([-a-z0-9]*[a-z0-9])?)\.svc(\.cluster\.local)?\.?$/;

/** FNV-1a, 32 bits, of a string's UTF-16 code units. */
export function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** Rendezvous (highest random weight) choice of a node for `key`; ties by node name. */
export function rendezvous(key: string, nodes: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestScore = -1;
  for (const node of nodes) {
    // Mix the hash once more so nodes with similar names still spread.
    const score = fnv1a(`${fnv1a(key + "\u0000" + node)}:${node}`);
    if (score > bestScore || (score === bestScore && best !== undefined && node < best)) {
      best = node;
      bestScore = score;
    }
  }
  return best;
}

/** Host of a camera URL, lower case, without IPv6 brackets ("" when malformed). */
export function urlHost(url: string): string {
  try {
    return new URL(url.replace(/^rtsps?:/, "http:")).hostname.replace(/^\[|\]$/g, "").toLowerCase();
  } catch {
    return "";
  }
}

/** The Kubernetes Service a camera URL names (`name.namespace.svc[.cluster.local]`), or null. */
export function serviceOf(url: string): { namespace: string; name: string } | null {
  const m = SERVICE_HOST.exec(urlHost(url));
  return m ? { namespace: m[3]!, name: m[1]! } : null;
}

/**
 * The URL the root pulls: a Service's host replaced by its ready endpoint on `node` (the camera pod on this node),
 * with the endpoint's port when the slice has one port, so the pull goes straight to the pod (no kube-proxy, which
 * does not carry RTSP's UDP). Other URLs are returned unchanged.
 */
export function directPullUrl(
  url: string,
  node: string,
  endpoints: readonly ServiceEndpoint[] | null,
): string {
  if (!serviceOf(url) || !endpoints) return url;
  const endpoint = endpoints.find((e) => e.nodeName === node) ?? endpoints[0];
  if (!endpoint) return url;
  const u = new URL(url.replace(/^rtsp(s?):/, "http$1:"));
  u.hostname = hostForUrl(endpoint.address);
  const port = endpoint.ports.length === 1 ? endpoint.ports[0]!.port : undefined;
  if (port !== undefined) u.port = String(port);
  return u.toString().replace(/^http(s?):/, "rtsp$1:");
}

/** The root relay of a configured camera path. */
export function locateRoot(input: LocateInput): RootLocation {
  if (input.live.length === 0) return { kind: "none", reason: "no live relay" };
  const configured = input.configured;
  const live = configured ? input.live.filter((p) => configured.has(p.node)) : input.live;
  if (live.length === 0) return { kind: "none", reason: `no live relay is configured with "${input.path}"` };
  const host = urlHost(input.url);
  const service = SERVICE_HOST.exec(host);
  if (service) {
    const endpoints = input.serviceEndpoints(service[3]!, service[1]!);
    if (endpoints !== null) {
      const onLive = (nodes: ReadonlySet<string>) =>
        endpoints.map((e) => e.nodeName).filter((n): n is string => !!n && nodes.has(n)).sort();
      const nodes = onLive(new Set(live.map((p) => p.node)));
      // Several camera pods behind one Service: the first node by name, so every relay agrees.
      if (nodes.length > 0) return { kind: "root", node: nodes[0]!, rule: "service" };
      if (onLive(new Set(input.live.map((p) => p.node))).length === 0) {
        return {
          kind: "pending",
          reason: `Service ${service[1]}.${service[3]} has no ready endpoint on a relay's node`,
        };
      }
      // The camera's node has a relay, but not one configured with the path: a configured relay pulls it
      // through the Service, chosen by the hash below.
    }
  }
  const onHost = live.filter((p) => p.host.toLowerCase() === host).map((p) => p.node);
  if (onHost.length === 1) return { kind: "root", node: onHost[0]!, rule: "host" };
  const candidates = onHost.length > 1 ? onHost : live.map((p) => p.node);
  return { kind: "root", node: rendezvous(input.path, candidates)!, rule: "hash" };
}
