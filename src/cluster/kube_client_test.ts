import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { startFakeKube } from "../../tests/support/fake_kube.ts";
import { silentLogger } from "../log.ts";
import { KubeApi, KubeApiError } from "./kube_client.ts";

Deno.test("KubeApi.get() throws KubeApiError with the Status reason on a non-2xx answer", async () => {
  await using kube = await startFakeKube();
  const api = new KubeApi({ ...await kube.clientOptions(), logger: silentLogger });
  try {
    const ac = new AbortController();
    const res = await api.get("/api/v1/nodes", { labelSelector: "a" }, ac.signal);
    assertEquals(((await res.json()) as { kind: string }).kind, "NodeList");
    kube.forbid({ resource: "nodes" });
    const err = await api.get("/api/v1/nodes", {}, ac.signal).catch((e) => e);
    assert(err instanceof KubeApiError);
    assertEquals([err.status, err.reason], [403, "Forbidden"]);
    assert(/GET \/api\/v1\/nodes failed with status 403 \(Forbidden\): nodes is forbidden/.test(err.message));
    assertEquals(kube.requests[0]!.query, "?labelSelector=a");
  } finally {
    api.close();
  }
});
