import { deepStrictEqual as assertEquals, rejects as assertRejects } from "node:assert/strict";
import { resolveKubernetesConnection } from "./kube_connection.ts";

Deno.test("resolveKubernetesConnection() reads the in-cluster settings and names what is missing", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const env = (vars: Record<string, string>) => (name: string) => vars[name];
    await assertRejects(
      resolveKubernetesConnection({ serviceAccountDir: dir, env: env({}) }),
      /KUBERNETES_SERVICE_HOST is not set/,
    );
    await assertRejects(
      resolveKubernetesConnection({ apiUrl: "not a url", serviceAccountDir: dir }),
      /the API URL "not a url" is not a valid URL/,
    );
    await assertRejects(
      resolveKubernetesConnection({ apiUrl: "ftp://x", serviceAccountDir: dir }),
      /not an http\(s\) URL/,
    );
    await assertRejects(
      resolveKubernetesConnection({ apiUrl: "https://10.96.0.1", serviceAccountDir: dir }),
      new RegExp(`reading the service account token "${dir}/token" failed: file not found`),
    );
    await Deno.writeTextFile(`${dir}/token`, "tok\n");
    await assertRejects(
      resolveKubernetesConnection({ apiUrl: "https://10.96.0.1", serviceAccountDir: dir }),
      /reading the cluster CA certificate ".*ca\.crt" failed: file not found/,
    );
    await Deno.writeTextFile(`${dir}/ca.crt`, "-----BEGIN CERTIFICATE-----\n");
    await assertRejects(
      resolveKubernetesConnection({ apiUrl: "https://10.96.0.1", serviceAccountDir: dir, env: env({}) }),
      /no namespace: set POD_NAMESPACE/,
    );
    await Deno.writeTextFile(`${dir}/namespace`, "from-file");
    const fromEnv = await resolveKubernetesConnection({
      serviceAccountDir: dir,
      env: env({
        KUBERNETES_SERVICE_HOST: "fd00::1",
        KUBERNETES_SERVICE_PORT: "6443",
        POD_NAMESPACE: "from-env",
      }),
    });
    assertEquals(fromEnv.apiUrl.href, "https://[fd00::1]:6443/");
    assertEquals(fromEnv.namespace, "from-env");
    assertEquals(fromEnv.tokenFile, `${dir}/token`);
    const fromFile = await resolveKubernetesConnection({
      apiUrl: "https://10.96.0.1",
      serviceAccountDir: dir,
      env: env({}),
    });
    assertEquals(fromFile.namespace, "from-file");
    const explicit = await resolveKubernetesConnection({
      apiUrl: "https://10.96.0.1",
      serviceAccountDir: dir,
      namespace: "given",
      env: env({ POD_NAMESPACE: "from-env" }),
    });
    assertEquals(explicit.namespace, "given");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
