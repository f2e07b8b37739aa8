/**
 * A mesh of relay processes that discover each other through the fake Kubernetes API, as a DaemonSet would: a
 * Node per relay (with its zone label), a ready relay Pod per relay (by default), a GStreamer camera on node-a
 * behind the Service `cam.video` (one EndpointSlice endpoint on node-a), and every relay configured with the
 * Service name as its camera URL, so only the relay on the camera's node pulls it. With `outsideCamera`, the
 * camera runs on 127.0.0.1 (no relay's address, no Service) and every relay is configured with its URL, as one
 * ConfigMap gives them: its root is then chosen among the live relays by rendezvous hash.
 * @module
 */
import { type FakeKube, startFakeKube } from "./fake_kube.ts";
import { nodeName, type RelayCluster, startRelayCluster } from "./mesh.ts";
import { type GstCamera, type GstCameraOptions, startGstCamera } from "./processes.ts";

/** Options of {@linkcode startKubeCluster}. */
export interface KubeClusterOptions {
  count: number;
  zoneOf: (i: number) => string;
  fanout: number;
  /** Relays whose Pod exists at the start (the others run but are not in the API yet). @default all */
  podsAtStart?: number;
  /**
   * The camera is outside the cluster (on 127.0.0.1, its URL on every relay), not behind a Service.
   * @default false
   */
  outsideCamera?: boolean;
  /** How the camera plays (its host is decided here). @default { fps: 25 } */
  camera?: Omit<GstCameraOptions, "host">;
}

/** The fake API, the camera and the relays. */
export interface KubeCluster extends AsyncDisposable {
  readonly kube: FakeKube;
  readonly camera: GstCamera;
  readonly cluster: RelayCluster;
  /** The relay Pod of relay i, as `kube.createPod` takes it. */
  podOf(i: number): { name: string; nodeName: string; podIP: string; ready: boolean };
}

/** Starts the fake API, the camera and `count` relays (each on its own 127.0.0.x address). */
export async function startKubeCluster(opts: KubeClusterOptions): Promise<KubeCluster> {
  const first = 20 + Math.floor(Math.random() * 180);
  const hostOf = (i: number) => `127.0.0.${first + i}`;
  const kube = await startFakeKube({ namespace: "msm", bookmarkIntervalMs: 500 });
  const saDir = await kube.writeServiceAccountDir();
  const outside = opts.outsideCamera ?? false;
  const camera = await startGstCamera({ fps: 25, ...opts.camera, host: outside ? "127.0.0.1" : hostOf(0) });
  if (!outside) {
    kube.setEndpointSlice("video", "cam", [{ address: hostOf(0), nodeName: nodeName(0) }], [{
      name: "rtsp",
      port: camera.port,
    }]);
  }
  const podOf = (i: number) => ({
    name: `msm-relay-${nodeName(i)}`,
    nodeName: nodeName(i),
    podIP: hostOf(i),
    ready: true,
  });
  for (let i = 0; i < opts.count; i++) {
    kube.setNode(nodeName(i), { "topology.kubernetes.io/zone": opts.zoneOf(i) });
  }
  for (let i = 0; i < (opts.podsAtStart ?? opts.count); i++) kube.createPod(podOf(i));
  const apiPort = new URL(kube.url).port;
  const cluster = await startRelayCluster({
    count: opts.count,
    firstOctet: first,
    zoneOf: opts.zoneOf,
    discovery: "kubernetes",
    fanout: opts.fanout,
    // The Service name, not an address: only the root (on the camera's node) pulls, straight from the pod. An
    // outside camera's URL as it is: the root is the hash's choice.
    argsOf: () => [
      "--path",
      outside ? `cam=${camera.url}` : "cam=rtsp://cam.video.svc.cluster.local:554/cam",
      "--pull-transport",
      "tcp",
    ],
    envOf: (i) => ({
      KUBERNETES_SERVICE_HOST: "127.0.0.1",
      KUBERNETES_SERVICE_PORT: apiPort,
      MSM_SERVICEACCOUNT_DIR: saDir,
      POD_NAMESPACE: "msm",
      NODE_NAME: nodeName(i),
      HOST_IP: hostOf(i),
    }),
  });
  return {
    kube,
    camera,
    cluster,
    podOf,
    async [Symbol.asyncDispose]() {
      await cluster.stopAll();
      await camera.stop();
      await kube.close();
    },
  };
}
